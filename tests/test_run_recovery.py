"""A run killed while it holds the duckdb_warehouse pool slot no longer blocks later runs: the
release_dead_runs sensor fails it and frees the slot, and leaves live runs alone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from sensors.run_recovery import release_dead_runs, release_dead_runs_sensor

PROJECT = Path(__file__).resolve().parents[1]
POOL = "duckdb_warehouse"

RUNNER = """
import sys, time
import dagster as dg

@dg.asset(pool="duckdb_warehouse")
def hold() -> None:
    time.sleep(120)

@dg.asset(pool="duckdb_warehouse")
def quick() -> int:
    return 1

with dg.DagsterInstance.get() as instance:
    dg.materialize([hold if sys.argv[1] == "hold" else quick], instance=instance)
"""


def _claimed_run_ids(instance: dg.DagsterInstance) -> set[str]:
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return {slot.run_id for slot in info.claimed_slots}


@pytest.mark.slow
def test_a_killed_run_releases_its_pool_slot_and_later_runs_go_ahead(tmp_path: Path) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")  # the project's pools: duckdb_warehouse, limit 1
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))

    holder = subprocess.Popen([sys.executable, str(runner), "hold"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _claimed_run_ids(instance) and time.monotonic() < deadline:
            time.sleep(0.2)
        (held_by,) = _claimed_run_ids(instance)
        assert release_dead_runs(instance) == []  # a live run keeps its slot
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()

    # what used to block every later step: the killed run still STARTED, still holding the only slot
    assert instance.get_run_by_id(held_by).status == dg.DagsterRunStatus.STARTED
    assert _claimed_run_ids(instance) == {held_by}

    result = release_dead_runs_sensor(dg.build_sensor_context(instance=instance))
    assert "released 1 dead run" in result.skip_message
    assert instance.get_run_by_id(held_by).status == dg.DagsterRunStatus.FAILURE
    assert _claimed_run_ids(instance) == set()

    later = subprocess.run([sys.executable, str(runner), "quick"], env=env, capture_output=True, text=True,
                           timeout=120)
    assert later.returncode == 0, later.stderr[-2000:]
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.SUCCESS]))
    assert len(runs) == 1
    assert release_dead_runs_sensor(dg.build_sensor_context(instance=instance)).skip_message == "no dead runs"
