"""Time to close without survivorship bias: the Kaplan-Meier estimator over closed and still-open
requests (open ones censored at the evaluation cut-off).

Computing the median only over closed requests leaves out exactly the requests that take longest,
so it understates the wait. Kaplan-Meier uses every request: a closed one is an event at its close
time; an open one says only "not closed by the cut-off".

The pipeline computes the estimator in SQL (sql/marts/request_measures.sql), where the requests live;
this numpy version is the reference definition that tests/test_indicators_sql.py checks it against.
"""

from __future__ import annotations

import numpy as np


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
    times, survival = kaplan_meier(durations, observed)
    reached = np.nonzero(survival <= 1.0 - q + 1e-12)[0]
    return float(times[reached[0]]) if reached.size else None
