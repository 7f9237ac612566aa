"""The routes an indicator value comes by, each returning the same measured frame: request feeds (the
SQL measures), published statistics, portal pages and curated evidence; and the first of them that
measures a city."""

from __future__ import annotations

import polars as pl

from hotline_eval.evaluation.evidence import Evidence

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
    "evidence_kind": pl.String,
    "naive_value": pl.Float64,
}

Measured = pl.DataFrame  # city_id, raw_value, n_observations, coverage, evidence_*, is_synthetic
MEASURED_COLUMNS = ["city_id", "raw_value", "n_observations", "coverage", "evidence_table", "evidence_keys",
                    "evidence_sha256s", "is_synthetic", "missing_reason"]


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema={c: FACT_SCHEMA.get(c, pl.String) for c in MEASURED_COLUMNS})


def from_requests(ev: Evidence, measure: str, *fields: str, naive: bool = False) -> Measured:
    """One request-level measure per city whose feeds publish ``fields``: value, count and month
    coverage, with the city's evidence (months and archived pages in the period) joined in."""
    ok = [c for c in ev.request_cities() if ev.publishes(c, *fields)]
    rows = ev.request_measures().filter((pl.col("measure") == measure) & pl.col("city_id").is_in(ok))
    if rows.is_empty():
        return empty()
    measured = rows.select("city_id", "raw_value", "n_observations", (pl.col("months") / 12).alias("coverage"),
                           *(["naive_value"] if naive else []))
    return measured.join(ev.request_evidence(), on="city_id", how="left").with_columns(
        pl.lit("staging.service_requests").alias("evidence_table"),
        pl.lit(None, pl.String).alias("missing_reason"),
    ).select(MEASURED_COLUMNS + (["naive_value"] if naive else []))


def field_gaps(ev: Evidence, *fields: str) -> Measured:
    """Cities with request rows whose feeds lack ``fields``: missing, with the data's own reason."""
    rows = []
    for city in ev.request_cities():
        lacking = [f for f in fields if not ev.publishes(city, f)]
        if lacking:
            rows.append({"city_id": city, "missing_reason": f"the city's feed publishes no {', '.join(lacking)}"})
    return pl.DataFrame(rows, schema={"city_id": pl.String, "missing_reason": pl.String})


def with_gaps(ev: Evidence, measured: Measured, *fields: str) -> Measured:
    return pl.concat([measured, field_gaps(ev, *fields)], how="diagonal_relaxed")


# --- routes other than request feeds -------------------------------------------------------------
def first_of(*frames: pl.DataFrame) -> Measured:
    """Per city, the first frame that measures it (feeds before pages before curated)."""
    seen: set[str] = set()
    parts = []
    for frame in frames:
        if frame.is_empty():
            continue
        part = frame.filter(~pl.col("city_id").is_in(list(seen)))
        if "raw_value" in part.columns:
            seen |= set(part.filter(pl.col("raw_value").is_not_null())["city_id"].to_list())
        parts.append(part)
    return pl.concat(parts, how="diagonal_relaxed") if parts else empty()


def from_stats(ev: Evidence, metrics: str | tuple[str, ...], *, scale: float = 1.0, annualize: bool = False,
                exclude: pl.Series | None = None) -> Measured:
    metrics = (metrics,) if isinstance(metrics, str) else metrics
    stats = ev.stats.filter(pl.col("period").str.starts_with(ev.period) & pl.col("metric").is_in(metrics))
    if exclude is not None:
        stats = stats.filter(~pl.col("city_id").is_in(exclude.to_list()))
    if stats.is_empty():
        return empty()
    # one metric per city: the first listed that the city publishes
    rank = pl.col("metric").replace_strict({m: i for i, m in enumerate(metrics)}, return_dtype=pl.Int32)
    stats = stats.with_columns(rank.alias("_rank")).filter(pl.col("_rank") == pl.col("_rank").min().over("city_id"))
    monthly = pl.col("period").str.len_chars() == 7
    value = pl.when(monthly.any()).then(
        pl.col("value").sum() / pl.col("period").n_unique() * 12 if annualize else pl.col("value").mean()
    ).otherwise(pl.col("value").mean())
    return stats.group_by("city_id").agg(
        (value * scale).alias("raw_value"),
        pl.len().cast(pl.Int64).alias("n_observations"),
        pl.when(monthly.any()).then(pl.col("period").n_unique() / 12).otherwise(1.0).alias("coverage"),
        pl.lit("staging.hotline_stats").alias("evidence_table"),
        pl.format("city_id={}; metric={}; published statistics, not request records", pl.col("city_id").first(),
                  pl.col("metric").first()).alias("evidence_keys"),
        pl.col("sha256").unique().sort().alias("evidence_sha256s"),
        pl.col("is_synthetic").any(),
        pl.lit(None, pl.String).alias("missing_reason"),
    ).select(MEASURED_COLUMNS)


