"""The tertiary indicators' computations, by the name config/indicators.yaml gives them: each reads the
evidence and returns, per city it can measure, the value with its count, coverage and evidence, or a
null value with the data's own reason."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from hotline_eval.evaluation.evidence import Evidence
from hotline_eval.evaluation.framework import Tertiary
from hotline_eval.evaluation.routes import (
    MEASURED_COLUMNS,
    Measured,
    empty,
    field_gaps,
    first_of,
    from_curated,
    from_features,
    from_requests,
    from_stats,
    pages_read,
    with_gaps,
)

CHANNEL_FEATURES = ("channel_phone", "channel_sms", "channel_web_form", "channel_mobile_app", "channel_social",
                    "channel_email", "channel_walk_in", "channel_chatbot")
OPEN_DATA_SCORE = {"request_level": 1.0, "aggregate": 0.5, "not_public": 0.0}

Computation = Callable[[Evidence, Tertiary], Measured]


def _km_hours(ev: Evidence, measure: str, q: float) -> Measured:
    """Kaplan-Meier quantile of hours to close per city (open requests censored at the period's end;
    cancelled requests and impossible or placeholder dates left out), with the naive closed-only
    quantile beside it."""
    measured = from_requests(ev, measure, "closed_at", naive=True).with_columns(
        pl.when(pl.col("raw_value").is_null())
        .then(pl.lit(f"fewer than {q:.0%} of requests closed by the end of the period: "
                     f"the quantile cannot be estimated")).alias("missing_reason"))
    return with_gaps(ev, measured, "closed_at")


def median_hours_to_close(ev: Evidence, _: Tertiary) -> Measured:
    return _km_hours(ev, "median_hours_to_close", 0.5)


def p90_hours_to_close(ev: Evidence, _: Tertiary) -> Measured:
    return _km_hours(ev, "p90_hours_to_close", 0.9)


# The request-level measures themselves are defined in sql/marts/request_measures.sql.
def closed_within_7_days(ev: Evidence, _: Tertiary) -> Measured:
    """Share of non-cancelled requests closed within 168 hours (impossible close times count as not)."""
    return with_gaps(ev, from_requests(ev, "closed_within_7_days", "closed_at"), "closed_at")


def closure_rate(ev: Evidence, _: Tertiary) -> Measured:
    feeds = from_requests(ev, "closure_rate", "status")
    published = from_stats(ev, "resolution_rate", scale=0.01, exclude=feeds["city_id"])
    return first_of(feeds, published, field_gaps(ev, "status"))


def open_backlog_age_days(ev: Evidence, _: Tertiary) -> Measured:
    """Median age at the period's end of requests still open then."""
    return with_gaps(ev, from_requests(ev, "open_backlog_age_days", "status"), "status")


def repeat_request_share(ev: Evidence, _: Tertiary) -> Measured:
    """Share of located requests repeating one of the same category within about 100 m and 7 days
    (the earlier one may be before the period: a January request can repeat one from late December)."""
    return with_gaps(ev, from_requests(ev, "repeat_request_share", "latitude", "longitude"),
                      "latitude", "longitude")


def geocoded_share(ev: Evidence, _: Tertiary) -> Measured:
    return with_gaps(ev, from_requests(ev, "geocoded_share", "latitude", "longitude"), "latitude", "longitude")


def resolution_text_completeness(ev: Evidence, _: Tertiary) -> Measured:
    return with_gaps(ev, from_requests(ev, "resolution_text_completeness", "resolution", "status"), "resolution")


def digital_share(ev: Evidence, _: Tertiary) -> Measured:
    return with_gaps(ev, from_requests(ev, "digital_share", "channel"), "channel")


def channel_diversity(ev: Evidence, _: Tertiary) -> Measured:
    """Shannon entropy (bits) of the known channels' shares."""
    return with_gaps(ev, from_requests(ev, "channel_diversity", "channel"), "channel")


def agency_concentration_hhi(ev: Evidence, _: Tertiary) -> Measured:
    """Herfindahl-Hirschman index of requests across agencies."""
    return with_gaps(ev, from_requests(ev, "agency_concentration_hhi", "agency"), "agency")


