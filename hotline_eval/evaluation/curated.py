"""Curated evidence (config/evidence.csv): facts no feed or page markup shows, each with its citation."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl

from hotline_eval.config.files import read_config_csv
from hotline_eval.config.registry import Registry
from hotline_eval.config.settings import PROJECT_ROOT
from hotline_eval.errors import ConfigError
from hotline_eval.evaluation.framework import Framework

DEFAULT_EVIDENCE_FILE = PROJECT_ROOT / "config" / "evidence.csv"
COLUMNS = ["city_id", "indicator_id", "value", "citation_url", "citation_title", "citation_date", "note"]
EVIDENCE_SCHEMA = {"city_id": pl.String, "indicator_id": pl.String, "value": pl.Float64, "citation_url": pl.String,
                   "citation_title": pl.String, "citation_date": pl.Date, "note": pl.String}


def load_evidence(registry: Registry, framework: Framework, path: Path | str = DEFAULT_EVIDENCE_FILE) -> pl.DataFrame:
    """Read and check every row; a bad row raises ConfigError naming the file, line and field."""
    path = Path(path)
    frame, lines = read_config_csv(path, COLUMNS, what="curated evidence file")
    curatable = {t.id for t in framework.tertiary() if "staging.curated_evidence" in t.source_tables}
    cities = {c.id for c in registry.cities}
    seen: set[tuple[str, str]] = set()
    for line, row in zip(lines, frame.iter_rows(named=True), strict=True):
        key = (row["city_id"], row["indicator_id"])
        problem = _row_problem(row, cities, curatable) or (
            ("indicator_id", f"a second row for {key}") if key in seen else None)
        if problem is not None:
            field, text = problem
            raise ConfigError(f"{path}, line {line}, field {field!r}: {text}")
        seen.add(key)
    return frame.with_columns(pl.col("value").cast(pl.Float64), pl.col("citation_date").str.to_date()).cast(
        EVIDENCE_SCHEMA)


def _row_problem(row: dict[str, str | None], cities: set[str], curatable: set[str]) -> tuple[str, str] | None:
    """The first field of a row that is wrong, with what is wrong with it; None for a good row."""
    if row["city_id"] not in cities:
        return "city_id", f"unknown city {row['city_id']!r}"
    if row["indicator_id"] not in curatable:
        return "indicator_id", (f"{row['indicator_id']!r} is not an indicator that rests on curated "
                                f"evidence: one of {sorted(curatable)}")
    try:
        float(row["value"] or "")
    except ValueError:
        return "value", f"not a number: {row['value']!r}"
    url = urlsplit(row["citation_url"] or "")
    if url.scheme not in ("http", "https") or not url.hostname:
        return "citation_url", "a citation needs an http(s) URL"
    if not row["citation_title"]:
        return "citation_title", "a citation needs a title"
    try:
        date.fromisoformat(row["citation_date"] or "")
    except ValueError:
        return "citation_date", f"not an ISO date (YYYY-MM-DD): {row['citation_date']!r}"
    return None
