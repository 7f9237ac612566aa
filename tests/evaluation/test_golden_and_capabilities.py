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
from hotline_eval.evaluation.curated import load_evidence
from hotline_eval.evaluation.evidence import Evidence
from hotline_eval.evaluation.framework import load_framework
from hotline_eval.evaluation.golden import check_full_marks, check_hotline_types
from hotline_eval.evaluation.indicators import compute_facts
from tests.helpers import FIXTURES, PROJECT


def test_curated_evidence_gives_seoul_the_reports_full_marks() -> None:
    framework = load_framework()
    evidence = load_evidence(load_registry(), framework)
    result = check_full_marks(load_report_facts(), framework, evidence)
    assert result.passed, result.problems


def test_golden_check_fails_when_evidence_contradicts_the_report(tmp_path: Path) -> None:
    framework = load_framework()
    edited = pl.read_csv(PROJECT / "config" / "evidence.csv", infer_schema=False).with_columns(
        pl.when((pl.col("city_id") == "seoul") & (pl.col("indicator_id") == "hotline_legislation"))
        .then(pl.lit("0")).otherwise(pl.col("value")).alias("value"))
    path = tmp_path / "evidence.csv"
    edited.write_csv(path)
    result = check_full_marks(load_report_facts(), framework, load_evidence(load_registry(), framework, path))
    assert not result.passed
    assert result.problems == ["policy_collaboration/hotline_legislation: seoul has 0.0, not full marks "
                               "(best 1.0, scale maximum 1)"]


def test_golden_check_fails_when_the_framework_drops_a_secondary(tmp_path: Path) -> None:
    text = (PROJECT / "config" / "indicators.yaml").read_text().replace("id: platform_collaboration", "id: platforms")
    path = tmp_path / "indicators.yaml"
    path.write_text(text)
    framework = load_framework(path)
    result = check_full_marks(load_report_facts(), framework, load_evidence(load_registry(), load_framework()))
    assert "the framework has no 'platform_collaboration' under collaborative governance" in result.problems


def _edited_report_facts(tmp_path: Path, edit) -> Path:
    facts = yaml.safe_load(DEFAULT_REPORT_FACTS.read_text(encoding="utf-8"))
    edit(facts)
    path = tmp_path / "report_facts.yaml"
    path.write_text(yaml.safe_dump(facts, allow_unicode=True), encoding="utf-8")
    return path


def test_hotline_types_are_of_registered_cities_one_each(tmp_path: Path) -> None:
    cities = {c.id for c in load_registry().cities}
    assert check_hotline_types(load_report_facts(), cities).passed
    path = _edited_report_facts(tmp_path, lambda f: f["hotline_types"].extend([
        {"city_id": "atlantis", "type": "integrative", "citation": "https://example.org/a"},
        {"city_id": "tokyo", "type": "innovative", "citation": "https://example.org/t"}]))
    result = check_hotline_types(load_report_facts(path), cities)
    assert result.problems == ["tokyo: 2 hotline types recorded, the report names one",
                               "atlantis: not in the city registry"]


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
        catalog=empty, curated=pl.DataFrame(schema={"city_id": pl.String, "indicator_id": pl.String,
                                                    "value": pl.Float64, "citation_url": pl.String,
                                                    "citation_title": pl.String, "citation_date": pl.Date}),
        # this feed publishes everything but closing dates
        published_fields={"new_york": frozenset({"request_id", "created_at", "status", "category", "channel",
                                                 "agency", "latitude", "longitude"})},
    )
    matrix = capability_matrix(compute_facts(framework, ev), registry)
    rows = {(r["city_id"], r["indicator_id"]): r for r in matrix.iter_rows(named=True)}
    assert rows[("new_york", "median_hours_to_close")]["capability"] == "unsupported"
    assert rows[("new_york", "median_hours_to_close")]["reason"] == "the city's feed publishes no closed_at"
    assert rows[("new_york", "closed_within_7_days")]["capability"] == "unsupported"
    assert rows[("new_york", "digital_share")]["capability"] == "supported"
    assert rows[("tokyo", "closure_rate")]["capability"] == "unsupported"
    assert rows[("new_york", "resolution_text_completeness")]["reason"] == "the city's feed publishes no resolution"