def pages_read(ev: Evidence) -> pl.DataFrame:
    """Cities whose portal pages were read (a pages_read row), as measured rows without a value."""
    read = ev.features.filter(pl.col("feature") == "pages_read")
    if read.is_empty():
        return empty()
    return read.group_by("city_id").agg(
        pl.lit(None, pl.Float64).alias("raw_value"), pl.col("value_num").sum().cast(pl.Int64).alias("n_observations"),
        pl.lit(1.0).alias("coverage"), pl.lit("staging.portal_features").alias("evidence_table"),
        pl.lit(None, pl.String).alias("evidence_keys"), pl.col("sha256").unique().sort().alias("evidence_sha256s"),
        pl.col("is_synthetic").any(), pl.lit(None, pl.String).alias("missing_reason")).select(MEASURED_COLUMNS)


def from_features(ev: Evidence, feature: str, *, numeric: bool, exclude: pl.Series | None = None) -> Measured:
    """A page feature per city: its number (numeric) or 1/0 found/not found on pages that were read."""
    read = pages_read(ev)
    if exclude is not None and not read.is_empty():
        read = read.filter(~pl.col("city_id").is_in(exclude.to_list()))
    if read.is_empty():
        return empty()
    rows = ev.features.filter(pl.col("feature") == feature)
    found = rows.group_by("city_id").agg(
        pl.col("value_num").max().alias("_num"), pl.col("sha256").unique().sort().alias("_s"),
        pl.col("source_url").unique().sort().str.join(" ").alias("_urls"))
    out = read.join(found, on="city_id", how="left")
    if numeric:
        value = pl.col("_num")
        reason = pl.when(pl.col("_num").is_null()).then(pl.lit(f"pages were read but publish no {feature}"))
    else:
        value = pl.when(pl.col("_s").is_not_null()).then(1.0).otherwise(0.0)
        reason = pl.lit(None, pl.String)
    return out.with_columns(
        value.alias("raw_value"), reason.alias("missing_reason"),
        pl.coalesce("_s", "evidence_sha256s").alias("evidence_sha256s"),
        pl.format("city_id={}; feature={}; {}", "city_id", pl.lit(feature), pl.col("_urls").fill_null("not found"))
        .alias("evidence_keys"),
    ).select(MEASURED_COLUMNS)


def from_curated(ev: Evidence, indicator_id: str, exclude: pl.Series | None = None) -> Measured:
    rows = ev.curated.filter(pl.col("indicator_id") == indicator_id)
    if exclude is not None:
        rows = rows.filter(~pl.col("city_id").is_in(exclude.to_list()))
    if rows.is_empty():
        return empty()
    return rows.select(
        "city_id", pl.col("value").cast(pl.Float64).alias("raw_value"), pl.lit(1, pl.Int64).alias("n_observations"),
        pl.lit(1.0).alias("coverage"), pl.lit("staging.curated_evidence").alias("evidence_table"),
        pl.format("{} ({}, {})", "citation_title", "citation_url", "citation_date").alias("evidence_keys"),
        pl.lit([], pl.List(pl.String)).alias("evidence_sha256s"), pl.lit(False).alias("is_synthetic"),
        pl.lit(None, pl.String).alias("missing_reason")).select(MEASURED_COLUMNS)
