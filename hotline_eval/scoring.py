"""Normalization, aggregation and ranking.

Missing-data policy: a city's score at each level is the weighted mean of the parts it has, the
weights re-spread over those parts; coverage is the share of the full (tertiary) weight it has.
Nothing is imputed. A city below the coverage threshold keeps its score but gets no rank.
"""

from __future__ import annotations

import polars as pl

from hotline_eval.framework import Framework


def min_max(values: pl.Expr, higher_is_better: bool) -> pl.Expr:
    """Min-max to [0, 1], oriented so 1 is best; with no spread every value scores 1."""
    low, high = values.min(), values.max()
    spread = high - low
    scaled = (values - low) / spread
    oriented = scaled if higher_is_better else 1 - scaled
    return pl.when(values.is_null()).then(None).when(spread > 0).then(oriented).otherwise(1.0)


def normalize_facts(facts: pl.DataFrame, framework: Framework) -> pl.DataFrame:
    """Fill ``normalized_value`` per indicator and period across cities."""
    direction = pl.DataFrame({
        "indicator_id": [t.id for t in framework.tertiary()],
        "_higher": [t.higher_is_better for t in framework.tertiary()],
    })
    joined = facts.join(direction, on="indicator_id", how="left")
    unknown = joined.filter(pl.col("_higher").is_null())["indicator_id"].unique().to_list()
    if unknown:
        raise ValueError(f"facts for indicators not in the framework: {unknown}")
    over = ["indicator_id", "period"]
    normalized = (
        pl.when(pl.col("_higher"))
        .then(min_max(pl.col("raw_value"), True).over(over))
        .otherwise(min_max(pl.col("raw_value"), False).over(over))
    )
    return joined.with_columns(normalized.alias("normalized_value")).drop("_higher")


def effective_weights(framework: Framework) -> pl.DataFrame:
    """Each tertiary indicator's share of the total weight, with its primary and secondary ids."""
    rows = []
    total_primary = sum(p.weight for p in framework.primary)
    for p in framework.primary:
        total_secondary = sum(s.weight for s in p.secondary)
        for s in p.secondary:
            total_tertiary = sum(t.weight for t in s.tertiary)
            for t in s.tertiary:
                share = (p.weight / total_primary) * (s.weight / total_secondary) * (t.weight / total_tertiary)
                rows.append({"primary_id": p.id, "secondary_id": s.id, "indicator_id": t.id,
                             "tertiary_weight": t.weight, "secondary_weight": s.weight,
                             "primary_weight": p.weight, "global_weight": share})
    return pl.DataFrame(rows)


def _weighted_mean(value: str, weight: str) -> pl.Expr:
    present = pl.col(value).is_not_null()
    total = pl.when(present).then(pl.col(weight)).otherwise(0.0).sum()
    return pl.when(total > 0).then((pl.col(value) * pl.col(weight)).sum() / total).otherwise(None)


