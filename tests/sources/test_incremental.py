"""Incremental refresh at the asset level, over real HTTP: changed records replace their older
versions, a failed refresh writes nothing and leaves the cursor where it was."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource
from pytest_httpserver import HTTPServer

from assets.requests import request_assets
from assets.resources import LiveHttpResource, SourceCredentials
from hotline_eval.config.evaluation import load_evaluation
from hotline_eval.config.registry import load_registry
from hotline_eval.sources import socrata
from tests.helpers import FIXTURES, nyc_record, serve_socrata_query

KEY = dg.MultiPartitionKey({"city": "new_york", "month": "2024-03"})
INCREMENTAL = {"ops": {"raw__service_request_records": {"config": {"incremental": True}}}}


@pytest.fixture
def live_nyc(server: HTTPServer, tmp_path: Path):
    """The asset layer with a registry whose New York feed is this loopback server (a mirror, as a user
    would configure one), allowed explicitly as a private host."""
    text = (FIXTURES / "cities_min.yaml").read_text().replace("https://data.cityofnewyork.us",
                                                              server.url_for("/").rstrip("/"))
    path = tmp_path / "cities.yaml"
    path.write_text(text)
    registry = load_registry(path)
    resources = {
        "http": LiveHttpResource(archive_dir=str(tmp_path / "archive"), min_interval_s=0, max_attempts=2,
                                 private_hosts=["localhost"]),
        "credentials": SourceCredentials(),
        "warehouse_db": DuckDBResource(database=str(tmp_path / "work.duckdb")),
    }
    assets = request_assets(registry, load_evaluation())  # raw and staging, over this registry's partitions
    return registry.source("nyc_311_socrata")[1], resources, tmp_path / "work.duckdb", assets


def _rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_incremental_refresh_replaces_changed_records(server: HTTPServer, live_nyc) -> None:
    source, resources, db, assets = live_nyc
    where = socrata.month_where(source, "2024-03")
    serve_socrata_query(server, source, where, [
        nyc_record(1, "2024-03-01T08:00:00.000", closed="2024-03-01T10:00:00.000", updated="2024-03-01T10:00:01.000Z"),
        nyc_record(2, "2024-03-02T08:00:00.000", status="Open", updated="2024-03-02T08:00:01.000Z")])
    assert dg.materialize(assets, partition_key=KEY, resources=resources, selection=assets).success

    since = "2024-03-02T08:00:01.000Z"  # the newest :updated_at landed
    serve_socrata_query(server, source, f"{where} AND :updated_at > '{since}'", [
        nyc_record(2, "2024-03-02T08:00:00.000", closed="2024-03-05T08:00:00.000", updated="2024-03-05T08:00:02.000Z")])
    result = dg.materialize(assets, partition_key=KEY, resources=resources, selection=assets, run_config=INCREMENTAL)
    assert result.success
    staged = dict(_rows(db, "SELECT request_id, status FROM staging.service_requests ORDER BY 1"))
    assert staged == {"1": "closed", "2": "closed"}
    assert _rows(db, "SELECT count(*) FROM raw.service_request_records") == [(2,)]
    log = _rows(db, "SELECT refresh, status, rows_landed FROM raw.fetch_log ORDER BY fetched_at")
    assert log == [("full", "ok", 2), ("incremental", "ok", 1)]
    untraced = _rows(db, "SELECT count(*) FROM raw.service_request_records r LEFT JOIN raw.http_archive a "
                         "USING (sha256) WHERE a.sha256 IS NULL")
    assert untraced == [(0,)], "rows kept from the full pull must still trace to their archived page"
    # each pull chose its fields by the dataset's metadata: archived with its pages
    views = _rows(db, "SELECT count(*) FROM raw.http_archive WHERE url LIKE '%/api/views/erm2-nwe9.json'")
    assert views == [(2,)]


def test_failed_incremental_refresh_keeps_data_and_cursor(server: HTTPServer, live_nyc) -> None:
    source, resources, db, assets = live_nyc
    where = socrata.month_where(source, "2024-03")
    serve_socrata_query(server, source, where,
                        [nyc_record(1, "2024-03-01T08:00:00.000", updated="2024-03-01T10:00:01.000Z")])
    assert dg.materialize(assets, partition_key=KEY, resources=resources, selection=assets).success
    before = _rows(db, "SELECT * FROM raw.service_request_records")
    # a maintenance page instead of JSON: not retried (a 5xx would be, after 30 s and 60 s: the same
    # path with a longer wait; the HTTP layer's own tests cover 5xx mid-paging)
    serve_socrata_query(server, source, f"{where} AND :updated_at > '2024-03-01T10:00:01.000Z'",
           "<html><body>Down for maintenance</body></html>")
    result = dg.materialize(assets, partition_key=KEY, resources=resources, selection=assets, run_config=INCREMENTAL,
                            raise_on_error=False)
    assert not result.success
    assert _rows(db, "SELECT * FROM raw.service_request_records") == before
    assert _rows(db, "SELECT max(source_updated_at) FROM raw.service_request_records") == [
        ("2024-03-01T10:00:01.000Z",)]
    failed = _rows(db, "SELECT status, refresh, error FROM raw.fetch_log WHERE status = 'failed'")
    assert len(failed) == 1 and failed[0][1] == "incremental" and "response is not JSON" in failed[0][2]
