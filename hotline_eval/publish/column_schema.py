"""What a table holds, read from DuckDB's catalog after a write: its columns with their types, nullability
and comments (the comments of sql/ddl/, the same the data dictionary prints), and a few of its rows as a
Markdown table. The assets report both in the UI, so what it shows is what was written, never a copy that
could drift from the DDL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb

from hotline_eval.publish.warehouse import table_name

PREVIEW_ROWS = 5
PREVIEW_CELL_CHARS = 40


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str  # as information_schema.columns.data_type spells it
    comment: str | None
    nullable: bool


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[Column]:
    """The columns of ``table`` (schema.table) in the connection's current database, in table order."""
    schema, name = table_name(table).split(".")
    rows = con.execute(
        "SELECT column_name, data_type, comment, is_nullable FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name = ? AND table_name = ? ORDER BY column_index",
        [schema, name]).fetchall()
    if not rows:
        raise ValueError(f"no table {table} in the current database")
    return [Column(n, t, c, bool(nullable)) for n, t, c, nullable in rows]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, datetime | date):
        text = value.isoformat()
    elif isinstance(value, list | tuple):
        text = ", ".join(_cell(v) for v in value)
    else:
        text = str(value)
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= PREVIEW_CELL_CHARS else text[:PREVIEW_CELL_CHARS - 1] + "…"


def preview_markdown(con: duckdb.DuckDBPyConnection, table: str, where: Mapping[str, Any] | None = None,
                     limit: int = PREVIEW_ROWS) -> str:
    """The first ``limit`` rows of ``table`` (those matching ``where``, column = value) as a Markdown table,
    long values cut; a scan that stops after ``limit`` rows."""
    names = [c.name for c in table_columns(con, table)]
    where = where or {}
    if not set(where) <= set(names):  # column names cannot be bound: only the table's own are accepted
        raise ValueError(f"{table} has no column {sorted(set(where) - set(names))}")
    conditions = " AND ".join(f'"{column}" = ?' for column in where)
    sql = f"SELECT * FROM {table_name(table)}{f' WHERE {conditions}' if conditions else ''} LIMIT {int(limit)}"  # noqa: S608
    rows = con.execute(sql, list(where.values())).fetchall()
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) if rows else f"(no rows in {table}{f' where {dict(where)}' if where else ''})"
