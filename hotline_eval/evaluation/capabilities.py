"""What each city's data can support: city x tertiary indicator -> supported, partial or unsupported,
with the reason taken from the data (a feed with no closing dates cannot give time to close; an
aggregate-only city has no request-level measures; a feed covering part of all requests is partial)."""

from __future__ import annotations

import polars as pl

from hotline_eval.config.registry import Registry
from hotline_eval.sources import is_request_level

CAPABILITY_SCHEMA = {"city_id": pl.String, "indicator_id": pl.String, "capability": pl.String, "reason": pl.String}


def capability_matrix(facts: pl.DataFrame, registry: Registry) -> pl.DataFrame:
    """From the computed facts: a value resting on request records of a feed that covers part of all
    requests, or on published statistics instead of records, is partial; a missing value is
    unsupported with its reason; anything else is supported."""
    partial_feeds = {c.id: s.coverage_note for c in registry.cities for s in c.sources
                     if s.coverage_note and is_request_level(s)
                     and any(w in s.coverage_note.lower() for w in ("only", "subset", "partial", "not all"))}
    partial_reason = pl.col("city_id").replace_strict(partial_feeds, default=None, return_dtype=pl.String)
    from_records = pl.col("evidence_table") == "staging.service_requests"
    from_stats = pl.col("evidence_table") == "staging.hotline_stats"
    return facts.select(
        "city_id", "indicator_id",
        pl.when(pl.col("raw_value").is_null()).then(pl.lit("unsupported"))
        .when(from_stats).then(pl.lit("partial"))
        .when(from_records & partial_reason.is_not_null()).then(pl.lit("partial"))
        .otherwise(pl.lit("supported")).alias("capability"),
        pl.when(pl.col("raw_value").is_null()).then(pl.col("missing_reason"))
        .when(from_stats).then(pl.lit("published aggregate statistics, not request records"))
        .when(from_records & partial_reason.is_not_null())
        .then(pl.lit("the feed covers part of all requests: ") + partial_reason)
        .otherwise(pl.lit("measured from ") + pl.col("evidence_table")).alias("reason"),
    ).cast(CAPABILITY_SCHEMA)
