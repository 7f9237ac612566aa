"""Cited facts (config/evidence/<city_id>.csv): figures and statements a city's own reports and pages
publish, each with the URL it was read at, its title, publisher and date, the quoted passage in the
original language with an English gloss, and the day it was read. A row without any of these is
refused at load: evidence is cited or it is not evidence."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import polars as pl

from hotline_eval.config.files import read_config_csv
from hotline_eval.config.registry import Registry
from hotline_eval.config.settings import PROJECT_ROOT
from hotline_eval.errors import ConfigError
from hotline_eval.evaluation.framework import Framework, Tertiary
from hotline_eval.evaluation.units import UnitError, convert, parse_period

DEFAULT_EVIDENCE_DIR = PROJECT_ROOT / "config" / "evidence"
COLUMNS = ["city_id", "indicator_id", "value", "unit", "period", "citation_url", "citation_title", "publisher",
           "publication_date", "quote", "quote_en", "read_on", "note"]
REQUIRED_TEXT = ("citation_title", "publisher", "quote", "quote_en")
EVIDENCE_SCHEMA = {"city_id": pl.String, "indicator_id": pl.String, "value": pl.Float64, "unit": pl.String,
                   "period": pl.String, "start_year": pl.Int32, "evidence_year": pl.Int32,
                   "months": pl.Int32, "citation_url": pl.String,
                   "citation_title": pl.String, "publisher": pl.String, "publication_date": pl.Date,
                   "quote": pl.String, "quote_en": pl.String, "read_on": pl.Date, "note": pl.String,
                   "source_file": pl.String}


def load_evidence(registry: Registry, framework: Framework, path: Path | str = DEFAULT_EVIDENCE_DIR) -> pl.DataFrame:
    """Every row of every ``*.csv`` in the folder (or of one file), checked; a bad row raises ConfigError
    naming the file, line and field."""
    path = Path(path)
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise ConfigError(f"{path}: no cited-evidence files (*.csv)")
    curatable = {t.id: t for t in framework.tertiary() if "curated" in t.routes}
    cities = {c.id for c in registry.cities}
    seen: dict[tuple[str, str, str], str] = {}
    frames = []
    for file in files:
        frame, lines = read_config_csv(file, COLUMNS, what="cited evidence file")
        for line, row in zip(lines, frame.iter_rows(named=True), strict=True):
            problem = _row_problem(row, cities, curatable)
            key = (row["city_id"], row["indicator_id"], row["period"])
            if problem is None and key in seen:
                problem = ("period", f"a second row for {key} (the first: {seen[key]})")
            if problem is not None:
                field, text = problem
                raise ConfigError(f"{file}, line {line}, field {field!r}: {text}")
            seen[key] = f"{file.name}, line {line}"
        frames.append(frame.with_columns(pl.lit(file.name).alias("source_file")))
    out = pl.concat(frames)
    periods = [parse_period(p) for p in out["period"]]
    return out.with_columns(
        pl.col("value").cast(pl.Float64),
        pl.Series("start_year", [p.start_year for p in periods], pl.Int32),
        pl.Series("evidence_year", [p.year for p in periods], pl.Int32),
        pl.Series("months", [p.months for p in periods], pl.Int32),
        pl.when(pl.col("publication_date") == "undated").then(None).otherwise(pl.col("publication_date"))
        .str.to_date().alias("publication_date"),
        pl.col("read_on").str.to_date(),
    ).select(list(EVIDENCE_SCHEMA)).cast(EVIDENCE_SCHEMA)


Problem = tuple[str, str] | None  # (field, what is wrong), or None for a good row


def _row_problem(row: dict[str, str | None], cities: set[str], curatable: dict[str, Tertiary]) -> Problem:
    """The first field of a row that is wrong, with what is wrong with it; None for a good row."""
    if row["city_id"] not in cities:
        return "city_id", f"unknown city {row['city_id']!r}"
    indicator = curatable.get(row["indicator_id"] or "")
    if indicator is None:
        return "indicator_id", (f"{row['indicator_id']!r} is not an indicator with a curated route: one of "
                                f"{sorted(curatable)}")
    return _figure_problem(row, indicator) or _citation_problem(row)


def _figure_problem(row: dict[str, str | None], indicator: Tertiary) -> Problem:
    """The value, its period and its unit: a number, a period, a unit that can give the indicator's."""
    try:
        value = float(row["value"] or "")
    except ValueError:
        return "value", f"not a number: {row['value']!r}"
    try:
        period = parse_period(row["period"] or "")
    except UnitError as exc:
        return "period", str(exc)
    try:
        # population and target here only check that the unit can give the indicator's; the route
        # converts with the city's population and the configured target
        convert(indicator.unit, row["unit"] or "", value, indicator_id=indicator.id, months=period.months,
                population=1, answer_target_seconds=1)
    except UnitError as exc:
        return "unit", str(exc)
    return None


def _citation_problem(row: dict[str, str | None]) -> Problem:
    """URL, title, publisher, quote and its gloss, and the two dates."""
    url = urlsplit(row["citation_url"] or "")
    if url.scheme not in ("http", "https") or not url.hostname:
        return "citation_url", "a citation needs an http(s) URL"
    missing = next((field for field in REQUIRED_TEXT if not (row[field] or "").strip()), None)
    if missing is not None:
        return missing, f"a cited fact needs its {missing.replace('_', ' ')}"
    for field, allow_undated in (("publication_date", True), ("read_on", False)):
        text = row[field] or ""
        if allow_undated and text == "undated":
            continue
        try:
            date.fromisoformat(text)
        except ValueError:
            return field, f"not an ISO date (YYYY-MM-DD){' or undated' if allow_undated else ''}: {text!r}"
    return None


def cited_facts_shortfall(evidence: pl.DataFrame, cities: list[str], *, rows: int = 3,
                          indicators: int = 2) -> dict[str, str]:
    """Cities with fewer than ``rows`` cited facts or on fewer than ``indicators`` indicators: what they have."""
    counts = {r["city_id"]: (r["rows"], r["indicators"]) for r in evidence.group_by("city_id").agg(
        pl.len().alias("rows"), pl.col("indicator_id").n_unique().alias("indicators")).iter_rows(named=True)}
    return {city: f"{n} rows on {k} indicators" for city in cities
            for n, k in [counts.get(city, (0, 0))] if n < rows or k < indicators}
