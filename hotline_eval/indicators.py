"""Tertiary indicator facts from the staging tables, in polars: one row per city, indicator, period.

Each computation returns, per city it can measure, the value, how many records it rests on, the
share of the period its evidence covers, and the sha256s of the archived responses behind it.
Cities it cannot measure get a row with a null value and the reason (from the data: the feed does
not publish closing dates, no page was read, no curated evidence), never a made-up number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import polars as pl

from hotline_eval.framework import Framework, Tertiary
from hotline_eval.survival import km_quantile

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
# close-time measures skip records whose dates cannot be a real close
EXCLUDED_FROM_CLOSE_TIMES = ("closed_before_created", "closed_within_minute")
DIGITAL_CHANNELS = ("web", "mobile_app", "sms", "email", "social", "chatbot")
CHANNEL_FEATURES = ("channel_phone", "channel_sms", "channel_web_form", "channel_mobile_app", "channel_social",
                    "channel_email", "channel_walk_in", "channel_chatbot")
REPEAT_WINDOW = pl.duration(days=7)
PLACE_DECIMALS = 3  # about 100 m
OPEN_DATA_SCORE = {"request_level": 1.0, "aggregate": 0.5, "not_public": 0.0}


@dataclass
class Evidence:
    """Everything the computations read, already loaded (from DuckDB, as Arrow)."""

    period: str  # evaluation year, YYYY
    cities: pl.DataFrame  # staging.cities
    requests: pl.DataFrame  # staging.service_requests
    stats: pl.DataFrame  # staging.hotline_stats
    features: pl.DataFrame  # staging.portal_features
    catalog: pl.DataFrame  # staging.service_catalog
    curated: pl.DataFrame  # staging.curated_evidence
    # city -> staging fields its request feeds publish (from the registry's field mappings)
    published_fields: Mapping[str, frozenset[str]] = field(default_factory=dict)
    _in_period: pl.DataFrame | None = field(default=None, init=False, repr=False)
    _request_evidence: pl.DataFrame | None = field(default=None, init=False, repr=False)
    _close_times: dict[str, tuple[np.ndarray, np.ndarray]] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        # DuckDB hands TIMESTAMPTZ back as Etc/UTC; compare everything in one zone
        if not self.requests.is_empty():
            self.requests = self.requests.with_columns(pl.col("created_at", "closed_at").dt.convert_time_zone("UTC"))

    @property
    def period_end(self) -> datetime:
        return datetime(int(self.period) + 1, 1, 1, tzinfo=UTC)

    def in_period(self) -> pl.DataFrame:
        """Requests created in the evaluation period (computed once: a dozen indicators read it)."""
        if self._in_period is None:
            self._in_period = self.requests.filter(pl.col("partition_month").str.starts_with(self.period))
        return self._in_period

    def request_evidence(self) -> pl.DataFrame:
        """Per city: the months and archived pages its request-level values rest on."""
        if self._request_evidence is None:
            self._request_evidence = self.in_period().group_by("city_id").agg(
                pl.format("city_id={}; partition_month in [{}]", pl.col("city_id").first(),
                          pl.col("partition_month").unique().sort().str.join(",")).alias("evidence_keys"),
                pl.col("sha256").unique().sort().alias("evidence_sha256s"),
                pl.col("is_synthetic").any().alias("is_synthetic"),
            )
        return self._request_evidence

    def publishes(self, city_id: str, *fields: str) -> bool:
        return all(f in self.published_fields.get(city_id, frozenset()) for f in fields)


Measured = pl.DataFrame  # city_id, raw_value, n_observations, coverage, evidence_*, is_synthetic
Computation = Callable[[Evidence, Tertiary], Measured]
MEASURED_COLUMNS = ["city_id", "raw_value", "n_observations", "coverage", "evidence_table", "evidence_keys",
                    "evidence_sha256s", "is_synthetic", "missing_reason"]


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={c: FACT_SCHEMA.get(c, pl.String) for c in MEASURED_COLUMNS})


def _from_requests(ev: Evidence, frame: pl.DataFrame, value: pl.Expr, *, n: pl.Expr | None = None) -> Measured:
    """Aggregate request rows per city: value, count and month coverage; the evidence (the city's
    archived pages and months in the period) is computed once per run and joined in."""
    if frame.is_empty():
        return _empty()
    measured = frame.group_by("city_id").agg(
        value.cast(pl.Float64).alias("raw_value"),
        (n if n is not None else pl.len()).cast(pl.Int64).alias("n_observations"),
        (pl.col("partition_month").n_unique() / 12).alias("coverage"),
    )
    return measured.join(ev.request_evidence(), on="city_id", how="left").with_columns(
        pl.lit("staging.service_requests").alias("evidence_table"),
        pl.lit(None, pl.String).alias("missing_reason"),
    ).select(MEASURED_COLUMNS)


def _needs(ev: Evidence, frame: pl.DataFrame, *fields: str) -> pl.DataFrame:
    """Keep only cities whose feeds publish ``fields``; the others are explained in `_field_gaps`."""
    ok = [c for c in frame["city_id"].unique().to_list() if ev.publishes(c, *fields)]
    return frame.filter(pl.col("city_id").is_in(ok))


def _field_gaps(ev: Evidence, *fields: str) -> Measured:
    """Cities with request rows whose feeds lack ``fields``: missing, with the data's own reason."""
    rows = []
    for city in ev.in_period()["city_id"].unique().sort().to_list():
        lacking = [f for f in fields if not ev.publishes(city, f)]
        if lacking:
            rows.append({"city_id": city, "missing_reason": f"the city's feed publishes no {', '.join(lacking)}"})
    return pl.DataFrame(rows, schema={"city_id": pl.String, "missing_reason": pl.String})


