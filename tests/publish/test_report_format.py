"""The report's wording rules, on small hand-made values and frames: counts as integers, shares as
percentages, ties said as ties, values about the same never told apart, missing never shown as zero, and
no indicator both a strength and a weakness."""

from __future__ import annotations

import polars as pl
import pytest

from hotline_eval.evaluation.explain import about_the_same, explanations, format_value, place_phrase, standings
from hotline_eval.evaluation.framework import Framework, Primary, Secondary, Tertiary
from hotline_eval.publish.report.grids import short_value
from hotline_eval.publish.report.text import age_phrase, interval, pct, points, rank_phrase


def tiny_framework() -> Framework:
    """Two primary indicators and four tertiary ones, built without the computations' validation: the report's
    rules on a framework that does not move with config/indicators.yaml."""
    def tertiary(id_: str, name: str, unit: str, direction: str = "higher_is_better",
                 goalposts: tuple[float, float] | None = None) -> Tertiary:
        return Tertiary.model_construct(id=id_, name=name, definition=f"{name}, defined.", unit=unit,
                                        direction=direction, source_tables=["t"], computation=id_,
                                        routes=["pages", "curated"], goalposts=goalposts, weight=1.0)

    process = Primary.model_construct(id="process", name="Process governance", weight=1.0, secondary=[
        Secondary.model_construct(id="intake", name="Intake", weight=1.0, tertiary=[
            tertiary("channel_count", "Intake channels offered", "channels"),
            tertiary("round_the_clock", "Around-the-clock service", "yes/no")])])
    responsive = Primary.model_construct(id="responsive", name="Responsive governance", weight=1.0, secondary=[
        Secondary.model_construct(id="follow_through", name="Follow-through", weight=1.0, tertiary=[
            tertiary("satisfaction", "Citizen satisfaction", "share"),
            tertiary("repeat_request_share", "Repeat requests", "share", "lower_is_better")])])
    return Framework.model_construct(version=1, primary=[process, responsive])


FRAMEWORK = tiny_framework()


@pytest.mark.parametrize(("value", "unit", "text"), [
    (6.0, "channels", "6 channels"),
    (1.0, "channels", "1 channel"),
    (1.0, "agencies", "1 agency"),
    (1.0, "entries", "1 entry"),
    (23000.0, "entries", "23,000 entries"),
    (175.0, "languages", "175 languages"),
    (2.0, "features", "2 features"),
    (92.0, "hotlines", "92 hotlines"),
    (700.0, "services", "700 services"),
    (0.0, "services", "0 services"),
    (0.94, "share", "94%"),
    (0.0023, "share", "0.2%"),
    (0.0, "share", "0%"),
    (1.0, "yes/no", "yes"),
    (0.0, "yes/no", "no"),
    (0.5, "score", "0.5 of 1"),
    (4480.48, "requests per 1,000 residents per year", "4,480 requests per 1,000 residents per year"),
    (None, "channels", "no data"),
    (float("nan"), "share", "no data"),
])
def test_values_are_worded_in_their_unit(value, unit, text) -> None:
    assert format_value(value, unit) == text


def test_counts_never_print_as_floats() -> None:
    for unit in ("channels", "languages", "agencies", "hotlines", "services", "features", "entries"):
        assert "." not in format_value(6.0, unit)
        assert short_value(6.0, unit) == "6"


def test_missing_is_never_zero() -> None:
    assert format_value(None, "share") == "no data" != format_value(0.0, "share")
    assert short_value(None, "channels") == "no data" != short_value(0.0, "channels")
    assert points(None) == "no data" != points(0.0)
    assert pct(None) == "no data" != pct(0.0)


def test_ties_are_said_as_ties() -> None:
    assert place_phrase(3, 7, tied=True) == "tied 3rd of 7"
    assert place_phrase(1, 5, tied=False) == "1st of 5"
    assert place_phrase(11, 20, tied=False) == "11th of 20"
    assert rank_phrase(3, [1, 2, 3, 3, 5]) == "tied 3rd of 5"
    assert rank_phrase(2, [1, 2, 3, 3, 5]) == "2nd of 5"
    assert rank_phrase(None, [1, 2]) == "not ranked"


def test_rank_intervals_are_whole_ranks() -> None:
    assert interval(2, 4) == "2–4"
    assert interval(1, 1) == "1"


