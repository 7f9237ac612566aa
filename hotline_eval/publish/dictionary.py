"""The data dictionary, generated from the catalog's comments (the DDL in sql/ is the one source)."""

from __future__ import annotations

import duckdb

from hotline_eval.publish.warehouse import SCHEMAS, apply_ddl


def data_dictionary_markdown() -> str:
    con = duckdb.connect()
    apply_ddl(con)
    tables = con.execute(
        "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE schema_name IN (?, ?, ?) "
        "ORDER BY schema_name, table_name", list(SCHEMAS)).fetchall()
    lines = ["# Data dictionary", "",
             "Generated from the comments in `sql/ddl/` by `python scripts/data_dictionary.py`; do not edit by hand.",
             ""]
    for schema, table, comment in tables:
        lines += [f"## `{schema}.{table}`", "", comment or "", "", "| column | type | meaning |", "|---|---|---|"]
        columns = con.execute(
            "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
            "ORDER BY column_index", [schema, table]).fetchall()
        lines += [f"| `{name}` | {dtype} | {(text or '').replace('|', '/')} |" for name, dtype, text in columns]
        lines.append("")
    con.close()
    return "\n".join(lines)
