"""The scored ranking: from marts.indicator_facts to marts.city_ranking and the tables beside it (the
primary and secondary scores, the explanations, the rank sensitivity), and the checks they must pass."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import duckdb
import polars as pl

from hotline_eval.config.report_facts import ReportFacts
from hotline_eval.evaluation.explain import explanations
from hotline_eval.evaluation.framework import Framework
from hotline_eval.evaluation.golden import check_full_marks, check_hotline_types
from hotline_eval.evaluation.routes import FACT_SCHEMA
from hotline_eval.evaluation.scoring import Scored, score
from hotline_eval.publish.sql_files import run_query
from hotline_eval.publish.warehouse import Replace, Write, query


@dataclass(frozen=True)
class RankingInputs:
    facts: pl.DataFrame  # marts.indicator_facts without its run id
    cities: pl.DataFrame  # city_id, city_name (and the hotline's brand, numbers and report type) of every city
    evidence_dates: pl.DataFrame  # city_id, evidence_date: a city may have several (sql/queries/evidence_dates.sql)


def read_ranking_inputs(con: duckdb.DuckDBPyConnection) -> RankingInputs:
    return RankingInputs(
        facts=query(con, "SELECT * EXCLUDE (run_id) FROM marts.indicator_facts").cast(FACT_SCHEMA),
        cities=query(con, "SELECT city_id, city_name, hotline_brand, hotline_numbers, hotline_type FROM staging.cities "
                          "ORDER BY city_id"),
        evidence_dates=run_query(con, "evidence_dates"),
    )


@dataclass(frozen=True)
class Ranking:
    ranking: pl.DataFrame  # marts.city_ranking
    scored: Scored
    explained: pl.DataFrame  # marts.city_explanations, without the run id
    data_mode: str  # "demo" when any value rests on synthetic data, else "live"

    @property
    def ranked(self) -> pl.DataFrame:
        return self.ranking.filter(pl.col("rank").is_not_null())

    @property
    def companions(self) -> dict[str, pl.DataFrame]:
        """The tables beside the ranking, by their name in marts."""
        return {"primary_scores": self.scored.primary, "secondary_scores": self.scored.secondary,
                "city_explanations": self.explained, "rank_sensitivity": self.scored.sensitivity}

    def writes(self, run_id: str) -> list[Write]:
        with_run = (pl.lit(run_id).alias("run_id"), pl.lit(self.data_mode).alias("data_mode"))
        return [Replace("marts.city_ranking", self.ranking),
                *(Replace(f"marts.{name}", frame.with_columns(*with_run)) for name, frame in self.companions.items())]


def rank_cities(inputs: RankingInputs, framework: Framework, *, coverage_threshold: float, run_id: str,
                draws: int, seed: int) -> Ranking:
    """Score and rank every registered city, with its curated share (of the points it scores), the date of
    its latest evidence, whether it rests on synthetic data, and its strongest and weakest indicators."""
    facts, city_rows = inputs.facts, inputs.cities
    scored = score(facts, framework, city_rows.select("city_id"), coverage_threshold=coverage_threshold,
                   run_id=run_id, draws=draws, seed=seed)
    kinds = facts.select("city_id", "indicator_id", "evidence_kind", "is_synthetic")
    shares = scored.contributions.join(kinds, on=["city_id", "indicator_id"]).group_by("city_id").agg(
        (pl.when(pl.col("evidence_kind") == "curated").then(pl.col("contribution")).otherwise(0.0).sum()
         / pl.col("contribution").sum()).alias("curated_share"))
    synthetic = facts.filter(pl.col("raw_value").is_not_null()).group_by("city_id").agg(
        pl.col("is_synthetic").any())
    # covered weight resting on real evidence, of all covered weight
    real = scored.contributions.filter(pl.col("normalized_value").is_not_null()).join(
        kinds, on=["city_id", "indicator_id"]).group_by("city_id").agg(
        (pl.when(~pl.col("is_synthetic")).then(pl.col("global_weight")).otherwise(0.0).sum()
         / pl.col("global_weight").sum()).alias("real_share"))
    any_synthetic = bool(synthetic["is_synthetic"].any()) if synthetic.height else False
    ranking = (
        city_rows
        .join(scored.ranking, on="city_id", how="left")
        .join(shares, on="city_id", how="left")
        .join(inputs.evidence_dates.group_by("city_id").agg(pl.col("evidence_date").max()), on="city_id",
              how="left")
        .join(synthetic, on="city_id", how="left")
        .join(real, on="city_id", how="left")
        .join(unranked_reasons(scored, coverage_threshold), on="city_id", how="left")
        .with_columns(pl.col("is_synthetic").fill_null(False),
                      pl.col("curated_share").fill_nan(None),
                      pl.lit("demo" if any_synthetic else "live").alias("data_mode"))
        .sort("rank", "city_id", nulls_last=True)
    )
    scored_cities = ranking.filter(pl.col("score").is_not_null())["city_id"].to_list()
    explained = explanations(scored.contributions, scored.facts, framework, scored_cities)
    return Ranking(ranking, flag_synthetic(scored, facts, framework), explained.join(
        synthetic, on="city_id", how="left").with_columns(pl.col("is_synthetic").fill_null(False)),
        "demo" if any_synthetic else "live")


def flag_synthetic(scored: Scored, facts: pl.DataFrame, framework: Framework) -> Scored:
    """The companion tables with ``is_synthetic``: whether any value the row rests on (the city's values
    under the primary or secondary indicator; the city's values for the sensitivity) is demo data."""
    parts = pl.DataFrame([{"indicator_id": t.id, "secondary_id": s.id, "primary_id": p.id}
                          for p in framework.primary for s in p.secondary for t in s.tertiary])
    valued = facts.filter(pl.col("raw_value").is_not_null()).select("city_id", "indicator_id", "is_synthetic") \
        .join(parts, on="indicator_id")

    def by(*keys: str) -> pl.DataFrame:
        return valued.group_by("city_id", *keys).agg(pl.col("is_synthetic").any())

    def flagged(frame: pl.DataFrame, *keys: str) -> pl.DataFrame:
        return frame.join(by(*keys), on=["city_id", *keys], how="left").with_columns(
            pl.col("is_synthetic").fill_null(False))

    return replace(scored, primary=flagged(scored.primary, "primary_id"),
                   secondary=flagged(scored.secondary, "secondary_id"),
                   sensitivity=flagged(scored.sensitivity))


def unranked_reasons(scored: Scored, coverage_threshold: float) -> pl.DataFrame:
    """Per city below the coverage threshold: its coverage against the threshold, and the primary
    indicators with the least of their weight covered."""
    below = scored.ranking.filter(pl.col("below_coverage_threshold")).select("city_id", "coverage")
    thin = scored.primary.filter(pl.col("coverage") < 0.5).sort("coverage").group_by(
        "city_id", maintain_order=True).agg(
        pl.format("{} {}%", "primary_id", (pl.col("coverage") * 100).round(0).cast(pl.Int64)).str.join(", ")
        .alias("_thin"))
    return below.join(thin, on="city_id", how="left").select(
        "city_id", pl.format("evidence covers {}% of the weight, below the {}% threshold; least covered: {}",
                             (pl.col("coverage") * 100).round(0).cast(pl.Int64),
                             pl.lit(round(coverage_threshold * 100)), pl.col("_thin").fill_null("none below half"))
        .alias("unranked_reason"))


@dataclass(frozen=True)
class Check:
    """The outcome of one check of a marts table (``table`` without its schema)."""

    table: str
    name: str
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)


