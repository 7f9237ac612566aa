"""What the report reads: the marts, each fact with its cited source's title and quote, and the settings
it states (evaluation year, coverage threshold, Monte Carlo draws, the 2024 report's published facts)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from hotline_eval.config.evaluation import Evaluation
from hotline_eval.config.report_facts import ReportFacts
from hotline_eval.publish.warehouse import query

# what a cited fact adds to its marts.indicator_facts row (staging.curated_evidence)
CITATION_COLUMNS = ("citation_title", "publisher", "publication_date", "quote_en")
CITATION_KEYS = ["city_id", "indicator_id", "evidence_year", "citation_url"]


@dataclass(frozen=True)
class ReportTables:
    """The marts the report shows."""

    ranking: pl.DataFrame  # ranked cities by rank, then unranked ones by name
    primary: pl.DataFrame  # marts.primary_scores
    secondary: pl.DataFrame  # marts.secondary_scores
    facts: pl.DataFrame  # marts.indicator_facts with CITATION_COLUMNS (null unless the route is curated)
    explanations: pl.DataFrame  # marts.city_explanations

    @property
    def ranked(self) -> pl.DataFrame:
        return self.ranking.filter(pl.col("rank").is_not_null())

    @property
    def unranked(self) -> pl.DataFrame:
        return self.ranking.filter(pl.col("rank").is_null())

    @property
    def names(self) -> dict[str, str]:
        return dict(zip(self.ranking["city_id"].to_list(), self.ranking["city_name"].to_list(), strict=True))

    @property
    def is_demo(self) -> bool:
        return bool((self.ranking["data_mode"] == "demo").any() or self.ranking["is_synthetic"].any())


@dataclass(frozen=True)
class ReportContext:
    """What the report states beside the marts: the settings it ran with and where the exports are."""

    evaluation: Evaluation
    report_facts: ReportFacts | None = None
    exports: str | None = None  # the exports folder, relative to the report (e.g. "exports")
    generated: str = ""  # when the page was made, as shown


def order_ranking(ranking: pl.DataFrame) -> pl.DataFrame:
    """Ranked cities by rank (ties by name), then the unranked ones by name: never by their scores."""
    return ranking.sort([pl.col("rank").is_null(), "rank", "city_name"])


def with_citations(facts: pl.DataFrame, curated: pl.DataFrame) -> pl.DataFrame:
    """Each fact with the title, publisher, date and English quote of the cited source it came by (curated
    route only; the source is the row of staging.curated_evidence with the fact's URL and year)."""
    cited = curated.select(*CITATION_KEYS, *CITATION_COLUMNS).unique(CITATION_KEYS, keep="first")
    joined = facts.join(cited, on=CITATION_KEYS, how="left")
    curated_route = pl.col("evidence_route") == "curated"
    return joined.with_columns(pl.when(curated_route).then(pl.col(c)).otherwise(None).alias(c)
                               for c in CITATION_COLUMNS)


def read_report_tables(con: duckdb.DuckDBPyConnection) -> ReportTables:
    facts = query(con, "SELECT * EXCLUDE (run_id) FROM marts.indicator_facts ORDER BY city_id, indicator_id")
    curated = query(con, "SELECT city_id, indicator_id, evidence_year, citation_url, citation_title, publisher, "
                         "publication_date, quote_en FROM staging.curated_evidence")
    return ReportTables(
        ranking=order_ranking(query(con, "SELECT * FROM marts.city_ranking")),
        primary=query(con, "SELECT * EXCLUDE (run_id) FROM marts.primary_scores"),
        secondary=query(con, "SELECT * EXCLUDE (run_id) FROM marts.secondary_scores"),
        facts=with_citations(facts, curated),
        explanations=query(con, "SELECT * EXCLUDE (run_id) FROM marts.city_explanations "
                                "ORDER BY city_id, kind, position"),
    )


def write_report(page: str, path: Path) -> None:
    """Write the page to ``path`` through a temporary file beside it: a reader never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
