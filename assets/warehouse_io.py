"""Small helpers the assets share to talk to the work database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import dagster as dg
import duckdb
import polars as pl
from dagster_duckdb import DuckDBResource

from hotline_eval.errors import is_permanent
from hotline_eval.publish.warehouse import apply_ddl

# every asset that writes the work database runs in this pool: DuckDB allows one writing process
WAREHOUSE_POOL = "duckdb_warehouse"


@contextmanager
def warehouse(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the work database with the schema in place. A failure retrying cannot fix (a full
    disk, a corrupt archive) fails the step at once, whatever the asset's RetryPolicy: it is raised as a
    dg.Failure that does not allow retries, with the error's own message."""
    try:
        with resource.get_connection() as con:
            apply_ddl(con)
            yield con
    except Exception as exc:
        if isinstance(exc, dg.Failure) or not is_permanent(exc):
            raise
        raise permanent_failure(exc) from exc


def permanent_failure(exc: BaseException) -> dg.Failure:
    """A step failure that Dagster does not retry, described by ``exc``'s message."""
    return dg.Failure(description=str(exc), allow_retries=False)


def fetch_log_row(*, run_id: str, source_id: str, city_id: str, partition_key: str, status: str, refresh: str,
                  rows: int = 0, pages: int = 0, error: str | None = None) -> pl.DataFrame:
    """One raw.fetch_log row: every fetch attempt, failed or not, is visible to analysts."""
    return pl.DataFrame([{
        "source_id": source_id, "city_id": city_id, "partition_key": partition_key, "run_id": run_id,
        "fetched_at": datetime.now(UTC), "status": status, "refresh": refresh, "rows_landed": rows, "pages": pages,
        "error": error,
    }], schema_overrides={"rows_landed": pl.Int64, "pages": pl.Int32})
