"""Golden facts: the few things the 2024 report published (config/report_facts.yaml), held against our
framework, evidence and registry."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hotline_eval.config.report_facts import ReportFacts
from hotline_eval.evaluation.framework import Framework, Secondary, Tertiary


@dataclass
class GoldenResult:
    passed: bool
    problems: list[str]


def check_full_marks(facts: ReportFacts, framework: Framework, evidence: pl.DataFrame) -> GoldenResult:
    """The report gave Seoul full marks on three collaborative-governance secondaries: each must exist
    under collaborative governance, and every curated value Seoul has under them must be the best
    any city has (1 on yes/no and 0-1 scores)."""
    rule = facts.seoul_full_marks
    problems = []
    collaborative = next((p for p in framework.primary if p.id == "collaborative"), None)
    secondaries = {s.id: s for s in (collaborative.secondary if collaborative else [])}
    for secondary_id in rule.secondary:
        secondary = secondaries.get(secondary_id)
        if secondary is None:
            problems.append(f"the framework has no {secondary_id!r} under collaborative governance")
        else:
            problems += _secondary_problems(secondary, rule.city_id, evidence)
    return GoldenResult(passed=not problems, problems=problems)


def _secondary_problems(secondary: Secondary, city: str, evidence: pl.DataFrame) -> list[str]:
    curated = [t for t in secondary.tertiary if "staging.curated_evidence" in t.source_tables]
    if not curated:
        return [f"{secondary.id}: no indicator rests on curated evidence to hold the report's marks"]
    found = (_full_marks_problem(secondary.id, indicator, city, evidence) for indicator in curated)
    return [problem for problem in found if problem is not None]


def _full_marks_problem(secondary_id: str, indicator: Tertiary, city: str, evidence: pl.DataFrame) -> str | None:
    """Why ``city``'s curated value of ``indicator`` is not full marks, if it is not."""
    rows = evidence.filter(pl.col("indicator_id") == indicator.id)
    mine = rows.filter(pl.col("city_id") == city)["value"]
    if mine.is_empty():
        return f"{secondary_id}/{indicator.id}: {city} has no curated evidence"
    best = rows["value"].max() if indicator.higher_is_better else rows["value"].min()
    ceiling = 1.0 if indicator.unit in ("yes/no", "score") else best
    if mine[0] != best or (indicator.unit in ("yes/no", "score") and mine[0] != ceiling):
        return (f"{secondary_id}/{indicator.id}: {city} has {mine[0]}, not full marks "
                f"(best {best}{', scale maximum 1' if ceiling == 1.0 else ''})")
    return None


def check_hotline_types(facts: ReportFacts, city_ids: set[str]) -> GoldenResult:
    """Every hotline type the report names (each with its citation, checked at load) is of a city in the
    registry, and of each city once."""
    problems = []
    recorded = [t.city_id for t in facts.hotline_types]
    for city in dict.fromkeys(recorded):
        if city not in city_ids:
            problems.append(f"{city}: not in the city registry")
        if recorded.count(city) > 1:
            problems.append(f"{city}: {recorded.count(city)} hotline types recorded, the report names one")
    return GoldenResult(passed=not problems, problems=problems)
