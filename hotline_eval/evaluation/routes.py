"""The routes an indicator value comes by, each returning the same measured frame: request feeds (the
SQL measures), published statistics, portal pages and curated evidence; and the first of them that
measures a city."""

from __future__ import annotations

import polars as pl

from hotline_eval.evaluation.evidence import Evidence
from hotline_eval.evaluation.framework import Tertiary
from hotline_eval.evaluation.units import VOLUME_UNITS, UnitError, convert

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
    "evidence_route": pl.String,
    "evidence_year": pl.Int32,
    "evidence_age_years": pl.Int32,
    "citation_url": pl.String,
}

Measured = pl.DataFrame  # city_id, raw_value, n_observations, coverage, evidence_*, is_synthetic
MEASURED_COLUMNS = ["city_id", "raw_value", "n_observations", "coverage", "evidence_table", "evidence_keys",
                    "evidence_sha256s", "is_synthetic", "missing_reason", "evidence_year", "citation_url"]


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema={c: FACT_SCHEMA.get(c, pl.String) for c in MEASURED_COLUMNS})


def _with_defaults(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (rows of missing values with their reasons) with the MEASURED_COLUMNS it lacks, null."""
    missing = [pl.lit(None, FACT_SCHEMA.get(c, pl.String)).alias(c) for c in MEASURED_COLUMNS if c not in frame.columns]
    return frame.with_columns(missing) if missing else frame


def from_requests(ev: Evidence, measure: str, *fields: str, naive: bool = False) -> Measured:
    """One request-level measure per city whose feeds publish ``fields``: value, count and month
    coverage, with the city's evidence (months and archived pages in the period) joined in."""
    ok = [c for c in ev.request_cities() if ev.publishes(c, *fields)]
    rows = ev.request_measures().filter((pl.col("measure") == measure) & pl.col("city_id").is_in(ok))
    if rows.is_empty():
        return empty()
    measured = rows.select("city_id", "raw_value", "n_observations", (pl.col("months") / 12).alias("coverage"),
                           *(["naive_value"] if naive else []))
    dataset_pages = ev.cities.select("city_id", pl.col("data_evidence_url").alias("citation_url"))
    return measured.join(ev.request_evidence(), on="city_id", how="left").join(
        dataset_pages, on="city_id", how="left").with_columns(
        pl.lit("staging.service_requests").alias("evidence_table"),
        pl.lit(None, pl.String).alias("missing_reason"),
        pl.lit(ev.year, pl.Int32).alias("evidence_year"),
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


def from_stats(ev: Evidence, indicator: Tertiary, metrics: str | tuple[str, ...]) -> Measured:
    """Published statistics: per city, the year nearest the evaluation year inside the window (the
    earlier of two as near), the first of ``metrics`` it publishes that year, converted from its unit to
    the indicator's. Monthly rows of a volume are annualized; rates and scores are averaged."""
    metrics = (metrics,) if isinstance(metrics, str) else metrics
    low, high = ev.window_for(indicator.evidence_years_before)
    stats = ev.stats.filter(pl.col("metric").is_in(metrics)).with_columns(
        pl.col("period").str.slice(0, 4).cast(pl.Int32).alias("_year"))
    outside = stats.filter(~pl.col("_year").is_between(low, high)).group_by("city_id").agg(
        pl.col("_year").min().alias("_first"), pl.col("_year").max().alias("_last"))
    stats = stats.filter(pl.col("_year").is_between(low, high))
    gaps = outside.filter(~pl.col("city_id").is_in(stats["city_id"].unique().to_list())).select(
        "city_id", pl.format("published statistics only for {}-{}, outside the window {}-{}", "_first", "_last",
                             pl.lit(low), pl.lit(high)).alias("missing_reason"))
    if stats.is_empty():
        return _with_defaults(gaps)
    rank = pl.col("metric").replace_strict({m: i for i, m in enumerate(metrics)}, return_dtype=pl.Int32)
    distance = (pl.col("_year") - ev.year).abs() * 2 + (pl.col("_year") > ev.year)  # earlier wins a tie
    stats = stats.with_columns(distance.alias("_distance"), rank.alias("_rank")).filter(
        pl.col("_distance") == pl.col("_distance").min().over("city_id")).filter(
        pl.col("_rank") == pl.col("_rank").min().over("city_id"))
    monthly = pl.col("period").str.len_chars() == 7
    chosen = stats.group_by("city_id").agg(
        pl.col("metric").first(), pl.col("unit").first(), pl.col("_year").first().alias("evidence_year"),
        pl.when(monthly.any()).then(pl.col("value").sum()).otherwise(pl.col("value").mean()).alias("_total"),
        pl.col("value").mean().alias("_mean"),
        pl.when(monthly.any()).then(pl.col("period").n_unique()).otherwise(12).alias("_months"),
        pl.len().cast(pl.Int64).alias("n_observations"),
        pl.col("sha256").unique().sort().alias("evidence_sha256s"), pl.col("is_synthetic").any(),
        pl.col("source_url").first().alias("citation_url"))
    population = dict(ev.cities.select("city_id", "population").iter_rows())
    values, reasons = [], []
    for row in chosen.iter_rows(named=True):  # a handful of rows: one per city
        volume = row["unit"] in VOLUME_UNITS
        try:
            values.append(convert(indicator.unit, row["unit"], row["_total"] if volume else row["_mean"],
                                  indicator_id=indicator.id, months=min(row["_months"], 12),
                                  population=population.get(row["city_id"]),
                                  answer_target_seconds=ev.answer_target_seconds))
            reasons.append(None)
        except UnitError as exc:
            values.append(None)
            reasons.append(f"published {row['metric']} not usable: {exc}")
    measured = chosen.with_columns(
        pl.Series("raw_value", values, pl.Float64), pl.Series("missing_reason", reasons, pl.String),
        (pl.col("_months").clip(upper_bound=12) / 12).alias("coverage"),
        pl.lit("staging.hotline_stats").alias("evidence_table"),
        pl.format("city_id={}; metric={} ({}); published statistics, not request records", "city_id", "metric",
                  "unit").alias("evidence_keys"))
    return pl.concat([measured.select(MEASURED_COLUMNS), _with_defaults(gaps)], how="diagonal_relaxed")


def pages_read(ev: Evidence) -> pl.DataFrame:
    """Cities whose portal pages were read (a pages_read row), as measured rows without a value."""
    read = ev.features.filter(pl.col("feature") == "pages_read")
    if read.is_empty():
        return empty()
    # pages describe the hotline when they were read
    year = (pl.col("fetched_at").max().dt.year() if "fetched_at" in read.columns else pl.lit(ev.year))
    return read.group_by("city_id").agg(
        pl.lit(None, pl.Float64).alias("raw_value"), pl.col("value_num").sum().cast(pl.Int64).alias("n_observations"),
        pl.lit(1.0).alias("coverage"), pl.lit("staging.portal_features").alias("evidence_table"),
        pl.lit(None, pl.String).alias("evidence_keys"), pl.col("sha256").unique().sort().alias("evidence_sha256s"),
        pl.col("is_synthetic").any(), pl.lit(None, pl.String).alias("missing_reason"),
        year.cast(pl.Int32).alias("evidence_year"), pl.col("source_url").sort().first().alias("citation_url"),
    ).select(MEASURED_COLUMNS)


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
        pl.col("source_url").unique().sort().str.join(" ").alias("_urls"),
        pl.col("source_url").sort().first().alias("_url"))
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
        pl.coalesce("_url", "citation_url").alias("citation_url"),
        pl.format("city_id={}; feature={}; {}", "city_id", pl.lit(feature), pl.col("_urls").fill_null("not found"))
        .alias("evidence_keys"),
    ).select(MEASURED_COLUMNS)


