"""Storage that works against us (issue #21): publishes killed or failing leave no files behind, and a full
disk is reported as a full disk and not retried (the archive's side is in tests/fetch/test_archive.py)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from assets.warehouse_io import warehouse
from hotline_eval.errors import ArchiveError, FetchError, PolicyError, is_permanent, is_retryable
from hotline_eval.publish import warehouse as warehouse_module
from hotline_eval.publish.warehouse import Replace, WarehouseError, apply_ddl, publish, replace_many, replace_rows
from tests.helpers import mappings_rows, work_db_with_mappings

DISK_FULL = 'IO Error: Could not write file "work.duckdb.wal": No space left on device'


def _published_values(analyst: Path) -> list[str]:
    con = duckdb.connect(str(analyst), read_only=True)
    try:
        return [v for (v,) in con.execute("SELECT raw_value FROM staging.value_mappings ORDER BY 1").fetchall()]
    finally:
        con.close()


# --- 3: publish temp files ------------------------------------------------------------------------------

@pytest.fixture
def dead_and_live_pids() -> Iterator[tuple[int, int]]:
    """A pid no process has (a child run and reaped) and the pid of a running one (a sleeping child)."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield done.pid, sleeper.pid
    finally:
        sleeper.kill()
        sleeper.wait()


def test_publish_removes_temp_files_of_dead_publishers_and_keeps_a_running_ones(
        tmp_path: Path, dead_and_live_pids: tuple[int, int]) -> None:
    dead, live = dead_and_live_pids
    analyst = tmp_path / "hotline_eval.duckdb"
    # what two killed publishes left: a half-written file and its write-ahead log each
    stale = [tmp_path / f".hotline_eval.duckdb.publishing-{dead}{suffix}" for suffix in ("", ".wal")]
    running = [tmp_path / f".hotline_eval.duckdb.publishing-{live}{suffix}" for suffix in ("", ".wal")]
    other = tmp_path / f".other.duckdb.publishing-{dead}"  # another file's publish: not ours to judge
    for path in [*stale, *running, other]:
        path.write_bytes(b"\0" * 4096)
    publish(work_db_with_mappings(tmp_path, ["a"]), analyst)
    assert [p for p in stale if p.exists()] == []
    assert all(p.exists() for p in running), "a publish still running keeps its files"
    assert other.exists()
    assert _published_values(analyst) == ["a"]


def _fail_after_ddl(con: duckdb.DuckDBPyConnection) -> None:
    """The temp file's schema is written, then the disk fills: its checkpoint cannot happen, so closing
    leaves the write-ahead log beside the file, as a real disk-full publish did (6.7 MB of .wal)."""
    con.execute("PRAGMA disable_checkpoint_on_shutdown").fetchall()
    apply_ddl(con)
    raise duckdb.IOException(DISK_FULL)


def _fail_at_swap(src: object, dst: object) -> None:
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("failure", ["copy", "swap"])
def test_a_failing_publish_leaves_no_temp_file_or_wal(tmp_path: Path, monkeypatch, failure: str) -> None:
    analyst = tmp_path / "hotline_eval.duckdb"
    work = work_db_with_mappings(tmp_path, ["a"])
    publish(work, analyst)
    before = analyst.read_bytes()
    if failure == "copy":
        monkeypatch.setattr(warehouse_module, "apply_ddl", _fail_after_ddl)
    else:
        monkeypatch.setattr(warehouse_module.os, "replace", _fail_at_swap)
    with pytest.raises((duckdb.IOException, OSError), match="No space left on device"):
        publish(work, analyst)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir() if "publishing" in p.name) == []
    assert analyst.read_bytes() == before


# --- 6: a full disk under the work database ------------------------------------------------------------

class _DiskFullOnInsert:
    """A connection whose disk fills at the first INSERT: DuckDB ends the transaction itself (as it does on
    an I/O error) and raises its IOException."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def execute(self, sql: str, *args: object) -> duckdb.DuckDBPyConnection:
        if sql.startswith("INSERT"):
            self.con.execute("ROLLBACK").fetchall()
            raise duckdb.IOException(DISK_FULL)
        return self.con.execute(sql, *args)


def test_a_full_disk_is_reported_as_such_and_not_retried(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "work.duckdb"))
    apply_ddl(con)
    replace_rows(con, "staging.value_mappings", mappings_rows(["a"]))
    with pytest.raises(WarehouseError) as raised:
        replace_many(_DiskFullOnInsert(con), [Replace("staging.value_mappings", mappings_rows(["x"]))])  # type: ignore[arg-type]
    assert "No space left on device" in str(raised.value)
    assert "cannot rollback" not in str(raised.value)
    assert is_permanent(raised.value) and not is_retryable(raised.value)
    assert con.execute("SELECT raw_value FROM staging.value_mappings").fetchall() == [("a",)]
    con.close()


def test_the_assets_warehouse_fails_a_full_disk_without_retries(tmp_path: Path) -> None:
    resource = DuckDBResource(database=str(tmp_path / "work.duckdb"))
    with pytest.raises(dg.Failure) as raised, warehouse(resource) as con:
        replace_many(_DiskFullOnInsert(con), [Replace("staging.value_mappings", mappings_rows(["x"]))])  # type: ignore[arg-type]
    assert raised.value.allow_retries is False
    assert "No space left on device" in str(raised.value.description)
    # other failures keep their type, and with it the asset's RetryPolicy
    with pytest.raises(FetchError), warehouse(resource):
        raise FetchError("GET https://example.org/: HTTP 503 after 5 attempts")


def test_error_classes_say_what_is_worth_retrying() -> None:
    assert is_retryable(FetchError("timed out"))
    assert not is_retryable(PolicyError("refused"))
    assert not is_retryable(ArchiveError("corrupt"))
    assert is_permanent(OSError(28, "No space left on device"))
    assert not is_permanent(OSError(5, "Input/output error"))
    assert not is_permanent(ValueError("a bug"))
