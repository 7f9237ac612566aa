"""Materialize the whole asset graph: every request partition to fetch, then scoring and publish.

In replay mode the partitions are those the replay archive holds (its manifest.json); in live
mode, the months given with --months (default: the current month) for every request-level city.
Runs go into the Dagster instance at $DAGSTER_HOME (default .dagster_home/), so `dagster dev`
shows them afterwards. A partition that fails is reported and the rest go on; the exit code is 1
if any failed, after the ranking has been computed from what did land.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DAGSTER_HOME", str(ROOT / ".dagster_home"))
# step-by-step events stay in the Dagster instance (see them in the UI); the terminal gets warnings
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _partitions(args: argparse.Namespace, settings, cities: list[str]) -> list[tuple[str, str]]:
    if settings.mode == "replay" and not args.months:
        manifest_path = Path(settings.replay_dir) / "manifest.json"
        if not manifest_path.exists():
            raise SystemExit(f"error: replay archive {settings.replay_dir} has no manifest.json")
        manifest = json.loads(manifest_path.read_text())
        return [(c, m) for c, months in sorted(manifest["request_partitions"].items()) if c in cities
                for m in months]
    months = args.months.split(",") if args.months else [datetime.now(UTC).strftime("%Y-%m")]
    return [(c, m) for c in cities for m in months]


RUNNER_PID_TAG = "hotline_eval/runner_pid"


def _print_failures(result) -> None:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            print(f"    {event.step_key}: {event.step_failure_data.error.message.strip()}", file=sys.stderr)


def _release_dead_runs(instance) -> None:
    """Runs of an earlier runner that was killed (SIGKILL, power loss) still look started and still
    hold their concurrency-pool slots, which would make every later step wait forever. Mark them
    failed and free their slots, as Dagster's run monitoring does when a daemon runs."""
    import dagster as dg

    for run in instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED,
                                                                  dg.DagsterRunStatus.STARTING])):
        pid = run.tags.get(RUNNER_PID_TAG)
        if pid is None or _alive(int(pid)):
            continue
        instance.report_run_failed(run, f"the runner process {pid} is gone (killed before the run ended)")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        print(f"  released run {run.run_id[:8]} left behind by runner {pid}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", help="comma-separated YYYY-MM months to fetch (live mode)")
    parser.add_argument("--cities", help="comma-separated city ids (default: all request-level cities)")
    args = parser.parse_args()

    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    import dagster as dg

    from hotline_eval.errors import HotlineEvalError

    try:
        from assets.config import REGISTRY, SETTINGS
        from assets.partitions import partition_key, request_level_cities
        from definitions import defs
    except HotlineEvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    cities = args.cities.split(",") if args.cities else request_level_cities(REGISTRY)
    partitions = _partitions(args, SETTINGS, cities)
    instance = dg.DagsterInstance.get()
    _release_dead_runs(instance)
    tags = {RUNNER_PID_TAG: str(os.getpid())}
    ingest = defs.resolve_job_def("refresh_requests")
    portals = defs.resolve_job_def("refresh_portals")
    score = defs.resolve_job_def("score_and_publish")
    started = time.monotonic()
    origin = f"replay archive {SETTINGS.replay_dir}" if SETTINGS.mode == "replay" else "live sources"
    print(f"mode={SETTINGS.mode}, reading from {origin}")
    failed: list[str] = []
    for city_id, month in partitions:
        key = partition_key(city_id, month)
        result = ingest.execute_in_process(partition_key=key, instance=instance, raise_on_error=False,
                                           run_config=QUIET, tags=tags)
        status = "ok" if result.success else "FAILED"
        print(f"  {key:28} {status}")
        if not result.success:
            failed.append(key)
            _print_failures(result)
    result = portals.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET, tags=tags)
    print(f"  {'portal pages and directories':28} {'ok' if result.success else 'FAILED'}")
    if not result.success:
        failed.append("refresh_portals")
        _print_failures(result)
    result = score.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET, tags=tags)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data:
                print(f"  {event.step_key}: {event.step_failure_data.error.message.strip()}", file=sys.stderr)
        print("error: scoring and publishing failed; the previous analyst file is unchanged", file=sys.stderr)
        return 1
    import duckdb

    con = duckdb.connect(str(SETTINGS.analyst_db), read_only=True)
    rows = con.sql("SELECT rank, city_name, round(score, 1), round(coverage, 2), data_mode "
                   "FROM marts.city_ranking ORDER BY rank NULLS LAST, city_id").fetchall()
    con.close()
    print(f"\nmaterialized {len(partitions)} request partitions and the ranking in {time.monotonic() - started:.1f}s")
    print(f"ranking: {SETTINGS.analyst_db}  (table marts.city_ranking, {len(rows)} cities, data_mode={rows[0][4]})")
    for rank, name, score_value, coverage, _ in rows[:10]:
        print(f"  {rank if rank is not None else '-':>3}  {name:20} score={score_value}  coverage={coverage}")
    print(f"report:  {SETTINGS.report}  (self-contained, opens offline)")
    print(f"open the UI:  DAGSTER_HOME={os.environ['DAGSTER_HOME']} HOTLINE_EVAL_MODE={SETTINGS.mode} "
          ".venv/bin/dagster dev   (then http://127.0.0.1:3000)")
    if failed:
        print(f"error: {len(failed)} partitions failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # duckdb 2.0's bindings report objects Dagster's in-process runs still hold at interpreter
    # shutdown ("nanobind: leaked ..."), which only buries our summary; nothing is left to clean up
    os._exit(code)
