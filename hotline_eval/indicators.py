"""Indicator facts from staging tables, in polars. One row per city, indicator and period."""

from __future__ import annotations

import polars as pl

FACT_SCHEMA = {
    "city_id": pl.String,
    "indicator_id": pl.String,
    "period": pl.String,
    "raw_value": pl.Float64,
    "unit": pl.String,
    "normalized_value": pl.Float64,
    "coverage": pl.Float64,
    "n_observations": pl.Int64,
    "missing_reason": pl.String,
    "evidence_table": pl.String,
    "evidence_keys": pl.String,
    "evidence_sha256s": pl.List(pl.String),
    "is_synthetic": pl.Boolean,
}
# close-time measures skip records whose dates cannot be a real close (issue: survivorship and junk dates)
EXCLUDED_FROM_CLOSE_TIMES = ("closed_before_created", "closed_within_minute")


def median_hours_to_close(requests: pl.DataFrame, cities: list[str], period: str) -> pl.DataFrame:
    """Median hours from creation to closing over closed requests created in ``period`` (YYYY).

    Every city in ``cities`` gets a row; a city without closed requests gets a null value with
    the reason, never a made-up number."""
    in_period = requests.filter(pl.col("created_at").dt.year().cast(pl.String) == period)
    usable = in_period.filter(
        pl.col("closed_at").is_not_null()
        & ~pl.col("quality_flags").list.eval(pl.element().is_in(EXCLUDED_FROM_CLOSE_TIMES)).list.any()
    )
    measured = usable.group_by("city_id").agg(
        ((pl.col("closed_at") - pl.col("created_at")).dt.total_seconds() / 3600).median().alias("raw_value"),
        pl.len().cast(pl.Int64).alias("n_observations"),
        pl.col("partition_month").unique().sort().str.join(",").alias("months"),
        pl.col("sha256").unique().sort().alias("evidence_sha256s"),
        pl.col("is_synthetic").any().alias("is_synthetic"),
    )
    frame = pl.DataFrame({"city_id": cities}).join(measured, on="city_id", how="left")
    return frame.select(
        "city_id",
        pl.lit("median_hours_to_close").alias("indicator_id"),
        pl.lit(period).alias("period"),
        "raw_value",
        pl.lit("hours").alias("unit"),
        pl.lit(None, pl.Float64).alias("normalized_value"),
        pl.when(pl.col("raw_value").is_not_null()).then(1.0).otherwise(0.0).alias("coverage"),
        pl.col("n_observations").fill_null(0),
        pl.when(pl.col("raw_value").is_null()).then(pl.lit("no closed requests in staging.service_requests"))
        .alias("missing_reason"),
        pl.lit("staging.service_requests").alias("evidence_table"),
        pl.when(pl.col("months").is_not_null())
        .then(pl.format("city_id={}; partition_month in [{}]", "city_id", "months")).alias("evidence_keys"),
        pl.col("evidence_sha256s").fill_null([]),
        pl.col("is_synthetic").fill_null(False),
    ).cast(FACT_SCHEMA)
