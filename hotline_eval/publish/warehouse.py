"""The DuckDB warehouse: schema from ``sql/``, transactional writes, and the atomic publish.

Assets write to a *work* database. Analysts read a separate *published* file, which a publish
step rebuilds beside the old one and swaps in with one ``os.replace``: a reader with the file
open keeps a complete old state, a new reader gets the complete new one, and a crash at any
point leaves the previous published file as it was. The published file is written with a 1.x
storage version so analysts' DuckDB 1.x tools (DBeaver's driver, older CLIs) can open it.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from hotline_eval.config.settings import PROJECT_ROOT
from hotline_eval.errors import HotlineEvalError

DDL_DIR = PROJECT_ROOT / "sql" / "ddl"
SCHEMAS = ("raw", "staging", "marts")
# the oldest storage format we promise analysts' tools can read (DuckDB 1.4 and newer)
PUBLISHED_STORAGE_VERSION = "v1.4.0"

# the DDL version a database has: written by ensure_ddl beside the schemas (in main, never published)
DDL_VERSION_TABLE = "main.ddl_version"
_DDL_VERSION_STATEMENTS = [
    f"CREATE TABLE IF NOT EXISTS {DDL_VERSION_TABLE} (id INTEGER PRIMARY KEY, ddl_sha256 VARCHAR NOT NULL, "
    "applied_at TIMESTAMPTZ NOT NULL)",
    f"COMMENT ON TABLE {DDL_VERSION_TABLE} IS 'The version of sql/ddl/ this database has (one row): the "
    "sha256 of the DDL files; while it matches, opening the database applies nothing'",
]
# connections of one process apply the DDL one at a time (concurrent DDL conflicts in DuckDB's catalog)
_DDL_LOCK = threading.Lock()
_DDL_ATTEMPTS = 3

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


class WarehouseError(HotlineEvalError):
    """A write to the warehouse failed; the previous state of the table is intact."""


def _sql_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.sql")) if folder.exists() else []


def apply_ddl(con: duckdb.DuckDBPyConnection) -> None:
    """Create schemas, tables and comments, in one transaction; every statement is idempotent. Applies every
    statement each time: for a database that persists, use ``ensure_ddl``, which does this once per DDL version."""
    _apply_statements(con, _ddl_statements(con))


def _ddl_statements(con: duckdb.DuckDBPyConnection) -> list[duckdb.Statement | str]:
    return [statement for path in _sql_files(DDL_DIR)
            for statement in con.extract_statements(path.read_text(encoding="utf-8"))]


def _apply_statements(con: duckdb.DuckDBPyConnection, statements: list[duckdb.Statement | str],
                      then: tuple[str, list] | None = None) -> None:
    """Run ``statements`` (and ``then``, a statement with its parameters) in one transaction: all or nothing."""
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        for statement in statements:
            con.execute(statement).fetchall()
        if then is not None:
            con.execute(*then).fetchall()
        con.execute("COMMIT").fetchall()
    except BaseException:
        _rollback(con)
        raise


def ddl_sha256() -> str:
    """sha256 of the DDL: every ``sql/ddl/*.sql`` file's name and bytes, in the order they are applied."""
    digest = hashlib.sha256()
    for path in _sql_files(DDL_DIR):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _stored_ddl_sha256(con: duckdb.DuckDBPyConnection) -> str | None:
    """The DDL version recorded in the connection's current database (None if none is); a read, nothing else."""
    try:
        # (fetchall: DuckDB 2 keeps a result that was not fetched to the end open on the connection)
        rows = con.execute(f"SELECT ddl_sha256 FROM {DDL_VERSION_TABLE}").fetchall()  # noqa: S608 (a constant)
    except duckdb.CatalogException:  # never recorded: a new database, or one only plain apply_ddl has seen
        return None
    return rows[0][0] if rows else None


def _read_only(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "SELECT readonly FROM duckdb_databases() WHERE database_name = current_database()").fetchall()[0][0])


def ensure_ddl(con: duckdb.DuckDBPyConnection) -> bool:
    """Apply the DDL once per database and DDL version: skip (one small read) when the database's
    ``main.ddl_version`` holds the current ``ddl_sha256()``, otherwise apply every statement and record the
    version in the same transaction. Returns whether it applied.

    A read-only connection never writes: it uses the schema as it is. DuckDB lets one process write a file, so
    no other process can apply at the same time; connections of this process apply one at a time, and one that
    waited re-reads the version first (another may have just applied it)."""
    current = ddl_sha256()
    if _stored_ddl_sha256(con) == current:
        return False
    if _read_only(con):
        return False
    record = (f"INSERT OR REPLACE INTO {DDL_VERSION_TABLE} VALUES (1, ?, now())", [current])  # noqa: S608
    with _DDL_LOCK:
        for attempt in range(_DDL_ATTEMPTS):
            if _stored_ddl_sha256(con) == current:
                return False
            try:
                _apply_statements(con, [*_ddl_statements(con), *_DDL_VERSION_STATEMENTS], then=record)
                return True
            except duckdb.TransactionException:  # a catalog write-write conflict with another connection's write
                if attempt == _DDL_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
    return False  # (not reached)


def table_name(name: str) -> str:
    # identifiers cannot be bound as parameters: accept only schema.table names we recognise
    if not _IDENTIFIER.match(name) or name.split(".")[0] not in SCHEMAS:
        raise ValueError(f"not a warehouse table name: {name!r}")
    return name


def _column(name: str) -> str:
    if not re.match(r"^[a-z_][a-z0-9_]*$", name):
        raise ValueError(f"not a column name: {name!r}")
    return name


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
    """Run a query and return a polars frame (through Arrow)."""
    return con.sql(sql, params=params).pl() if params else con.sql(sql).pl()


@dataclass(frozen=True)
class Replace:
    """Delete the rows of ``table`` matching ``where`` (every row when ``where`` is empty), insert ``rows``."""

    table: str
    rows: pl.DataFrame
    where: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Append:
    """Insert ``rows`` into ``table``, delete nothing (logs)."""

    table: str
    rows: pl.DataFrame


@dataclass(frozen=True)
class Upsert:
    """Among the rows matching ``where``, delete those whose ``key`` is in ``rows`` (changed records), or
    in ``key_values`` when given (records re-staged, some of which may now land in another table),
    then insert ``rows``."""

    table: str
    rows: pl.DataFrame
    key: str
    where: Mapping[str, Any] = field(default_factory=dict)
    key_values: pl.Series | None = None


Write = Replace | Append | Upsert


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame,
                 where: Mapping[str, Any] | None = None) -> int:
    """Replace the rows of ``table`` matching ``where`` (all rows if None) with ``frame``; see replace_many."""
    return replace_many(con, [Replace(table, frame, where or {})])[table]


def _delete(con: duckdb.DuckDBPyConnection, target: str, write: Replace | Upsert) -> None:
    arrow_rows = write.rows.to_arrow()  # noqa: F841 (read by DuckDB's replacement scan below)
    conditions = [f'"{_column(column)}" = ?' for column in write.where]
    if isinstance(write, Upsert):
        column = _column(write.key)
        if write.key_values is not None:
            key_values = pl.DataFrame({column: write.key_values}).to_arrow()  # noqa: F841 (scanned below)
            conditions.append(f'"{column}" IN (SELECT "{column}" FROM key_values)')  # noqa: S608
        else:
            conditions.append(f'"{column}" IN (SELECT "{column}" FROM arrow_rows)')  # noqa: S608
    clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    con.execute(f"DELETE FROM {target}{clause}", list(write.where.values())).fetchall()  # noqa: S608


def replace_many(con: duckdb.DuckDBPyConnection, writes: list[Write]) -> dict[str, int]:
    """Apply a write plan (Replace, Append, Upsert) in ONE transaction: readers see the old rows or the
    new ones, never a mix, and a failure anywhere leaves every table as it was. Returns rows per table."""
    written: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION").fetchall()
    try:
        for write in writes:
            target = table_name(write.table)
            if not isinstance(write, Append):
                _delete(con, target, write)
            arrow_rows = write.rows.to_arrow()  # noqa: F841 (read by DuckDB's replacement scan below)
            if write.rows.height:
                con.execute(f"INSERT INTO {target} BY NAME SELECT * FROM arrow_rows").fetchall()  # noqa: S608
            written[write.table] = written.get(write.table, 0) + write.rows.height
        con.execute("COMMIT").fetchall()
    except (duckdb.Error, pl.exceptions.PolarsError) as exc:
        _rollback(con)
        # the error that stopped the write is the one reported (a full disk, a constraint), not the rollback's
        raise WarehouseError(f"writing {', '.join(sorted({w.table for w in writes}))} failed and was rolled back "
                             f"(previous rows kept): {exc}") from exc
    return written


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction, if DuckDB has not ended it already: after some errors (an I/O
    error such as a full disk) it aborts the transaction itself, and a ROLLBACK then fails with
    "cannot rollback - no transaction is active", which would hide the error that mattered."""
    try:
        con.execute("ROLLBACK").fetchall()
    except duckdb.Error:
        pass  # no transaction left to roll back (or the database is unusable): nothing was committed


def sql_literal(value: object) -> str:
    """A SQL string literal, for where bound parameters cannot go (ATTACH) or would hide constants from
    DuckDB's planner (filters it checks against row-group min/max)."""
    return "'" + str(value).replace("'", "''") + "'"


def _publishing_files(analyst_db: Path) -> dict[int, list[Path]]:
    """Temp files of publishes into ``analyst_db`` (and their DuckDB .wal files), by the pid that wrote them."""
    prefix = f".{analyst_db.name}.publishing-"
    found: dict[int, list[Path]] = {}
    for path in analyst_db.parent.glob(f"{glob.escape(prefix)}*"):
        pid = path.name[len(prefix):].removesuffix(".wal")
        if pid.isdigit():
            found.setdefault(int(pid), []).append(path)
    return found


def process_alive(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_publishing_files(analyst_db: Path) -> list[Path]:
    """Remove what publishes killed (or failed in a way that left files) wrote: temp files and their .wal
    of every pid no longer running. A running publisher's files are left alone. Returns what was removed."""
    removed = []
    for pid, paths in _publishing_files(analyst_db).items():
        if pid != os.getpid() and process_alive(pid):
            continue
        for path in paths:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def publish(work_db: Path, analyst_db: Path, *, storage_version: str = PUBLISHED_STORAGE_VERSION) -> dict[str, int]:
    """Copy the work database's raw/staging/marts into a fresh file and swap it in atomically.

    Returns row counts per published table. The work database must not be open for writing in
    another process (Dagster's warehouse pool serializes the writers). Temp files left by earlier
    publishes that were killed are removed first; a failing publish removes its own (with its .wal)."""
    analyst_db.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_publishing_files(analyst_db)  # our own pid's too: a file of ours is from a failed earlier call
    tmp = analyst_db.with_name(f".{analyst_db.name}.publishing-{os.getpid()}")
    counts: dict[str, int] = {}
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {sql_literal(work_db)} AS work (READ_ONLY)").fetchall()
        con.execute(f"ATTACH {sql_literal(tmp)} AS pub (STORAGE_VERSION {sql_literal(storage_version)})").fetchall()
        con.execute("USE pub").fetchall()
        apply_ddl(con)  # schemas, tables and comments exactly as sql/ declares them
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'pub' ORDER BY ALL"
        ).fetchall()
        for schema, name in tables:
            source_exists = con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'work' AND schema_name = ? "
                "AND table_name = ?", [schema, name]).fetchone()[0]
            if source_exists:
                con.execute(f'INSERT INTO pub.{schema}."{name}" BY NAME SELECT * FROM work.{schema}."{name}"').fetchall()  # noqa: S608,E501
            counts[f"{schema}.{name}"] = con.execute(f'SELECT count(*) FROM pub.{schema}."{name}"').fetchone()[0]  # noqa: S608
        con.execute("USE memory").fetchall()
        con.execute("DETACH pub").fetchall()  # checkpoints: the file is complete and its .wal gone
        con.execute("DETACH work").fetchall()
        con.close()
        with open(tmp, "rb+") as handle:  # make the new file durable before it becomes visible
            os.fsync(handle.fileno())
        if _wal(tmp).exists():  # DETACH checkpoints: a log left means the file alone is not the whole copy
            raise WarehouseError(f"publishing {analyst_db}: {tmp} still has a write-ahead log after closing; "
                                 "the published file was left as it was")
        os.replace(tmp, analyst_db)
    except BaseException:
        con.close()  # (closing twice is harmless)
        # a disk-full write leaves both: without this each failed publish added a file and a .wal
        tmp.unlink(missing_ok=True)
        _wal(tmp).unlink(missing_ok=True)
        raise
    return counts