def agency_breadth(ev: Evidence, _: Tertiary) -> Measured:
    feeds = from_requests(ev, "agency_breadth", "agency")
    pages = from_features(ev, "agencies_integrated", numeric=True, exclude=feeds["city_id"])
    curated = from_curated(ev, "agency_breadth", exclude=pl.concat([feeds["city_id"], pages["city_id"]]))
    return first_of(feeds, pages, curated)


def requests_per_1000_residents(ev: Evidence, _: Tertiary) -> Measured:
    population = ev.cities.select("city_id", pl.col("population").cast(pl.Float64))
    feeds = from_requests(ev, "requests").join(population, on="city_id").with_columns(
        (pl.col("raw_value") / (pl.col("coverage") * 12) * 12 / pl.col("population") * 1000).alias("raw_value"),
    ).drop("population")
    published = from_stats(ev, ("cases_received", "calls_received"), annualize=True, exclude=feeds["city_id"])
    published = published.join(population, on="city_id").with_columns(
        (pl.col("raw_value") / pl.col("population") * 1000).alias("raw_value")).drop("population")
    return first_of(feeds, published)


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
    return from_curated(ev, indicator.id)


def hotlines_integrated(ev: Evidence, indicator: Tertiary) -> Measured:
    chosen = from_curated(ev, indicator.id)
    return first_of(chosen, from_features(ev, "hotlines_integrated", numeric=True, exclude=chosen["city_id"]))


PARTIAL_DIRECTORY = ("the published directory lists only the services seen in recent requests, a lower bound of "
                     "the catalogue, so its size is not compared")


def service_catalogue_size(ev: Evidence, _: Tertiary) -> Measured:
    """Services in the city's published directory; a page's published number where there is none. A
    directory known to be partial (services seen in a request feed) is not counted as the catalogue."""
    catalog = ev.catalog
    if "is_complete_directory" in catalog.columns:
        complete = catalog.filter(pl.col("is_complete_directory").fill_null(True))
        partial = sorted(set(catalog["city_id"].to_list()) - set(complete["city_id"].to_list()))
    else:
        complete, partial = catalog, []
    listed = empty() if complete.is_empty() else complete.group_by("city_id").agg(
        pl.col("service_code").n_unique().cast(pl.Float64).alias("raw_value"),
        pl.len().cast(pl.Int64).alias("n_observations"), pl.lit(1.0).alias("coverage"),
        pl.lit("staging.service_catalog").alias("evidence_table"),
        pl.format("city_id={}", pl.col("city_id").first()).alias("evidence_keys"),
        pl.col("sha256").unique().sort().alias("evidence_sha256s"), pl.col("is_synthetic").any(),
        pl.lit(None, pl.String).alias("missing_reason")).select(MEASURED_COLUMNS)
    measured = first_of(listed, from_features(ev, "service_catalogue_size", numeric=True,
                                                exclude=listed["city_id"]))
    if not partial:
        return measured
    # a page's number still stands; otherwise the reason is the partial directory
    explained = measured.with_columns(
        pl.when(pl.col("city_id").is_in(partial) & pl.col("raw_value").is_null()).then(pl.lit(PARTIAL_DIRECTORY))
        .otherwise(pl.col("missing_reason")).alias("missing_reason"))
    unread = [c for c in partial if c not in set(measured["city_id"].to_list())]
    reasons = pl.DataFrame({"city_id": unread, "missing_reason": [PARTIAL_DIRECTORY] * len(unread)},
                           schema={"city_id": pl.String, "missing_reason": pl.String})
    return pl.concat([explained, reasons], how="diagonal_relaxed")


def _page_flag(feature: str) -> Computation:
    def compute(ev: Evidence, _: Tertiary) -> Measured:
        return from_features(ev, feature, numeric=False)
    compute.__name__ = feature
    return compute


def channel_count(ev: Evidence, _: Tertiary) -> Measured:
    read = pages_read(ev)
    if read.is_empty():
        return empty()
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
    return from_features(ev, "languages", numeric=True)


def knowledge_base_size(ev: Evidence, _: Tertiary) -> Measured:
    return from_features(ev, "faq_size", numeric=True)


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