def _valid_close_hours() -> pl.Expr:
    return (pl.col("closed_at") - pl.col("created_at")).dt.total_seconds() / 3600


EXCLUDED_FLAGS = (*EXCLUDED_FROM_CLOSE_TIMES, "placeholder_closed_date")


def _close_time_rows(ev: Evidence) -> pl.DataFrame:
    """Requests for close-time measures: cancelled ones and impossible or placeholder dates left out."""
    rows = _needs(ev, ev.in_period(), "closed_at").filter(pl.col("status") != "cancelled")
    return rows.filter(~pl.col("quality_flags").list.eval(pl.element().is_in(EXCLUDED_FLAGS)).list.any())


def _close_times(ev: Evidence) -> tuple[pl.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Per city, hours to close and whether closed by the period's end (open requests censored
    there): computed once for both quantiles."""
    cutoff = ev.period_end
    rows = _close_time_rows(ev).select("city_id", "partition_month", "created_at", "closed_at").with_columns(
        (pl.col("closed_at").is_not_null() & (pl.col("closed_at") <= cutoff)).alias("_closed"))
    rows = rows.with_columns(
        (pl.when(pl.col("_closed")).then(pl.col("closed_at")).otherwise(pl.lit(cutoff)) - pl.col("created_at"))
        .dt.total_seconds().truediv(3600).alias("_hours"))
    if ev._close_times is None:
        ev._close_times = {city[0]: (group["_hours"].to_numpy(), group["_closed"].to_numpy())
                           for city, group in rows.group_by("city_id")}
    return rows, ev._close_times


def _km_hours(ev: Evidence, q: float) -> Measured:
    """Kaplan-Meier quantile of hours to close per city (open requests censored at the period's end),
    with the naive closed-only quantile beside it."""
    rows, curves = _close_times(ev)
    measured = _from_requests(ev, rows, pl.lit(0.0))
    if measured.is_empty():
        return pl.concat([measured, _field_gaps(ev, "closed_at")], how="diagonal_relaxed")
    values, naive = {}, {}
    for city, (hours, closed) in curves.items():
        values[city] = km_quantile(hours, closed, q)
        naive[city] = float(np.quantile(hours[closed], q)) if closed.any() else None
    measured = measured.with_columns(
        pl.col("city_id").replace_strict(values, return_dtype=pl.Float64).alias("raw_value"),
        pl.col("city_id").replace_strict(naive, return_dtype=pl.Float64).alias("naive_value"),
    ).with_columns(pl.when(pl.col("raw_value").is_null())
                   .then(pl.lit(f"fewer than {q:.0%} of requests closed by the end of the period: "
                                f"the quantile cannot be estimated")).alias("missing_reason"))
    return pl.concat([measured, _field_gaps(ev, "closed_at")], how="diagonal_relaxed")


def median_hours_to_close(ev: Evidence, _: Tertiary) -> Measured:
    return _km_hours(ev, 0.5)


def p90_hours_to_close(ev: Evidence, _: Tertiary) -> Measured:
    return _km_hours(ev, 0.9)


def _not_cancelled(ev: Evidence, *fields: str) -> pl.DataFrame:
    return _needs(ev, ev.in_period(), *fields).filter(pl.col("status") != "cancelled")


def closed_within_7_days(ev: Evidence, _: Tertiary) -> Measured:
    rows = _not_cancelled(ev, "closed_at")
    hours = _valid_close_hours()
    valid = ~pl.col("quality_flags").list.eval(pl.element().is_in(EXCLUDED_FROM_CLOSE_TIMES)).list.any()
    within = (pl.col("closed_at").is_not_null() & valid & (hours <= 168)).cast(pl.Float64).mean()
    return pl.concat([_from_requests(ev, rows, within), _field_gaps(ev, "closed_at")], how="diagonal_relaxed")


def closure_rate(ev: Evidence, _: Tertiary) -> Measured:
    rows = _not_cancelled(ev, "status")
    feeds = _from_requests(ev, rows, (pl.col("status") == "closed").cast(pl.Float64).mean())
    published = _from_stats(ev, "resolution_rate", scale=0.01, exclude=feeds["city_id"])
    return _first_of(feeds, published, _field_gaps(ev, "status"))


def open_backlog_age_days(ev: Evidence, _: Tertiary) -> Measured:
    cutoff = ev.period_end
    rows = _not_cancelled(ev, "status")
    open_at_cutoff = rows.filter(pl.col("closed_at").is_null() | (pl.col("closed_at") > cutoff))
    open_at_cutoff = open_at_cutoff.filter(~((pl.col("status") == "closed") & pl.col("closed_at").is_null()))
    age = ((pl.lit(cutoff) - pl.col("created_at")).dt.total_seconds() / 86_400).median()
    return pl.concat([_from_requests(ev, open_at_cutoff, age), _field_gaps(ev, "status")], how="diagonal_relaxed")


def repeat_request_share(ev: Evidence, _: Tertiary) -> Measured:
    rows = _needs(ev, ev.in_period(), "latitude", "longitude").filter(
        pl.col("latitude").is_not_null() & pl.col("longitude").is_not_null())
    place = [pl.col("latitude").round(PLACE_DECIMALS), pl.col("longitude").round(PLACE_DECIMALS)]
    # one sort by (city, category, place, time), then compare each row with the one before it:
    # faster than a windowed shift over four keys
    keys = ["city_id", "category", "_p0", "_p1"]
    ordered = rows.select("city_id", "partition_month", "category", "created_at",
                          *[p.alias(f"_p{i}") for i, p in enumerate(place)]).sort([*keys, "created_at"])
    same_place = pl.all_horizontal([pl.col(k) == pl.col(k).shift(1) for k in keys])
    ordered = ordered.with_columns(
        pl.when(same_place).then(pl.col("created_at") - pl.col("created_at").shift(1)).alias("_since_previous"))
    repeat = (pl.col("_since_previous").is_not_null() & (pl.col("_since_previous") <= REPEAT_WINDOW))
    return pl.concat([_from_requests(ev, ordered, repeat.cast(pl.Float64).mean()),
                      _field_gaps(ev, "latitude", "longitude")], how="diagonal_relaxed")


def geocoded_share(ev: Evidence, _: Tertiary) -> Measured:
    rows = _needs(ev, ev.in_period(), "latitude", "longitude")
    located = (pl.col("latitude").is_not_null() & pl.col("longitude").is_not_null()).cast(pl.Float64).mean()
    return pl.concat([_from_requests(ev, rows, located), _field_gaps(ev, "latitude", "longitude")],
                     how="diagonal_relaxed")


def resolution_text_completeness(ev: Evidence, _: Tertiary) -> Measured:
    rows = _needs(ev, ev.in_period(), "resolution", "status").filter(pl.col("status") == "closed")
    share = (pl.col("resolution").is_not_null() & (pl.col("resolution").str.len_chars() > 0)).cast(pl.Float64).mean()
    return pl.concat([_from_requests(ev, rows, share), _field_gaps(ev, "resolution")], how="diagonal_relaxed")


def digital_share(ev: Evidence, _: Tertiary) -> Measured:
    rows = _needs(ev, ev.in_period(), "channel").filter(pl.col("channel") != "unknown")
    share = pl.col("channel").is_in(DIGITAL_CHANNELS).cast(pl.Float64).mean()
    return pl.concat([_from_requests(ev, rows, share), _field_gaps(ev, "channel")], how="diagonal_relaxed")


def _entropy_bits(counts: list[int]) -> float:
    total = sum(counts)
    return -sum(c / total * math.log2(c / total) for c in counts if c) if total else 0.0


def _per_city_value(frame: pl.DataFrame, key: str, fn: Callable[[list[int]], float]) -> pl.DataFrame:
    counts = frame.group_by("city_id", key).len()
    return counts.group_by("city_id").agg(pl.col("len")).with_columns(
        pl.col("len").map_elements(fn, return_dtype=pl.Float64).alias("_v")).select("city_id", "_v")


def channel_diversity(ev: Evidence, _: Tertiary) -> Measured:
    rows = _needs(ev, ev.in_period(), "channel").filter(pl.col("channel") != "unknown")
    values = _per_city_value(rows, "channel", _entropy_bits)
    return pl.concat([_with_value(_from_requests(ev, rows, pl.lit(0.0)), values), _field_gaps(ev, "channel")],
                     how="diagonal_relaxed")


def agency_concentration_hhi(ev: Evidence, _: Tertiary) -> Measured:
    rows = _needs(ev, ev.in_period(), "agency").filter(pl.col("agency").is_not_null())
    values = _per_city_value(rows, "agency", lambda c: sum((x / sum(c)) ** 2 for x in c))
    return pl.concat([_with_value(_from_requests(ev, rows, pl.lit(0.0)), values), _field_gaps(ev, "agency")],
                     how="diagonal_relaxed")


def agency_breadth(ev: Evidence, _: Tertiary) -> Measured:
    rows = _needs(ev, ev.in_period(), "agency").filter(pl.col("agency").is_not_null())
    feeds = _from_requests(ev, rows, pl.col("agency").n_unique())
    pages = _from_features(ev, "agencies_integrated", numeric=True, exclude=feeds["city_id"])
    curated = _from_curated(ev, "agency_breadth", exclude=pl.concat([feeds["city_id"], pages["city_id"]]))
    return _first_of(feeds, pages, curated)


def requests_per_1000_residents(ev: Evidence, _: Tertiary) -> Measured:
    population = ev.cities.select("city_id", pl.col("population").cast(pl.Float64))
    rows = ev.in_period()
    feeds = _from_requests(ev, rows, pl.len()).join(population, on="city_id").with_columns(
        (pl.col("raw_value") / (pl.col("coverage") * 12) * 12 / pl.col("population") * 1000).alias("raw_value"),
    ).drop("population")
    published = _from_stats(ev, ("cases_received", "calls_received"), annualize=True, exclude=feeds["city_id"])
    published = published.join(population, on="city_id").with_columns(
        (pl.col("raw_value") / pl.col("population") * 1000).alias("raw_value")).drop("population")
    return _first_of(feeds, published)


def open_data_level(ev: Evidence, _: Tertiary) -> Measured:
    frame = ev.cities.select(
        "city_id",
        pl.col("data_level").replace_strict(OPEN_DATA_SCORE, return_dtype=pl.Float64).alias("raw_value"),
        pl.lit(1, pl.Int64).alias("n_observations"), pl.lit(1.0).alias("coverage"),
        pl.lit("staging.cities").alias("evidence_table"),
        pl.format("city_id={}; data_evidence_url={}", "city_id", "data_evidence_url").alias("evidence_keys"),
        pl.lit([], pl.List(pl.String)).alias("evidence_sha256s"), pl.lit(False).alias("is_synthetic"),
        pl.lit(None, pl.String).alias("missing_reason"))
    return frame.select(MEASURED_COLUMNS)


def curated(ev: Evidence, indicator: Tertiary) -> Measured:
    return _from_curated(ev, indicator.id)


def hotlines_integrated(ev: Evidence, indicator: Tertiary) -> Measured:
    chosen = _from_curated(ev, indicator.id)
    return _first_of(chosen, _from_features(ev, "hotlines_integrated", numeric=True, exclude=chosen["city_id"]))


def service_catalogue_size(ev: Evidence, _: Tertiary) -> Measured:
    catalog = ev.catalog
    listed = _empty() if catalog.is_empty() else catalog.group_by("city_id").agg(
        pl.col("service_code").n_unique().cast(pl.Float64).alias("raw_value"),
        pl.len().cast(pl.Int64).alias("n_observations"), pl.lit(1.0).alias("coverage"),
        pl.lit("staging.service_catalog").alias("evidence_table"),
        pl.format("city_id={}", pl.col("city_id").first()).alias("evidence_keys"),
        pl.col("sha256").unique().sort().alias("evidence_sha256s"), pl.col("is_synthetic").any(),
        pl.lit(None, pl.String).alias("missing_reason")).select(MEASURED_COLUMNS)
    return _first_of(listed, _from_features(ev, "service_catalogue_size", numeric=True, exclude=listed["city_id"]))


def _page_flag(feature: str) -> Computation:
    def compute(ev: Evidence, _: Tertiary) -> Measured:
        return _from_features(ev, feature, numeric=False)
    compute.__name__ = feature
    return compute


def channel_count(ev: Evidence, _: Tertiary) -> Measured:
    read = _pages_read(ev)
    if read.is_empty():
        return _empty()
    found = ev.features.filter(pl.col("feature").is_in(CHANNEL_FEATURES))
    counts = found.group_by("city_id").agg(pl.col("feature").n_unique().cast(pl.Float64).alias("_v"),
                                           pl.col("sha256").unique().sort().alias("_s"))
    return read.join(counts, on="city_id", how="left").with_columns(
        pl.col("_v").fill_null(0.0).alias("raw_value"),
        pl.col("_s").fill_null([]).alias("evidence_sha256s"),
        pl.lit("staging.portal_features").alias("evidence_table"),
        pl.format("city_id={}; feature in channel_*", "city_id").alias("evidence_keys"),
    ).select(MEASURED_COLUMNS)


def language_count(ev: Evidence, _: Tertiary) -> Measured:
    return _from_features(ev, "languages", numeric=True)


def knowledge_base_size(ev: Evidence, _: Tertiary) -> Measured:
    return _from_features(ev, "faq_size", numeric=True)


COMPUTATIONS: dict[str, Computation] = {
    "median_hours_to_close": median_hours_to_close, "p90_hours_to_close": p90_hours_to_close,
    "closed_within_7_days": closed_within_7_days, "closure_rate": closure_rate,
    "open_backlog_age_days": open_backlog_age_days, "repeat_request_share": repeat_request_share,
    "geocoded_share": geocoded_share, "resolution_text_completeness": resolution_text_completeness,
    "digital_share": digital_share, "channel_diversity": channel_diversity,
    "agency_concentration_hhi": agency_concentration_hhi, "agency_breadth": agency_breadth,
    "requests_per_1000_residents": requests_per_1000_residents, "open_data_level": open_data_level,
    "curated": curated, "hotlines_integrated": hotlines_integrated, "service_catalogue_size": service_catalogue_size,
    "channel_count": channel_count, "language_count": language_count, "knowledge_base_size": knowledge_base_size,
    "round_the_clock": _page_flag("open_24_7"), "online_case_tracking": _page_flag("online_case_tracking"),
    "chatbot_available": _page_flag("channel_chatbot"),
}


# --- sources other than request feeds ------------------------------------------------------------
def _with_value(measured: Measured, values: pl.DataFrame) -> Measured:
    return measured.join(values, on="city_id", how="left").with_columns(pl.col("_v").alias("raw_value")).select(
        MEASURED_COLUMNS)


def _first_of(*frames: pl.DataFrame) -> Measured:
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
    return pl.concat(parts, how="diagonal_relaxed") if parts else _empty()


def _from_stats(ev: Evidence, metrics: str | tuple[str, ...], *, scale: float = 1.0, annualize: bool = False,
                exclude: pl.Series | None = None) -> Measured:
    metrics = (metrics,) if isinstance(metrics, str) else metrics
    stats = ev.stats.filter(pl.col("period").str.starts_with(ev.period) & pl.col("metric").is_in(metrics))
    if exclude is not None:
        stats = stats.filter(~pl.col("city_id").is_in(exclude.to_list()))
    if stats.is_empty():
        return _empty()
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


def _pages_read(ev: Evidence) -> pl.DataFrame:
    """Cities whose portal pages were read (a pages_read row), as measured rows without a value."""
    read = ev.features.filter(pl.col("feature") == "pages_read")
    if read.is_empty():
        return _empty()
    return read.group_by("city_id").agg(
        pl.lit(None, pl.Float64).alias("raw_value"), pl.col("value_num").sum().cast(pl.Int64).alias("n_observations"),
        pl.lit(1.0).alias("coverage"), pl.lit("staging.portal_features").alias("evidence_table"),
        pl.lit(None, pl.String).alias("evidence_keys"), pl.col("sha256").unique().sort().alias("evidence_sha256s"),
        pl.col("is_synthetic").any(), pl.lit(None, pl.String).alias("missing_reason")).select(MEASURED_COLUMNS)


def _from_features(ev: Evidence, feature: str, *, numeric: bool, exclude: pl.Series | None = None) -> Measured:
    """A page feature per city: its number (numeric) or 1/0 found/not found on pages that were read."""
    read = _pages_read(ev)
    if exclude is not None and not read.is_empty():
        read = read.filter(~pl.col("city_id").is_in(exclude.to_list()))
    if read.is_empty():
        return _empty()
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


def _from_curated(ev: Evidence, indicator_id: str, exclude: pl.Series | None = None) -> Measured:
    rows = ev.curated.filter(pl.col("indicator_id") == indicator_id)
    if exclude is not None:
        rows = rows.filter(~pl.col("city_id").is_in(exclude.to_list()))
    if rows.is_empty():
        return _empty()
    return rows.select(
        "city_id", pl.col("value").cast(pl.Float64).alias("raw_value"), pl.lit(1, pl.Int64).alias("n_observations"),
        pl.lit(1.0).alias("coverage"), pl.lit("staging.curated_evidence").alias("evidence_table"),
        pl.format("{} ({}, {})", "citation_title", "citation_url", "citation_date").alias("evidence_keys"),
        pl.lit([], pl.List(pl.String)).alias("evidence_sha256s"), pl.lit(False).alias("is_synthetic"),
        pl.lit(None, pl.String).alias("missing_reason")).select(MEASURED_COLUMNS)


DEFAULT_REASONS = {
    "feeds": "no request-level data or matching published statistics for the city in the evaluation year",
    "pages": "no portal page of the city was read",
    "curated": "no curated evidence for the city (config/evidence.csv)",
}


def compute_facts(framework: Framework, ev: Evidence) -> pl.DataFrame:
    """Every tertiary indicator for every city: a value, or a null value with the reason."""
    cities = ev.cities.select("city_id")
    frames = []
    for indicator in framework.tertiary():
        try:
            compute = COMPUTATIONS[indicator.computation]
        except KeyError:
            raise ValueError(f"indicator {indicator.id}: unknown computation {indicator.computation!r}; "
                             f"known: {sorted(COMPUTATIONS)}") from None
        measured = compute(ev, indicator)
        measured = measured.unique("city_id", keep="first", maintain_order=True)
        if "naive_value" not in measured.columns:
            measured = measured.with_columns(pl.lit(None, pl.Float64).alias("naive_value"))
        fact = cities.join(measured, on="city_id", how="left").with_columns(
            pl.lit(indicator.id).alias("indicator_id"),
            pl.lit(ev.period).alias("period"),
            pl.lit(indicator.unit).alias("unit"),
            pl.lit(None, pl.Float64).alias("normalized_value"),
            pl.lit(indicator.evidence).alias("evidence_kind"),
        ).with_columns(
            pl.when(pl.col("raw_value").is_null())
            .then(pl.coalesce("missing_reason", pl.lit(DEFAULT_REASONS[indicator.evidence])))
            .alias("missing_reason"),
            pl.when(pl.col("raw_value").is_null()).then(0.0).otherwise(pl.col("coverage").fill_null(0.0))
            .clip(0, 1).alias("coverage"),
            pl.col("n_observations").fill_null(0),
            pl.col("evidence_table").fill_null(indicator.source_tables[0]),
            pl.col("evidence_sha256s").fill_null([]),
            pl.col("is_synthetic").fill_null(False),
        )
        frames.append(fact.select(list(FACT_SCHEMA)).cast(FACT_SCHEMA))
    return pl.concat(frames)
