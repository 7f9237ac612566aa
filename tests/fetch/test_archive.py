"""An archive that works against us (issue #21): a corrupt entry is named, not retried, and fails its
partition once with a fetch-log row; a tampered body is repaired when the right bytes are stored again."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource
from pytest_httpserver import HTTPServer

from assets.requests import request_assets
from assets.resources import ReplayHttpResource, SourceCredentials
from hotline_eval.config.evaluation import load_evaluation
from hotline_eval.config.registry import load_registry
from hotline_eval.errors import ArchiveError, is_permanent, is_retryable
from hotline_eval.fetch.archive import Archive, make_response, sha256_bytes
from hotline_eval.fetch.http import HttpClient, HttpPolicy
from hotline_eval.sources import fetch_request_month, socrata
from tests.helpers import FIXTURES, NYC_COLUMNS, nyc_record, serve_socrata_view

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
def nyc_archive(server: HTTPServer, tmp_path: Path):
    """An archive of New York's 2024-03 fetch from a loopback mirror, and the registry naming the mirror."""
    text = (FIXTURES / "cities_min.yaml").read_text().replace("https://data.cityofnewyork.us",
                                                              server.url_for("/").rstrip("/"))
    (tmp_path / "cities.yaml").write_text(text)
    registry = load_registry(tmp_path / "cities.yaml")
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
        "http": ReplayHttpResource(replay_dir=str(nyc_archive.root)),
        "credentials": SourceCredentials(),
        "warehouse_db": DuckDBResource(database=str(db)),
    }
    raw_service_request_records, _ = request_assets(load_registry(tmp_path / "cities.yaml"), load_evaluation())
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