def test_evidence_age_is_said_when_not_the_evaluation_year() -> None:
    assert age_phrase(2024, 0, 2024) == "2024"
    assert "1 year after 2024" in age_phrase(2025, 1, 2024)
    assert "2 years before 2024" in age_phrase(2022, -2, 2024)


@pytest.mark.parametrize(("a", "b", "unit", "same"), [
    (0.0, 0.0023, "share", True),  # within one percentage point
    (0.50, 0.515, "share", False),
    (40.0, 41.0, "agencies", True),  # within 5% of the larger
    (4.0, 5.0, "channels", False),
    (1.0, 1.0, "yes/no", True),
    (0.0, 1.0, "yes/no", False),
])
def test_about_the_same(a, b, unit, same) -> None:
    assert about_the_same(a, b, unit) is same


def _facts(indicator: str, values: dict[str, float | None], normalized: dict[str, float | None]) -> pl.DataFrame:
    return pl.DataFrame({"city_id": list(values), "indicator_id": [indicator] * len(values),
                         "raw_value": list(values.values()), "normalized_value": [normalized[c] for c in values]},
                        schema={"city_id": pl.String, "indicator_id": pl.String, "raw_value": pl.Float64,
                                "normalized_value": pl.Float64})


def test_a_tiny_difference_is_a_tie_not_best_and_worst() -> None:
    # repeat requests 0 and 0.23%: min-max stretches them to 1 and 0, but they are about the same
    facts = _facts("repeat_request_share", {"a": 0.0, "b": 0.0023, "c": 0.001},
                   {"a": 1.0, "b": 0.0, "c": 0.57})
    placed = {r["city_id"]: r for r in standings(facts, FRAMEWORK).iter_rows(named=True)}
    assert {(r["place"], r["of"], r["tied"]) for r in placed.values()} == {(1, 3, True)}


def _contributions(facts: pl.DataFrame) -> pl.DataFrame:
    return facts.select("city_id", "indicator_id", "normalized_value").with_columns(
        pl.lit(0.1).alias("global_weight"), (pl.col("normalized_value") * 100).alias("contribution"))


def test_strengths_and_weaknesses_are_disjoint_and_meaningful() -> None:
    facts = pl.concat([
        _facts("repeat_request_share", {"a": 0.0, "b": 0.0023, "c": 0.001}, {"a": 1.0, "b": 0.0, "c": 0.57}),
        _facts("round_the_clock", {"a": 1.0, "b": 1.0, "c": 0.0}, {"a": 1.0, "b": 1.0, "c": 0.0}),
        _facts("channel_count", {"a": 3.0, "b": 7.0, "c": 5.0}, {"a": 0.0, "b": 1.0, "c": 0.5}),
    ])
    out = explanations(_contributions(facts), facts, FRAMEWORK, ["a", "b", "c"])
    for city, rows in out.group_by("city_id"):
        strong = set(rows.filter(pl.col("kind") == "strongest")["indicator_id"])
        weak = set(rows.filter(pl.col("kind") == "weakest")["indicator_id"])
        assert not strong & weak, city
    picked = {(r["city_id"], r["kind"], r["indicator_id"]) for r in out.iter_rows(named=True)}
    # 0 vs 0.23% repeat requests is neither a strength of a nor a weakness of b
    assert not any(i == "repeat_request_share" for _, _, i in picked)
    assert ("c", "weakest", "round_the_clock") in picked and ("a", "weakest", "channel_count") in picked
    assert ("b", "strongest", "channel_count") in picked
    assert "tied 1st of 3" in out.filter((pl.col("city_id") == "a") & (pl.col("kind") == "strongest"))[
        "explanation"][0]
    assert "7 channels" in " ".join(out["explanation"]) and "7.0 channels" not in " ".join(out["explanation"])


def test_a_city_with_nothing_standing_out_is_still_explained() -> None:
    facts = _facts("repeat_request_share", {"a": 0.0, "b": 0.0023}, {"a": 1.0, "b": 0.0})
    out = explanations(_contributions(facts), facts, FRAMEWORK, ["a", "b"])
    assert sorted(out["city_id"]) == ["a", "b"]
    assert set(out["kind"]) == {"middling"}
    assert all("No indicator stands out" in e for e in out["explanation"])
