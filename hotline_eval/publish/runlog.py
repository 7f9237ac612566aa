"""Rows for raw.run_failures: which run failed, for which partition and assets, and why."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

FAILURE_SCHEMA = {"run_id": pl.String, "job_name": pl.String, "partition_key": pl.String, "asset_keys": pl.String,
                  "step_key": pl.String, "error": pl.String, "failed_at": pl.Datetime("us", "UTC")}


def failure_rows(*, run_id: str, job_name: str, partition_key: str | None, asset_keys: Sequence[str],
                 errors: Sequence[tuple[str, str]], failed_at: datetime) -> pl.DataFrame:
    """One row per failed step (or one for the run when no step failed)."""
    return pl.DataFrame([{"run_id": run_id, "job_name": job_name, "partition_key": partition_key,
                          "asset_keys": ", ".join(sorted(asset_keys)), "step_key": step, "error": error[:4000],
                          "failed_at": failed_at} for step, error in errors], schema=FAILURE_SCHEMA)
