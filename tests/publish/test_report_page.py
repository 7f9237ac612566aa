"""The report page and the export, rendered from small hand-made marts: ranked and unranked cities apart,
missing values shown as no data, evidence links, the methodology's terms, the demo title, one file with
nothing external, and every city's facts and scores exported beside it."""

from __future__ import annotations

import re
from datetime import date

import polars as pl
import pytest

from hotline_eval.config.evaluation import Evaluation
from hotline_eval.config.report_facts import load_report_facts
from hotline_eval.publish.export import export_rows, write_exports
from hotline_eval.publish.report import ReportContext, ReportTables, render_report
from hotline_eval.publish.report.charts import rank_ticks
from hotline_eval.publish.report.tables import order_ranking, with_citations
from tests.publish.test_report_format import tiny_framework

FRAMEWORK = tiny_framework()
EVALUATION = Evaluation(evaluation_year=2024, first_month="2024-01", coverage_threshold=0.5, unmapped_share_warn=0.05,
                        monte_carlo_draws=1000, monte_carlo_seed=2024)
NYT = "https://example.org/nyc-hearing"
SF_FEED = "https://data.sfgov.org/d/vw6y-z8j6"


def _ranking() -> pl.DataFrame:
    rows = [("sf", "San Francisco", 2, 60.0, 0.8, 1, 3, "SF311", ["311"], None, None),
            ("ny", "New York", 1, 70.0, 0.9, 1, 2, "NYC311", ["311", "212-639-9675"], "integrative", None),
            ("zz", "Atlantis", None, 95.0, 0.2, None, None, "A-1", ["1"], None, "evidence covers 20% of the weight"),
            ("la", "Los Angeles", 2, 60.0, 0.7, 2, 3, "MyLA311", ["311"], None, None)]
    frame = pl.DataFrame(rows, orient="row", schema={
        "city_id": pl.String, "city_name": pl.String, "rank": pl.Int32, "score": pl.Float64, "coverage": pl.Float64,
        "rank_p05": pl.Int32, "rank_p95": pl.Int32, "hotline_brand": pl.String, "hotline_numbers": pl.List(pl.String),
        "hotline_type": pl.String, "unranked_reason": pl.String})
    return order_ranking(frame.with_columns(
        pl.lit(0.4).alias("real_share"), pl.lit(0.3).alias("curated_share"), pl.lit(date(2024, 9, 19)).alias(
            "evidence_date"), pl.lit("demo").alias("data_mode"), pl.lit(True).alias("is_synthetic")))


def _facts() -> pl.DataFrame:
    rows = [("ny", "satisfaction", 0.94, "share", 1.0, "curated", 2024, 0, NYT, [], None, False),
            ("sf", "satisfaction", 0.0, "share", 0.0, "requests", 2024, 0, SF_FEED, ["ab" * 32, "cd" * 32], None, True),
            ("la", "satisfaction", None, "share", None, None, None, None, None, [], "no cited fact", False),
            ("ny", "channel_count", 6.0, "channels", 1.0, "pages", 2025, 1, "https://portal.311.nyc.gov/", ["ef" * 32],
             None, True),
            ("zz", "channel_count", 2.0, "channels", 0.0, "pages", 2025, 1, "https://a.example/", ["01" * 32], None,
             True)]
    facts = pl.DataFrame(rows, orient="row", schema={
        "city_id": pl.String, "indicator_id": pl.String, "raw_value": pl.Float64, "unit": pl.String,
        "normalized_value": pl.Float64, "evidence_route": pl.String, "evidence_year": pl.Int32,
        "evidence_age_years": pl.Int32, "citation_url": pl.String, "evidence_sha256s": pl.List(pl.String),
        "missing_reason": pl.String, "is_synthetic": pl.Boolean}).with_columns(pl.lit(1.0).alias("coverage"))
    curated = pl.DataFrame({"city_id": ["ny"], "indicator_id": ["satisfaction"], "evidence_year": [2024],
                            "citation_url": [NYT], "citation_title": ["NYC 311 hearing"], "publisher": ["Council"],
                            "publication_date": [date(2024, 9, 19)], "quote_en": ["94% were satisfied"]},
                           schema_overrides={"evidence_year": pl.Int32})
    return with_citations(facts, curated)


