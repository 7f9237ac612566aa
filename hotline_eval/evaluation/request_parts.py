"""The additive parts of the request-level measures, one row per city-month partition, kept current.

Most request-level measures are sums over requests: the counts behind every share, the tallies per
channel and agency, the number of repeat requests, the archived pages. A city's value for a period is
the sum of its partitions' parts (sql/marts/request_measures.sql adds them up), so a refresh that adds
a day of requests needs to recompute the parts of the few partitions it touched, not aggregate every
row again. The quantiles and medians do not add up across partitions; they are computed over the rows.

``refresh_request_parts`` keeps marts.request_month_parts current: it recomputes the parts of every
partition staged since its parts were computed (staging.staged_partitions.staged_at) or whose parts
came from other SQL or parameters, and of every partition whose repeat test can see a changed
partition's requests (a repeat refers back up to REPEAT_WINDOW_DAYS, possibly into the previous month);
it deletes the parts of partitions that are gone. The result equals computing every part again
(tests/evaluation/test_request_parts.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import polars as pl

from hotline_eval.config.settings import PROJECT_ROOT
from hotline_eval.publish.warehouse import Upsert, Write, query, replace_many, sql_literal, table_name

# close-time measures skip records whose dates cannot be a real close
EXCLUDED_FROM_CLOSE_TIMES = ("closed_before_created", "closed_within_minute")
EXCLUDED_FLAGS = (*EXCLUDED_FROM_CLOSE_TIMES, "placeholder_closed_date")
DIGITAL_CHANNELS = ("web", "mobile_app", "sms", "email", "social", "chatbot")
REPEAT_WINDOW_DAYS = 7
# A repeat's place is a cell of a grid of PLACE_DECIMALS decimals of a degree (about 100 m), defined by
# the project and not by an engine's rounding function (issue #16): a coordinate's cell is the integer
# nearest to the double product coordinate * PLACE_SCALE, halves away from zero, computed exactly from
# that product (sql/marts/request_month_parts.sql); longitude cells wrap at the antimeridian (180 and
# -180 are one cell). In Python: Decimal(x * PLACE_SCALE).quantize(Decimal(1), ROUND_HALF_UP).
PLACE_DECIMALS = 3
PLACE_SCALE = 10**PLACE_DECIMALS

PARTS_SQL = PROJECT_ROOT / "sql" / "marts" / "request_month_parts.sql"
PARTS_TABLE = "marts.request_month_parts"
KEY = ["city_id", "partition_month"]
PARTS_SCHEMA = {
    "city_id": pl.String, "partition_month": pl.String,
    "created_min": pl.Datetime("us", "UTC"), "created_max": pl.Datetime("us", "UTC"),
    **{name: pl.Int64 for name in ("n_all", "n_located", "n_not_cancelled", "n_within_7_days", "n_closed",
                                   "n_closed_with_text", "n_close_times", "n_channel", "n_digital", "n_agency",
                                   "n_repeats")},
    "channels": pl.List(pl.Struct({"channel": pl.String, "n": pl.Int64})),
    "agencies": pl.List(pl.Struct({"agency": pl.String, "n": pl.Int64})),
    "sha256s": pl.List(pl.String), "is_synthetic": pl.Boolean,
}


def parts_params() -> dict[str, Any]:
    return {"digital": list(DIGITAL_CHANNELS), "bad_close": list(EXCLUDED_FROM_CLOSE_TIMES),
            "km_excluded": list(EXCLUDED_FLAGS), "repeat_days": REPEAT_WINDOW_DAYS, "place_scale": PLACE_SCALE}


def parts_version() -> str:
    """sha256 of the parts' SQL and parameters: parts computed otherwise are computed again."""
    text = PARTS_SQL.read_text(encoding="utf-8") + json.dumps(parts_params(), sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _relation(rows: str) -> str:
    """A warehouse table, or the view ``request_rows`` that the indicators define over one."""
    return rows if rows == "request_rows" else table_name(rows)


@contextmanager
def _temp_views(con: duckdb.DuckDBPyConnection, views: dict[str, str]) -> Iterator[None]:
    try:
        for name, sql in views.items():
            con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
        yield
    finally:
        for name in views:
            con.execute(f"DROP VIEW IF EXISTS temp.{name}")


def _run_parts(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    frame = con.sql(PARTS_SQL.read_text(encoding="utf-8"), params=parts_params()).pl()
    return frame.cast(PARTS_SCHEMA) if frame.height else pl.DataFrame(schema=PARTS_SCHEMA)


def compute_all_parts(con: duckdb.DuckDBPyConnection, rows: str) -> pl.DataFrame:
    """The parts of every partition in ``rows`` (a table or view with the staging columns)."""
    rows = _relation(rows)
    with _temp_views(con, {"part_rows": f"SELECT * FROM {rows}",  # noqa: S608
                           "repeat_rows": f"SELECT *, true AS in_part FROM {rows}"}):  # noqa: S608
        return _run_parts(con)


def _literals(values: list[str]) -> str:
    return ", ".join(sql_literal(v) for v in values)


def _prefilter(partitions: pl.DataFrame, *, months: bool) -> str:
    """Constant conditions the rows of ``partitions`` meet (cities, and months or a start time): DuckDB
    checks them against each row group's min/max and skips the groups that cannot match, where a join
    alone would read the whole table. The exact selection comes after."""
    cities = f"r.city_id IN ({_literals(partitions['city_id'].unique().sort().to_list())})"
    if months:
        months_in = _literals(partitions["partition_month"].unique().sort().to_list())
        return f"{cities} AND r.partition_month IN ({months_in})"
    start = partitions["created_min"].min() - timedelta(days=REPEAT_WINDOW_DAYS)
    return f"{cities} AND r.created_at >= TIMESTAMPTZ '{start.isoformat()}'"


def compute_parts(con: duckdb.DuckDBPyConnection, rows: str, partitions: pl.DataFrame) -> pl.DataFrame:
    """The parts of ``partitions`` (city_id, partition_month, created_min, created_max: each partition's
    date range) in ``rows``, reading besides them only the rows their repeat test can refer back to."""
    if partitions.is_empty():
        return pl.DataFrame(schema=PARTS_SCHEMA)
    rows = _relation(rows)
    todo = partitions.select(*KEY, "created_min", "created_max").to_arrow()  # noqa: F841 (scanned below)
    con.execute("CREATE OR REPLACE TEMP TABLE parts_todo AS SELECT * FROM todo")
    # per city, from REPEAT_WINDOW_DAYS before its earliest partition to its latest one's last request
    windows = (f"SELECT city_id, min(created_min) - to_days({REPEAT_WINDOW_DAYS}) AS lo, max(created_max) AS hi "  # noqa: S608 (a constant)
               "FROM temp.parts_todo GROUP BY city_id")
    try:
        with _temp_views(con, {
            "part_rows": f"SELECT r.* FROM {rows} r SEMI JOIN temp.parts_todo t USING (city_id, partition_month) "  # noqa: S608
                         f"WHERE {_prefilter(partitions, months=True)}",
            "repeat_rows": f"SELECT r.*, (r.city_id, r.partition_month) IN "  # noqa: S608
                           f"(SELECT city_id, partition_month FROM temp.parts_todo) AS in_part "
                           f"FROM {rows} r JOIN ({windows}) w "
                           f"ON r.city_id = w.city_id AND r.created_at >= w.lo AND r.created_at <= w.hi "
                           f"WHERE {_prefilter(partitions, months=False)}",
        }):
            return _run_parts(con)
    finally:
        con.execute("DROP TABLE IF EXISTS temp.parts_todo")


@dataclass(frozen=True)
class PartsRefresh:
    partitions: int  # partitions with rows now
    recomputed: int  # partitions whose parts were computed this run
    changed: int  # of those, partitions staged since (or never computed, or computed by other SQL)
    removed: int  # partitions gone from staging whose parts were deleted


def refresh_request_parts(con: duckdb.DuckDBPyConnection, rows: str = "staging.service_requests",
                          parts_table: str = PARTS_TABLE) -> PartsRefresh:
    """Bring ``parts_table`` up to date with ``rows``, recomputing only what changed (module docstring).
    Partitions without staging state (no staging.staged_partitions row) are recomputed every time."""
    version = parts_version()
    rows_name, parts_name = table_name(rows), table_name(parts_table)
    current = query(con, f"SELECT p.city_id, p.partition_month, s.staged_at "  # noqa: S608
                         f"FROM (SELECT DISTINCT city_id, partition_month FROM {rows_name}) p "
                         f"LEFT JOIN staging.staged_partitions s USING (city_id, partition_month)")
    kept = query(con, f"SELECT city_id, partition_month, staged_at AS kept_staged_at, parts_version, "  # noqa: S608
                      f"created_min, created_max FROM {parts_name}")
    joined = current.join(kept, on=KEY, how="left")
    stale = joined.filter(pl.col("staged_at").is_null() | pl.col("kept_staged_at").is_null()
                          | (pl.col("staged_at") != pl.col("kept_staged_at")) | (pl.col("parts_version") != version))
    removed = kept.join(current, on=KEY, how="anti")
    if stale.is_empty() and removed.is_empty():
        return PartsRefresh(partitions=current.height, recomputed=0, changed=0, removed=0)

    if stale.height == current.height:
        parts = compute_all_parts(con, rows)
    else:
        parts = _recompute(con, rows, joined, stale, removed)
    parts = parts.join(current, on=KEY, how="left").with_columns(
        parts_version=pl.lit(version), computed_at=pl.lit(datetime.now(UTC)))
    deleted = pl.concat([parts.select(KEY), removed.select(KEY)])
    writes: list[Write] = [Upsert(parts_table, parts.filter(pl.col("city_id") == city), key="partition_month",
                                  where={"city_id": city}, key_values=pl.Series(months))
              for city, months in deleted.group_by("city_id").agg("partition_month").iter_rows()]
    replace_many(con, writes)
    return PartsRefresh(partitions=current.height, recomputed=parts.height, changed=stale.height,
                        removed=removed.height)


def _utc_ranges(frame: pl.DataFrame) -> pl.DataFrame:
    """Date ranges as UTC instants, whatever time zone the connection reads them in."""
    return frame.with_columns(pl.col("created_min", "created_max").dt.convert_time_zone("UTC")
                              .dt.cast_time_unit("us"))


def _recompute(con: duckdb.DuckDBPyConnection, rows: str, joined: pl.DataFrame, stale: pl.DataFrame,
               removed: pl.DataFrame) -> pl.DataFrame:
    """Parts of the stale partitions and of the kept partitions whose repeat test can see them."""
    stale, removed = _utc_ranges(stale), _utc_ranges(removed)
    todo = stale.select(KEY).to_arrow()  # noqa: F841 (scanned below)
    new_ranges = _utc_ranges(con.sql(
        f"SELECT city_id, partition_month, min(created_at) AS created_min, max(created_at) AS created_max "  # noqa: S608
        f"FROM {table_name(rows)} r SEMI JOIN todo USING (city_id, partition_month) "
        f"WHERE {_prefilter(stale, months=True)} GROUP BY ALL").pl())
    # a changed request can be the earlier request of any request up to the window after it, and the
    # requests it had before the change (kept range) or has now (new range) both count
    changed = pl.concat([new_ranges.select("city_id", "created_min", "created_max"),
                         stale.select("city_id", "created_min", "created_max").drop_nulls(),
                         removed.select("city_id", "created_min", "created_max")]).rename(
        {"created_min": "changed_min", "created_max": "changed_max"})
    window = timedelta(days=REPEAT_WINDOW_DAYS)
    kept_valid = _utc_ranges(joined.join(stale, on=KEY, how="anti").select(*KEY, "created_min", "created_max"))
    neighbours = kept_valid.join(changed, on="city_id").filter(
        (pl.col("created_min") <= pl.col("changed_max") + window) & (pl.col("created_max") >= pl.col("changed_min"))
    ).select(*KEY, "created_min", "created_max").unique(KEY)
    return compute_parts(con, rows, pl.concat([new_ranges, neighbours]))
