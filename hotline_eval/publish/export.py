"""The per-city export beside the report: for each city a CSV of its facts and scores
(``exports/<city_id>.csv``) and all cities in one Parquet file (``exports/facts.parquet``).

One long table, a row per city and level: the composite score (level ``composite``), each primary and
secondary score, and each tertiary indicator's fact with its unit, normalized value, route, year, evidence
link, cited source and archived sha256s. ``coverage`` is the share of the weight with evidence for the
composite, primary and secondary rows, and the share of the period the evidence covers for a tertiary
fact. Missing values stay null (never zero), with the reason (for the composite row of an unranked city:
why it is not ranked)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from hotline_eval.evaluation.framework import Framework
from hotline_eval.publish.report.tables import ReportTables

EXPORT_DIR = "exports"  # beside the report
PARQUET_NAME = "facts.parquet"
EXPORT_SCHEMA = {
    "city_id": pl.String, "city_name": pl.String, "level": pl.String, "indicator_id": pl.String,
    "indicator_name": pl.String, "parent_id": pl.String, "unit": pl.String, "raw_value": pl.Float64,
    "normalized_value": pl.Float64, "score": pl.Float64, "coverage": pl.Float64, "rank": pl.Int64,
    "rank_p05": pl.Int64, "rank_p95": pl.Int64, "evidence_route": pl.String, "evidence_year": pl.Int64,
    "evidence_age_years": pl.Int64, "is_synthetic": pl.Boolean, "citation_url": pl.String,
    "citation_title": pl.String, "publisher": pl.String, "publication_date": pl.Date, "quote_en": pl.String,
    "evidence_sha256s": pl.List(pl.String), "missing_reason": pl.String,
}


@dataclass(frozen=True)
class Exported:
    """What was written: the folder, each city's CSV and its rows, the Parquet file and its rows."""

    directory: Path
    city_files: dict[str, Path]
    city_rows: dict[str, int]
    parquet: Path
    rows: int


def _names(framework: Framework) -> pl.DataFrame:
    rows = [{"indicator_id": p.id, "indicator_name": p.name, "parent_id": None} for p in framework.primary]
    rows += [{"indicator_id": s.id, "indicator_name": s.name, "parent_id": p.id}
             for p in framework.primary for s in p.secondary]
    rows += [{"indicator_id": t.id, "indicator_name": t.name, "parent_id": s.id}
             for p in framework.primary for s in p.secondary for t in s.tertiary]
    return pl.DataFrame(rows, schema={"indicator_id": pl.String, "indicator_name": pl.String, "parent_id": pl.String})


def export_rows(tables: ReportTables, framework: Framework) -> pl.DataFrame:
    """Every city's composite, primary and secondary scores and tertiary facts, in one long frame."""
    cities = tables.ranking.select("city_id", "city_name")
    composite = tables.ranking.select(
        "city_id", pl.lit("composite").alias("level"), pl.lit("composite").alias("indicator_id"),
        pl.lit("Composite score").alias("indicator_name"), "score", "coverage", "rank", "rank_p05", "rank_p95",
        pl.col("unranked_reason").alias("missing_reason"))
    primary = tables.primary.select("city_id", pl.lit("primary").alias("level"),
                                    pl.col("primary_id").alias("indicator_id"), "score", "coverage")
    secondary = tables.secondary.select("city_id", pl.lit("secondary").alias("level"),
                                        pl.col("secondary_id").alias("indicator_id"), "score", "coverage")
    facts = tables.facts.select(
        "city_id", pl.lit("tertiary").alias("level"), "indicator_id", "unit", "raw_value", "normalized_value",
        "coverage", "evidence_route", "evidence_year", "evidence_age_years", "is_synthetic", "citation_url",
        "citation_title", "publisher", "publication_date", "quote_en", "evidence_sha256s", "missing_reason")
    names = _names(framework)
    levels = pl.concat([primary, secondary, facts], how="diagonal_relaxed").join(
        names, on="indicator_id", how="left")
    order = {"composite": 0, "primary": 1, "secondary": 2, "tertiary": 3}
    rows = pl.concat([composite, levels], how="diagonal_relaxed").join(cities, on="city_id", how="left")
    rows = rows.with_columns(pl.col("level").replace_strict(order, return_dtype=pl.Int8).alias("_order"))
    framework_order = {row["indicator_id"]: i for i, row in enumerate(names.iter_rows(named=True))}
    rows = rows.with_columns(pl.col("indicator_id").replace_strict(framework_order, default=-1,
                                                                   return_dtype=pl.Int32).alias("_position"))
    rows = rows.sort("city_id", "_order", "_position").drop("_order", "_position")
    return rows.select([pl.col(c).cast(t) if c in rows.columns else pl.lit(None, t).alias(c)
                        for c, t in EXPORT_SCHEMA.items()])


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    tmp.replace(path)


def write_exports(rows: pl.DataFrame, directory: Path) -> Exported:
    """Write each city's CSV and the combined Parquet file into ``directory`` (each through a temporary
    file); CSVs of cities no longer in ``rows`` are removed. In the CSV the sha256s are joined by spaces."""
    directory.mkdir(parents=True, exist_ok=True)
    flat = rows.with_columns(pl.col("evidence_sha256s").list.join(" "))
    files, counts = {}, {}
    for city_id in rows["city_id"].unique(maintain_order=True).to_list():
        mine = flat.filter(pl.col("city_id") == city_id)
        files[city_id] = directory / f"{city_id}.csv"
        counts[city_id] = mine.height
        _atomic(files[city_id], mine.write_csv)
    for stale in directory.glob("*.csv"):
        if stale not in files.values():
            stale.unlink()
    parquet = directory / PARQUET_NAME
    _atomic(parquet, rows.write_parquet)
    return Exported(directory, files, counts, parquet, rows.height)
