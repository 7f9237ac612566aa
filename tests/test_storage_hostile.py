"""Storage that works against us (issue #21): publishes killed or failing leave no files behind, a full
disk is reported as a full disk and not retried, a corrupt archive entry is named and logged, and a
tampered archive body is repaired when the right bytes are stored again."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource
from pytest_httpserver import HTTPServer

from assets.requests import raw_service_request_records
from assets.resources import HttpResource, SourceCredentials
from assets.warehouse_io import warehouse
from hotline_eval.config.registry import load_registry
from hotline_eval.errors import ArchiveError, FetchError, PolicyError, is_permanent, is_retryable
from hotline_eval.fetch.archive import Archive, make_response, sha256_bytes
from hotline_eval.fetch.http import HttpClient, HttpPolicy
from hotline_eval.publish import warehouse as warehouse_module
from hotline_eval.publish.warehouse import Replace, WarehouseError, apply_ddl, publish, replace_many, replace_rows
from hotline_eval.sources import fetch_request_month, socrata
from tests.helpers import FIXTURES, NYC_COLUMNS, nyc_record, serve_socrata_view

DISK_FULL = 'IO Error: Could not write file "work.duckdb.wal": No space left on device'


def mappings_rows(values: list[str]) -> pl.DataFrame:
    return pl.DataFrame({"mapping": "channel", "source_id": "*", "raw_value": values,
                         "mapped_value": "phone", "mapping_file": "x.csv"})


def _work_db(tmp_path: Path, values: list[str]) -> Path:
    path = tmp_path / "work.duckdb"
    con = duckdb.connect(str(path))
    apply_ddl(con)
    replace_rows(con, "staging.value_mappings", mappings_rows(values))
    con.close()
    return path


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
    publish(_work_db(tmp_path, ["a"]), analyst)
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
    work = _work_db(tmp_path, ["a"])
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


# --- 7: a corrupt archive entry ----------------------------------------------------------------------

def _replay_client(root: Path) -> HttpClient:
    return HttpClient(HttpPolicy(allowed_hosts=frozenset({"data.example.org"})), mode="replay", replay=Archive(root))


def test_a_truncated_archive_entry_is_named_and_not_retried(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    response = make_response("GET", "https://data.example.org/resource/x.json", {"$limit": 2}, 200,
                             {"Content-Type": "application/json"}, b'[{"a": 1}]')
    archive.store(response)
    entry = archive.entry_path(response.request_key)
    entry.write_bytes(entry.read_bytes()[:40])  # cut short, as a copy interrupted mid-file leaves it
    with pytest.raises(ArchiveError) as raised:
        _replay_client(archive.root).get("https://data.example.org/resource/x.json", {"$limit": 2})
    assert str(entry) in str(raised.value) and "corrupt" in str(raised.value)
    assert is_permanent(raised.value) and not is_retryable(raised.value)
    with pytest.raises(ArchiveError, match=entry.name):
        archive.entries()


@pytest.fixture
def nyc_archive(server: HTTPServer, tmp_path: Path, monkeypatch):
    """An archive of New York's 2024-03 fetch from a loopback mirror, and the registry naming the mirror."""
    text = (FIXTURES / "cities_min.yaml").read_text().replace("https://data.cityofnewyork.us",
                                                              server.url_for("/").rstrip("/"))
    (tmp_path / "cities.yaml").write_text(text)
    registry = load_registry(tmp_path / "cities.yaml")
    monkeypatch.setattr("assets.requests.REGISTRY", registry)
    city, source = registry.source("nyc_311_socrata")
    select = serve_socrata_view(server, source, NYC_COLUMNS)
    params = {k: str(v) for k, v in socrata.page_params(source, socrata.month_where(source, "2024-03"), 0,
                                                         select=select).items()}
    server.expect_request(f"/resource/{source.dataset}.json", query_string=params).respond_with_json(
        [nyc_record(1, "2024-03-01T08:00:00.000")])
    archive = Archive(tmp_path / "archive")
    client = HttpClient(HttpPolicy(allowed_hosts=frozenset({"localhost"}), private_hosts=frozenset({"localhost"}),
                                   min_interval_s=0.0), mode="live", archive=archive)
    assert fetch_request_month(client, source, city.id, "2024-03", timezone=city.timezone).rows.height == 1
    return archive


def test_a_corrupt_archive_entry_fails_the_partition_once_and_is_logged(tmp_path: Path, nyc_archive: Archive) -> None:
    entries = sorted((nyc_archive.root / "requests").glob("*.json"))
    assert entries
    for entry in entries:
        entry.write_bytes(entry.read_bytes()[: len(entry.read_bytes()) // 2])
    db = tmp_path / "work.duckdb"
    resources = {
        "http": HttpResource(mode="replay", archive_dir=str(tmp_path / "unused"), replay_dir=str(nyc_archive.root)),
        "credentials": SourceCredentials(),
        "warehouse_db": DuckDBResource(database=str(db)),
    }
    result = dg.materialize([raw_service_request_records], resources=resources, raise_on_error=False,
                            partition_key=dg.MultiPartitionKey({"city": "new_york", "month": "2024-03"}))
    assert not result.success
    assert [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"] == []
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert any(entry.name in failure.message for entry in entries), failure.message
    con = duckdb.connect(str(db), read_only=True)
    logged = con.execute("SELECT status, error FROM raw.fetch_log").fetchall()
    con.close()
    assert len(logged) == 1 and logged[0][0] == "failed"
    assert any(entry.name in logged[0][1] for entry in entries) and "corrupt" in logged[0][1]


# --- 10: a tampered archive body ---------------------------------------------------------------------

@pytest.mark.parametrize("tamper", [lambda b: b"X" + b[1:], lambda b: b[: len(b) // 2], lambda b: b""])
def test_storing_again_repairs_a_tampered_body(tmp_path: Path, tamper) -> None:
    archive = Archive(tmp_path / "archive")
    body = b'[{"unique_key": "1", "status": "Closed"}]'
    response = make_response("GET", "https://data.example.org/resource/x.json", None, 200,
                             {"Content-Type": "application/json"}, body)
    archive.store(response)
    path = archive.body_path(response.sha256)
    path.write_bytes(tamper(body))
    archive.store(response)
    assert path.read_bytes() == body
    assert sha256_bytes(path.read_bytes()) == response.sha256
    assert [p.name for p in path.parent.iterdir()] == [path.name], "no temp file left beside it"
    assert _replay_client(archive.root).get("https://data.example.org/resource/x.json").body == body


def test_a_sound_body_is_not_rewritten(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    response = make_response("GET", "https://data.example.org/resource/x.json", None, 200, {}, b"[]")
    archive.store(response)
    inode = os.stat(archive.body_path(response.sha256)).st_ino
    archive.store(response)
    assert os.stat(archive.body_path(response.sha256)).st_ino == inode
