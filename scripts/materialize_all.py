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
# The instance at $DAGSTER_HOME (its dagster.yaml: pools, run limits) with one override for this process:
# no raw stdout/stderr capture. Capturing starts two `tail` and two Python watcher processes per run
# (~0.15 s each run here, 20 runs); the terminal shows that output anyway. Runs, every event and log
# message, materializations, checks and pool slots are recorded as always, so `dagster dev` shows them;
# runs `dagster dev` launches keep capturing.
INSTANCE_OVERRIDES = {"compute_logs": {"module": "dagster._core.storage.noop_compute_log_manager",
                                       "class": "NoOpComputeLogManager"}}


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


def _record_failure(instance, result, defs, settings) -> None:
    """The failed run in raw.run_failures and, at once, in the analyst file, as the run-failure sensor records
    runs `dagster dev` launches (runs executed in this process are not seen by a sensor)."""
    from sensors.freshness import record_failure

    try:
        record_failure(instance, result.dagster_run, defs.resources["warehouse_db"], Path(settings.analyst_db))
    except Exception as exc:  # recording is a courtesy: the run's failure is reported either way
        print(f"    (not recorded in raw.run_failures: {exc})", file=sys.stderr)


def _print_failures(result) -> None:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            print(f"    {event.step_key}: {event.step_failure_data.error.message.strip()}", file=sys.stderr)


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

    from assets.partitions import partition_key
    from definitions import build_definitions
    from hotline_eval.config.settings import load_settings
    from hotline_eval.errors import HotlineEvalError
    from sensors.run_recovery import release_dead_runs

    try:
        settings = load_settings()
        defs = build_definitions(settings)
    except HotlineEvalError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    ingest = defs.resolve_job_def("refresh_requests")
    # the request-level cities, in registry order: the city dimension of the request partitions
    request_cities = ingest.partitions_def.get_partitions_def_for_dimension("city").get_partition_keys()
    cities = args.cities.split(",") if args.cities else request_cities
    partitions = _partitions(args, settings, cities)
    # the request partitions of this mode: in replay mode only those the archive holds
    unknown = [f"{c}|{m}" for c, m in partitions if not ingest.partitions_def.has_partition_key(partition_key(c, m))]
    if unknown:
        print(f"error: not request partitions in {settings.mode} mode (replay: the archive's months; live: "
              f"first_month of config/evaluation.yaml to the current month; set HOTLINE_EVAL_FIRST_MONTH=YYYY-MM "
              f"for earlier months): {', '.join(unknown)}", file=sys.stderr)
        return 2
    # (local_temp with a directory: the regular, persistent instance in that directory, as get() would open)
    instance = dg.DagsterInstance.local_temp(tempdir=str(home), overrides=INSTANCE_OVERRIDES)
    # runs a killed earlier runner left behind would hold their pool slots and block every step
    for run_id in release_dead_runs(instance):
        print(f"  released run {run_id[:8]} left behind by a killed process (its pool slots freed)")
    portals = defs.resolve_job_def("refresh_portals")
    score = defs.resolve_job_def("score_and_publish")
    started = time.monotonic()
    origin = f"replay archive {settings.replay_dir}" if settings.mode == "replay" else "live sources"
    print(f"mode={settings.mode}, reading from {origin}")
    failed: list[str] = []
    for city_id, month in partitions:
        key = partition_key(city_id, month)
        result = ingest.execute_in_process(partition_key=key, instance=instance, raise_on_error=False,
                                           run_config=QUIET)
        status = "ok" if result.success else "FAILED"
        print(f"  {key:28} {status}")
        if not result.success:
            failed.append(key)
            _print_failures(result)
            _record_failure(instance, result, defs, settings)
    result = portals.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET)
    print(f"  {'portal pages and directories':28} {'ok' if result.success else 'FAILED'}")
    if not result.success:
        failed.append("refresh_portals")
        _print_failures(result)
        _record_failure(instance, result, defs, settings)
    result = score.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data:
                print(f"  {event.step_key}: {event.step_failure_data.error.message.strip()}", file=sys.stderr)
        _record_failure(instance, result, defs, settings)
        print("error: scoring and publishing failed; the analyst file keeps its previous data (the failure is in "
              "raw.run_failures)", file=sys.stderr)
        return 1
    import duckdb

    con = duckdb.connect(str(settings.analyst_db), read_only=True)
    rows = con.sql("SELECT rank, city_name, round(score, 1), round(coverage, 2), data_mode, round(real_share, 2), "
                   "unranked_reason FROM marts.city_ranking ORDER BY rank NULLS LAST, coverage DESC, city_id"
                   ).fetchall()
    con.close()
    print(f"\nmaterialized {len(partitions)} request partitions and the ranking in {time.monotonic() - started:.1f}s")
    print(f"ranking: {settings.analyst_db}  (table marts.city_ranking, {len(rows)} cities, data_mode={rows[0][4]})")
    for rank, name, score_value, coverage, _, real, reason in rows:  # all of them: ranked, then why not
        if rank is not None:
            print(f"  {rank:>3}  {name:20} score={score_value}  coverage={coverage}  real_share={real}")
        else:
            print(f"    -  {name:20} not ranked: {reason}")
    print(f"report:  {settings.report}  (self-contained, opens offline)")
    print(f"open the UI:  DAGSTER_HOME={os.environ['DAGSTER_HOME']} HOTLINE_EVAL_MODE={settings.mode} "
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
