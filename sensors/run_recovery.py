"""Release the runs a killed process left behind, with their concurrency-pool slots.

A run whose process is killed (SIGKILL, OOM killer, power loss) stays STARTED in the instance and keeps
its `duckdb_warehouse` slot, so every later step in the pool waits forever. Dagster's run monitoring
cannot see it with the default run launcher (which has no worker health check), and runs started from
the CLI or `execute_in_process` have no launcher at all. Every run's executor records the process it
runs in (an engine event with `pid` metadata); on a local instance, a run none of whose processes is alive
is dead. This marks it failed and frees its slots: the `release_dead_runs` sensor does so under
`dagster dev` and in the daemon, `scripts/materialize_all.py` before it starts, and
`scripts/release_dead_runs.py` by hand.
"""

from __future__ import annotations

import dagster as dg
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage

from hotline_eval.publish.warehouse import process_alive


def run_process_ids(instance: dg.DagsterInstance, run_id: str) -> set[int]:
    """The pids the run's executor recorded (the run's own process, and step subprocesses)."""
    pids: set[int] = set()
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data and data.metadata else None
        if pid is not None and str(pid.value).isdigit():
            pids.add(int(pid.value))
    return pids


def release_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed, and free the pool slots of, every started run all of whose processes are gone.
    Only on a local (SQLite) instance: pids say nothing about runs on other machines. Returns the run ids."""
    if not isinstance(instance.run_storage, SqliteRunStorage):
        return []
    released = []
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED,
                                                                  dg.DagsterRunStatus.STARTING])):
        pids = run_process_ids(instance, run.run_id)
        if not pids or any(process_alive(pid) for pid in pids):  # no pid yet: still starting (run monitoring's timeout)
            continue
        instance.report_run_failed(run, f"the run's process ({', '.join(map(str, sorted(pids)))}) is gone: "
                                        "killed before the run ended; its concurrency slots were freed")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        released.append(run.run_id)
    return released


@dg.sensor(name="release_dead_runs", minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Marks failed the runs whose process was killed and frees their duckdb_warehouse pool "
                       "slots, so later runs do not wait forever (local instance only).")
def release_dead_runs_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    released = release_dead_runs(context.instance)
    if released:
        context.log.warning(f"released {len(released)} run(s) left by a killed process: {', '.join(released)}")
        return dg.SkipReason(f"released {len(released)} dead run(s): {', '.join(r[:8] for r in released)}")
    return dg.SkipReason("no dead runs")