def from_curated(ev: Evidence, indicator: Tertiary) -> Measured:
    """Cited facts (config/evidence/): per city, the period nearest the evaluation year inside the window
    (the earlier of two as near), converted from the unit it was published in."""
    low, high = ev.window_for(indicator.evidence_years_before)
    rows = ev.curated.filter(pl.col("indicator_id") == indicator.id)
    if rows.is_empty():
        return empty()
    # the year of its period nearest the evaluation year: a period spanning it describes it
    rows = rows.with_columns(pl.lit(ev.year).clip(pl.col("start_year"), pl.col("evidence_year")).cast(pl.Int32)
                             .alias("evidence_year"))
    inside = rows.filter(pl.col("evidence_year").is_between(low, high))
    stale = rows.filter(~pl.col("city_id").is_in(inside["city_id"].unique().to_list())).group_by("city_id").agg(
        pl.format("cited facts only from {}, outside the window {}-{}", pl.col("evidence_year").max(), pl.lit(low),
                  pl.lit(high)).first().alias("missing_reason"))
    distance = (pl.col("evidence_year") - ev.year).abs() * 2 + (pl.col("evidence_year") > ev.year)
    chosen = inside.sort(distance, -pl.col("months"), "period").unique("city_id", keep="first", maintain_order=True)
    population = dict(ev.cities.select("city_id", "population").iter_rows())
    values = [convert(indicator.unit, r["unit"], r["value"], indicator_id=indicator.id, months=r["months"],
                      population=population.get(r["city_id"]), answer_target_seconds=ev.answer_target_seconds)
              for r in chosen.iter_rows(named=True)]  # checked at load: a handful of cited rows
    measured = chosen.with_columns(
        pl.Series("raw_value", values, pl.Float64), pl.lit(1, pl.Int64).alias("n_observations"),
        (pl.col("months").clip(upper_bound=12) / 12).alias("coverage"),
        pl.lit("staging.curated_evidence").alias("evidence_table"),
        pl.format("{}: {} {} ({}, {}; {}, {})", "period", "value", "unit", "citation_title", "publisher",
                  "publication_date", "source_file").alias("evidence_keys"),
        pl.lit([], pl.List(pl.String)).alias("evidence_sha256s"), pl.lit(False).alias("is_synthetic"),
        pl.lit(None, pl.String).alias("missing_reason"))
    return pl.concat([measured.select(MEASURED_COLUMNS), _with_defaults(stale)], how="diagonal_relaxed")
