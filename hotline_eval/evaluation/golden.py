"""Golden facts: the few things the 2024 report published, held against our framework and evidence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from hotline_eval.config.settings import PROJECT_ROOT
from hotline_eval.errors import ConfigError
from hotline_eval.evaluation.framework import Framework

DEFAULT_REPORT_FACTS = PROJECT_ROOT / "config" / "report_facts.yaml"
HOTLINE_TYPES = ("integrative", "inclusive", "innovative")


@dataclass
class GoldenResult:
    passed: bool
    problems: list[str]


def load_report_facts(path: Path | str = DEFAULT_REPORT_FACTS) -> dict[str, Any]:
    path = Path(path)
    try:
        facts = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the report's published facts: {exc}") from None
    if not isinstance(facts, dict) or "seoul_full_marks" not in facts or "hotline_types" not in facts:
        raise ConfigError(f"{path}: needs 'seoul_full_marks' and 'hotline_types'")
    return facts


def check_full_marks(facts: dict[str, Any], framework: Framework, evidence: pl.DataFrame) -> GoldenResult:
    """The report gave Seoul full marks on three collaborative-governance secondaries: each must exist
    under collaborative governance, and every curated value Seoul has under them must be the best
    any city has (1 on yes/no and 0-1 scores)."""
    rule = facts["seoul_full_marks"]
    city = rule["city_id"]
    problems = []
    collaborative = next((p for p in framework.primary if p.id == "collaborative"), None)
    secondaries = {s.id: s for s in (collaborative.secondary if collaborative else [])}
    for secondary_id in rule["secondary"]:
        secondary = secondaries.get(secondary_id)
        if secondary is None:
            problems.append(f"the framework has no {secondary_id!r} under collaborative governance")
            continue
        curated = [t for t in secondary.tertiary if "staging.curated_evidence" in t.source_tables]
        if not curated:
            problems.append(f"{secondary_id}: no indicator rests on curated evidence to hold the report's marks")
        for indicator in curated:
            rows = evidence.filter(pl.col("indicator_id") == indicator.id)
            mine = rows.filter(pl.col("city_id") == city)["value"]
            if mine.is_empty():
                problems.append(f"{secondary_id}/{indicator.id}: {city} has no curated evidence")
                continue
            best = rows["value"].max() if indicator.higher_is_better else rows["value"].min()
            ceiling = 1.0 if indicator.unit in ("yes/no", "score") else best
            if mine[0] != best or (indicator.unit in ("yes/no", "score") and mine[0] != ceiling):
                problems.append(f"{secondary_id}/{indicator.id}: {city} has {mine[0]}, not full marks "
                                f"(best {best}{', scale maximum 1' if ceiling == 1.0 else ''})")
    return GoldenResult(passed=not problems, problems=problems)


def check_hotline_types(facts: dict[str, Any], city_ids: set[str]) -> GoldenResult:
    problems = []
    expected = {"beijing": "integrative", "tokyo": "inclusive", "toronto": "innovative"}
    recorded = {t.get("city_id"): t for t in facts["hotline_types"]}
    for city, kind in expected.items():
        entry = recorded.get(city)
        if entry is None:
            problems.append(f"{city}: the report's hotline type ({kind}) is not recorded")
        elif entry.get("type") != kind:
            problems.append(f"{city}: recorded as {entry.get('type')!r}, the report says {kind!r}")
        elif not str(entry.get("citation", "")).startswith(("http://", "https://")):
            problems.append(f"{city}: hotline type without a citation URL")
        if city not in city_ids:
            problems.append(f"{city}: not in the city registry")
    return GoldenResult(passed=not problems, problems=problems)
