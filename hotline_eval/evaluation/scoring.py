"""Normalization, aggregation, ranking, and the uncertainty around the ranking.

Following the OECD-JRC Handbook on Constructing Composite Indicators (2008):
- outliers: an indicator whose distribution across cities has |skewness| > 2 and kurtosis > 3.5 is
  winsorized at its 5th and 95th percentiles before normalization;
- normalization: min-max (default), z-score, or distance to the frontier (value / best); indicators with
  fixed goalposts (config/indicators.yaml) are scored against them instead, whatever the method;
- weights: equal within each level unless configured; arithmetic aggregation (default) or geometric.

Missing-data policy: at each level a city's score is the weighted mean of the parts it has, the
weights re-spread over those parts; coverage is the share of the full weight it has. Nothing is
imputed. A city below the coverage threshold keeps its score but gets no rank.

Uncertainty: Monte Carlo draws of weights (Dirichlet around the configured ones), normalization and
aggregation give each city a distribution of ranks; leave-one-indicator-out shows which indicator
moves each rank most.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from hotline_eval.evaluation.framework import Framework

Normalization = Literal["min_max", "z_score", "frontier"]
Aggregation = Literal["arithmetic", "geometric"]
NORMALIZATIONS: tuple[Normalization, ...] = ("min_max", "z_score", "frontier")
AGGREGATIONS: tuple[Aggregation, ...] = ("arithmetic", "geometric")
GEOMETRIC_FLOOR = 0.01  # geometric means need positive values: scores are floored here


@dataclass(frozen=True)
class Structure:
    """The framework as arrays: tertiary -> secondary -> primary, with the configured weights."""

    cities: list[str]
    indicators: list[str]
    higher_is_better: np.ndarray  # (T,)
    secondary_of: np.ndarray  # (T,) index into secondary
    primary_of_secondary: np.ndarray  # (S,) index into primary
    secondaries: list[str]
    primaries: list[str]
    w_tertiary: np.ndarray  # (T,)
    w_secondary: np.ndarray  # (S,)
    w_primary: np.ndarray  # (P,)
    goalposts: np.ndarray | None = None  # (T, 2) fixed low/high per indicator, NaN where the cities' own range is used


def structure(framework: Framework, cities: list[str]) -> Structure:
    tertiary, secondary_of, secondaries, primary_of, primaries = [], [], [], [], []
    w_t, w_s, w_p, higher, goalposts = [], [], [], [], []
    for p_index, p in enumerate(framework.primary):
        primaries.append(p.id)
        w_p.append(p.weight)
        for s in p.secondary:
            s_index = len(secondaries)
            secondaries.append(s.id)
            primary_of.append(p_index)
            w_s.append(s.weight)
            for t in s.tertiary:
                tertiary.append(t.id)
                secondary_of.append(s_index)
                w_t.append(t.weight)
                higher.append(t.higher_is_better)
                goalposts.append(t.goalposts or (np.nan, np.nan))
    return Structure(cities=cities, indicators=tertiary, higher_is_better=np.array(higher),
                     secondary_of=np.array(secondary_of), primary_of_secondary=np.array(primary_of),
                     secondaries=secondaries, primaries=primaries, w_tertiary=np.array(w_t, float),
                     w_secondary=np.array(w_s, float), w_primary=np.array(w_p, float),
                     goalposts=np.array(goalposts, float).reshape(-1, 2))


def value_matrix(facts: pl.DataFrame, st: Structure) -> np.ndarray:
    """(cities x indicators) raw values, NaN where missing."""
    wide = (facts.filter(pl.col("indicator_id").is_in(st.indicators))
            .pivot(on="indicator_id", index="city_id", values="raw_value"))
    wide = pl.DataFrame({"city_id": st.cities}).join(wide, on="city_id", how="left")
    columns = [wide[i].cast(pl.Float64) if i in wide.columns else pl.Series(i, [None] * len(st.cities), pl.Float64)
               for i in st.indicators]
    return np.column_stack([c.to_numpy().astype(float) for c in columns]) if columns else np.zeros((len(st.cities), 0))


def winsorize(values: np.ndarray) -> np.ndarray:
    """Cap each indicator at its 5th/95th percentiles when it is both skewed and heavy-tailed."""
    out = values.copy()
    for j in range(values.shape[1]):
        column = values[:, j]
        present = column[~np.isnan(column)]
        if present.size < 5 or np.std(present) == 0:
            continue
        z = (present - present.mean()) / present.std()
        skew, kurtosis = float(np.mean(z**3)), float(np.mean(z**4))
        if abs(skew) > 2 and kurtosis > 3.5:
            low, high = np.percentile(present, [5, 95])
            out[:, j] = np.where(np.isnan(column), np.nan, np.clip(column, low, high))
    return out


def normalize(values: np.ndarray, higher_is_better: np.ndarray, method: Normalization = "min_max") -> np.ndarray:
    """Scores per indicator, oriented so that higher is better, NaN kept. min-max and frontier give
    [0, 1]; z-score is rescaled to [0, 1] by its own min and max so all methods aggregate alike."""
    oriented = np.where(higher_is_better, values, -values)
    low, high = np.nanmin(_nan_safe(oriented), axis=0), np.nanmax(_nan_safe(oriented), axis=0)
    spread = high - low
    if method == "min_max" or method == "z_score":
        if method == "z_score":
            mean, std = np.nanmean(_nan_safe(oriented), axis=0), np.nanstd(_nan_safe(oriented), axis=0)
            z = np.where(std > 0, (oriented - mean) / np.where(std > 0, std, 1), 0.0)
            low, high = np.nanmin(_nan_safe(z), axis=0), np.nanmax(_nan_safe(z), axis=0)
            spread, oriented = high - low, z
        scaled = np.where(spread > 0, (oriented - low) / np.where(spread > 0, spread, 1), 1.0)
    elif method == "frontier":
        # distance to the best city: value / best (higher is better) or best / value (lower is better),
        # on values shifted to be positive so that zeros and negatives stay comparable
        raw_low = np.nanmin(_nan_safe(values), axis=0)
        shifted = values - np.minimum(raw_low, 0) + 1e-9
        best_high, best_low = np.nanmax(_nan_safe(shifted), axis=0), np.nanmin(_nan_safe(shifted), axis=0)
        scaled = np.where(higher_is_better, shifted / best_high, best_low / shifted)
    else:
        raise ValueError(f"unknown normalization {method!r}")
    return np.where(np.isnan(values), np.nan, np.clip(scaled, 0.0, 1.0))


def apply_goalposts(scaled: np.ndarray, values: np.ndarray, st: Structure) -> np.ndarray:
    """Indicators with fixed goalposts scored against them, whatever the method: (value - low) / (high -
    low), capped to [0, 1] and oriented by direction; the others as ``scaled`` has them."""
    if st.goalposts is None or np.isnan(st.goalposts).all():
        return scaled
    low, high = st.goalposts[:, 0], st.goalposts[:, 1]
    fixed = ~np.isnan(low)
    with np.errstate(invalid="ignore", divide="ignore"):
        against = np.clip((values - low) / np.where(fixed, high - low, 1), 0.0, 1.0)
    against = np.where(st.higher_is_better, against, 1.0 - against)
    return np.where(fixed & ~np.isnan(values), against, scaled)


def _nan_safe(a: np.ndarray) -> np.ndarray:
    """All-NaN columns would warn in nan-reductions; give them a harmless row of zeros."""
    if a.size and np.isnan(a).all(axis=0).any():
        a = np.vstack([a, np.where(np.isnan(a).all(axis=0), 0.0, np.nan)])
    return a


def _level(scores: np.ndarray, groups: np.ndarray, n_groups: int, weights: np.ndarray,
           aggregation: Aggregation) -> tuple[np.ndarray, np.ndarray]:
    """Aggregate (cities x parts) into (cities x groups) with re-spread weights; also the weight share present."""
    present = ~np.isnan(scores)
    share = np.column_stack([(present[:, groups == g] * weights[groups == g]).sum(axis=1) / weights[groups == g].sum()
                             for g in range(n_groups)])
    return _level_many(scores[None], groups, n_groups, weights[None], aggregation)[0], share


@dataclass
class Composite:
    secondary: np.ndarray  # (C, S) in [0, 1]
    primary: np.ndarray  # (C, P)
    overall: np.ndarray  # (C,)
    coverage: np.ndarray  # (C,) share of global weight present
    secondary_coverage: np.ndarray  # (C, S)
    primary_coverage: np.ndarray  # (C, P)


def global_weights(st: Structure, w_t: np.ndarray | None = None, w_s: np.ndarray | None = None,
                   w_p: np.ndarray | None = None) -> np.ndarray:
    """Each tertiary indicator's share of the total weight."""
    w_t, w_s, w_p = (st.w_tertiary if w_t is None else w_t), (st.w_secondary if w_s is None else w_s), \
        (st.w_primary if w_p is None else w_p)
    t_in_s = w_t / np.bincount(st.secondary_of, weights=w_t)[st.secondary_of]
    s_in_p = w_s / np.bincount(st.primary_of_secondary, weights=w_s)[st.primary_of_secondary]
    p_share = w_p / w_p.sum()
    return t_in_s * s_in_p[st.secondary_of] * p_share[st.primary_of_secondary[st.secondary_of]]


