"""Sensors and schedules: the freshness sensor over real HTTP with its cursor, the run-failure sensor's
table and its prompt publish to the analyst file, and the daily schedule's partitions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource
from pytest_httpserver import HTTPServer

from assets.partitions import city_month_partitions
from assets.resources import LiveHttpResource, ProjectSettings
from definitions import build_definitions
from hotline_eval.config.evaluation import load_evaluation
from hotline_eval.config.registry import load_registry
from hotline_eval.config.settings import load_settings
from hotline_eval.fetch.log import fetch_log_row
from hotline_eval.publish.runlog import AD_HOC_JOB, publish_run_log
from hotline_eval.publish.swap import PublishBusy, publish_lock
from hotline_eval.publish.warehouse import apply_ddl, publish, replace_rows
from sensors import ingest_job
from sensors.freshness import make_freshness_sensor, record_failure, record_run_failures
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


def _failure_context(instance: dg.DagsterInstance, result, tmp_path: Path):
    settings = ProjectSettings.from_settings(load_settings({"HOTLINE_EVAL_DUCKDB": str(tmp_path / "h.duckdb")}))
    db = DuckDBResource(database=settings.work_db)
    return dg.build_run_status_sensor_context(
        sensor_name="record_run_failures", dagster_instance=instance, dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(), resources={"warehouse_db": db, "settings": settings},
    ).for_run_failure()


def _failures(path: Path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    rows = con.execute("SELECT run_id, job_name, step_key, error, asset_keys FROM raw.run_failures "
                       "ORDER BY failed_at").fetchall()
    con.close()
    return rows


def test_run_failure_sensor_records_the_failure_and_publishes_it_at_once(tmp_path: Path) -> None:
    """The failure lands in the work database and, without a scoring run, in the analyst file; a reader's open
    connection is neither blocked nor changed, a new one sees it; the implicit job is named for what it is."""
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([always_fails], instance=instance, raise_on_error=False)
    assert not result.success
    con = duckdb.connect(str(tmp_path / "h.work.duckdb"))
    apply_ddl(con)
    replace_rows(con, "raw.fetch_log", fetch_log_row(run_id=result.run_id, source_id="s", city_id="c",
                                                      partition_key="2024-10", status="failed", refresh="full",
                                                      error="HTTP 503"))
    con.close()
    publish(tmp_path / "h.work.duckdb", tmp_path / "h.duckdb")  # the last scoring run's file
    reader = duckdb.connect(str(tmp_path / "h.duckdb"), read_only=True)

    record_run_failures(_failure_context(instance, result, tmp_path))
    record_run_failures(_failure_context(instance, result, tmp_path))  # the same failure again: recorded once

    assert reader.execute("SELECT count(*) FROM raw.run_failures").fetchone() == (0,)  # the state it opened
    reader.close()
    for path in (tmp_path / "h.work.duckdb", tmp_path / "h.duckdb"):
        rows = _failures(path)
        assert len(rows) == 1 and rows[0][:3] == (result.run_id, AD_HOC_JOB, "always_fails"), path
        assert "the upstream portal changed its layout" in rows[0][3] and rows[0][4] == "always_fails"
    con = duckdb.connect(str(tmp_path / "h.duckdb"), read_only=True)
    assert con.execute("SELECT run_id, error FROM raw.fetch_log").fetchall() == [(result.run_id, "HTTP 503")]
    con.close()
    assert not list(tmp_path.glob(".h.duckdb.publishing-*"))


def test_a_failure_before_any_publish_starts_the_analyst_file(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([always_fails], instance=instance, raise_on_error=False)
    record_run_failures(_failure_context(instance, result, tmp_path))
    assert [r[0] for r in _failures(tmp_path / "h.duckdb")] == [result.run_id]


def test_a_run_log_publish_waits_for_the_publish_lock(tmp_path: Path) -> None:
    analyst = tmp_path / "h.duckdb"
    with publish_lock(analyst, timeout_s=1), pytest.raises(PublishBusy):
        publish_run_log(analyst, "r1", {}, lock_timeout_s=0.2)
    assert publish_run_log(analyst, "r1", {}) == {}
    assert analyst.exists()


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


def test_in_replay_mode_the_daily_schedule_skips_months_the_archive_does_not_hold(tmp_path: Path) -> None:
    replay = build_definitions(load_settings({"HOTLINE_EVAL_MODE": "replay",
                                              "HOTLINE_EVAL_DUCKDB": str(tmp_path / "h.duckdb")}))
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2026, 11, 23, 3, 15, tzinfo=UTC))
    result = replay.resolve_schedule_def("daily_current_month").evaluate_tick(context)
    assert result.run_requests == [] and "2026-11" in result.skip_message


def test_a_named_jobs_failure_names_the_job_and_the_assets_it_planned(tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    job = dg.define_asset_job("refresh_layouts", selection=[always_fails])
    result = dg.Definitions(assets=[always_fails], jobs=[job]).resolve_job_def("refresh_layouts").execute_in_process(
        instance=instance, raise_on_error=False)
    record_failure(instance, result.dagster_run, DuckDBResource(database=str(tmp_path / "h.work.duckdb")),
                   tmp_path / "h.duckdb")
    assert [r[1:3] + r[4:] for r in _failures(tmp_path / "h.duckdb")] == [("refresh_layouts", "always_fails",
                                                                           "always_fails")]
