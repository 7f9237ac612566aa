"""Small helpers the assets share to talk to the work database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from hotline_eval.errors import is_permanent
from hotline_eval.publish.warehouse import ensure_ddl

# every asset that writes the work database runs in this pool: DuckDB allows one writing process
WAREHOUSE_POOL = "duckdb_warehouse"


@contextmanager
def warehouse(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the work database with the schema in place (applied once per DDL version: opening a
    database that has it reads one row, see ensure_ddl). A failure retrying cannot fix (a full
    disk, a corrupt archive) fails the step at once, whatever the asset's RetryPolicy: it is raised as a
    dg.Failure that does not allow retries, with the error's own message."""
    try:
        with resource.get_connection() as con:
            ensure_ddl(con)
            yield con
    except Exception as exc:
        if isinstance(exc, dg.Failure) or not is_permanent(exc):
            raise
        raise permanent_failure(exc) from exc


@contextmanager
def kept_open(resource: DuckDBResource) -> Iterator[None]:
    """Keep the work database open while a step connects to it many times (one connection per partition
    and write). DuckDB reads the catalog when a database opens and checkpoints when its last connection
    closes: about 30 ms for each connection here, against 1 ms while another connection of the process
    (with the same settings: this resource's) holds the database open."""
    with warehouse(resource):
        yield


def permanent_failure(exc: BaseException) -> dg.Failure:
    """A step failure that Dagster does not retry, described by ``exc``'s message."""
    return dg.Failure(description=str(exc), allow_retries=False)