def composite(scores: np.ndarray, st: Structure, aggregation: Aggregation = "arithmetic",
              w_t: np.ndarray | None = None, w_s: np.ndarray | None = None,
              w_p: np.ndarray | None = None) -> Composite:
    w_t = st.w_tertiary if w_t is None else w_t
    w_s = st.w_secondary if w_s is None else w_s
    w_p = st.w_primary if w_p is None else w_p
    secondary, secondary_cov = _level(scores, st.secondary_of, len(st.secondaries), w_t, aggregation)
    primary, _ = _level(secondary, st.primary_of_secondary, len(st.primaries), w_s, aggregation)
    overall, _ = _level(primary, np.zeros(len(st.primaries), int), 1, w_p, aggregation)
    present_weight = ~np.isnan(scores) * global_weights(st, w_t, w_s, w_p)
    primary_of_tertiary = st.primary_of_secondary[st.secondary_of]
    primary_cov = np.column_stack([present_weight[:, primary_of_tertiary == p].sum(axis=1)
                                   / global_weights(st, w_t, w_s, w_p)[primary_of_tertiary == p].sum()
                                   for p in range(len(st.primaries))])
    # shares of weights that sum to 1 can come out a hair above it in floating point
    return Composite(secondary=secondary, primary=primary, overall=overall[:, 0],
                     coverage=np.clip(present_weight.sum(axis=1), 0.0, 1.0),
                     secondary_coverage=np.clip(secondary_cov, 0.0, 1.0),
                     primary_coverage=np.clip(primary_cov, 0.0, 1.0))


