"""Plain-words explanations: each city's strengths and weaknesses, where it stands among the cities, and
the rules values are worded by (the report words them the same way).

Two values are **about the same** when shares differ by at most one percentage point, yes/no facts are
equal, or other values differ by at most 5% of the larger of the two. A city's place on an indicator is
1 + the number of cities meaningfully better (ties share the best place, "tied 3rd of 7"). An indicator
is a **strength** when its normalized score is at least 2/3 and more cities are meaningfully worse than
better; a **weakness** when the score is at most 1/3 and more cities are meaningfully better than worse.
So no indicator is both, and values about the same as every other city's are neither, however far
min-max normalization stretches them apart (0% and 0.2% repeat requests normalize to 1 and 0).
"""

from __future__ import annotations

import math

import polars as pl

from hotline_eval.evaluation.framework import Framework
from hotline_eval.evaluation.units import COUNT_UNITS

EXPLANATION_SCHEMA = {"city_id": pl.String, "kind": pl.String, "position": pl.Int32, "indicator_id": pl.String,
                      "contribution": pl.Float64, "explanation": pl.String}
STANDING_SCHEMA = {"city_id": pl.String, "indicator_id": pl.String, "place": pl.Int64, "of": pl.Int64,
                   "tied": pl.Boolean, "better": pl.Int64, "worse": pl.Int64}
SHARE_TOLERANCE = 0.01  # shares within one percentage point are about the same
RELATIVE_TOLERANCE = 0.05  # other values within 5% of the larger are about the same
STRONG, WEAK = 2 / 3, 1 / 3  # normalized scores meaningfully high / low
# kinds of marts.city_explanations rows: "middling" only for a city with neither a strength nor a weakness
KINDS = ("strongest", "weakest", "middling")


def is_missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def about_the_same(a: float, b: float, unit: str) -> bool:
    """Whether two values of an indicator in ``unit`` are too close to tell apart (see the module's rule)."""
    if unit == "share":
        return abs(a - b) <= SHARE_TOLERANCE + 1e-12
    if unit == "yes/no":
        return (a >= 0.5) == (b >= 0.5)
    return abs(a - b) <= RELATIVE_TOLERANCE * max(abs(a), abs(b)) + 1e-12


