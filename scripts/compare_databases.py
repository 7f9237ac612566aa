"""Compare every raw, staging and marts table of two hotline_eval DuckDB files, bookkeeping aside.

    .venv/bin/python scripts/compare_databases.py BEFORE.duckdb AFTER.duckdb

Run ids, fetch/stage/compute times and failure rows differ between any two runs and are left out;
every other column is compared as a multiset of rows (order does not matter; floats rounded to 9
decimals, so that a different summation order is not a difference). Prints one line per table and
exits 1 if any table differs, is missing on one side, or has other columns.
"""

from __future__ import annotations

import argparse
import sys

import duckdb

# what a re-run changes by itself
BOOKKEEPING_COLUMNS = {"run_id", "fetched_at", "staged_at", "computed_at", "failed_at", "loaded_at"}
BOOKKEEPING_TABLES = {"raw.run_failures"}
SCHEMAS = ("raw", "staging", "marts")


def _columns(con: duckdb.DuckDBPyConnection, db: str) -> dict[str, dict[str, str]]:
    rows = con.execute(
        "SELECT schema_name || '.' || table_name, column_name, data_type FROM duckdb_columns() "
        "WHERE database_name = ? AND schema_name IN ('raw', 'staging', 'marts') ORDER BY column_index",
        [db]).fetchall()
    tables: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, {})[column] = data_type
    return tables


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _select(db: str, table: str, columns: dict[str, str]) -> str:
    exprs = []
    for name, data_type in columns.items():
        quoted = _ident(name)
        exprs.append(f"round({quoted}, 9) AS {quoted}" if data_type in ("DOUBLE", "FLOAT") else quoted)
    schema, name = table.split(".")
    # identifiers only, quoted, read from the files' own catalogues
    return f"SELECT {', '.join(exprs)} FROM {db}.{_ident(schema)}.{_ident(name)}"  # noqa: S608


def _rows_only_in(con: duckdb.DuckDBPyConnection, first: str, second: str) -> int:
    return con.execute(f"SELECT count(*) FROM ({first} EXCEPT ALL {second})").fetchone()[0]  # noqa: S608


def compare(before: str, after: str) -> list[tuple[str, str]]:
    """(table, verdict) for every table on either side; verdict 'same (N rows)' or what differs."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{before}' AS before_db (READ_ONLY)")
    con.execute(f"ATTACH '{after}' AS after_db (READ_ONLY)")
    left, right = _columns(con, "before_db"), _columns(con, "after_db")
    verdicts = []
    for table in sorted(set(left) | set(right)):
        if table in BOOKKEEPING_TABLES:
            verdicts.append((table, "skipped (bookkeeping)"))
            continue
        if table not in left or table not in right:
            verdicts.append((table, f"DIFFERS: only in {'after' if table in right else 'before'}"))
            continue
        cols_l = {c: t for c, t in left[table].items() if c not in BOOKKEEPING_COLUMNS}
        cols_r = {c: t for c, t in right[table].items() if c not in BOOKKEEPING_COLUMNS}
        if cols_l != cols_r:
            verdicts.append((table, f"DIFFERS: columns {sorted(set(cols_l) ^ set(cols_r)) or 'types'}"))
            continue
        only_before = _rows_only_in(con, _select("before_db", table, cols_l), _select("after_db", table, cols_l))
        only_after = _rows_only_in(con, _select("after_db", table, cols_l), _select("before_db", table, cols_l))
        n = con.execute(f"SELECT count(*) FROM ({_select('before_db', table, cols_l)})").fetchone()[0]  # noqa: S608
        if only_before == only_after == 0:
            verdicts.append((table, f"same ({n} rows)"))
            continue
        columns = [c for c in cols_l if _rows_only_in(con, _select("before_db", table, {c: cols_l[c]}),
                                                      _select("after_db", table, {c: cols_l[c]}))]
        verdicts.append((table, f"DIFFERS: {only_before} rows only before, {only_after} only after (of {n}); "
                                f"columns whose values differ: {', '.join(columns) or 'none alone'}"))
    return verdicts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args()
    try:
        verdicts = compare(args.before, args.after)
    except duckdb.Error as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for table, verdict in verdicts:
        print(f"{table:45} {verdict}")
    differing = [t for t, v in verdicts if v.startswith("DIFFERS")]
    print(f"\n{len(verdicts) - len(differing)} of {len(verdicts)} tables the same"
          + (f"; differing: {', '.join(differing)}" if differing else ""))
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
