"""The Dagster layer: definitions load and validate; partitions re-materialize idempotently; a failed
partition keeps what had landed; the whole graph runs from the demo archive like the quick start."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from assets.requests import request_assets
from assets.resources import LiveHttpResource, ReplayHttpResource, SourceCredentials
from definitions import build_definitions
from hotline_eval.config.evaluation import load_evaluation
from hotline_eval.config.registry import load_registry
from hotline_eval.config.settings import DEMO_ARCHIVE, load_settings

PROJECT = Path(__file__).resolve().parents[1]
NYC_OCT = dg.MultiPartitionKey({"city": "new_york", "month": "2024-10"})
defs = build_definitions(load_settings())
raw_service_request_records, staging_service_requests = request_assets(load_registry(), load_evaluation())


def test_every_asset_is_described_grouped_and_kinded() -> None:
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw/service_request_records", "staging/service_requests", "marts/indicator_facts",
            "marts/city_ranking", "analyst_warehouse"} <= keys
    for spec in defs.resolve_all_asset_specs():
        assert spec.description, spec.key
        assert spec.group_name and spec.group_name != "default", spec.key
        assert spec.kinds, spec.key
    assert {s.name for s in defs.schedules} == {"daily_current_month", "daily_scoring", "weekly_portals"}


@pytest.mark.slow  # a subprocess loading the whole code location (~10 s)
def test_dagster_definitions_validate_passes() -> None:
    dagster = Path(sys.executable).parent / "dagster"
    out = subprocess.run([str(dagster), "definitions", "validate", "-w", "workspace.yaml"], cwd=PROJECT,
                         capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "All code locations passed validation" in out.stderr + out.stdout


@pytest.mark.slow  # a subprocess importing the whole code location (~6 s)
def test_nothing_is_read_from_disk_when_assets_and_sensors_are_imported(tmp_path: Path) -> None:
    """Configuration loads when the code location loads (definitions.defs), never at import: with the
    registry pointing nowhere, every module under assets/ and sensors/ and definitions.py import, and no
    file under config/ is opened."""
    modules = sorted(f"{p.parent.name}.{p.stem}".removesuffix(".__init__")
                     for folder in ("assets", "sensors") for p in (PROJECT / folder).glob("*.py"))
    script = (
        "import importlib, sys\n"
        "opened = []\n"
        f"sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == 'open' "
        f"and str(args[0]).startswith({str(PROJECT / 'config')!r}) else None)\n"
        f"for name in {[*modules, 'definitions']!r}:\n"
        "    importlib.import_module(name)\n"
        "assert not opened, opened\n"
        "print('imported', len(sys.modules))\n"
    )
    env = {**os.environ, "HOTLINE_EVAL_CITIES": str(tmp_path / "no_such_cities.yaml")}
    out = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "sensors.freshness" in modules and "assets.requests" in modules


def test_the_http_resource_is_chosen_by_the_mode(tmp_path: Path) -> None:
    env = {"HOTLINE_EVAL_DUCKDB": str(tmp_path / "h.duckdb"), "HOTLINE_EVAL_REPLAY_DIR": str(tmp_path / "replay"),
           "HOTLINE_EVAL_ARCHIVE_DIR": str(tmp_path / "archive")}
    replay = build_definitions(load_settings({**env, "HOTLINE_EVAL_MODE": "replay"})).resources["http"]
    live = build_definitions(load_settings({**env, "HOTLINE_EVAL_MODE": "live"})).resources["http"]
    assert isinstance(replay, ReplayHttpResource) and replay.source_dir == str(tmp_path / "replay")
    assert replay.client(frozenset()).mode == "replay"
    assert isinstance(live, LiveHttpResource) and live.source_dir == str(tmp_path / "archive")
    assert live.client(frozenset()).mode == "live"
    settings = build_definitions(load_settings({**env, "HOTLINE_EVAL_MODE": "replay"})).resources["settings"]
    assert settings.analyst_db == str(tmp_path / "h.duckdb") and settings.mode == "replay"
    assert settings.work_db == str(tmp_path / "h.work.duckdb")


def _resources(tmp_path: Path, replay_dir: Path) -> dict:
    return {
        "http": ReplayHttpResource(replay_dir=str(replay_dir)),
        "credentials": SourceCredentials(),
        "warehouse_db": DuckDBResource(database=str(tmp_path / "work.duckdb")),
    }


def _snapshot(path: Path) -> dict[str, list]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"SELECT * EXCLUDE (sha256) FROM {t} ORDER BY ALL").fetchall()  # noqa: S608
                for t in ("raw.service_request_records", "staging.service_requests", "raw.rejects")}
    finally:
        con.close()


def test_rematerializing_a_partition_leaves_identical_tables(tmp_path: Path) -> None:
    assets = [raw_service_request_records, staging_service_requests]
    resources = _resources(tmp_path, DEMO_ARCHIVE)
    first = dg.materialize(assets, partition_key=NYC_OCT, resources=resources, selection=assets)
    assert first.success
    before = _snapshot(tmp_path / "work.duckdb")
    assert len(before["staging.service_requests"]) > 1000
    assert dg.materialize(assets, partition_key=NYC_OCT, resources=resources, selection=assets).success
    assert _snapshot(tmp_path / "work.duckdb") == before
    con = duckdb.connect(str(tmp_path / "work.duckdb"), read_only=True)
    duplicates = con.execute("SELECT count(*) - count(DISTINCT (city_id, request_id)) "
                             "FROM staging.service_requests").fetchone()[0]
    assert duplicates == 0
    con.close()


def test_a_partition_that_fails_mid_paging_keeps_what_had_landed(tmp_path: Path) -> None:
    assets = [raw_service_request_records, staging_service_requests]
    assert dg.materialize(assets, partition_key=NYC_OCT, resources=_resources(tmp_path, DEMO_ARCHIVE),
                          selection=assets).success
    before = _snapshot(tmp_path / "work.duckdb")
    # an archive in which the second page of that month is missing: page 1 replays, page 2 fails
    broken = tmp_path / "broken_archive"
    shutil.copytree(DEMO_ARCHIVE, broken)
    for entry in (broken / "requests").glob("*.json"):
        meta = json.loads(entry.read_text())
        if "erm2-nwe9" in meta["url"] and "2024-10-01" in meta["url"] and "%24offset=1000" in meta["url"]:
            entry.unlink()
            break
    else:
        pytest.fail("demo archive has no second page for New York 2024-10")
    result = dg.materialize(assets, partition_key=NYC_OCT, resources=_resources(tmp_path, broken), selection=assets,
                            raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    assert "new_york 2024-10 nyc_311_socrata: replay: no archived response for GET " \
        "https://data.cityofnewyork.us/resource/erm2-nwe9.json" in message
    assert _snapshot(tmp_path / "work.duckdb") == before


def test_the_whole_graph_runs_from_the_demo_archive(demo_run) -> None:
    out, env = demo_run
    db = Path(env["HOTLINE_EVAL_DUCKDB"])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"ranking: {db}" in out.stdout
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT city_id, rank, score, coverage, data_mode, is_synthetic "
                       "FROM marts.city_ranking").fetchall()
    assert len(rows) == 20 and len({r[0] for r in rows}) == 20
    assert {r[4] for r in rows} == {"demo"}
    scored = [r for r in rows if r[2] is not None]
    assert {r[0] for r in scored} >= {"new_york", "san_francisco"}
    demo_fed = {r[0] for r in con.execute("SELECT DISTINCT city_id FROM staging.service_requests").fetchall()}
    assert all(r[5] for r in scored if r[0] in demo_fed), "scores from demo data must be marked synthetic"
    # cities with too little evidence keep their partial score but get no rank
    thin = [r for r in rows if r[3] < 0.5]
    assert thin and all(r[1] is None for r in thin)
    synthetic = con.execute("SELECT bool_and(is_synthetic), count(*) FROM staging.service_requests").fetchone()
    assert synthetic[0] is True and synthetic[1] > 3000
    traced = con.execute("SELECT count(*) FROM staging.service_requests s LEFT JOIN raw.http_archive a "
                         "USING (sha256) WHERE a.sha256 IS NULL").fetchone()[0]
    assert traced == 0, "every staged row must trace to an archived response"
    # open data for every city that publishes it: request-level for at least 6, no duplicates
    request_cities = {r[0] for r in con.execute("SELECT DISTINCT city_id FROM staging.service_requests").fetchall()}
    assert len(request_cities) >= 6, request_cities
    assert con.execute("SELECT count(*) - count(DISTINCT (city_id, request_id)) "
                       "FROM staging.service_requests").fetchone()[0] == 0
    # the framework: 24 tertiary indicators for all 20 cities, each a value or missing with its reason
    facts = con.execute("SELECT count(*), count(DISTINCT indicator_id), count(DISTINCT city_id), "
                        "count(*) FILTER (WHERE raw_value IS NULL AND missing_reason IS NULL) "
                        "FROM marts.indicator_facts").fetchone()
    assert facts == (480, 24, 20, 0)
    ranked = con.execute("SELECT count(*) FILTER (WHERE rank IS NOT NULL), "
                         "count(*) FILTER (WHERE rank IS NOT NULL AND (rank_p05 IS NULL OR rank_p95 IS NULL "
                         "OR rank < rank_p05 OR rank > rank_p95)) FROM marts.city_ranking").fetchone()
    assert ranked[0] >= 2 and ranked[1] == 0
    explained = con.execute("SELECT count(DISTINCT city_id) FROM marts.city_explanations").fetchone()[0]
    assert explained == con.execute("SELECT count(*) FROM marts.city_ranking WHERE score IS NOT NULL").fetchone()[0]
    con.close()


def test_published_statistics_for_four_aggregate_only_cities(demo_run) -> None:
    con = duckdb.connect(demo_run[1]["HOTLINE_EVAL_DUCKDB"], read_only=True)
    stats_cities = {r[0] for r in con.execute("SELECT DISTINCT city_id FROM staging.hotline_stats").fetchall()}
    request_cities = {r[0] for r in con.execute("SELECT DISTINCT city_id FROM staging.service_requests").fetchall()}
    con.close()
    assert len(stats_cities - request_cities) >= 4, stats_cities
    assert _all_synthetic(demo_run[1]["HOTLINE_EVAL_DUCKDB"], "staging.hotline_stats")


def _all_synthetic(path: str, table: str) -> bool:
    con = duckdb.connect(path, read_only=True)
    try:
        return con.execute(f"SELECT bool_and(is_synthetic) FROM {table}").fetchone()[0] is True  # noqa: S608
    finally:
        con.close()


def test_portal_evidence_for_every_city_and_directories_for_six(demo_run) -> None:
    con = duckdb.connect(demo_run[1]["HOTLINE_EVAL_DUCKDB"], read_only=True)
    featured = con.execute("SELECT count(DISTINCT city_id) FROM staging.portal_features").fetchone()[0]
    catalogued = dict(con.execute("SELECT city_id, count(*) FROM staging.service_catalog GROUP BY ALL").fetchall())
    duplicates = con.execute("SELECT count(*) - count(DISTINCT (city_id, service_code)) "
                             "FROM staging.service_catalog").fetchone()[0]
    con.close()
    assert featured == 20
    assert len(catalogued) >= 6 and min(catalogued.values()) >= 2, catalogued
    assert duplicates == 0
    assert _all_synthetic(demo_run[1]["HOTLINE_EVAL_DUCKDB"], "staging.service_catalog")
