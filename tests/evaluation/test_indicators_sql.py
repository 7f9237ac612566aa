"""The request-level measures run as SQL inside DuckDB (sql/marts/request_measures.sql): they must
match the reference definitions (hotline_eval/evaluation/survival.py, numpy's quantile) and give the same facts
whether the requests come as a polars frame or from the warehouse table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest

from hotline_eval.config.settings import load_settings
from hotline_eval.errors import ConfigError
from hotline_eval.evaluation.evidence import Evidence, WarehouseRequests
from hotline_eval.evaluation.framework import load_framework
from hotline_eval.evaluation.indicators import compute_facts
from hotline_eval.evaluation.request_parts import EXCLUDED_FLAGS
from hotline_eval.evaluation.survival import km_quantile
from hotline_eval.publish.warehouse import Replace, apply_ddl, query, replace_many

START = datetime(2024, 1, 1, tzinfo=UTC)
CUTOFF = datetime(2025, 1, 1, tzinfo=UTC)


def _requests(seed: int, n: int = 400) -> pl.DataFrame:
    """Random requests for two cities: heavy-tailed close times, open ones, cancellations, flags."""
    rng = np.random.default_rng(seed)
    created = [START + timedelta(seconds=int(s)) for s in rng.integers(0, 360 * 86_400, n)]
    hours = rng.lognormal(3, 1.8, n)
    closed = [c + timedelta(seconds=int(h * 3600)) if rng.random() < 0.8 else None
              for c, h in zip(created, hours, strict=True)]
    status = rng.choice(["closed", "open", "cancelled", "other"], n, p=[0.7, 0.15, 0.05, 0.1]).tolist()
    flags = [["placeholder_closed_date"] if r < 0.03 else ["closed_within_minute"] if r < 0.05 else []
             for r in rng.random(n)]
    return pl.DataFrame({
        "city_id": rng.choice(["new_york", "toronto"], n).tolist(),
        "partition_month": [c.strftime("%Y-%m") for c in created],
        "created_at": pl.Series(created, dtype=pl.Datetime("us", "UTC")),
        "closed_at": pl.Series(closed, dtype=pl.Datetime("us", "UTC")),
        "status": status,
        "category": rng.choice(["noise", "street", None], n).tolist(),
        "channel": rng.choice(["phone", "web", "mobile_app", "unknown"], n).tolist(),
        "agency": rng.choice(["A", "B", "C", None], n).tolist(),
        "latitude": np.where(rng.random(n) < 0.9, 40.7 + rng.integers(0, 4, n) / 1000, np.nan).tolist(),
        "longitude": (-74.0 + rng.integers(0, 4, n) / 1000).tolist(),
        "resolution": rng.choice(["done", "", None], n).tolist(),
        "quality_flags": flags, "sha256": rng.choice(["aa", "bb", "cc"], n).tolist(), "is_synthetic": [True] * n,
    }).with_columns(pl.col("latitude").fill_nan(None))


def _evidence(requests: pl.DataFrame | WarehouseRequests) -> Evidence:
    con = duckdb.connect()
    apply_ddl(con)
    empty = {t: query(con, f"SELECT * FROM staging.{t}")  # noqa: S608
             for t in ("hotline_stats", "portal_features", "service_catalog", "curated_evidence")}
    every = frozenset({"request_id", "created_at", "closed_at", "status", "category", "channel", "agency",
                       "latitude", "longitude", "resolution"})
    return Evidence(
        period="2024",
        cities=pl.DataFrame({"city_id": ["new_york", "toronto"], "population": [8_000_000, 3_000_000],
                             "data_level": ["request_level"] * 2, "data_evidence_url": ["u", "v"]}),
        requests=requests, stats=empty["hotline_stats"], features=empty["portal_features"],
        catalog=empty["service_catalog"], curated=empty["curated_evidence"],
        published_fields={"new_york": every, "toronto": every})


@pytest.mark.parametrize("seed", range(5))
def test_close_time_quantiles_match_the_reference_estimator(seed: int) -> None:
    requests = _requests(seed)
    measures = _evidence(requests).request_measures()
    rows = requests.filter(
        (pl.col("status") != "cancelled")
        & ~pl.col("quality_flags").list.eval(pl.element().is_in(
            ["closed_before_created", "closed_within_minute", "placeholder_closed_date"])).list.any())
    for city, group in rows.group_by("city_id"):
        closed = (group["closed_at"].is_not_null() & (group["closed_at"] <= CUTOFF)).to_numpy()
        end = group["closed_at"].to_list()
        hours = np.array([((e if c else CUTOFF) - s).total_seconds() / 3600
                          for e, c, s in zip(end, closed, group["created_at"].to_list(), strict=True)])
        for measure, q in (("median_hours_to_close", 0.5), ("p90_hours_to_close", 0.9)):
            got = measures.filter((pl.col("measure") == measure) & (pl.col("city_id") == city[0])).row(0, named=True)
            expected = km_quantile(hours, closed, q)
            assert got["raw_value"] == pytest.approx(expected, rel=1e-9) if expected is not None \
                else got["raw_value"] is None
            assert got["naive_value"] == pytest.approx(float(np.quantile(hours[closed], q)), rel=1e-9)
            assert got["n_observations"] == group.height


def test_facts_are_the_same_from_a_frame_and_from_the_warehouse() -> None:
    requests = _requests(7, n=600).with_columns(pl.col("category").fill_null("other"))  # NOT NULL in staging
    from_frame = compute_facts(load_framework(), _evidence(requests))
    con = duckdb.connect()
    apply_ddl(con)
    replace_many(con, [Replace("staging.service_requests", requests.with_columns(
        source_id=pl.lit("s"), request_id=pl.int_range(pl.len()).cast(pl.String)))])
    from_table = compute_facts(load_framework(), _evidence(WarehouseRequests(con)))
    assert from_frame.equals(from_table)
    feeds = from_frame.filter(pl.col("evidence_table") == "staging.service_requests")
    # the request route of closure, agencies, digital share, close times and use, for both cities
    assert feeds.filter(pl.col("raw_value").is_not_null()).height == 10
    # the view the measures read is gone afterwards; the warehouse is untouched
    assert con.sql("SELECT count(*) FROM duckdb_views() WHERE view_name = 'request_rows'").fetchall() == [(0,)]


def test_repeat_share_counts_same_place_and_category_within_seven_days() -> None:
    base = _requests(1, n=4).head(0)
    t0 = datetime(2024, 3, 1, tzinfo=UTC)
    rows = pl.DataFrame({
        "city_id": ["toronto"] * 5, "partition_month": ["2024-03"] * 5,
        "created_at": [t0, t0 + timedelta(days=3), t0 + timedelta(days=20), t0 + timedelta(days=21),
                       t0 + timedelta(days=22)],
        "closed_at": [None] * 5, "status": ["open"] * 5,
        # the 2nd repeats the 1st; the 4th is another category; the 5th has none, so it repeats nothing
        "category": ["noise", "noise", "noise", "street", None],
        "channel": ["phone"] * 5, "agency": ["A"] * 5, "latitude": [43.65] * 5, "longitude": [-79.38] * 5,
        "resolution": [None] * 5, "quality_flags": [[]] * 5, "sha256": ["aa"] * 5, "is_synthetic": [True] * 5,
    }, schema=base.schema)
    measures = _evidence(rows).request_measures()
    share = measures.filter(pl.col("measure") == "repeat_request_share")["raw_value"].item()
    assert share == pytest.approx(1 / 5)


def test_a_repeat_can_refer_back_across_the_start_of_the_period() -> None:
    base = _requests(1, n=4).head(0)
    late_december = datetime(2023, 12, 30, 9, tzinfo=UTC)
    rows = pl.DataFrame({
        "city_id": ["toronto"] * 3, "partition_month": ["2023-12", "2024-01", "2024-01"],
        # the January 2 request repeats December 30's; January 20's is too late to repeat either
        "created_at": [late_december, late_december + timedelta(days=3), late_december + timedelta(days=21)],
        "closed_at": [None] * 3, "status": ["open"] * 3, "category": ["noise"] * 3, "channel": ["phone"] * 3,
        "agency": ["A"] * 3, "latitude": [43.65] * 3, "longitude": [-79.38] * 3, "resolution": [None] * 3,
        "quality_flags": [[]] * 3, "sha256": ["aa"] * 3, "is_synthetic": [True] * 3,
    }, schema=base.schema)
    measures = _evidence(rows).request_measures().filter(pl.col("measure") == "repeat_request_share")
    assert measures.select("raw_value", "n_observations").row(0) == (pytest.approx(1 / 2), 2)


def test_memory_limit_setting_is_checked() -> None:
    assert load_settings({}).duckdb_memory_limit == "1500MB"
    assert load_settings({"HOTLINE_EVAL_DUCKDB_MEMORY_LIMIT": "4GB"}).duckdb_memory_limit == "4GB"
    assert load_settings({"HOTLINE_EVAL_DUCKDB_MEMORY_LIMIT": "4gb"}).duckdb_memory_limit == "4gb"
    with pytest.raises(ConfigError, match="HOTLINE_EVAL_DUCKDB_MEMORY_LIMIT"):
        load_settings({"HOTLINE_EVAL_DUCKDB_MEMORY_LIMIT": "lots"})


def test_a_partial_directory_is_evidence_but_not_the_catalogue_size() -> None:
    from hotline_eval.evaluation.computations import PARTIAL_DIRECTORY, service_catalogue_size

    ev = _evidence(_requests(3, n=10))
    ev.catalog = pl.DataFrame({
        "city_id": ["new_york"] * 3 + ["toronto"] * 2, "service_code": ["a", "b", "c", "x", "y"],
        "sha256": ["s1"] * 3 + ["s2"] * 2, "is_synthetic": [False] * 5,
        "is_complete_directory": [True] * 3 + [False] * 2})
    measured = {r["city_id"]: r for r in service_catalogue_size(ev, None).iter_rows(named=True)}
    assert measured["new_york"]["raw_value"] == 3.0
    assert measured["toronto"]["raw_value"] is None and measured["toronto"]["missing_reason"] == PARTIAL_DIRECTORY


def test_monthly_close_times_follow_the_reference_estimator_month_by_month() -> None:
    """marts.close_times_monthly: per city and month of creation, the Kaplan-Meier median (open requests
    censored at the year's end) equals the reference estimator over that month's requests, beside the
    naive median over closed ones."""
    requests = _requests(3, n=800)
    monthly = _evidence(requests).monthly_close_times()
    cutoff = datetime(2025, 1, 1, tzinfo=UTC)
    usable = requests.filter((pl.col("status") != "cancelled") & ~pl.col("quality_flags").list.eval(
        pl.element().is_in(list(EXCLUDED_FLAGS))).list.any())
    checked = 0
    for row in monthly.iter_rows(named=True):
        part = usable.filter((pl.col("city_id") == row["city_id"]) & (pl.col("partition_month") == row["month"]))
        closed = part["closed_at"].is_not_null() & (part["closed_at"] <= cutoff)
        ends = part.select(pl.when(closed).then(pl.col("closed_at")).otherwise(cutoff) - pl.col("created_at"))
        hours = ends.to_series().dt.total_microseconds().to_numpy() / 3600e6
        assert (row["n_requests"], row["n_closed"]) == (part.height, int(closed.sum()))
        expected = km_quantile(hours, closed.to_numpy(), 0.5)
        assert row["km_median_hours"] == (pytest.approx(expected) if expected is not None else None)
        if closed.any():
            assert row["naive_median_hours"] == pytest.approx(float(np.median(hours[closed.to_numpy()])))
        checked += 1
    assert checked >= 20 and monthly["month"].str.starts_with("2024-").all()
