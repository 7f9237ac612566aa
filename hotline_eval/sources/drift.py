"""Schema drift: which fields a source publishes, compared with what it published before."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

FIELDS_SCHEMA = {"source_id": pl.String, "field_name": pl.String, "first_seen_partition": pl.String,
                 "last_seen_partition": pl.String}


@dataclass
class Drift:
    fields: pl.DataFrame  # the source's rows for raw.source_fields after this batch
    new_fields: list[str]  # never seen before (only reported once the source has a history)
    missing_mapped: list[str]  # fields our mapping reads that no record of a non-empty batch had


def top_level(spec: str) -> list[str]:
    """The published field names a mapping spec reads ('a+b' -> a, b; 'a.b' -> a)."""
    return [part.strip().split(".")[0] if not part.strip().startswith(":") else part.strip()
            for part in spec.split("+")]


def field_drift(known: pl.DataFrame, source_id: str, partition: str, fields_seen: Iterable[str],
                mapping: Mapping[str, str], had_records: bool) -> Drift:
    seen = sorted(set(fields_seen))
    known_names = set(known["field_name"].to_list())
    new_fields = [f for f in seen if f not in known_names] if known_names else []
    mapped = sorted({name for spec in mapping.values() for name in top_level(spec)})
    missing = [f for f in mapped if f not in seen] if had_records else []
    current = pl.DataFrame({"source_id": source_id, "field_name": seen, "first_seen_partition": partition,
                            "last_seen_partition": partition}, schema=FIELDS_SCHEMA)
    merged = (
        pl.concat([known.cast(FIELDS_SCHEMA), current])
        .group_by("source_id", "field_name")
        .agg(pl.col("first_seen_partition").min(), pl.col("last_seen_partition").max())
        .sort("field_name")
    )
    return Drift(fields=merged, new_fields=new_fields, missing_mapped=missing)
