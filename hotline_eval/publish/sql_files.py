"""Named queries kept as files (``sql/queries/<name>.sql``), read and run through one loader, so SQL
stays out of asset bodies and beside the rest of the project's SQL."""

from __future__ import annotations

from functools import cache
from typing import Any

import duckdb
import polars as pl

from hotline_eval.config.settings import PROJECT_ROOT
from hotline_eval.publish.warehouse import query

QUERIES_DIR = PROJECT_ROOT / "sql" / "queries"


@cache
def sql_text(name: str) -> str:
    """The text of ``sql/queries/<name>.sql``; an unknown name raises ValueError listing the known ones."""
    path = QUERIES_DIR / f"{name}.sql"
    if not name.replace("_", "").isalnum() or not path.is_file():
        known = sorted(p.stem for p in QUERIES_DIR.glob("*.sql"))
        raise ValueError(f"no query {name!r} in {QUERIES_DIR}; known: {known}")
    return path.read_text(encoding="utf-8")


def run_query(con: duckdb.DuckDBPyConnection, name: str, params: list[Any] | None = None) -> pl.DataFrame:
    """Run the named query and return its rows as a polars frame."""
    return query(con, sql_text(name), params)
