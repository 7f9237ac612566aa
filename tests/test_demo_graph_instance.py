"""What the quick start's materialization leaves in $DAGSTER_HOME for `dagster dev` (issue #22: made faster without
losing any of it): one successful run per request partition plus the portal and scoring runs, every partition of
the request assets and every other asset materialized, the checks evaluated; and the work database holds the DDL
version it was given once."""

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
    assert jobs == sorted(["refresh_requests"] * len(partitions) + ["refresh_portals", "score_and_publish"])
    assert {run.tags.get("dagster/partition") for run in runs if run.job_name == "refresh_requests"} == partitions
    for key in (dg.AssetKey(["raw", "service_request_records"]), dg.AssetKey(["staging", "service_requests"])):
        assert instance.get_materialized_partitions(key) == partitions, key.to_user_string()
    kinds = (dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED, dg.DagsterEventType.ASSET_MATERIALIZATION)
    for run in runs:  # each run materialized every asset (and partition) it planned
        planned, done = ({(e.dagster_event.asset_key, e.dagster_event.partition)
                          for e in instance.all_logs(run.run_id, of_type=kind)} for kind in kinds)
        assert planned and planned == done, run.job_name
    checks = [e for run in runs
              for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)]
    assert len(checks) >= 3 * len(partitions)  # schema drift, unmapped share, unique ids: every partition
    instance.dispose()
    work = Path(env["HOTLINE_EVAL_DUCKDB"]).with_suffix(".work.duckdb")
    con = duckdb.connect(str(work), read_only=True)
    assert con.execute("SELECT ddl_sha256 FROM main.ddl_version").fetchall() == [(ddl_sha256(),)]
    con.close()
