"""Kaplan-Meier against an example worked out by hand, with censored (still open) requests, and the
pipeline's estimator over grouped close times (close_time_quantiles) against the reference."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from hotline_eval.evaluation.survival import close_time_quantiles, kaplan_meier, km_quantile


def test_kaplan_meier_by_hand() -> None:
    # eight requests, hours to close; False = still open at the cut-off (censored at that age)
    hours = np.array([2, 3, 3, 5, 8, 8, 12, 20], dtype=float)
    closed = np.array([True, True, False, True, False, True, True, False])
    # by hand:
    #   t=2:  8 at risk, 1 closes      S = 7/8                  = 0.875
    #   t=3:  7 at risk, 1 closes (the other t=3 is censored)  S = 0.875 * 6/7 = 0.75
    #   t=5:  5 at risk, 1 closes      S = 0.75 * 4/5          = 0.6
    #   t=8:  4 at risk, 1 closes (one t=8 censored)           S = 0.6 * 3/4   = 0.45
    #   t=12: 2 at risk, 1 closes      S = 0.45 * 1/2          = 0.225
    times, survival = kaplan_meier(hours, closed)
    assert times.tolist() == [2, 3, 5, 8, 12]
    assert survival == pytest.approx([0.875, 0.75, 0.6, 0.45, 0.225])
    # median: first time S <= 0.5 -> 8 h; 90th percentile: S never reaches 0.1 -> not estimable
    assert km_quantile(hours, closed, 0.5) == 8
    assert km_quantile(hours, closed, 0.9) is None
    # the naive median over closed requests only (2, 3, 5, 8, 12) is 5 h: it understates the wait
    assert float(np.median(hours[closed])) == 5


def test_without_censoring_km_is_the_empirical_quantile() -> None:
    hours = np.array([1, 2, 3, 4], dtype=float)
    assert km_quantile(hours, np.ones(4, bool), 0.5) == 2
    assert km_quantile(hours, np.ones(4, bool), 0.9) == 4


def test_empty_and_all_open() -> None:
    assert km_quantile(np.array([]), np.array([], bool), 0.5) is None
    assert km_quantile(np.array([5.0, 9.0]), np.array([False, False]), 0.5) is None


def _grouped(city: str, hours: np.ndarray, closed: np.ndarray) -> pl.DataFrame:
    """Close times as request_close_times.sql gives them: one row per distinct duration."""
    return (pl.DataFrame({"city_id": city, "hours": hours, "closed": closed})
            .group_by("city_id", "hours").agg(events=pl.col("closed").sum().cast(pl.Int64), n=pl.len().cast(pl.Int64)))


def test_close_time_quantiles_by_hand() -> None:
    hours = np.array([2, 3, 3, 5, 8, 8, 12, 20], dtype=float)
    closed = np.array([True, True, False, True, False, True, True, False])
    got = close_time_quantiles(_grouped("a", hours, closed)).row(0, named=True)
    # the worked example above: median 8 h, 90th percentile never reached; naive over 2, 3, 5, 8, 12
    assert got == {"city_id": "a", "median_hours": 8.0, "p90_hours": None, "median_naive": 5.0,
                   "p90_naive": pytest.approx(float(np.quantile([2, 3, 5, 8, 12], 0.9)))}


@pytest.mark.parametrize("seed", range(6))
def test_close_time_quantiles_match_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames, expected = [], {}
    for city in ("a", "b", "c"):
        n = int(rng.integers(1, 300))
        # whole hours tie often, both among closes and between closes and open requests
        hours = np.round(rng.lognormal(2, 1.5, n)) if seed % 2 else rng.lognormal(2, 1.5, n)
        closed = rng.random(n) < rng.uniform(0.05, 1.0)
        frames.append(_grouped(city, hours, closed))
        if closed.any():
            expected[city] = (km_quantile(hours, closed, 0.5), km_quantile(hours, closed, 0.9),
                              float(np.quantile(hours[closed], 0.5)), float(np.quantile(hours[closed], 0.9)))
    # in any order, as the SQL gives them
    got = close_time_quantiles(pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=seed))
    assert got["city_id"].to_list() == sorted(expected)  # a city without a close has no row
    for city, *values in got.iter_rows():
        assert values == [pytest.approx(v, rel=1e-12) if v is not None else None for v in expected[city]]


def test_close_time_quantiles_with_one_close() -> None:
    got = close_time_quantiles(_grouped("a", np.array([4.0, 9.0]), np.array([True, False]))).row(0)
    assert got == ("a", 4.0, None, 4.0, 4.0)


def test_close_time_quantiles_of_nothing() -> None:
    empty = pl.DataFrame(schema={"city_id": pl.String, "hours": pl.Float64, "events": pl.Int64, "n": pl.Int64})
    assert close_time_quantiles(empty).is_empty()
