"""Sensors and schedules: the freshness sensor over real HTTP with its cursor, the run-failure sensor's
table, and the daily schedule's partitions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pytest_httpserver import HTTPServer

from assets.partitions import city_month_partitions
from assets.resources import LiveHttpResource
from definitions import build_definitions
from hotline_eval.config.evaluation import load_evaluation
from hotline_eval.config.registry import load_registry
from hotline_eval.config.settings import load_settings
from sensors import ingest_job
from sensors.freshness import make_freshness_sensor, record_run_failures
from tests.helpers import FIXTURES

defs = build_definitions(load_settings())


def test_freshness_sensor_requests_runs_only_for_changed_sources(server: HTTPServer, tmp_path: Path,
                                                                 monkeypatch) -> None:
    text = (FIXTURES / "cities_min.yaml").read_text().replace("https://data.cityofnewyork.us",
                                                              server.url_for("/").rstrip("/"))
    (tmp_path / "cities.yaml").write_text(text)
    registry = load_registry(tmp_path / "cities.yaml")
    http = LiveHttpResource(archive_dir=str(tmp_path / "a"), min_interval_s=0, max_attempts=1,
                            private_hosts=["localhost"])
    sensor = make_freshness_sensor(ingest_job, registry, city_month_partitions(registry, load_evaluation()))
    server.expect_oneshot_request("/api/views/erm2-nwe9.json").respond_with_json(
        {"id": "erm2-nwe9", "name": "311 Service Requests from 2010 to Present", "rowsUpdatedAt": 1732500000})
    first = sensor(dg.build_sensor_context(cursor=None, resources={"http": http}))
    month = datetime.now(UTC).strftime("%Y-%m")
    assert [r.partition_key for r in first.run_requests] == [f"new_york|{month}"]
    assert first.run_requests[0].tags["hotline_eval/source_host"] == "localhost"
    assert json.loads(first.cursor) == {"nyc_311_socrata": "1732500000"}

    server.expect_oneshot_request("/api/views/erm2-nwe9.json").respond_with_json({"rowsUpdatedAt": 1732500000})
    again = sensor(dg.build_sensor_context(cursor=first.cursor, resources={"http": http}))
    assert again.run_requests == [] and again.cursor == first.cursor

    server.expect_oneshot_request("/api/views/erm2-nwe9.json").respond_with_data("busy", status=404)
    failing = sensor(dg.build_sensor_context(cursor=first.cursor, resources={"http": http}))
    assert failing.run_requests == [] and failing.cursor == first.cursor  # an error never moves the cursor

    server.expect_oneshot_request("/api/views/erm2-nwe9.json").respond_with_json({"rowsUpdatedAt": 1732600000})
    changed = sensor(dg.build_sensor_context(cursor=first.cursor, resources={"http": http}))
    assert len(changed.run_requests) == 1
    assert changed.run_requests[0].run_key == f"nyc_311_socrata@1732600000:new_york|{month}"


@dg.asset
def always_fails() -> None:
    raise ValueError("the upstream portal changed its layout")


def test_run_failure_sensor_records_the_failure(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([always_fails], instance=instance, raise_on_error=False)
    assert not result.success
    db = DuckDBResource(database=str(tmp_path / "work.duckdb"))
    context = dg.build_run_status_sensor_context(
        sensor_name="record_run_failures", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(), resources={"warehouse_db": db},
    ).for_run_failure()
    record_run_failures(context)
    con = duckdb.connect(str(tmp_path / "work.duckdb"), read_only=True)
    rows = con.execute("SELECT run_id, step_key, error FROM raw.run_failures").fetchall()
    con.close()
    assert rows and rows[0][0] == result.run_id and rows[0][1] == "always_fails"
    assert "the upstream portal changed its layout" in rows[0][2]


def test_daily_schedule_refreshes_the_current_month_incrementally() -> None:
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 23, 3, 15, tzinfo=UTC))
    requests = list(defs.resolve_schedule_def("daily_current_month")(context))
    keys = {r.partition_key for r in requests}
    assert "new_york|2026-11" in keys and all(k.endswith("|2026-11") for k in keys)
    assert all(r.run_config["ops"]["raw__service_request_records"]["config"]["incremental"] for r in requests)


def test_definitions_hold_schedules_sensors_and_checks() -> None:
    assert {s.name for s in defs.schedules} == {"daily_current_month", "daily_scoring", "weekly_portals"}
    assert {s.name for s in defs.sensors} >= {"source_freshness", "record_run_failures"}
    checked = {k.asset_key.to_user_string() for k in defs.resolve_asset_graph().asset_check_keys}
    specs = [s.key.to_user_string() for s in defs.resolve_all_asset_specs()]
    staging_and_marts = [k for k in specs if k.split("/")[0] in ("staging", "marts")]
    assert set(staging_and_marts) <= checked, set(staging_and_marts) - checked