def ranking_checks(result: Ranking, framework: Framework, registered: list[str],
                   report: ReportFacts | None = None) -> list[Check]:
    """The ranking's checks: a row per registered city, scores in range, ranks 1..N with ties sharing the
    best, each rank inside its interval; the companion tables' sizes and ranges; and, with ``report``,
    the 2024 report's published results held against the computed scores."""
    ranking, ranked, scored = result.ranking, result.ranked, result.scored
    ranks = sorted(ranked["rank"].to_list())
    expected_ranks = [1 + sum(1 for other in ranks if other < r) for r in ranks]
    score_values = ranking["score"].drop_nulls()
    checks = [
        Check("city_ranking", "one_row_per_city", sorted(ranking["city_id"].to_list()) == sorted(registered)),
        Check("city_ranking", "scores_in_range",
              bool(score_values.is_empty() or (score_values.min() >= 0 and score_values.max() <= 100))),
        Check("city_ranking", "ranks_are_1_to_n", ranks == expected_ranks, {"ranked": len(ranks)}),
    ]
    for key, frame, parts in (("primary_scores", scored.primary, len(framework.primary)),
                              ("secondary_scores", scored.secondary, sum(len(p.secondary) for p in framework.primary))):
        bad = frame.filter(~pl.col("score").is_between(0, 100) | ~pl.col("coverage").is_between(0, 1)).height
        checks.append(Check(key, "scores_and_coverage_in_range", bad == 0 and frame.height == ranking.height * parts,
                            {"out_of_range": bad, "rows": frame.height}))
    scored_cities = ranking.filter(pl.col("score").is_not_null())["city_id"].to_list()
    unexplained = set(scored_cities) - set(result.explained["city_id"].to_list())
    outside = ranked.filter((pl.col("rank_p05") > pl.col("rank")) | (pl.col("rank_p95") < pl.col("rank")))
    return [*checks,
            Check("city_explanations", "every_scored_city_explained", not unexplained,
                  {"unexplained": ", ".join(sorted(unexplained))}),
            Check("rank_sensitivity", "one_row_per_ranked_city_and_indicator",
                  scored.sensitivity.height == ranked.height * len(framework.tertiary()),
                  {"rows": scored.sensitivity.height}),
            Check("city_ranking", "rank_interval_contains_rank", outside.is_empty(),
                  {"outside": ", ".join(outside["city_id"].to_list()) or "none"}),
            *(_golden_checks(result, framework, report) if report is not None else [])]


def _golden_checks(result: Ranking, framework: Framework, report: ReportFacts) -> list[Check]:
    full_marks = check_full_marks(report, framework, result.scored.secondary)
    types = check_hotline_types(report, result.ranking)
    seoul = report.seoul_full_marks.city_id
    scores = {r["secondary_id"]: r["score"] for r in result.scored.secondary.filter(pl.col("city_id") == seoul)
              .iter_rows(named=True) if r["secondary_id"] in report.seoul_full_marks.secondary}
    return [Check("secondary_scores", "report_full_marks", full_marks.passed,
                  {"problems": full_marks.problems, f"{seoul}_scores": scores}),
            Check("city_ranking", "report_hotline_types", types.passed, {"problems": types.problems})]
