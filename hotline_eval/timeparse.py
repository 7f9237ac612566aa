"""Published timestamps -> UTC, column-wise in polars.

A stamp with an offset keeps it; a floating stamp (Socrata, CSV exports) is the city's local time
and is localized with its IANA zone, DST included (the repeated fall-back hour reads as its first
occurrence). In the spring-forward gap a local time does not exist; it is read as the instant the
clocks jumped to, and flagged.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",  # Socrata floating timestamp: 2024-01-15T08:30:00.000
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",  # CKAN / Boston: 2022-01-04 14:19:18.623
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%m/%d/%Y %I:%M:%S %p",  # NYC web CSV export: 02/28/2023 11:58:01 PM
    "%Y-%m-%d",
)
AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%SZ")


def blank_to_null(column: str) -> pl.Expr:
    text = pl.col(column).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def parse_timestamp(column: str, timezone: str, formats: Sequence[str] = ()) -> tuple[pl.Expr, pl.Expr]:
    """(UTC timestamp, was-in-DST-gap flag) for a text column of published timestamps. ``formats``
    (naive, local) are tried first: a source writing day-first dates names its own."""
    text = blank_to_null(column)
    aware = pl.coalesce(
        [text.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in AWARE_FORMATS]
    )
    naive = pl.coalesce([text.str.to_datetime(f, strict=False, time_unit="us")
                         for f in (*formats, *NAIVE_FORMATS)])
    local = naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    # a local time inside the spring-forward gap: read it one hour later, then step back an hour in UTC
    in_gap = (
        naive.dt.offset_by("1h").dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        - pl.duration(hours=1)
    )
    gap = naive.is_not_null() & local.is_null()
    utc = pl.coalesce(aware, local.dt.convert_time_zone("UTC"), in_gap.dt.convert_time_zone("UTC"))
    return utc, gap


def local_month(column: str, timezone: str, formats: Sequence[str] = ()) -> pl.Expr:
    """YYYY-MM of a published timestamp in the city's local time (null when unparseable)."""
    utc, _ = parse_timestamp(column, timezone, formats)
    return utc.dt.convert_time_zone(timezone).dt.strftime("%Y-%m")
