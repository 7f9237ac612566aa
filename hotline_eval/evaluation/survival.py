"""Time to close without survivorship bias: the Kaplan-Meier estimator over closed and still-open
requests (open ones censored at the evaluation cut-off).

Computing the median only over closed requests leaves out exactly the requests that take longest,
so it understates the wait. Kaplan-Meier uses every request: a closed one is an event at its close
time; an open one says only "not closed by the cut-off".

The pipeline groups the requests by city and duration where they live (sql/marts/request_close_times.sql)
and reads the quantiles off the curve here (``close_time_quantiles``); ``kaplan_meier`` and
``km_quantile`` are the plain reference definitions that tests check it against.
"""

from __future__ import annotations

import numpy as np
import polars as pl

# the margin for "survival at or below 1 - q": a product of many factors lands a hair off 0.5 exactly
SURVIVAL_EPSILON = 1e-12
QUANTILES_SCHEMA = {"city_id": pl.String, "median_hours": pl.Float64, "p90_hours": pl.Float64,
                    "median_naive": pl.Float64, "p90_naive": pl.Float64}


def kaplan_meier(durations: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(event times, survival just after each) for durations with event flags (True = closed)."""
    durations = np.asarray(durations, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    if durations.size == 0:
        return np.array([]), np.array([])
    event_times = np.sort(durations[observed])
    times, events = np.unique(event_times, return_counts=True)
    at_risk = durations.size - np.searchsorted(np.sort(durations), times, side="left")
    survival = np.cumprod(1.0 - events / at_risk)
    return times, survival


def km_quantile(durations: np.ndarray, observed: np.ndarray, q: float) -> float | None:
    """The time by which a share ``q`` of requests is closed: the first event time where the
    survival falls to 1 - q or below. None when too few close before the cut-off to reach it."""
    return _first_time_reaching(*kaplan_meier(durations, observed), q)


def _first_time_reaching(times: np.ndarray, survival: np.ndarray, q: float) -> float | None:
    reached = np.flatnonzero(survival <= 1.0 - q + SURVIVAL_EPSILON)
    return float(times[reached[0]]) if reached.size else None


def close_time_quantiles(close_times: pl.DataFrame) -> pl.DataFrame:
    """Per city: the Kaplan-Meier median and 90th percentile of hours to close, and beside them the naive
    quantiles over closed requests only (numpy's default, linear between the two nearest ranks).

    ``close_times`` has one row per city and distinct duration (city_id, hours, events = requests closed
    at that duration, n = requests with it, closed or still open), in any order. A city with no closed
    request gets no row; a quantile the curve never reaches is null."""
    rows = [_city_quantiles(city, part.sort("hours")) for (city,), part in close_times.partition_by(
        "city_id", as_dict=True).items()]
    return pl.DataFrame([r for r in rows if r is not None], schema=QUANTILES_SCHEMA, orient="row").sort("city_id")


def _city_quantiles(city_id: str, times: pl.DataFrame) -> tuple | None:
    hours = times["hours"].to_numpy()
    events = times["events"].to_numpy()
    at_risk = times["n"].to_numpy()[::-1].cumsum()[::-1]  # every request whose duration is at least this
    closes = events > 0
    if not closes.any():
        return None
    hours, events, at_risk = hours[closes], events[closes], at_risk[closes]
    survival = np.cumprod(1.0 - events / at_risk)
    closed_through = events.cumsum()  # closed requests up to and including each time

    def naive(q: float) -> float:
        # the closed durations in order, without expanding them: the value at rank r is the first time
        # whose running count of closes passes r
        position = q * (closed_through[-1] - 1)
        below = int(np.floor(position))
        low, high = np.searchsorted(closed_through, [below, min(below + 1, closed_through[-1] - 1)], side="right")
        return float(hours[low] + (position - below) * (hours[high] - hours[low]))

    return (city_id, _first_time_reaching(hours, survival, 0.5), _first_time_reaching(hours, survival, 0.9),
            naive(0.5), naive(0.9))
