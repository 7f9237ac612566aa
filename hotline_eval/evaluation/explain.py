"""Plain-words explanations: each city's strongest and weakest indicators and what they add."""

from __future__ import annotations

import polars as pl

from hotline_eval.evaluation.framework import Framework

EXPLANATION_SCHEMA = {"city_id": pl.String, "kind": pl.String, "position": pl.Int32, "indicator_id": pl.String,
                      "contribution": pl.Float64, "explanation": pl.String}


def _number(value: float, unit: str) -> str:
    if unit in ("share",):
        return f"{value:.0%}"
    if unit == "yes/no":
        return "yes" if value >= 0.5 else "no"
    return f"{value:,.1f} {unit}" if abs(value) < 100 else f"{value:,.0f} {unit}"


def explanations(contributions: pl.DataFrame, facts: pl.DataFrame, framework: Framework,
                 scored_cities: list[str], top: int = 3) -> pl.DataFrame:
    """Three strongest and three weakest indicators per scored city, by points added to its score."""
    names = {t.id: (t.name, t.unit, t.higher_is_better) for t in framework.tertiary()}
    present = facts.filter(pl.col("raw_value").is_not_null()).with_columns(
        pl.col("normalized_value").rank(method="min", descending=True).over("indicator_id").alias("_place"),
        pl.len().over("indicator_id").alias("_of"))
    joined = contributions.filter(pl.col("contribution").is_not_null() & pl.col("city_id").is_in(scored_cities)) \
        .join(present.select("city_id", "indicator_id", "raw_value", "_place", "_of"), on=["city_id", "indicator_id"])
    rows = []
    for city in scored_cities:
        mine = joined.filter(pl.col("city_id") == city).sort(["contribution", "indicator_id"], descending=[True, False])
        picks = [("strongest", mine.head(top)), ("weakest", mine.reverse().head(top))]
        for kind, frame in picks:
            for position, r in enumerate(frame.iter_rows(named=True), start=1):
                name, unit, _ = names[r["indicator_id"]]
                rows.append({
                    "city_id": city, "kind": kind, "position": position, "indicator_id": r["indicator_id"],
                    "contribution": r["contribution"],
                    "explanation": (f"{name}: {_number(r['raw_value'], unit)}, "
                                    f"{_ordinal(r['_place'])} of {r['_of']} cities measured; "
                                    f"adds {r['contribution']:.1f} points to the score"),
                })
    return pl.DataFrame(rows, schema=EXPLANATION_SCHEMA)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