def aggregate(normalized: pl.DataFrame, framework: Framework) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(secondary scores, primary scores, overall) per city, arithmetic means with re-spread weights.
    Scores are 0-100; coverage is the share of global weight with a value."""
    weights = effective_weights(framework)
    facts = normalized.select("city_id", "indicator_id", "normalized_value").join(weights, on="indicator_id")
    secondary = facts.group_by("city_id", "primary_id", "secondary_id").agg(
        _weighted_mean("normalized_value", "tertiary_weight").alias("value"),
        pl.col("secondary_weight").first(),
        pl.col("primary_weight").first(),
        pl.when(pl.col("normalized_value").is_not_null()).then(pl.col("global_weight")).otherwise(0.0)
        .sum().alias("covered_weight"),
        pl.col("global_weight").sum().alias("level_weight"),
    )
    primary = secondary.group_by("city_id", "primary_id").agg(
        _weighted_mean("value", "secondary_weight").alias("value"),
        pl.col("primary_weight").first(),
        pl.col("covered_weight").sum(),
        pl.col("level_weight").sum(),
    )
    overall = primary.group_by("city_id").agg(
        _weighted_mean("value", "primary_weight").alias("value"),
        pl.col("covered_weight").sum().alias("coverage"),
    )

    def finish(frame: pl.DataFrame) -> pl.DataFrame:
        out = frame.with_columns((pl.col("value") * 100).alias("score"))
        if "level_weight" in out.columns:
            out = out.with_columns((pl.col("covered_weight") / pl.col("level_weight")).alias("coverage"))
        return out.drop([c for c in ("value", "covered_weight", "level_weight", "secondary_weight",
                                     "primary_weight") if c in out.columns])

    return finish(secondary), finish(primary), finish(overall)


def rank_scores(scores: pl.DataFrame, coverage_threshold: float) -> pl.DataFrame:
    """``rank`` (1 is best, ties share the best rank) among cities with a score and enough coverage."""
    rankable = pl.col("score").is_not_null() & (pl.col("coverage") >= coverage_threshold)
    ranked = scores.filter(rankable).with_columns(
        pl.col("score").rank(method="min", descending=True).cast(pl.Int32).alias("rank"))
    return scores.join(ranked.select("city_id", "rank"), on="city_id", how="left").with_columns(
        (pl.col("coverage") < coverage_threshold).alias("below_coverage_threshold"))


RANKING_SCHEMA = {
    "city_id": pl.String, "city_name": pl.String, "rank": pl.Int32, "score": pl.Float64,
    "process_score": pl.Float64, "collaborative_score": pl.Float64, "smart_score": pl.Float64,
    "responsive_score": pl.Float64, "coverage": pl.Float64, "below_coverage_threshold": pl.Boolean,
    "rank_p05": pl.Int32, "rank_p95": pl.Int32, "curated_share": pl.Float64, "evidence_date": pl.Date,
    "data_mode": pl.String, "is_synthetic": pl.Boolean, "run_id": pl.String,
}


def city_ranking(facts: pl.DataFrame, framework: Framework, cities: pl.DataFrame, *,
                 coverage_threshold: float, run_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(normalized facts, ranking with one row per city in ``cities``). Cities without any fact get a
    null score and coverage 0; they are listed, never dropped."""
    normalized = normalize_facts(facts, framework)
    _secondary, primary, overall = aggregate(normalized, framework)
    primary_wide = primary.pivot(on="primary_id", index="city_id", values="score")
    evidence = normalized.group_by("city_id").agg(
        pl.col("is_synthetic").any().alias("is_synthetic"),
    )
    ranking = (
        cities.select("city_id", pl.col("name_en").alias("city_name"))
        .join(overall, on="city_id", how="left")
        .join(primary_wide, on="city_id", how="left")
        .join(evidence, on="city_id", how="left")
        .with_columns(pl.col("coverage").fill_null(0.0), pl.col("is_synthetic").fill_null(False))
    )
    ranking = rank_scores(ranking, coverage_threshold)
    any_synthetic = bool(normalized["is_synthetic"].any())
    ranking = ranking.with_columns(
        *[(pl.col(p) if p in ranking.columns else pl.lit(None, pl.Float64)).alias(f"{p}_score")
          for p in ("process", "collaborative", "smart", "responsive")],
        pl.lit(None, pl.Int32).alias("rank_p05"),
        pl.lit(None, pl.Int32).alias("rank_p95"),
        pl.lit(None, pl.Float64).alias("curated_share"),
        pl.lit(None, pl.Date).alias("evidence_date"),
        pl.lit("demo" if any_synthetic else "live").alias("data_mode"),
        pl.lit(run_id).alias("run_id"),
    )
    return normalized, ranking.select(list(RANKING_SCHEMA)).cast(RANKING_SCHEMA).sort("rank", "city_id",
                                                                                    nulls_last=True)
