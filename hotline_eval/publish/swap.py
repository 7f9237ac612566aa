"""Changing the published analyst file between two full publishes, by the same atomic swap.

The analyst file is never written in place (a writer would need DuckDB's exclusive lock, which readers'
open connections hold off, and a reader could see a half-written table). A change goes into a copy of the
file, beside it, which then replaces it with one ``os.replace``: an open connection keeps the complete
state it opened, a new connection sees the changed one, and a failure (or SIGKILL) at any point leaves the
file as it was. Every writer of the file (the full publish of ``analyst_warehouse`` and these changes) holds
the publish lock, so a slower writer never swaps an older copy over a newer file."""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

from hotline_eval.publish.warehouse import (
    PUBLISHED_STORAGE_VERSION,
    WarehouseError,
    apply_ddl,
    remove_stale_publishing_files,
    sql_literal,
)

T = TypeVar("T")
LOCK_POLL_S = 0.1


class PublishBusy(WarehouseError):
    """Another writer held the analyst file's publish lock for longer than we could wait."""


def lock_path(analyst_db: Path) -> Path:
    return analyst_db.with_name(f".{analyst_db.name}.publish-lock")


@contextmanager
def publish_lock(analyst_db: Path, timeout_s: float) -> Iterator[None]:
    """Hold the analyst file's publish lock (an advisory lock on a file beside it, released by the system if
    the holder dies), waiting up to ``timeout_s`` for another writer to finish, else PublishBusy."""
    analyst_db.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(analyst_db), "a+b") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PublishBusy(f"{analyst_db} is being published by another process (waited {timeout_s:.0f} s)"
                                      ) from None
                time.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _copy_or_create(analyst_db: Path, tmp: Path, con: duckdb.DuckDBPyConnection) -> None:
    """Attach as ``pub`` a copy of the published file at ``tmp`` or, when none was published yet, a new file
    with the schema of sql/ddl/ in the published storage version."""
    if analyst_db.exists():
        shutil.copyfile(analyst_db, tmp)
        if _wal(analyst_db).exists():  # (never left by a publish; copied so that the copy is the whole state)
            shutil.copyfile(_wal(analyst_db), _wal(tmp))
        con.execute(f"ATTACH {sql_literal(tmp)} AS pub").fetchall()
        con.execute("USE pub").fetchall()
        return
    con.execute(f"ATTACH {sql_literal(tmp)} AS pub (STORAGE_VERSION {sql_literal(PUBLISHED_STORAGE_VERSION)})"
                ).fetchall()
    con.execute("USE pub").fetchall()
    apply_ddl(con)


def amend_published(analyst_db: Path, change: Callable[[duckdb.DuckDBPyConnection], T], *,
                    lock_timeout_s: float = 30.0) -> T:
    """Apply ``change`` (given a connection whose current database is the copy) to a copy of the published
    file and swap the copy in atomically; returns what ``change`` returns. Without a published file, the
    copy starts from the DDL's empty tables."""
    with publish_lock(analyst_db, lock_timeout_s):
        remove_stale_publishing_files(analyst_db)  # (the temp name is the full publish's: its cleanup is ours)
        tmp = analyst_db.with_name(f".{analyst_db.name}.publishing-{os.getpid()}")
        con = duckdb.connect()
        try:
            _copy_or_create(analyst_db, tmp, con)
            result = change(con)
            con.execute("USE memory").fetchall()
            con.execute("DETACH pub").fetchall()  # checkpoints: the copy is complete and its .wal gone
            con.close()
            with open(tmp, "rb+") as handle:  # durable before it becomes visible
                os.fsync(handle.fileno())
            if _wal(tmp).exists():
                raise WarehouseError(f"amending {analyst_db}: {tmp} still has a write-ahead log after closing; "
                                     "the published file was left as it was")
            os.replace(tmp, analyst_db)
        except BaseException:
            con.close()
            tmp.unlink(missing_ok=True)
            _wal(tmp).unlink(missing_ok=True)
            raise
    return result
