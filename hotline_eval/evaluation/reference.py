"""Reference tables built from configuration: the registry as rows analysts can join."""

from __future__ import annotations

import polars as pl

from hotline_eval.config.registry import Registry
from hotline_eval.config.report_facts import ReportFacts


def cities_frame(registry: Registry, report: ReportFacts | None = None) -> pl.DataFrame:
    """One row per registered city; with ``report``, the hotline type the 2024 report names it an example
    of, and the citation, where it names one."""
    types = {t.city_id: t for t in (report.hotline_types if report else [])}
    frame = pl.DataFrame(
        [
            {
                "city_id": c.id,
                "city_name": c.name_en,
                "name_local": c.name_local,
                "country": c.country,
                "region": c.region,
                "timezone": c.timezone,
                "population": c.population.value,
                "population_year": c.population.year,
                "population_source": c.population.source,
                "hotline_brand": c.hotline.brand,
                "hotline_numbers": list(c.hotline.numbers),
                "data_level": c.data_availability.level,
                "data_evidence_url": c.data_availability.evidence_url,
                "in_2024_report": c.in_2024_report,
                "n_sources": len(c.sources),
            }
            for c in registry.cities
        ],
        schema_overrides={"population": pl.Int64, "population_year": pl.Int32, "n_sources": pl.Int32},
    )
    return frame.with_columns(
        pl.Series("hotline_type", [types[c].type if c in types else None for c in frame["city_id"]], pl.String),
        pl.Series("hotline_type_citation", [types[c].citation if c in types else None for c in frame["city_id"]],
                  pl.String))
