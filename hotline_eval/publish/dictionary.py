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


def dictionary_entries(markdown: str) -> dict[str, tuple[str, list[tuple[str, str, str]]]]:
    """What a data dictionary (as data_dictionary_markdown writes it) says, for comparing it with a database's
    catalog (see catalog_entries): table -> (its comment, [(column, type, meaning), ...] in order)."""
    entries: dict[str, tuple[str, list[tuple[str, str, str]]]] = {}
    table, comment, columns = None, "", []
    for line in markdown.splitlines():
        if line.startswith("## `") and line.endswith("`"):
            table, comment, columns = line[4:-1], "", []
            entries[table] = (comment, columns)
        elif table is None or not line or line.startswith(("| column |", "|---")):
            continue
        elif line.startswith("| `"):
            name, dtype, meaning = (cell.strip() for cell in line[1:-1].split(" | ", 2))
            columns.append((name.strip("`"), dtype, meaning))
        else:
            comment = line
            entries[table] = (comment, columns)
    return entries


def catalog_entries(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, list[tuple[str, str, str]]]]:
    """The raw, staging and marts tables of the connection's current database, as dictionary_entries reads a
    dictionary: table -> (its comment, [(column, type, comment), ...] in order), cells as the dictionary
    writes them."""
    tables = con.execute(
        "SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name IN (?, ?, ?) ORDER BY schema_name, table_name", list(SCHEMAS)).fetchall()
    entries = {}
    for schema, table, comment in tables:
        columns = con.execute(
            "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = ? AND table_name = ? ORDER BY column_index", [schema, table]).fetchall()
        entries[f"{schema}.{table}"] = (comment or "", [(n, t, (c or "").replace("|", "/")) for n, t, c in columns])
    return entries
