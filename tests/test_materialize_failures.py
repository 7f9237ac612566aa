"""The quick start runs every demo request partition in one run (issue #22); a partition that fails must still
fail on its own, loudly, while every other partition lands and the ranking is computed from what did."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote_plus

import dagster as dg
import duckdb

from tests.helpers import PROJECT


def _archive_without(tmp: Path, host: str, month: str) -> Path:
    """A copy of the demo archive that lacks the archived responses of ``host`` whose query names ``month``."""
    archive = tmp / "archive_src"
    shutil.copytree(PROJECT / "snapshots" / "demo", archive)
    removed = 0
    for entry in (archive / "requests").glob("*.json"):
        url = unquote_plus(json.loads(entry.read_text(encoding="utf-8"))["url"])
        if host in url and month in url:
            entry.unlink()
            removed += 1
    assert removed
    return archive


def test_a_failing_partition_fails_alone_and_the_rest_land(tmp_path: Path) -> None:
    # Paris's October query ends at 1 November, so both its October and November responses go
    archive = _archive_without(tmp_path, "opendata.paris.fr", "2024-11")
    env = {**os.environ, "HOTLINE_EVAL_MODE": "replay", "HOTLINE_EVAL_REPLAY_DIR": str(archive),
           "HOTLINE_EVAL_DUCKDB": str(tmp_path / "hotline_eval.duckdb"), "DAGSTER_HOME": str(tmp_path / "home"),
           "HOTLINE_EVAL_REPORT": str(tmp_path / "ranking.html"), "HOTLINE_EVAL_ARCHIVE_DIR": str(tmp_path / "archive")}
    env.pop("HOTLINE_EVAL_CITIES", None)
    run = subprocess.run([sys.executable, "scripts/materialize_all.py"], cwd=PROJECT, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    manifest = json.loads((archive / "manifest.json").read_text(encoding="utf-8"))
    partitions = {f"{c}|{m}" for c, months in manifest["request_partitions"].items() for m in months}
    failed = {"paris|2024-10", "paris|2024-11"}
    for key in partitions:
        assert f"  {key:28} {'FAILED' if key in failed else 'ok'}" in run.stdout, key
    assert "error: 2 partitions failed: paris|2024-10, paris|2024-11" in run.stderr
    assert "27 partitions in one run: 2 failed, each runs again on its own" in run.stderr
    assert "materialized 27 request partitions and the ranking" in run.stdout  # scored from what landed

    instance = dg.DagsterInstance.local_temp(tempdir=env["DAGSTER_HOME"])
    try:
        staged = instance.get_materialized_partitions(dg.AssetKey(["staging", "service_requests"]))
        assert staged == partitions - failed
        failed_runs = [r for r in instance.get_runs() if r.status == dg.DagsterRunStatus.FAILURE]
        # the run of all 27, and one run of each failed partition
        assert sorted(r.tags.get("dagster/partition", "range") for r in failed_runs) == sorted([*failed, "range"])
    finally:
        instance.dispose()
    con = duckdb.connect(env["HOTLINE_EVAL_DUCKDB"], read_only=True)
    try:
        recorded = con.execute("SELECT partition_key, error FROM raw.run_failures ORDER BY 1").fetchall()
        ranked = con.execute("SELECT count(*) FROM marts.city_ranking").fetchone()[0]
        paris_months = con.execute("SELECT DISTINCT partition_month FROM staging.service_requests "
                                   "WHERE city_id = 'paris'").fetchall()
    finally:
        con.close()
    assert [key for key, _ in recorded] == sorted(failed)  # each failure once, on its own run
    assert all("no archived response" in error for _, error in recorded)
    assert ranked == 20 and paris_months == [("2024-12",)]