def ranks(scores: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """1 = best; ties share the best rank; ineligible or unscored cities get NaN."""
    return _ranks_many(scores[None], eligible)[0]


def monte_carlo(values: np.ndarray, st: Structure, eligible: np.ndarray, *, draws: int = 1000, seed: int = 2024,
                concentration: float = 50.0) -> np.ndarray:
    """(draws x cities) ranks under random weights, normalization and aggregation.

    Weights at each level are drawn from a Dirichlet centred on the configured weights (larger
    ``concentration``, tighter draws) within each parent; the normalization method and aggregation
    rule are drawn uniformly from the alternatives. The draws are taken one by one, in a fixed order;
    the composites are then computed for all draws of one method and rule at once (the same arithmetic,
    element by element, as ``composite``: the same ranks to the bit, tests/evaluation/test_scoring.py; 1,000
    draws over 20 cities in 0.2 s against 0.7 s a draw at a time, most of it now the draws themselves)."""
    rng = np.random.default_rng(seed)
    normalized = {m: apply_goalposts(normalize(values, st.higher_is_better, m), values, st) for m in NORMALIZATIONS}
    w_t = np.empty((draws, len(st.w_tertiary)))
    w_s = np.empty((draws, len(st.w_secondary)))
    w_p = np.empty((draws, len(st.w_primary)))
    methods = np.empty(draws, dtype=int)
    rules = np.empty(draws, dtype=int)
    for d in range(draws):
        w_t[d] = _dirichlet_within(rng, st.w_tertiary, st.secondary_of, concentration)
        w_s[d] = _dirichlet_within(rng, st.w_secondary, st.primary_of_secondary, concentration)
        w_p[d] = _dirichlet_within(rng, st.w_primary, np.zeros(len(st.w_primary), int), concentration)
        methods[d] = rng.integers(len(NORMALIZATIONS))
        rules[d] = rng.integers(len(AGGREGATIONS))
    out = np.empty((draws, values.shape[0]))
    for m, method in enumerate(NORMALIZATIONS):
        for a, aggregation in enumerate(AGGREGATIONS):
            these = (methods == m) & (rules == a)
            if these.any():
                overall = _overall_many(normalized[method], st, aggregation, w_t[these], w_s[these], w_p[these])
                out[these] = _ranks_many(overall, eligible)
    return out


def _overall_many(scores: np.ndarray, st: Structure, aggregation: Aggregation, w_t: np.ndarray, w_s: np.ndarray,
                  w_p: np.ndarray) -> np.ndarray:
    """(draws x cities) overall composite of ``scores`` (cities x tertiaries) under each draw's weights."""
    secondary = _level_many(scores[None], st.secondary_of, len(st.secondaries), w_t, aggregation)
    primary = _level_many(secondary, st.primary_of_secondary, len(st.primaries), w_s, aggregation)
    return _level_many(primary, np.zeros(len(st.primaries), int), 1, w_p, aggregation)[..., 0]


def _level_many(scores: np.ndarray, groups: np.ndarray, n_groups: int, weights: np.ndarray,
                aggregation: Aggregation) -> np.ndarray:
    """``_level`` for many draws at once: scores (draws or 1, cities, parts), weights (draws, parts)."""
    present = ~np.isnan(scores)
    out = np.full((weights.shape[0], scores.shape[1], n_groups), np.nan)
    for g in range(n_groups):
        members = groups == g
        w = weights[:, None, members]
        s = scores[..., members]
        p = present[..., members]
        total = (p * w).sum(axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            if aggregation == "arithmetic":
                value = np.nansum(np.where(p, s, 0) * w, axis=-1) / total
            else:
                logs = np.where(p, np.log(np.maximum(np.where(p, s, 1), GEOMETRIC_FLOOR)), 0)
                value = np.exp((logs * w).sum(axis=-1) / total)
        out[..., g] = np.where(total > 0, value, np.nan)
    return out


def _ranks_many(overall: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """``ranks`` of each row of (draws x cities)."""
    ok = eligible[None, :] & ~np.isnan(overall)
    better = (ok[:, None, :] & (overall[:, None, :] > overall[:, :, None])).sum(axis=-1)
    return np.where(ok, 1.0 + better, np.nan)


def _dirichlet_within(rng: np.random.Generator, weights: np.ndarray, groups: np.ndarray,
                      concentration: float) -> np.ndarray:
    out = np.empty_like(weights)
    for g in np.unique(groups):
        members = groups == g
        share = weights[members] / weights[members].sum()
        out[members] = rng.dirichlet(share * concentration * members.sum()) if members.sum() > 1 else 1.0
    return out


def leave_one_out(scores: np.ndarray, st: Structure, eligible: np.ndarray) -> np.ndarray:
    """(indicators x cities) rank of each city with that indicator removed (weights re-spread)."""
    out = np.full((len(st.indicators), scores.shape[0]), np.nan)
    for j in range(len(st.indicators)):
        dropped = scores.copy()
        dropped[:, j] = np.nan
        out[j] = ranks(composite(dropped, st).overall, eligible)
    return out


@dataclass
class Scored:
    """Everything the marts need, as polars frames."""

    facts: pl.DataFrame  # with normalized_value
    secondary: pl.DataFrame  # long: city_id, secondary_id, primary_id, score, coverage
    primary: pl.DataFrame  # long: city_id, primary_id, score, coverage
    ranking: pl.DataFrame
    sensitivity: pl.DataFrame  # city_id, indicator_id, rank, rank_without, rank_shift
    contributions: pl.DataFrame  # city_id, indicator_id, normalized_value, global_weight, contribution


def score(facts: pl.DataFrame, framework: Framework, cities: pl.DataFrame, *, coverage_threshold: float,
          run_id: str, draws: int = 1000, seed: int = 2024, normalization: Normalization = "min_max",
          aggregation: Aggregation = "arithmetic") -> Scored:
    city_ids = cities["city_id"].to_list()
    st = structure(framework, city_ids)
    raw = value_matrix(facts, st)
    normalized = apply_goalposts(normalize(winsorize(raw), st.higher_is_better, normalization), raw, st)
    result = composite(normalized, st, aggregation)
    eligible = result.coverage >= coverage_threshold - 1e-12
    rank = ranks(result.overall, eligible)
    mc = monte_carlo(winsorize(raw), st, eligible, draws=draws, seed=seed) if draws else np.full((1, len(city_ids)),
                                                                                                 np.nan)
    with np.errstate(all="ignore"):
        p05 = np.where(np.isnan(rank), np.nan, np.nanpercentile(np.where(np.isnan(mc), np.inf, mc), 5, axis=0))
        p50 = np.where(np.isnan(rank), np.nan, np.nanpercentile(np.where(np.isnan(mc), np.inf, mc), 50, axis=0))
        p95 = np.where(np.isnan(rank), np.nan, np.nanpercentile(np.where(np.isnan(mc), np.inf, mc), 95, axis=0))
    loo = leave_one_out(normalized, st, eligible)

    norm_long = pl.DataFrame({"city_id": np.repeat(city_ids, len(st.indicators)),
                              "indicator_id": st.indicators * len(city_ids),
                              "_norm": normalized.reshape(-1)}).with_columns(pl.col("_norm").fill_nan(None))
    scored_facts = facts.drop("normalized_value").join(norm_long, on=["city_id", "indicator_id"], how="left") \
        .rename({"_norm": "normalized_value"}).select(facts.columns)

    secondary = pl.DataFrame({
        "city_id": np.repeat(city_ids, len(st.secondaries)),
        "secondary_id": st.secondaries * len(city_ids),
        "primary_id": [st.primaries[st.primary_of_secondary[s]] for s in range(len(st.secondaries))] * len(city_ids),
        "score": (result.secondary * 100).reshape(-1),
        "coverage": result.secondary_coverage.reshape(-1),
    }).with_columns(pl.col("score").fill_nan(None))
    primary = pl.DataFrame({
        "city_id": np.repeat(city_ids, len(st.primaries)),
        "primary_id": st.primaries * len(city_ids),
        "score": (result.primary * 100).reshape(-1),
        "coverage": result.primary_coverage.reshape(-1),
    }).with_columns(pl.col("score").fill_nan(None))

    weights = global_weights(st)
    contributions = pl.DataFrame({
        "city_id": np.repeat(city_ids, len(st.indicators)),
        "indicator_id": st.indicators * len(city_ids),
        "normalized_value": normalized.reshape(-1),
        "global_weight": np.tile(weights, len(city_ids)),
    }).with_columns(pl.col("normalized_value").fill_nan(None))
    # points each indicator adds to the 0-100 score, with the city's weights re-spread over what it has
    covered = pl.when(pl.col("normalized_value").is_not_null()).then(pl.col("global_weight")).otherwise(0.0)
    contributions = contributions.with_columns(
        (pl.col("normalized_value") * pl.col("global_weight") / covered.sum().over("city_id") * 100)
        .alias("contribution"))

    sensitivity = pl.DataFrame({
        "city_id": np.tile(city_ids, len(st.indicators)),
        "indicator_id": np.repeat(st.indicators, len(city_ids)),
        "rank": np.tile(rank, len(st.indicators)),
        "rank_without": loo.reshape(-1),
    }).with_columns(pl.col("rank").fill_nan(None), pl.col("rank_without").fill_nan(None)).with_columns(
        (pl.col("rank_without") - pl.col("rank")).alias("rank_shift")).filter(pl.col("rank").is_not_null())

    primary_wide = {f"{p}_score": result.primary[:, i] * 100 for i, p in enumerate(st.primaries)}
    ranking = pl.DataFrame({
        "city_id": city_ids,
        "score": result.overall * 100,
        **{k: primary_wide.get(k, np.full(len(city_ids), np.nan))
           for k in ("process_score", "collaborative_score", "smart_score", "responsive_score")},
        "coverage": result.coverage,
        "rank": rank, "rank_p05": p05, "rank_median": p50, "rank_p95": p95,
    }).with_columns(pl.all().exclude("city_id").fill_nan(None)).with_columns(
        (pl.col("coverage") < coverage_threshold - 1e-12).alias("below_coverage_threshold"),
        pl.lit(run_id).alias("run_id"))
    return Scored(facts=scored_facts, secondary=secondary, primary=primary, ranking=ranking,
                  sensitivity=sensitivity, contributions=contributions)
