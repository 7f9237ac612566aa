"""The report's published facts as golden checks, and the capability matrix."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from hotline_eval.config.registry import load_registry
from hotline_eval.config.report_facts import DEFAULT_REPORT_FACTS, load_report_facts
from hotline_eval.errors import ConfigError
from hotline_eval.evaluation.capabilities import capability_matrix
from hotline_eval.evaluation.curated import EVIDENCE_SCHEMA, load_evidence
from hotline_eval.evaluation.evidence import Evidence
from hotline_eval.evaluation.framework import load_framework
from hotline_eval.evaluation.golden import check_full_marks, check_hotline_types
from hotline_eval.evaluation.indicators import compute_facts
from hotline_eval.evaluation.reference import cities_frame
from hotline_eval.evaluation.scoring import score
from tests.helpers import FIXTURES, PROJECT

STATS_SCHEMA = {"city_id": pl.String, "period": pl.String, "metric": pl.String, "value": pl.Float64,
                "unit": pl.String, "source_url": pl.String, "sha256": pl.String, "is_synthetic": pl.Boolean}
FEATURES_SCHEMA = {"city_id": pl.String, "feature": pl.String, "value_num": pl.Float64, "sha256": pl.String,
                   "source_url": pl.String, "is_synthetic": pl.Boolean}


def evidence_from_config(curated: pl.DataFrame | None = None) -> Evidence:
    """The evaluation's evidence from configuration alone: the registry and the cited facts (no feeds,
    statistics or pages)."""
    registry = load_registry()
    return Evidence(
        period="2024", cities=cities_frame(registry, load_report_facts()), requests=pl.DataFrame(),
        stats=pl.DataFrame(schema=STATS_SCHEMA), features=pl.DataFrame(schema=FEATURES_SCHEMA),
        catalog=pl.DataFrame(schema={"city_id": pl.String, "service_code": pl.String}),
        curated=load_evidence(registry, load_framework()) if curated is None else curated)


def seoul_secondary_scores(ev: Evidence) -> pl.DataFrame:
    framework = load_framework()
    facts = compute_facts(framework, ev)
    return score(facts, framework, ev.cities.select("city_id"), coverage_threshold=0.5, run_id="t",
                 draws=0).secondary


def test_computed_scores_give_seoul_the_reports_full_marks() -> None:
    """The cited facts alone (Seoul 120: 41 agencies, 69 information centres, requests analysed for city
    administration) give Seoul 100 on the three secondaries the report says it got full marks on."""
    secondary = seoul_secondary_scores(evidence_from_config())
    result = check_full_marks(load_report_facts(), load_framework(), secondary)
    assert result.passed, result.problems


def test_golden_check_fails_on_scores_that_contradict_the_report() -> None:
    secondary = seoul_secondary_scores(evidence_from_config())
    lowered = secondary.with_columns(
        pl.when((pl.col("city_id") == "seoul") & (pl.col("secondary_id") == "function_coordination"))
        .then(66.7).otherwise(pl.col("score")).alias("score"))
    result = check_full_marks(load_report_facts(), load_framework(), lowered)
    assert not result.passed
    assert result.problems[0].startswith("function_coordination: seoul scores 66.7, not full marks (100)")


def test_golden_check_fails_when_the_evidence_gives_seoul_less() -> None:
    """Fewer agencies than the goalpost (40) would score Seoul's function coordination below full marks:
    the check reads the computed score, so it fails."""
    curated = load_evidence(load_registry(), load_framework()).with_columns(
        pl.when((pl.col("city_id") == "seoul") & (pl.col("indicator_id") == "agency_breadth")).then(20.0)
        .otherwise(pl.col("value")).alias("value"))
    result = check_full_marks(load_report_facts(), load_framework(),
                              seoul_secondary_scores(evidence_from_config(curated)))
    assert [p.split(":")[0] for p in result.problems] == ["function_coordination"]
    assert "seoul scores 50.0" in result.problems[0]


def test_golden_check_fails_when_the_framework_drops_a_secondary(tmp_path: Path) -> None:
    text = (PROJECT / "config" / "indicators.yaml").read_text().replace("id: platform_collaboration", "id: platforms")
    path = tmp_path / "indicators.yaml"
    path.write_text(text)
    framework = load_framework(path)
    result = check_full_marks(load_report_facts(), framework, seoul_secondary_scores(evidence_from_config()))
    assert "the framework has no 'platform_collaboration' under collaborative governance" in result.problems


def _edited_report_facts(tmp_path: Path, edit) -> Path:
    facts = yaml.safe_load(DEFAULT_REPORT_FACTS.read_text(encoding="utf-8"))
    edit(facts)
    path = tmp_path / "report_facts.yaml"
    path.write_text(yaml.safe_dump(facts, allow_unicode=True), encoding="utf-8")
    return path


def test_hotline_types_are_carried_by_the_ranking_one_each(tmp_path: Path) -> None:
    ranking = cities_frame(load_registry(), load_report_facts())
    assert dict(ranking.filter(pl.col("hotline_type").is_not_null()).select("city_id", "hotline_type").iter_rows()) \
        == {"beijing": "integrative", "tokyo": "inclusive", "toronto": "innovative"}
    assert check_hotline_types(load_report_facts(), ranking).passed
    # a ranking that lost a type, or carries another, fails
    wrong = ranking.with_columns(pl.when(pl.col("city_id") == "tokyo").then(pl.lit("innovative"))
                                 .otherwise(pl.col("hotline_type")).alias("hotline_type"))
    assert check_hotline_types(load_report_facts(), wrong).problems == [
        "tokyo: the report names it 'inclusive', the ranking carries 'innovative'"]
    path = _edited_report_facts(tmp_path, lambda f: f["hotline_types"].extend([
        {"city_id": "atlantis", "type": "integrative", "citation": "https://example.org/a"},
        {"city_id": "tokyo", "type": "inclusive", "citation": "https://example.org/t"}]))
    result = check_hotline_types(load_report_facts(path), ranking)
    assert result.problems == ["atlantis: not in the city registry",
                               "tokyo: 2 hotline types recorded, the report names one"]


def test_report_facts_without_a_citation_url_fail_at_load(tmp_path: Path) -> None:
    def drop_citation(facts: dict) -> None:
        facts["hotline_types"][1]["citation"] = "mediachinatopics"

    with pytest.raises(ConfigError, match=r"field 'hotline_types\.1\.citation': .*not an http\(s\) URL"):
        load_report_facts(_edited_report_facts(tmp_path, drop_citation))
    with pytest.raises(ConfigError, match=r"field 'seoul_full_marks\.secondary'"):
        load_report_facts(_edited_report_facts(tmp_path, lambda f: f["seoul_full_marks"].pop("secondary")))


def test_capability_matrix_on_a_feed_without_closing_dates() -> None:
    registry = load_registry(FIXTURES / "cities_min.yaml")
    framework = load_framework()
    requests = pl.DataFrame({
        "city_id": ["new_york"] * 3, "partition_month": ["2024-10"] * 3,
        "created_at": pl.Series([None] * 3, dtype=pl.Datetime("us", "UTC")).fill_null(
            pl.datetime(2024, 10, 1, time_zone="UTC")),
        "closed_at": pl.Series([None] * 3, dtype=pl.Datetime("us", "UTC")),
        "status": ["open", "closed", "open"], "category": ["noise"] * 3, "channel": ["phone", "web", "web"],
        "agency": ["NYPD"] * 3, "latitude": [40.7] * 3, "longitude": [-74.0] * 3, "resolution": [None] * 3,
        "quality_flags": [[], [], []], "sha256": ["ab"] * 3, "is_synthetic": [True] * 3,
    })
    empty = pl.DataFrame()
    ev = Evidence(
        period="2024",
        cities=pl.DataFrame({"city_id": ["new_york", "tokyo"], "population": [8_000_000, 14_000_000],
                             "data_level": ["request_level", "not_public"], "data_evidence_url": ["u", "v"]}),
        requests=requests,
        stats=pl.DataFrame(schema={"city_id": pl.String, "period": pl.String, "metric": pl.String,
                                   "value": pl.Float64, "sha256": pl.String, "is_synthetic": pl.Boolean}),
        features=pl.DataFrame(schema={"city_id": pl.String, "feature": pl.String, "value_num": pl.Float64,
                                      "sha256": pl.String, "source_url": pl.String, "is_synthetic": pl.Boolean}),
        catalog=empty, curated=pl.DataFrame(schema=EVIDENCE_SCHEMA),
        # this feed publishes everything but closing dates
        published_fields={"new_york": frozenset({"request_id", "created_at", "status", "category", "channel",
                                                 "agency", "latitude", "longitude"})},
    )
    matrix = capability_matrix(compute_facts(framework, ev), registry)
    rows = {(r["city_id"], r["indicator_id"]): r for r in matrix.iter_rows(named=True)}
    assert rows[("new_york", "median_hours_to_close")]["capability"] == "unsupported"
    assert rows[("new_york", "median_hours_to_close")]["reason"] == "requests: the city's feed publishes no closed_at"
    assert rows[("new_york", "digital_share")]["capability"] == "supported"
    assert rows[("tokyo", "closure_rate")]["capability"] == "unsupported"
