"""raw.fetch_log: every fetch attempt, failed or not, one row each, visible to analysts."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl


def fetch_log_row(*, run_id: str, source_id: str, city_id: str, partition_key: str, status: str, refresh: str,
                  rows: int = 0, pages: int = 0, error: str | None = None) -> pl.DataFrame:
    """One raw.fetch_log row: every fetch attempt, failed or not, is visible to analysts."""
    return pl.DataFrame([{
        "source_id": source_id, "city_id": city_id, "partition_key": partition_key, "run_id": run_id,
        "fetched_at": datetime.now(UTC), "status": status, "refresh": refresh, "rows_landed": rows, "pages": pages,
        "error": error,
    }], schema_overrides={"rows_landed": pl.Int64, "pages": pl.Int32})
