"""Tertiary indicator facts from the staging tables, in polars: one row per city, indicator, period.

Each computation returns, per city it can measure, the value, how many records it rests on, the
share of the period its evidence covers, and the sha256s of the archived responses behind it.
Cities it cannot measure get a row with a null value and the reason (from the data: the feed does
not publish closing dates, no page was read, no curated evidence), never a made-up number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from hotline_eval.config.settings import PROJECT_ROOT
from hotline_eval.evaluation.framework import Framework, Tertiary
from hotline_eval.evaluation.request_parts import (  # noqa: F401 (the measures' definitions, re-exported)
    DIGITAL_CHANNELS,
    EXCLUDED_FLAGS,
    EXCLUDED_FROM_CLOSE_TIMES,
    PLACE_DECIMALS,
    REPEAT_WINDOW_DAYS,
    compute_all_parts,
)
from hotline_eval.evaluation.survival import close_time_quantiles
from hotline_eval.publish.warehouse import table_name

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
CHANNEL_FEATURES = ("channel_phone", "channel_sms", "channel_web_form", "channel_mobile_app", "channel_social",
                    "channel_email", "channel_walk_in", "channel_chatbot")
OPEN_DATA_SCORE = {"request_level": 1.0, "aggregate": 0.5, "not_public": 0.0}


REQUEST_COLUMNS = ("city_id", "partition_month", "created_at", "closed_at", "status", "category", "channel",
                   "agency", "latitude", "longitude", "resolution", "quality_flags", "sha256", "is_synthetic")
MEASURES_SQL = PROJECT_ROOT / "sql" / "marts" / "request_measures.sql"
CLOSE_TIMES_SQL = PROJECT_ROOT / "sql" / "marts" / "request_close_times.sql"
EVIDENCE_SQL = PROJECT_ROOT / "sql" / "marts" / "request_evidence.sql"


@dataclass(frozen=True)
class WarehouseRequests:
    """staging.service_requests read where it lives: the request-level measures are aggregated inside
    DuckDB (sql/marts/request_measures.sql), so tens of millions of rows never enter Python."""

    con: duckdb.DuckDBPyConnection
    table: str = "staging.service_requests"
    # the table of their additive parts per partition kept current by request_parts.refresh_request_parts;
    # None computes the parts from the rows
    parts: str | None = None


@dataclass
class Evidence:
    """Everything the computations read: small tables loaded as polars frames, and the requests either
    as a frame (tests, small inputs) or in the warehouse. Both go through the same SQL."""

    period: str  # evaluation year, YYYY
    cities: pl.DataFrame  # staging.cities
    requests: pl.DataFrame | WarehouseRequests  # staging.service_requests
    stats: pl.DataFrame  # staging.hotline_stats
    features: pl.DataFrame  # staging.portal_features
    catalog: pl.DataFrame  # staging.service_catalog
    curated: pl.DataFrame  # staging.curated_evidence
    # city -> staging fields its request feeds publish (from the registry's field mappings)
    published_fields: Mapping[str, frozenset[str]] = field(default_factory=dict)
    _measures: pl.DataFrame | None = field(default=None, init=False, repr=False)
    _request_evidence: pl.DataFrame | None = field(default=None, init=False, repr=False)

    @property
    def period_end(self) -> datetime:
        return datetime(int(self.period) + 1, 1, 1, tzinfo=UTC)

    def _aggregate(self) -> None:
        params = {"period": self.period, "cutoff": self.period_end}
        with _request_views(self.requests) as con:
            close_times = _run(con, CLOSE_TIMES_SQL, {**params, "km_excluded": list(EXCLUDED_FLAGS)},
                               CLOSE_TIMES_SCHEMA)
            # the curve is read in order per city, cheaper in numpy than as two window sorts in SQL
            con.register("close_time_quantiles", close_time_quantiles(close_times).to_arrow())
            try:
                self._measures = _run(con, MEASURES_SQL, params, MEASURE_SCHEMA)
            finally:
                con.unregister("close_time_quantiles")
            self._request_evidence = _run(con, EVIDENCE_SQL, {"period": self.period}, REQUEST_EVIDENCE_SCHEMA)

    def request_measures(self) -> pl.DataFrame:
        """Per measure and city: value, naive value, rows and months (computed once for all indicators)."""
        if self._measures is None:
            self._aggregate()
        return self._measures

    def request_evidence(self) -> pl.DataFrame:
        """Per city: the months and archived pages its request-level values rest on."""
        if self._request_evidence is None:
            self._aggregate()
        return self._request_evidence

    def request_cities(self) -> list[str]:
        """Cities with requests created in the evaluation period."""
        return self.request_evidence()["city_id"].sort().to_list()

    def publishes(self, city_id: str, *fields: str) -> bool:
        return all(f in self.published_fields.get(city_id, frozenset()) for f in fields)


MEASURE_SCHEMA = {"measure": pl.String, "city_id": pl.String, "raw_value": pl.Float64, "naive_value": pl.Float64,
                  "n_observations": pl.Int64, "months": pl.Int64}
CLOSE_TIMES_SCHEMA = {"city_id": pl.String, "hours": pl.Float64, "events": pl.Int64, "n": pl.Int64}
REQUEST_EVIDENCE_SCHEMA = {"city_id": pl.String, "evidence_keys": pl.String,
                           "evidence_sha256s": pl.List(pl.String), "is_synthetic": pl.Boolean}


@contextmanager
def _request_views(requests: pl.DataFrame | WarehouseRequests) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection with the views ``request_rows`` (the rows) and ``request_parts`` (their parts per
    partition, sql/marts/request_month_parts.sql), dropped afterwards."""
    if isinstance(requests, WarehouseRequests):
        con = requests.con
        con.execute(f"CREATE OR REPLACE TEMP VIEW request_rows AS SELECT {', '.join(REQUEST_COLUMNS)} "  # noqa: S608
                    f"FROM {table_name(requests.table)}")
        kept = requests.parts is not None
        try:
            if kept:
                con.execute(f"CREATE OR REPLACE TEMP VIEW request_parts AS "  # noqa: S608
                            f"SELECT * FROM {table_name(requests.parts)}")
            else:
                _parts_table(con)
            yield con
        finally:
            con.execute(f"DROP {'VIEW' if kept else 'TABLE'} IF EXISTS temp.request_parts")
            con.execute("DROP VIEW IF EXISTS temp.request_rows")
        return
    frame = _utc_requests(requests)
    con = duckdb.connect()
    try:
        con.register("request_rows", frame.to_arrow())
        _parts_table(con)
        yield con
    finally:
        con.close()


