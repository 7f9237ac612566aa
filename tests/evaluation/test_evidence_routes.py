"""Evidence routes (issue #18): cited facts refused without citation, period or quote; units converted as
published; statistics and cited facts from a window of years, the nearest preferred; routes taken in the
indicator file's order, real evidence before the demo archive's; fixed goalposts."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from hotline_eval.config.registry import load_registry
from hotline_eval.errors import ConfigError
from hotline_eval.evaluation.curated import COLUMNS, EVIDENCE_SCHEMA, cited_facts_shortfall, load_evidence
from hotline_eval.evaluation.evidence import Evidence
from hotline_eval.evaluation.framework import load_framework
from hotline_eval.evaluation.indicators import choose_route, compute_facts
from hotline_eval.evaluation.scoring import apply_goalposts, normalize, structure
from hotline_eval.evaluation.units import UnitError, convert, parse_period

GOOD = {"city_id": "seoul", "indicator_id": "satisfaction", "value": "4.5", "unit": "score 1-5", "period": "2024",
        "citation_url": "https://example.org/report", "citation_title": "Annual report", "publisher": "City",
        "publication_date": "2025-03-01", "quote": "만족도 4.5점", "quote_en": "satisfaction 4.5 points",
        "read_on": "2026-12-06", "note": ""}


def write_rows(path: Path, *rows: dict[str, str]) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


# --- cited facts are cited or refused -------------------------------------------------------------------
@pytest.mark.parametrize(("field", "value", "message"), [
    ("citation_url", "", "a citation needs an http(s) URL"),
    ("citation_url", "example.org/report", "a citation needs an http(s) URL"),
    ("period", "", "not a period"),
    ("period", "last year", "not a period"),
    ("quote", "  ", "a cited fact needs its quote"),
    ("quote_en", "", "a cited fact needs its quote en"),
    ("citation_title", "", "a cited fact needs its citation title"),
    ("publisher", "", "a cited fact needs its publisher"),
    ("publication_date", "March 2025", "not an ISO date"),
    ("read_on", "undated", "not an ISO date"),
    ("unit", "stars", "unit 'stars' cannot give a share"),
    ("value", "97%", "not a number"),
    ("indicator_id", "channel_count", "not an indicator with a curated route"),
])
def test_a_row_without_citation_period_or_quote_is_refused_naming_line_and_field(
        tmp_path: Path, field: str, value: str, message: str) -> None:
    path = write_rows(tmp_path / "seoul.csv", GOOD, {**GOOD, "period": "2023", field: value})
    with pytest.raises(ConfigError, match=rf"seoul\.csv, line 3, field '{field}': .*{re.escape(message)}"):
        load_evidence(load_registry(), load_framework(), path)


def test_a_good_row_loads_with_its_years_and_the_same_fact_twice_is_refused(tmp_path: Path) -> None:
    later = {**GOOD, "period": "2025-01/2025-10", "publication_date": "undated"}
    path = write_rows(tmp_path / "seoul.csv", GOOD, later)
    frame = load_evidence(load_registry(), load_framework(), path)
    assert frame.select("start_year", "evidence_year", "months").rows() == [(2024, 2024, 12), (2025, 2025, 10)]
    assert frame["publication_date"].to_list()[1] is None  # "undated" is said, not guessed
    write_rows(path, GOOD, {**GOOD, "value": "4.6"})
    with pytest.raises(ConfigError, match=r"line 3, field 'period': a second row for \('seoul', 'satisfaction', "
                                          r"'2024'\) \(the first: seoul\.csv, line 2\)"):
        load_evidence(load_registry(), load_framework(), path)


def test_every_committed_fact_is_cited_and_every_city_has_some() -> None:
    evidence = load_evidence(load_registry(), load_framework())
    assert evidence.filter(pl.col("quote").str.strip_chars() == "").is_empty()
    assert evidence["citation_url"].str.starts_with("http").all()
    assert set(evidence["city_id"]) == {c.id for c in load_registry().cities}
    # the shortfall names cities with fewer than 3 facts or 2 indicators
    assert cited_facts_shortfall(evidence.filter(pl.col("city_id") != "paris"), ["paris"]) == {
        "paris": "0 rows on 0 indicators"}


# --- units ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("indicator", "unit", "value", "kwargs", "expected"), [
    ("abandonment_rate", "percent", 7, {}, 0.07),
    ("satisfaction", "score 1-5", 4.63, {}, (4.63 - 1) / 4),
    ("satisfaction", "score 0-100", 36, {}, 0.36),
    ("service_level", "seconds", 60, {"answer_target_seconds": 30}, 0.5),
    ("service_level", "seconds", 12, {"answer_target_seconds": 30}, 1.0),  # faster than the target: capped
    ("requests_per_1000_residents", "calls per year", 2_106_667, {"months": 10, "population": 7_500_000},
     2_106_667 / 10 * 12 / 7_500_000 * 1000),
    ("agency_breadth", "agencies", 41, {}, 41),
    ("hotline_legislation", "yes/no", 1, {}, 1),
])
def test_a_figure_is_converted_from_the_unit_it_was_published_in(indicator: str, unit: str, value: float,
                                                                  kwargs: dict, expected: float) -> None:
    framework = {t.id: t for t in load_framework().tertiary()}
    got = convert(framework[indicator].unit, unit, value, indicator_id=indicator, **kwargs)
    assert got == pytest.approx(expected)


@pytest.mark.parametrize(("indicator", "unit", "value", "message"), [
    ("abandonment_rate", "percent", 107, "within 0-100"),
    ("satisfaction", "score 1-5", 6, "not on the scale 1-5"),
    ("abandonment_rate", "score 1-5", 3, "cannot give a share"),  # a scale means satisfaction only
    ("agency_breadth", "hotlines", 3, "cannot give 'agencies'"),
    ("hotline_legislation", "yes/no", 2, "from 0 to 1"),
])
def test_a_figure_in_the_wrong_unit_is_refused(indicator: str, unit: str, value: float, message: str) -> None:
    framework = {t.id: t for t in load_framework().tertiary()}
    with pytest.raises(UnitError, match=message):
        convert(framework[indicator].unit, unit, value, indicator_id=indicator, population=1,
                answer_target_seconds=30)


def test_periods() -> None:
    assert (parse_period("2024").months, parse_period("2024-06").months) == (12, 1)
    spanning = parse_period("2024-04/2025-02")
    assert (spanning.start_year, spanning.year, spanning.months) == (2024, 2025, 11)
    for bad in ("2024-13", "2025/2024", "2024-01/2025", "24"):
        with pytest.raises(UnitError):
            parse_period(bad)


# --- routes, windows and precedence ---------------------------------------------------------------------
def evidence(curated: list[dict] | None = None, stats: list[dict] | None = None,
             features: list[dict] | None = None) -> Evidence:
    cities = pl.DataFrame({"city_id": ["a", "b"], "population": [1_000_000, 2_000_000],
                           "data_level": ["aggregate", "aggregate"], "data_evidence_url": ["https://a", "https://b"]})
    curated_rows = [{**{k: None for k in EVIDENCE_SCHEMA}, "citation_title": "t", "publisher": "p",
                     "source_file": "x.csv", "months": 12, **row} for row in (curated or [])]
    return Evidence(
        period="2024", cities=cities, requests=pl.DataFrame(),
        stats=pl.DataFrame(stats or [], schema={"city_id": pl.String, "period": pl.String, "metric": pl.String,
                                                "value": pl.Float64, "unit": pl.String, "source_url": pl.String,
                                                "sha256": pl.String, "is_synthetic": pl.Boolean}),
        features=pl.DataFrame(features or [], schema={"city_id": pl.String, "feature": pl.String,
                                                      "value_num": pl.Float64, "sha256": pl.String,
                                                      "source_url": pl.String, "is_synthetic": pl.Boolean}),
        catalog=pl.DataFrame(schema={"city_id": pl.String, "service_code": pl.String}),
        curated=pl.DataFrame(curated_rows, schema=EVIDENCE_SCHEMA))


def fact(frame: pl.DataFrame, city: str, indicator: str) -> dict:
    return frame.filter((pl.col("city_id") == city) & (pl.col("indicator_id") == indicator)).row(0, named=True)


def cited(city: str, indicator: str, value: float, unit: str, period: str, url: str = "https://cited") -> dict:
    p = parse_period(period)
    return {"city_id": city, "indicator_id": indicator, "value": value, "unit": unit, "period": period,
            "start_year": p.start_year, "evidence_year": p.year, "months": p.months, "citation_url": url}


def stat(city: str, metric: str, value: float, unit: str, period: str, *, synthetic: bool) -> dict:
    return {"city_id": city, "period": period, "metric": metric, "value": value, "unit": unit,
            "source_url": "https://stats", "sha256": "s" + period, "is_synthetic": synthetic}


def test_the_year_nearest_the_evaluation_year_wins_and_old_figures_say_why_they_were_left() -> None:
    ev = evidence(curated=[
        cited("a", "satisfaction", 80, "percent", "2021", "https://old"),
        cited("a", "satisfaction", 90, "percent", "2023", "https://y2023"),
        cited("a", "satisfaction", 95, "percent", "2025", "https://y2025"),  # as near as 2023: the earlier wins
        cited("b", "satisfaction", 70, "percent", "2019"),
    ])
    facts = compute_facts(load_framework(), ev)
    a = fact(facts, "a", "satisfaction")
    assert (a["raw_value"], a["evidence_route"], a["evidence_year"], a["evidence_age_years"], a["citation_url"]) \
        == (pytest.approx(0.9), "curated", 2023, -1, "https://y2023")
    b = fact(facts, "b", "satisfaction")
    assert b["raw_value"] is None
    assert b["missing_reason"] == ("statistics: no published statistics for it from 2022-2025; "
                                   "curated: cited facts only from 2019, outside the window 2022-2025")


def test_a_period_spanning_the_evaluation_year_describes_it() -> None:
    ev = evidence(curated=[cited("a", "requests_per_1000_residents", 110_000, "cases per year", "2024-04/2025-02"),
                           cited("a", "requests_per_1000_residents", 90_000, "cases per year", "2023")])
    row = fact(compute_facts(load_framework(), ev), "a", "requests_per_1000_residents")
    assert (row["evidence_year"], row["raw_value"]) == (2024, pytest.approx(110_000 / 11 * 12 / 1000))


def test_standing_arrangements_reach_further_back_than_performance_figures() -> None:
    ev = evidence(curated=[cited("a", "agency_breadth", 41, "agencies", "2016"),
                           cited("a", "satisfaction", 90, "percent", "2016")])
    facts = compute_facts(load_framework(), ev)
    assert fact(facts, "a", "agency_breadth")["raw_value"] == 41  # evidence_years_before: 10
    assert fact(facts, "a", "satisfaction")["raw_value"] is None


def test_statistics_come_before_cited_facts_unless_they_are_the_demo_archives() -> None:
    framework = {t.id: t for t in load_framework().tertiary()}
    indicator = framework["abandonment_rate"]
    assert indicator.routes == ["statistics", "curated"]
    facts = [cited("a", "abandonment_rate", 7, "percent", "2024"), cited("b", "abandonment_rate", 7, "percent", "2024")]
    real = evidence(curated=facts, stats=[stat("a", "abandonment_rate", 5, "percent", "2024", synthetic=False)])
    chosen = choose_route(indicator, real).sort("city_id")
    assert chosen.select("city_id", "evidence_route", "raw_value").rows() == [
        ("a", "statistics", pytest.approx(0.05)), ("b", "curated", pytest.approx(0.07))]
    demo = evidence(curated=facts, stats=[stat("a", "abandonment_rate", 5, "percent", "2024", synthetic=True)])
    assert choose_route(indicator, demo).filter(pl.col("city_id") == "a")["evidence_route"].to_list() == ["curated"]


def test_monthly_statistics_of_the_nearest_year_are_annualized_and_averaged() -> None:
    ev = evidence(stats=[stat("a", "cases_received", 10_000, "count", f"2025-{m:02d}", synthetic=False)
                         for m in (1, 2, 3)] + [stat("a", "cases_received", 1, "count", "2019", synthetic=False),
                                                stat("b", "service_level_rate", 80, "percent", "2024", synthetic=False),
                                                stat("b", "avg_wait_seconds", 60, "seconds", "2024", synthetic=False)])
    facts = compute_facts(load_framework(), ev)
    use = fact(facts, "a", "requests_per_1000_residents")
    assert (use["raw_value"], use["coverage"], use["evidence_year"]) == (pytest.approx(120_000 / 1000), 0.25, 2025)
    # the share answered within the target comes before a speed of answer
    assert fact(facts, "b", "service_level")["raw_value"] == pytest.approx(0.8)


def test_pages_show_a_policy_feedback_loop_only_as_a_weaker_sign() -> None:
    read = [{"city_id": c, "feature": "pages_read", "value_num": 1.0, "sha256": "p", "source_url": "https://p",
             "is_synthetic": False} for c in ("a", "b")]
    analysis = {"city_id": "a", "feature": "requests_analysis", "value_num": None, "sha256": "q",
                "source_url": "https://p/report", "is_synthetic": False}
    facts = compute_facts(load_framework(), evidence(features=[*read, analysis],
                                                     curated=[cited("b", "policy_feedback_loop", 1, "yes/no", "2024")]))
    assert fact(facts, "a", "policy_feedback_loop")["raw_value"] == 0.5
    assert fact(facts, "b", "policy_feedback_loop")["raw_value"] == 1.0


# --- goalposts ------------------------------------------------------------------------------------------
def test_goalposts_score_against_a_fixed_scale_whatever_the_other_cities_have() -> None:
    framework = load_framework()
    st = structure(framework, ["seoul", "guangzhou", "new_york"])
    values = np.full((3, len(st.indicators)), np.nan)
    agencies = st.indicators.index("agency_breadth")
    values[:, agencies] = [41, 100, 20]
    scored = apply_goalposts(normalize(values, st.higher_is_better), values, st)
    # min-max would give Seoul (41 of 20..100) 0.26; the goalposts [0, 40] give full marks at 40 and beyond
    assert scored[:, agencies].tolist() == [1.0, 1.0, 0.5]
