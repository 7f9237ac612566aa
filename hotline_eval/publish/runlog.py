"""The run log analysts query for what failed lately: raw.run_failures (which run failed, for which
partition and assets, and why) and raw.fetch_log (every fetch attempt). A failed run's rows reach the
analyst file at once, by the publish's atomic swap (hotline_eval.publish.swap), not only at the next
scoring run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from hotline_eval.publish.swap import amend_published
from hotline_eval.publish.warehouse import Replace, query, replace_many, table_name

FAILURE_SCHEMA = {"run_id": pl.String, "job_name": pl.String, "partition_key": pl.String, "asset_keys": pl.String,
                  "step_key": pl.String, "error": pl.String, "failed_at": pl.Datetime("us", "UTC")}
# the tables of the run log, each with a run_id column
RUN_LOG_TABLES = ("raw.run_failures", "raw.fetch_log")
# what a run of no named job is recorded as: Dagster's implicit jobs (__ASSET_JOB for the UI's Materialize
# button and `dagster asset materialize`, __ephemeral_asset_job__ for dg.materialize) name no job
AD_HOC_JOB = "ad hoc materialization"


def job_label(job_name: str) -> str:
    """The job name a failure is recorded under: the named job, or AD_HOC_JOB for Dagster's implicit ones."""
    return AD_HOC_JOB if job_name.startswith("__") else job_name


def failure_rows(*, run_id: str, job_name: str, partition_key: str | None, asset_keys: Sequence[str],
                 errors: Sequence[tuple[str, str]], failed_at: datetime) -> pl.DataFrame:
    """One row per failed step (or one for the run when no step failed)."""
    return pl.DataFrame([{"run_id": run_id, "job_name": job_label(job_name), "partition_key": partition_key,
                          "asset_keys": ", ".join(sorted(asset_keys)), "step_key": step, "error": error[:4000],
                          "failed_at": failed_at} for step, error in errors], schema=FAILURE_SCHEMA)


def run_log_rows(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, pl.DataFrame]:
    """The run log's rows of one run, by table, from the connection's database (the work database)."""
    return {table: query(con, f"SELECT * FROM {table_name(table)} WHERE run_id = ?", [run_id])  # noqa: S608
            for table in RUN_LOG_TABLES}


def publish_run_log(analyst_db: Path, run_id: str, rows: Mapping[str, pl.DataFrame], *,
                    lock_timeout_s: float = 30.0) -> dict[str, int]:
    """Put one run's run-log rows (by table: run_failures, fetch_log) into the published analyst file, replacing
    any rows of that run it had, by the publish's atomic swap: readers keep what they opened and never see half
    of it. Returns rows written per table."""
    unknown = set(rows) - set(RUN_LOG_TABLES)
    if unknown:
        raise ValueError(f"not run-log tables: {sorted(unknown)}")
    writes = [Replace(table, frame, {"run_id": run_id}) for table, frame in rows.items()]
    return amend_published(analyst_db, lambda con: replace_many(con, writes), lock_timeout_s=lock_timeout_s)