def _parts_table(con: duckdb.DuckDBPyConnection) -> None:
    parts = compute_all_parts(con, "request_rows").to_arrow()  # noqa: F841 (scanned below)
    con.execute("CREATE OR REPLACE TEMP TABLE request_parts AS SELECT * FROM parts")


def _utc_requests(frame: pl.DataFrame) -> pl.DataFrame:
    """The indicator columns with timestamps as UTC instants (naive ones are taken as UTC)."""
    schema = {"city_id": pl.String, "partition_month": pl.String, "created_at": pl.Datetime("us", "UTC"),
              "closed_at": pl.Datetime("us", "UTC"), "status": pl.String, "category": pl.String,
              "channel": pl.String, "agency": pl.String, "latitude": pl.Float64, "longitude": pl.Float64,
              "resolution": pl.String, "quality_flags": pl.List(pl.String), "sha256": pl.String,
              "is_synthetic": pl.Boolean}
    if frame.is_empty():
        return pl.DataFrame(schema=schema)
    stamps = []
    for name in ("created_at", "closed_at"):
        tz = getattr(frame.schema[name], "time_zone", None)
        col = pl.col(name).dt.convert_time_zone("UTC") if tz else pl.col(name).dt.replace_time_zone("UTC")
        stamps.append(col.dt.cast_time_unit("us"))
    return frame.select(*REQUEST_COLUMNS).with_columns(stamps).cast(schema)


def _run(con: duckdb.DuckDBPyConnection, path: Path, params: dict, schema: dict) -> pl.DataFrame:
    frame = con.sql(path.read_text(encoding="utf-8"), params=params).pl()
    return frame.cast(schema) if frame.height else pl.DataFrame(schema=schema)


Measured = pl.DataFrame  # city_id, raw_value, n_observations, coverage, evidence_*, is_synthetic
Computation = Callable[[Evidence, Tertiary], Measured]
MEASURED_COLUMNS = ["city_id", "raw_value", "n_observations", "coverage", "evidence_table", "evidence_keys",
                    "evidence_sha256s", "is_synthetic", "missing_reason"]


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema={c: FACT_SCHEMA.get(c, pl.String) for c in MEASURED_COLUMNS})


def _from_requests(ev: Evidence, measure: str, *fields: str, naive: bool = False) -> Measured:
    """One request-level measure per city whose feeds publish ``fields``: value, count and month
    coverage, with the city's evidence (months and archived pages in the period) joined in."""
    ok = [c for c in ev.request_cities() if ev.publishes(c, *fields)]
    rows = ev.request_measures().filter((pl.col("measure") == measure) & pl.col("city_id").is_in(ok))
    if rows.is_empty():
        return _empty()
    measured = rows.select("city_id", "raw_value", "n_observations", (pl.col("months") / 12).alias("coverage"),
                           *(["naive_value"] if naive else []))
    return measured.join(ev.request_evidence(), on="city_id", how="left").with_columns(
        pl.lit("staging.service_requests").alias("evidence_table"),
        pl.lit(None, pl.String).alias("missing_reason"),
    ).select(MEASURED_COLUMNS + (["naive_value"] if naive else []))


def _field_gaps(ev: Evidence, *fields: str) -> Measured:
    """Cities with request rows whose feeds lack ``fields``: missing, with the data's own reason."""
    rows = []
    for city in ev.request_cities():
        lacking = [f for f in fields if not ev.publishes(city, f)]
        if lacking:
            rows.append({"city_id": city, "missing_reason": f"the city's feed publishes no {', '.join(lacking)}"})
    return pl.DataFrame(rows, schema={"city_id": pl.String, "missing_reason": pl.String})


