"""Golden facts: what the 2024 report published about individual cities (config/report_facts.yaml),
held against the scores we compute and the tables we publish. When the reconstruction cannot reproduce
a published result, the reconstruction changes (and says why), never the check."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from hotline_eval.config.report_facts import ReportFacts
from hotline_eval.evaluation.framework import Framework

FULL_MARKS = 100.0  # the highest secondary score a city can get (scores are 0-100)


@dataclass
class GoldenResult:
    passed: bool
    problems: list[str]


def check_full_marks(facts: ReportFacts, framework: Framework, secondary_scores: pl.DataFrame) -> GoldenResult:
    """The report gave Seoul full marks on three collaborative-governance secondaries: each must exist
    under collaborative governance, and Seoul's computed score on each (marts.secondary_scores) must be
    full marks."""
    rule = facts.seoul_full_marks
    problems = []
    collaborative = next((p for p in framework.primary if p.id == "collaborative"), None)
    known = {s.id for s in (collaborative.secondary if collaborative else [])}
    scores = dict(secondary_scores.filter(pl.col("city_id") == rule.city_id)
                  .select("secondary_id", "score").iter_rows())
    for secondary_id in rule.secondary:
        if secondary_id not in known:
            problems.append(f"the framework has no {secondary_id!r} under collaborative governance")
            continue
        score = scores.get(secondary_id)
        if score is None:
            problems.append(f"{secondary_id}: {rule.city_id} has no computed score")
        elif abs(score - FULL_MARKS) > 1e-6:
            problems.append(f"{secondary_id}: {rule.city_id} scores {score:.1f}, not full marks ({FULL_MARKS:g}); "
                            f"the report: {rule.quote!r}")
    return GoldenResult(passed=not problems, problems=problems)


def check_hotline_types(facts: ReportFacts, ranking: pl.DataFrame) -> GoldenResult:
    """Every hotline type the report names is carried, for its city, by the published ranking
    (marts.city_ranking.hotline_type), and each city has one type."""
    problems = []
    published = dict(ranking.select("city_id", "hotline_type").iter_rows())
    recorded = [t.city_id for t in facts.hotline_types]
    for named in facts.hotline_types:
        if named.city_id not in published:
            problems.append(f"{named.city_id}: not in the city registry")
        elif published[named.city_id] != named.type:
            problems.append(f"{named.city_id}: the report names it {named.type!r}, the ranking carries "
                            f"{published[named.city_id]!r}")
        if recorded.count(named.city_id) > 1:
            problems.append(f"{named.city_id}: {recorded.count(named.city_id)} hotline types recorded, the report "
                            f"names one")
    return GoldenResult(passed=not problems, problems=sorted(set(problems)))