def _tables() -> ReportTables:
    ranking = _ranking()
    primary = pl.DataFrame([(c, p.id, None if (c, p.id) == ("sf", "smart") else 50.0, 0.5)
                            for c in ranking["city_id"] for p in FRAMEWORK.primary], orient="row",
                           schema={"city_id": pl.String, "primary_id": pl.String, "score": pl.Float64,
                                   "coverage": pl.Float64})
    secondary = pl.DataFrame({"city_id": ["ny"], "primary_id": ["process"], "secondary_id": ["intake_accessibility"],
                              "score": [80.0], "coverage": [1.0]})
    explained = pl.DataFrame({"city_id": ["ny", "ny", "sf"], "kind": ["strongest", "weakest", "weakest"],
                              "position": [1, 1, 1], "indicator_id": ["satisfaction", "channel_count", "satisfaction"],
                              "contribution": [10.0, 0.0, 0.0], "explanation": ["good", "bad", "bad"]})
    return ReportTables(ranking, primary, secondary, _facts(), explained)


@pytest.fixture(scope="module")
def page() -> str:
    context = ReportContext(EVALUATION, load_report_facts(), exports="exports", generated="now")
    return render_report(_tables(), FRAMEWORK, context)


def test_ranked_cities_come_in_rank_order_and_the_unranked_only_after(page: str) -> None:
    chart = page[page.index("id=\"ranking-chart\""):page.index("id=\"not-ranked\"")]
    assert re.findall(r"data-city-id='(\w+)' data-rank='(\d+)'", chart) == [("ny", "1"), ("la", "2"), ("sf", "2")]
    assert "zz" not in chart
    sections = re.findall(r"<section class='city' id='city-\w+' data-city-id='(\w+)' data-ranked='(\w+)'", page)
    assert sections == [("ny", "true"), ("la", "true"), ("sf", "true"), ("zz", "false")]
    assert "Not ranked: evidence covers 20% of the weight" in page


def test_ties_and_whole_rank_ticks(page: str) -> None:
    assert page.count("tied 2nd of 3") >= 2 and "1st of 3" in page
    assert rank_ticks(3) == [1, 2, 3] and rank_ticks(7) == list(range(1, 8))
    assert all(isinstance(t, int) for t in rank_ticks(45))


def test_missing_is_shown_as_no_data_and_zero_as_zero(page: str) -> None:
    la = page[page.index("id='city-la'"):page.index("id='city-sf'")]
    assert "<td class='nodata'>no data</td>" in la and "no cited fact" in la
    sf = page[page.index("id='city-sf'"):page.index("id='city-zz'")]
    assert ">0%<" in sf
    assert "6 channels" in page and "6.0 channels" not in page


def test_every_value_links_its_evidence(page: str) -> None:
    ny = page[page.index("id='city-ny'"):page.index("id='city-la'")]
    assert f"href='{NYT}'" in ny and "NYC 311 hearing" in ny and "94% were satisfied" in ny
    sf = page[page.index("id='city-sf'"):page.index("id='city-zz'")]
    assert f"href='{SF_FEED}'" in sf and "abababababab" in sf and "(+1 more)" in sf
    assert "NYC311" in ny and "212-639-9675" in ny and "integrative" in ny


def test_the_page_states_its_method_and_is_self_contained(page: str) -> None:
    assert "<title>City hotline evaluation (demo data)</title>" in page
    for term in ("def-coverage", "def-real-share", "def-curated-share", "def-about-the-same", "Monte Carlo"):
        assert term in page
    assert "50%" in page and "min-max" in page and "goalposts" in page
    assert not re.search(r"<(script|link)\b", page) and "src=" not in page


def test_the_export_writes_a_csv_per_city_and_one_parquet(tmp_path) -> None:
    rows = export_rows(_tables(), FRAMEWORK)
    out = write_exports(rows, tmp_path / "exports")
    assert sorted(out.city_files) == ["la", "ny", "sf", "zz"]
    ny = pl.read_csv(out.city_files["ny"])
    assert {"composite", "primary", "secondary", "tertiary"} <= set(ny["level"])
    assert ny.filter(pl.col("indicator_id") == "satisfaction")["citation_title"][0] == "NYC 311 hearing"
    combined = pl.read_parquet(out.parquet)
    assert combined.height == out.rows == sum(out.city_rows.values())
    la = combined.filter((pl.col("city_id") == "la") & (pl.col("indicator_id") == "satisfaction"))
    assert la["raw_value"][0] is None and la["missing_reason"][0] == "no cited fact"