def _with_gaps(ev: Evidence, measured: Measured, *fields: str) -> Measured:
    return pl.concat([measured, _field_gaps(ev, *fields)], how="diagonal_relaxed")


def _km_hours(ev: Evidence, measure: str, q: float) -> Measured:
    """Kaplan-Meier quantile of hours to close per city (open requests censored at the period's end;
    cancelled requests and impossible or placeholder dates left out), with the naive closed-only
    quantile beside it."""
    measured = _from_requests(ev, measure, "closed_at", naive=True).with_columns(
        pl.when(pl.col("raw_value").is_null())
        .then(pl.lit(f"fewer than {q:.0%} of requests closed by the end of the period: "
                     f"the quantile cannot be estimated")).alias("missing_reason"))
    return _with_gaps(ev, measured, "closed_at")


def median_hours_to_close(ev: Evidence, _: Tertiary) -> Measured:
    return _km_hours(ev, "median_hours_to_close", 0.5)


def p90_hours_to_close(ev: Evidence, _: Tertiary) -> Measured:
    return _km_hours(ev, "p90_hours_to_close", 0.9)


# The request-level measures themselves are defined in sql/marts/request_measures.sql.
def closed_within_7_days(ev: Evidence, _: Tertiary) -> Measured:
    """Share of non-cancelled requests closed within 168 hours (impossible close times count as not)."""
    return _with_gaps(ev, _from_requests(ev, "closed_within_7_days", "closed_at"), "closed_at")


def closure_rate(ev: Evidence, _: Tertiary) -> Measured:
    feeds = _from_requests(ev, "closure_rate", "status")
    published = _from_stats(ev, "resolution_rate", scale=0.01, exclude=feeds["city_id"])
    return _first_of(feeds, published, _field_gaps(ev, "status"))


def open_backlog_age_days(ev: Evidence, _: Tertiary) -> Measured:
    """Median age at the period's end of requests still open then."""
    return _with_gaps(ev, _from_requests(ev, "open_backlog_age_days", "status"), "status")


def repeat_request_share(ev: Evidence, _: Tertiary) -> Measured:
    """Share of located requests repeating one of the same category within about 100 m and 7 days
    (the earlier one may be before the period: a January request can repeat one from late December)."""
    return _with_gaps(ev, _from_requests(ev, "repeat_request_share", "latitude", "longitude"),
                      "latitude", "longitude")


def geocoded_share(ev: Evidence, _: Tertiary) -> Measured:
    return _with_gaps(ev, _from_requests(ev, "geocoded_share", "latitude", "longitude"), "latitude", "longitude")


def resolution_text_completeness(ev: Evidence, _: Tertiary) -> Measured:
    return _with_gaps(ev, _from_requests(ev, "resolution_text_completeness", "resolution", "status"), "resolution")


def digital_share(ev: Evidence, _: Tertiary) -> Measured:
    return _with_gaps(ev, _from_requests(ev, "digital_share", "channel"), "channel")


def channel_diversity(ev: Evidence, _: Tertiary) -> Measured:
    """Shannon entropy (bits) of the known channels' shares."""
    return _with_gaps(ev, _from_requests(ev, "channel_diversity", "channel"), "channel")


def agency_concentration_hhi(ev: Evidence, _: Tertiary) -> Measured:
    """Herfindahl-Hirschman index of requests across agencies."""
    return _with_gaps(ev, _from_requests(ev, "agency_concentration_hhi", "agency"), "agency")


def agency_breadth(ev: Evidence, _: Tertiary) -> Measured:
    feeds = _from_requests(ev, "agency_breadth", "agency")
    pages = _from_features(ev, "agencies_integrated", numeric=True, exclude=feeds["city_id"])
    curated = _from_curated(ev, "agency_breadth", exclude=pl.concat([feeds["city_id"], pages["city_id"]]))
    return _first_of(feeds, pages, curated)


def requests_per_1000_residents(ev: Evidence, _: Tertiary) -> Measured:
    population = ev.cities.select("city_id", pl.col("population").cast(pl.Float64))
    feeds = _from_requests(ev, "requests").join(population, on="city_id").with_columns(
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
    listed = _empty() if complete.is_empty() else complete.group_by("city_id").agg(
        pl.col("service_code").n_unique().cast(pl.Float64).alias("raw_value"),
        pl.len().cast(pl.Int64).alias("n_observations"), pl.lit(1.0).alias("coverage"),
        pl.lit("staging.service_catalog").alias("evidence_table"),
        pl.format("city_id={}", pl.col("city_id").first()).alias("evidence_keys"),
        pl.col("sha256").unique().sort().alias("evidence_sha256s"), pl.col("is_synthetic").any(),
        pl.lit(None, pl.String).alias("missing_reason")).select(MEASURED_COLUMNS)
    measured = _first_of(listed, _from_features(ev, "service_catalogue_size", numeric=True,
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
