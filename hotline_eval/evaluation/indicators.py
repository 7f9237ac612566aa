"""Tertiary indicator facts from the staging tables, in polars: one row per city, indicator, period.

Each computation returns, per city it can measure, the value, how many records it rests on, the
share of the period its evidence covers, and the sha256s of the archived responses behind it.
Cities it cannot measure get a row with a null value and the reason (from the data: the feed does
not publish closing dates, no page was read, no curated evidence), never a made-up number.

The inputs are ``evidence.Evidence``; the routes a value comes by (feeds, statistics, pages, curated)
are in ``routes``; the computations, by the name the framework gives them, in ``computations``; here
they are assembled into the facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from hotline_eval.config.registry import Registry
from hotline_eval.evaluation.capabilities import capability_matrix
from hotline_eval.evaluation.computations import COMPUTATIONS
from hotline_eval.evaluation.evidence import Evidence
from hotline_eval.evaluation.framework import ROUTE_KINDS, Framework, Tertiary
from hotline_eval.evaluation.routes import FACT_SCHEMA
from hotline_eval.evaluation.scoring import score
from hotline_eval.publish.warehouse import Replace, Write

# why a route gave nothing for a city, when the route itself said nothing
ROUTE_REASONS = {
    "requests": "no request-level data for the city in the evaluation year",
    "statistics": "no published statistics for it from {window}",
    "pages": "no portal page of the city was read",
    "curated": "no cited fact for it from {window} (config/evidence/)",
    "registry": "not in the registry",
}


def compute_facts(framework: Framework, ev: Evidence) -> pl.DataFrame:
    """Every tertiary indicator for every city: a value by the first of the indicator's routes that
    measures the city (real evidence before the demo archive's invented stand-ins), or a null value
    with each route's reason."""
    cities = ev.cities.select("city_id")
    frames = []
    for indicator in framework.tertiary():
        low, high = ev.window_for(indicator.evidence_years_before)
        measured = choose_route(indicator, ev)
        fact = cities.join(measured, on="city_id", how="left").with_columns(
            pl.lit(indicator.id).alias("indicator_id"),
            pl.lit(ev.period).alias("period"),
            pl.lit(indicator.unit).alias("unit"),
            pl.lit(None, pl.Float64).alias("normalized_value"),
            pl.col("evidence_route").replace_strict(ROUTE_KINDS, default=indicator.evidence).alias("evidence_kind"),
            (pl.col("evidence_year") - ev.year).cast(pl.Int32).alias("evidence_age_years"),
        ).with_columns(
            pl.when(pl.col("raw_value").is_null())
            .then(pl.coalesce("missing_reason", pl.lit(_reasons(indicator, {}, low, high))))
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


def choose_route(indicator: Tertiary, ev: Evidence) -> pl.DataFrame:
    """Per city, the row of the first route (in the indicator's order) that gives a value, real evidence
    before synthetic; a city no route measures gets one row without a value whose reason names every
    route's."""
    compute = COMPUTATIONS[indicator.computation]
    parts = []
    for order, route in enumerate(indicator.routes):
        measured = compute[route](ev, indicator)
        if "naive_value" not in measured.columns:
            measured = measured.with_columns(pl.lit(None, pl.Float64).alias("naive_value"))
        parts.append(measured.with_columns(pl.lit(route).alias("evidence_route"), pl.lit(order).alias("_order")))
    rows = pl.concat(parts, how="diagonal_relaxed")
    valued = rows.filter(pl.col("raw_value").is_not_null()).sort(
        pl.col("is_synthetic").fill_null(False), "_order").unique("city_id", keep="first", maintain_order=True)
    said = rows.filter(pl.col("raw_value").is_null() & pl.col("missing_reason").is_not_null()
                       & ~pl.col("city_id").is_in(valued["city_id"].to_list()))
    low, high = ev.window_for(indicator.evidence_years_before)
    reasons = []
    for (city,), group in said.group_by("city_id", maintain_order=True):
        by_route = dict(zip(group["evidence_route"], group["missing_reason"], strict=True))
        reasons.append({"city_id": city, "missing_reason": _reasons(indicator, by_route, low, high)})
    missing = pl.DataFrame(reasons, schema={"city_id": pl.String, "missing_reason": pl.String})
    return pl.concat([valued.drop("_order"), missing], how="diagonal_relaxed")


def _reasons(indicator: Tertiary, said: dict[str, str], low: int, high: int) -> str:
    """Why no route measured a city: each route's own reason, or its default."""
    window = f"{low}-{high}"
    return "; ".join(f"{route}: {said.get(route) or ROUTE_REASONS[route].format(window=window)}"
                     for route in indicator.routes)


@dataclass(frozen=True)
class FactsRun:
    """One run's marts.indicator_facts (normalized by the ranking's own scoring) and
    marts.city_capabilities, each row with the run's id."""

    facts: pl.DataFrame
    capabilities: pl.DataFrame
    expected: int  # rows there should be: cities x tertiary indicators
    monthly_close_times: pl.DataFrame | None = None  # marts.close_times_monthly, when computed

    def writes(self) -> list[Write]:
        valued = self.facts.filter(pl.col("raw_value").is_not_null())
        mode = "demo" if valued["is_synthetic"].any() else "live"
        capabilities = self.capabilities.join(
            self.facts.select("city_id", "indicator_id", pl.col("is_synthetic") & pl.col("raw_value").is_not_null()),
            on=["city_id", "indicator_id"], how="left").with_columns(
            pl.col("is_synthetic").fill_null(False), pl.lit(mode).alias("data_mode"))
        writes: list[Write] = [Replace("marts.indicator_facts", self.facts),
                               Replace("marts.city_capabilities", capabilities)]
        if self.monthly_close_times is not None:
            # the close times rest on the city's request feeds: synthetic where those facts are
            from_feeds = valued.filter(pl.col("evidence_route") == "requests").group_by("city_id").agg(
                pl.col("is_synthetic").any())
            writes.append(Replace("marts.close_times_monthly", self.monthly_close_times.join(
                from_feeds, on="city_id", how="left").with_columns(
                pl.col("is_synthetic").fill_null(False), pl.lit(mode).alias("data_mode"))))
        return writes

    @property
    def missing_without_reason(self) -> int:
        return self.facts.filter(pl.col("raw_value").is_null() & pl.col("missing_reason").is_null()).height

    def summary(self) -> dict[str, Any]:
        """Counts for people: facts with a value, missing ones and their commonest reasons, values per
        evidence kind, cities per capability."""
        out = self.facts
        missing = out.filter(pl.col("raw_value").is_null())
        by_kind = out.group_by("evidence_kind").agg(pl.col("raw_value").is_not_null().sum().alias("with_value"),
                                                    pl.len().alias("facts")).sort("evidence_kind")
        return {
            "with_value": out.height - missing.height,
            "missing": missing.height,
            "by_evidence_kind": {r["evidence_kind"]: f"{r['with_value']}/{r['facts']}"
                                 for r in by_kind.iter_rows(named=True)},
            "capabilities": dict(self.capabilities.group_by("capability").len().sort("capability").iter_rows()),
            "top_missing_reasons": dict(missing.group_by("missing_reason").len().sort("len", descending=True)
                                        .head(8).iter_rows()),
        }


def facts_run(ev: Evidence, framework: Framework, registry: Registry, *, coverage_threshold: float,
              run_id: str) -> FactsRun:
    """The facts of every city and tertiary indicator, their normalized values from the same scoring the
    ranking uses, and the capability matrix."""
    facts = compute_facts(framework, ev)
    scored = score(facts, framework, ev.cities.select("city_id"), coverage_threshold=coverage_threshold,
                   run_id=run_id, draws=0)
    out = scored.facts.with_columns(run_id=pl.lit(run_id))
    capabilities = capability_matrix(out, registry).with_columns(run_id=pl.lit(run_id))
    return FactsRun(out, capabilities, expected=ev.cities.height * len(framework.tertiary()),
                    monthly_close_times=ev.monthly_close_times().with_columns(run_id=pl.lit(run_id)))
