"""The tertiary indicators' computations, by the name config/indicators.yaml gives them: for each, its
routes (requests, statistics, pages, curated, registry), each of which reads the evidence and returns,
per city it can measure, the value with its count, coverage and evidence, or a null value with the
data's own reason. Which routes an indicator uses, and in which order, the indicator file says."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from hotline_eval.evaluation.evidence import Evidence
from hotline_eval.evaluation.framework import Tertiary
from hotline_eval.evaluation.routes import (
    MEASURED_COLUMNS,
    Measured,
    empty,
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

RouteFn = Callable[[Evidence, Tertiary], Measured]
Computation = dict[str, RouteFn]  # route -> how that route measures the indicator


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
    return with_gaps(ev, from_requests(ev, "closure_rate", "status"), "status")


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
    return from_requests(ev, "agency_breadth", "agency")


def requests_per_1000_residents(ev: Evidence, _: Tertiary) -> Measured:
    population = ev.cities.select("city_id", pl.col("population").cast(pl.Float64))
    return from_requests(ev, "requests").join(population, on="city_id").with_columns(
        (pl.col("raw_value") / (pl.col("coverage") * 12) * 12 / pl.col("population") * 1000).alias("raw_value"),
    ).drop("population")


def open_data_level(ev: Evidence, _: Tertiary) -> Measured:
    frame = ev.cities.select(
        "city_id",
        pl.col("data_level").replace_strict(OPEN_DATA_SCORE, return_dtype=pl.Float64).alias("raw_value"),
        pl.lit(1, pl.Int64).alias("n_observations"), pl.lit(1.0).alias("coverage"),
        pl.lit("staging.cities").alias("evidence_table"),
        pl.format("city_id={}; data_evidence_url={}", "city_id", "data_evidence_url").alias("evidence_keys"),
        pl.lit([], pl.List(pl.String)).alias("evidence_sha256s"), pl.lit(False).alias("is_synthetic"),
        pl.lit(None, pl.String).alias("missing_reason"), pl.lit(ev.year, pl.Int32).alias("evidence_year"),
        pl.col("data_evidence_url").alias("citation_url"))
    return frame.select(MEASURED_COLUMNS)


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
        pl.lit(None, pl.String).alias("missing_reason"), pl.lit(ev.year, pl.Int32).alias("evidence_year"),
        (pl.col("directory_url").drop_nulls().first() if "directory_url" in complete.columns
         else pl.lit(None, pl.String)).alias("citation_url")).select(MEASURED_COLUMNS)
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


def channel_count(ev: Evidence, _: Tertiary) -> Measured:
    return _count_features(ev, CHANNEL_FEATURES, "channel_*")


def _count_features(ev: Evidence, features: tuple[str, ...], described: str) -> Measured:
    """How many of ``features`` the pages that were read show (0 when none)."""
    read = pages_read(ev)
    if read.is_empty():
        return empty()
    found = ev.features.filter(pl.col("feature").is_in(features))
    counts = found.group_by("city_id").agg(pl.col("feature").n_unique().cast(pl.Float64).alias("_v"),
                                           pl.col("sha256").unique().sort().alias("_s"))
    return read.join(counts, on="city_id", how="left").with_columns(
        pl.col("_v").fill_null(0.0).alias("raw_value"),
        pl.col("_s").fill_null([]).alias("evidence_sha256s"),
        pl.lit("staging.portal_features").alias("evidence_table"),
        pl.format("city_id={}; feature in {}", "city_id", pl.lit(described)).alias("evidence_keys"),
    ).select(MEASURED_COLUMNS)


def language_count(ev: Evidence, _: Tertiary) -> Measured:
    return from_features(ev, "languages", numeric=True)


def knowledge_base_size(ev: Evidence, _: Tertiary) -> Measured:
    return from_features(ev, "faq_size", numeric=True)


ACCESSIBILITY_FEATURES = ("accessibility_tty", "accessibility_relay", "accessibility_sign_language",
                          "accessibility_plain_language")


def accessibility(ev: Evidence, _: Tertiary) -> Measured:
    """How many of the four accessibility features the pages that were read show."""
    read = pages_read(ev)
    if read.is_empty():
        return empty()
    found = ev.features.filter(pl.col("feature").is_in(ACCESSIBILITY_FEATURES)).group_by("city_id").agg(
        pl.col("feature").n_unique().cast(pl.Float64).alias("_v"), pl.col("sha256").unique().sort().alias("_s"),
        pl.col("feature").unique().sort().str.join(", ").alias("_f"))
    return read.join(found, on="city_id", how="left").with_columns(
        pl.col("_v").fill_null(0.0).alias("raw_value"),
        pl.coalesce("_s", "evidence_sha256s").alias("evidence_sha256s"),
        pl.format("city_id={}; found: {}", "city_id", pl.col("_f").fill_null("none")).alias("evidence_keys"),
    ).select(MEASURED_COLUMNS)


def _stats(*metrics: str) -> RouteFn:
    def route(ev: Evidence, indicator: Tertiary) -> Measured:
        return from_stats(ev, indicator, metrics)
    return route


def _pages(feature: str, *, numeric: bool) -> RouteFn:
    def route(ev: Evidence, _: Tertiary) -> Measured:
        return from_features(ev, feature, numeric=numeric)
    return route


DIGITAL_CHANNEL_FEATURES = ("channel_web_form", "channel_mobile_app", "channel_social", "channel_email", "channel_sms",
                            "channel_chatbot")


def digital_channel_count(ev: Evidence, _: Tertiary) -> Measured:
    return _count_features(ev, DIGITAL_CHANNEL_FEATURES, "channel_* (digital)")


def policy_feedback_pages(ev: Evidence, _: Tertiary) -> Measured:
    """0.5 where pages show the hotline publishes analyses of requests; missing where they do not (a
    page's silence is no evidence that requests never reach policy)."""
    found = from_features(ev, "requests_analysis", numeric=False)
    return found.with_columns(
        pl.when(pl.col("raw_value") > 0).then(0.5).otherwise(None).alias("raw_value"),
        pl.when(pl.col("raw_value") > 0).then(None)
        .otherwise(pl.lit("pages were read but show no published analysis of requests")).alias("missing_reason"))


VOLUME_METRICS = ("cases_received", "calls_received")
CURATED = {"curated": from_curated}
COMPUTATIONS: dict[str, Computation] = {
    "median_hours_to_close": {"requests": median_hours_to_close},
    "p90_hours_to_close": {"requests": p90_hours_to_close},
    "closed_within_7_days": {"requests": closed_within_7_days},
    "closure_rate": {"requests": closure_rate, "statistics": _stats("resolution_rate"), **CURATED},
    "open_backlog_age_days": {"requests": open_backlog_age_days},
    "repeat_request_share": {"requests": repeat_request_share},
    "geocoded_share": {"requests": geocoded_share},
    "resolution_text_completeness": {"requests": resolution_text_completeness},
    "digital_share": {"requests": digital_share, "statistics": _stats("digital_share"), **CURATED},
    "channel_diversity": {"requests": channel_diversity},
    "agency_concentration_hhi": {"requests": agency_concentration_hhi},
    "agency_breadth": {"requests": agency_breadth, "pages": _pages("agencies_integrated", numeric=True), **CURATED},
    "requests_per_1000_residents": {"requests": requests_per_1000_residents, "statistics": _stats(*VOLUME_METRICS),
                                    **CURATED},
    "open_data_level": {"registry": open_data_level},
    "curated": CURATED,
    "policy_feedback_loop": {**CURATED, "pages": policy_feedback_pages},
    "published_time_limits": {"pages": _pages("published_time_limits", numeric=False)},
    "follow_up_contact": {"pages": _pages("follow_up_contact", numeric=False)},
    "digital_channel_count": {"pages": digital_channel_count},
    "hotlines_integrated": {**CURATED, "pages": _pages("hotlines_integrated", numeric=True)},
    "service_catalogue_size": {"pages": service_catalogue_size, **CURATED},
    "channel_count": {"pages": channel_count},
    "language_count": {"pages": language_count, **CURATED},
    "knowledge_base_size": {"pages": knowledge_base_size},
    "round_the_clock": {"pages": _pages("open_24_7", numeric=False), **CURATED},
    "online_case_tracking": {"pages": _pages("online_case_tracking", numeric=False)},
    "chatbot_available": {"pages": _pages("channel_chatbot", numeric=False)},
    "accessibility": {"pages": accessibility, **CURATED},
    "service_level": {"statistics": _stats("service_level_rate", "avg_wait_seconds"), **CURATED},
    "abandonment_rate": {"statistics": _stats("abandonment_rate"), **CURATED},
    "first_contact_resolution": {"statistics": _stats("first_call_resolution_rate"), **CURATED},
    "satisfaction": {"statistics": _stats("satisfaction_rate", "satisfaction_score"), **CURATED},
    "on_time_share": {"statistics": _stats("on_time_rate"), **CURATED},
}
