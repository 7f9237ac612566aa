"""What the quick start's materialization leaves in $DAGSTER_HOME for `dagster dev` (issue #22: made faster without
losing any of it): one successful run for the demo's request partitions (a partition range) plus the portal and
scoring runs, every partition of the request assets materialized with its own metadata, every other asset
materialized, the checks evaluated; and the work database holds the DDL version it was given once."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb

from hotline_eval.publish.warehouse import ddl_sha256
from tests.helpers import PROJECT


def _demo_partitions() -> set[str]:
    manifest = json.loads((PROJECT / "snapshots" / "demo" / "manifest.json").read_text(encoding="utf-8"))
    return {f"{city}|{month}" for city, months in manifest["request_partitions"].items() for month in months}


def test_every_run_and_materialization_of_the_demo_is_in_dagster_home(demo_run) -> None:
    out, env = demo_run
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    partitions = _demo_partitions()
    # the instance `dagster dev` opens with this DAGSTER_HOME (local_temp(dir): the persistent one there)
    instance = dg.DagsterInstance.local_temp(tempdir=env["DAGSTER_HOME"])
    runs = instance.get_runs()
    assert {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}
    jobs = sorted(run.job_name for run in runs)
    assert jobs == ["refresh_portals", "refresh_requests", "score_and_publish"]
    (requests_run,) = [run for run in runs if run.job_name == "refresh_requests"]
    # a range over the city dimension (registry order) and the months: the demo's first and last partitions
    start, end = (requests_run.tags[f"dagster/asset_partition_range_{side}"] for side in ("start", "end"))
    months = sorted({key.split("|")[1] for key in partitions})
    assert {start, end} <= partitions and (start[-7:], end[-7:]) == (months[0], months[-1])
    staged_rows = {}
    for key in (dg.AssetKey(["raw", "service_request_records"]), dg.AssetKey(["staging", "service_requests"])):
        assert instance.get_materialized_partitions(key) == partitions, key.to_user_string()
        records = instance.fetch_materializations(key, limit=1000).records
        assert sorted(r.partition_key for r in records) == sorted(partitions)  # one each, not one per run
        rows = {r.partition_key: r.asset_materialization.metadata["dagster/row_count"].value for r in records}
        previews = {r.asset_materialization.metadata["preview"].value for r in records}
        assert len(previews) == len(partitions)  # each partition's own preview, not the run's
        staged_rows = rows
    analyst = duckdb.connect(env["HOTLINE_EVAL_DUCKDB"], read_only=True)
    counted = dict(analyst.execute("SELECT city_id || '|' || partition_month, count(*) FROM staging.service_requests "
                                   "GROUP BY ALL").fetchall())
    analyst.close()
    # each partition's metadata describes that partition (Madrid's earlier months hold no request: its polls
    # capture only the current month)
    assert {key: rows for key, rows in staged_rows.items() if rows} == counted
    kinds = (dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, dg.DagsterEventType.ASSET_MATERIALIZATION)
    for run in runs:  # each run materialized every asset (and partition) it planned
        planned, done = ({(e.dagster_event.asset_key, e.dagster_event.partition)
                          for e in instance.all_logs(run.run_id, of_type=kind)} for kind in kinds)
        assert planned and planned == done, run.job_name
    checks = [e for run in runs
              for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
    names = {e.dagster_event.event_specific_data.check_name for e in checks}
    assert {"schema_drift", "unmapped_share_below_threshold", "unique_request_ids"} <= names
    instance.dispose()
    work = Path(env["HOTLINE_EVAL_DUCKDB"]).with_suffix(".work.duckdb")
    con = duckdb.connect(str(work), read_only=True)
    assert con.execute("SELECT ddl_sha256 FROM main.ddl_version").fetchall() == [(ddl_sha256(),)]
    con.close()
