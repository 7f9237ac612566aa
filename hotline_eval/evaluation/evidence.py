"""What the indicator computations read: the small staging tables as polars frames, and the requests,
whose measures are aggregated inside DuckDB (sql/marts/request_*.sql) whether they come as a frame or
stay in the warehouse."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl

from hotline_eval.config.registry import Registry
from hotline_eval.config.settings import PROJECT_ROOT
from hotline_eval.evaluation.request_parts import EXCLUDED_FLAGS, compute_all_parts
from hotline_eval.evaluation.survival import close_time_quantiles
from hotline_eval.publish.warehouse import query, table_name
from hotline_eval.sources import feed_fields

REQUEST_COLUMNS = ("city_id", "partition_month", "created_at", "closed_at", "status", "category", "channel",
                   "agency", "latitude", "longitude", "resolution", "quality_flags", "sha256", "is_synthetic")
MEASURES_SQL = PROJECT_ROOT / "sql" / "marts" / "request_measures.sql"
CLOSE_TIMES_SQL = PROJECT_ROOT / "sql" / "marts" / "request_close_times.sql"
MONTHLY_CLOSE_TIMES_SQL = PROJECT_ROOT / "sql" / "marts" / "request_close_times_monthly.sql"
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
    # published statistics and cited facts count from years_before the evaluation year to years_after it
    years_before: int = 2
    years_after: int = 1
    answer_target_seconds: float = 30.0  # turns an average speed of answer into a service level
    _measures: pl.DataFrame | None = field(default=None, init=False, repr=False)
    _request_evidence: pl.DataFrame | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_warehouse(cls, con: duckdb.DuckDBPyConnection, period: str, registry: Registry,
                       parts: str | None = None, **window: float) -> Evidence:
        """The staging tables of the work database; the requests stay there, aggregated inside DuckDB
        (from the partition parts in ``parts`` when given). ``window``: years_before, years_after,
        answer_target_seconds."""
        return cls(
            period=period,
            cities=query(con, "SELECT * FROM staging.cities ORDER BY city_id"),
            requests=WarehouseRequests(con, parts=parts),
            stats=query(con, "SELECT * FROM staging.hotline_stats"),
            features=query(con, "SELECT * FROM staging.portal_features"),
            catalog=query(con, "SELECT * FROM staging.service_catalog"),
            curated=query(con, "SELECT * FROM staging.curated_evidence"),
            published_fields=published_fields(registry),
            **window,  # type: ignore[arg-type]
        )

    @property
    def year(self) -> int:
        return int(self.period)

    @property
    def window(self) -> tuple[int, int]:
        """First and last year whose published statistics and cited facts count."""
        return self.year - self.years_before, self.year + self.years_after

    def window_for(self, years_before: int | None) -> tuple[int, int]:
        """The window with an indicator's own reach into the past, where it sets one."""
        low, high = self.window
        return (low if years_before is None else self.year - years_before), high

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

    def monthly_close_times(self) -> pl.DataFrame:
        """Per city and month of creation: the Kaplan-Meier and naive median and 90th percentile hours to
        close (open requests censored at the period's end), with the requests and closes counted."""
        params = {"period": self.period, "cutoff": self.period_end, "km_excluded": list(EXCLUDED_FLAGS)}
        with _request_views(self.requests) as con:
            times = _run(con, MONTHLY_CLOSE_TIMES_SQL, params, CLOSE_TIMES_SCHEMA)
        counts = times.group_by("city_id").agg(pl.col("n").sum().alias("n_requests"),
                                               pl.col("events").sum().alias("n_closed"))
        keyed = pl.col("city_id").str.split_exact("|", 1)
        return counts.join(close_time_quantiles(times), on="city_id", how="left").with_columns(
            keyed.struct.field("field_0").alias("city_id"), keyed.struct.field("field_1").alias("month"),
        ).select("city_id", "month", pl.col("median_hours").alias("km_median_hours"),
                 pl.col("median_naive").alias("naive_median_hours"), pl.col("p90_hours").alias("km_p90_hours"),
                 pl.col("p90_naive").alias("naive_p90_hours"), "n_requests", "n_closed").sort("city_id", "month")

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


def published_fields(registry: Registry) -> dict[str, frozenset[str]]:
    """Staging fields each city's request feeds publish, from their registry mappings (and the standard
    fields of their platforms)."""
    return {city.id: frozenset().union(*(feed_fields(s) for s in city.sources)) for city in registry.cities}


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