def _plain(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 1 else f"{value:.2f}"


def _trimmed(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") or "0"


def format_share(value: float) -> str:
    """A share as a percentage: whole percents from 10%, one decimal below (0.2%, not 0%)."""
    if value == 0:
        return "0%"
    return f"{value * 100:.1f}%" if abs(value) < 0.1 else f"{value:.0%}"


def format_count(value: float, unit: str) -> str:
    n = round(value)
    if n == 1:
        unit = unit[:-3] + "y" if unit.endswith("ies") else unit.removesuffix("s")
    return f"{n:,} {unit}"


def format_value(value: float | None, unit: str) -> str:
    """A value in its unit, in words: counts as integers, shares as percentages, "no data" when missing."""
    if is_missing(value):
        return "no data"
    if unit == "share":
        return format_share(value)
    if unit == "yes/no":
        return "yes" if value >= 0.5 else "no"
    if unit in COUNT_UNITS:
        return format_count(value, unit)
    if unit == "score":
        return f"{_trimmed(value)} of 1"
    if unit == "index":
        return f"{_trimmed(value)} (index, 0-1)"
    return f"{_plain(value)} {unit}"


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def place_phrase(place: int, of: int, tied: bool) -> str:
    """``tied 3rd of 7`` or ``3rd of 7``."""
    return f"{'tied ' if tied else ''}{ordinal(place)} of {of}"


def _standing_rows(indicator_id: str, values: list[tuple[str, float]], unit: str, higher: bool) -> list[dict]:
    rows = []
    for city, value in values:
        better = worse = tied = 0
        for other, theirs in values:
            if other == city:
                continue
            if about_the_same(value, theirs, unit):
                tied += 1
            elif (theirs > value) == higher:
                better += 1
            else:
                worse += 1
        rows.append({"city_id": city, "indicator_id": indicator_id, "place": better + 1, "of": len(values),
                     "tied": tied > 0, "better": better, "worse": worse})
    return rows


def standings(facts: pl.DataFrame, framework: Framework) -> pl.DataFrame:
    """Per measured city and indicator: its place (1 + cities meaningfully better), of how many measured,
    whether another city is about the same, and how many are meaningfully better and worse."""
    rows: list[dict] = []
    measured = facts.filter(pl.col("raw_value").is_not_null() & ~pl.col("raw_value").is_nan())
    for t in framework.tertiary():
        mine = measured.filter(pl.col("indicator_id") == t.id)
        values = list(zip(mine["city_id"].to_list(), mine["raw_value"].to_list(), strict=True))
        rows += _standing_rows(t.id, values, t.unit, t.higher_is_better)
    return pl.DataFrame(rows, schema=STANDING_SCHEMA)


def strength_kind() -> pl.Expr:
    """``strongest``, ``weakest`` or null from normalized_value, better and worse, by the module's rule:
    never both."""
    norm, better, worse = pl.col("normalized_value"), pl.col("better"), pl.col("worse")
    return (pl.when((norm >= STRONG - 1e-12) & (worse > better)).then(pl.lit("strongest"))
            .when((norm <= WEAK + 1e-12) & (better > worse)).then(pl.lit("weakest"))
            .otherwise(pl.lit(None, pl.String)))


def _candidates(contributions: pl.DataFrame, facts: pl.DataFrame, framework: Framework,
                scored_cities: list[str]) -> pl.DataFrame:
    present = contributions.filter(pl.col("contribution").is_not_null() & pl.col("city_id").is_in(scored_cities))
    covered = pl.col("global_weight").sum().over("city_id")
    joined = present.with_columns((100 * pl.col("global_weight") / covered).alias("possible")).join(
        facts.select("city_id", "indicator_id", "raw_value"), on=["city_id", "indicator_id"]).join(
        standings(facts, framework), on=["city_id", "indicator_id"])
    return joined.with_columns(strength_kind().alias("kind"))


def _sentence(r: dict, names: dict[str, tuple[str, str]], kind: str) -> str:
    name, unit = names[r["indicator_id"]]
    where = f"{place_phrase(r['place'], r['of'], r['tied'])} cities measured"
    if kind == "weakest":
        points = f"adds {r['contribution']:.1f} of the {r['possible']:.1f} points it could add"
    elif kind == "middling":
        return (f"No indicator stands out either way; {name} adds the most: {format_value(r['raw_value'], unit)}, "
                f"{where}; adds {r['contribution']:.1f} points to the score")
    else:
        points = f"adds {r['contribution']:.1f} points to the score"
    return f"{name}: {format_value(r['raw_value'], unit)}, {where}; {points}"


def _picks(mine: pl.DataFrame, top: int) -> list[tuple[str, pl.DataFrame]]:
    strong = mine.filter(pl.col("kind") == "strongest").sort(["contribution", "indicator_id"],
                                                             descending=[True, False]).head(top)
    weak = mine.filter(pl.col("kind") == "weakest").with_columns(
        (pl.col("possible") - pl.col("contribution")).alias("_missed")).sort(
        ["_missed", "indicator_id"], descending=[True, False]).head(top)
    if strong.is_empty() and weak.is_empty():
        return [("middling", mine.sort(["contribution", "indicator_id"], descending=[True, False]).head(1))]
    return [("strongest", strong), ("weakest", weak)]


def explanations(contributions: pl.DataFrame, facts: pl.DataFrame, framework: Framework,
                 scored_cities: list[str], top: int = 3) -> pl.DataFrame:
    """Up to three strengths (by points added) and three weaknesses (by points missed) per scored city, by
    the module's rule; a city with neither gets one ``middling`` row: the indicator adding the most."""
    names = {t.id: (t.name, t.unit) for t in framework.tertiary()}
    candidates = _candidates(contributions, facts, framework, scored_cities)
    rows = []
    for city in scored_cities:
        for kind, frame in _picks(candidates.filter(pl.col("city_id") == city), top):
            for position, r in enumerate(frame.iter_rows(named=True), start=1):
                rows.append({"city_id": city, "kind": kind, "position": position, "indicator_id": r["indicator_id"],
                             "contribution": r["contribution"], "explanation": _sentence(r, names, kind)})
    return pl.DataFrame(rows, schema=EXPLANATION_SCHEMA)
