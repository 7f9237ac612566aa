"""Small helpers the assets share to talk to the work database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
from dagster_duckdb import DuckDBResource

from hotline_eval.warehouse import apply_ddl

# every asset that writes the work database runs in this pool: DuckDB allows one writing process
WAREHOUSE_POOL = "duckdb_warehouse"


@contextmanager
def warehouse(resource: DuckDBResource) -> Iterator[duckdb.DuckDBPyConnection]:
    with resource.get_connection() as con:
        apply_ddl(con)
        yield con
