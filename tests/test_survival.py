"""Kaplan-Meier against an example worked out by hand, with censored (still open) requests."""

from __future__ import annotations

import numpy as np
import pytest

from hotline_eval.survival import kaplan_meier, km_quantile


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
