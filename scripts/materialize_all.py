"""Materialize the whole asset graph: every request partition to fetch, then scoring and publish.

In replay mode the partitions are those the replay archive holds (its manifest.json); in live
mode, the months given with --months (default: the current month) for every request-level city.
Runs go into the Dagster instance at $DAGSTER_HOME (default .dagster_home/), so `dagster dev`
shows them afterwards. The request partitions run as few runs as their shape allows (one per
rectangle of neighbouring cities x consecutive months: one for the demo), each partition still
materialized on its own. A partition that fails is reported and the rest go on: a run that fails
is followed by one run per partition of it that did not land, so each failure has its own run and
everything that can land does. The exit code is 1 if any failed, after the ranking has been
computed from what did land.
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
# a failed run of many partitions is told in one line, then again by each failed partition's own run
QUIET_RANGE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
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


def _blocks(partitions_def, partitions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The partitions as rectangles a partition range covers exactly: neighbouring cities (in the city
    dimension's order) with the same run of consecutive months. A run's range of multi-partitions is the
    product of its dimensions' ranges, so each rectangle is one run."""
    city_keys = partitions_def.get_partitions_def_for_dimension("city").get_partition_keys()
    month_keys = partitions_def.get_partitions_def_for_dimension("month").get_partition_keys()
    month_index = {m: i for i, m in enumerate(month_keys)}
    months_of: dict[str, list[str]] = {}
    for city_id, month in partitions:
        months_of.setdefault(city_id, []).append(month)
    runs: list[tuple[int, tuple[str, ...]]] = []  # (city index, consecutive months)
    for index, city_id in enumerate(city_keys):
        months = sorted(set(months_of.get(city_id, [])), key=month_index.__getitem__)
        start = 0
        for i in range(1, len(months) + 1):
            if i == len(months) or month_index[months[i]] != month_index[months[i - 1]] + 1:
                runs.append((index, tuple(months[start:i])))
                start = i
    blocks: list[list[tuple[str, str]]] = []
    previous: tuple[int, tuple[str, ...]] | None = None
    for index, months in runs:
        if previous == (index - 1, months):
            blocks[-1] += [(city_keys[index], m) for m in months]
        else:
            blocks.append([(city_keys[index], m) for m in months])
        previous = (index, months)
    return blocks


def _run_block(job, block: list[tuple[str, str]], instance):
    """One run for ``block`` (a partition range, or the single partition)."""
    import dagster as dg

    from assets.partitions import partition_key

    first, last = partition_key(*block[0]), partition_key(*block[-1])
    if len(block) == 1:
        return job.execute_in_process(partition_key=first, instance=instance, raise_on_error=False, run_config=QUIET)
    covered = job.partitions_def.get_partition_keys_in_range(dg.PartitionKeyRange(str(first), str(last)))
    if sorted(map(str, covered)) != sorted(str(partition_key(*p)) for p in block):
        raise RuntimeError(f"the range {first}..{last} does not cover exactly its partitions")
    return job.execute_in_process(instance=instance, raise_on_error=False, run_config=QUIET_RANGE,
                                  tags={"dagster/asset_partition_range_start": str(first),
                                        "dagster/asset_partition_range_end": str(last)})


def _materialize_requests(job, partitions: list[tuple[str, str]], instance, defs, settings) -> list[str]:
    """Run ``partitions`` as few runs as their shape allows; returns the keys of those that failed. When a run
    of many fails, the partitions whose fetch or staging failed run again one per run (each failure then has
    its own run, recorded in raw.run_failures), and those whose fetch landed but whose staging never ran
    (a failed fetch step stops it) run again as ranges."""
    from assets.partitions import partition_key
    from assets.requests import RAW, STAGED

    failed: list[str] = []
    for block in _blocks(job.partitions_def, partitions):
        keys = {str(partition_key(c, m)): (c, m) for c, m in block}
        result = _run_block(job, block, instance)
        if result.success:
            for key in keys:
                print(f"  {key:28} ok")
            continue
        if len(block) == 1:
            key = next(iter(keys))
            print(f"  {key:28} FAILED")
            failed.append(key)
            _print_failures(result)
            _record_failure(instance, result, defs, settings)
            continue
        fetched, staged = _landed(result, RAW), _landed(result, STAGED)
        for key in staged:
            print(f"  {key:28} ok")
        fetch_ran_whole = fetched >= set(keys)  # then staging ran, and what it did not land failed there
        alone = [p for k, p in keys.items() if k not in staged and (fetch_ran_whole or k not in fetched)]
        again = [p for k, p in keys.items() if k not in staged and not fetch_ran_whole and k in fetched]
        print(f"  {len(keys)} partitions in one run: {len(alone)} failed, each runs again on its own"
              + (f"; {len(again)} fetched but not staged run again" if again else ""), file=sys.stderr)
        failed += _materialize_requests(job, again, instance, defs, settings)
        for city_id, month in alone:
            failed += _materialize_requests(job, [(city_id, month)], instance, defs, settings)
    return failed


def _landed(result, asset_key) -> set[str]:
    """The partitions of ``asset_key`` that a run materialized."""
    return {str(event.partition) for event in result.get_asset_materialization_events()
            if event.asset_key == asset_key and event.partition is not None}


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
    failed = _materialize_requests(ingest, partitions, instance, defs, settings)
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
