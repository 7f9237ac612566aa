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
from hotline_eval.evaluation.framework import Framework
from hotline_eval.evaluation.routes import FACT_SCHEMA
from hotline_eval.evaluation.scoring import score
from hotline_eval.publish.warehouse import Replace, Write

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


@dataclass(frozen=True)
class FactsRun:
    """One run's marts.indicator_facts (normalized by the ranking's own scoring) and
    marts.city_capabilities, each row with the run's id."""

    facts: pl.DataFrame
    capabilities: pl.DataFrame
    expected: int  # rows there should be: cities x tertiary indicators

    def writes(self) -> list[Write]:
        return [Replace("marts.indicator_facts", self.facts), Replace("marts.city_capabilities", self.capabilities)]

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
    return FactsRun(out, capabilities, expected=ev.cities.height * len(framework.tertiary()))
