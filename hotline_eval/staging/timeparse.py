"""Published timestamps -> UTC, column-wise in polars.

A stamp with an offset keeps it; a floating stamp (Socrata, CSV exports) is the city's local time
and is localized with its IANA zone, DST included (the repeated fall-back hour reads as its first
occurrence). In the spring-forward gap a local time does not exist; it is read as the instant the
clocks jumped to, and flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

NAIVE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.f",  # Socrata floating timestamp: 2024-01-15T08:30:00.000
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",  # CKAN / Boston: 2022-01-04 14:19:18.623
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M",
    "%m/%d/%Y %I:%M:%S %p",  # NYC web CSV export: 02/28/2023 11:58:01 PM
    "%Y-%m-%d",
)
# what NAIVE_FORMATS[0] reads (Socrata's floating timestamps), fractions up to the microsecond: values
# that Arrow's ISO-8601 cast reads as the same local time
ISO_SHAPE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?$"
AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%:z", "%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%dT%H:%M:%SZ")


def blank_to_null(column: str) -> pl.Expr:
    # replace, not when/then: half the cost on a million values
    return pl.col(column).str.strip_chars().replace("", None)


# what every aware format's values end with (Z, +05:00, -0500, +05): values without it need not be
# tried with those formats (parse_timestamps). Matching more (a date ending "-15") only costs a try.
AWARE_SUFFIX = r"(?:Z|[+-]\d{2}(?::?\d{2})?)$"


def local_month(values: pl.Series, timezone: str, formats: Sequence[str] = ()) -> pl.Series:
    """YYYY-MM of each published timestamp in the city's local time (null when unparseable)."""
    utc, _ = parse_timestamps(values, timezone, formats)
    return utc.dt.convert_time_zone(timezone).dt.strftime("%Y-%m")


def parse_timestamps(values: pl.Series, timezone: str, formats: Sequence[str] = ()) -> tuple[pl.Series, pl.Series]:
    """(UTC timestamp, was-in-DST-gap flag) for a column of published timestamps. A value is tried with
    a format only when the formats before it could not read it, aware formats first for values ending in
    an offset, then ``formats`` (naive, local: a source writing day-first dates names its own), then the
    usual naive ones; naive times are the city's local time, DST included (see the module docstring).
    The same as trying every format on every value (tests/staging/test_staging_transform.py), at one parse per
    value for a column written in one format."""
    return parse_timestamp_columns(values.to_frame("value"), ["value"], timezone, formats)["value"]


def parse_timestamp_columns(frame: pl.DataFrame, columns: Sequence[str], timezone: str,
                            formats: Sequence[str] = ()) -> dict[str, tuple[pl.Series, pl.Series]]:
    """``parse_timestamps`` for several columns of a frame. A column whose values all have Socrata's shape
    (ISO_SHAPE; the source naming no formats of its own) is read by Arrow's ISO-8601 cast. Otherwise the
    usual case (no offsets, the first format reads every value) is tried for all the columns in one query,
    so polars parses them side by side on separate cores; a column that needs more is parsed format by
    format."""
    out = {}
    if not formats:  # the usual first format, which Arrow's ISO-8601 cast reads alike, ten times as fast
        shaped = frame.select(pl.col(name).cast(pl.String).str.contains(ISO_SHAPE).all() for name in columns)
        for name in columns:
            if shaped[name][0] and (iso := _iso_cast(frame[name])) is not None:
                out[name] = _localized(iso, None, timezone)
    columns = [name for name in columns if name not in out]
    first_format = (*formats, *NAIVE_FORMATS)[0]
    exprs = []
    for name in columns:
        text = pl.col(name).cast(pl.String).str.strip_chars().replace("", None)
        exprs += [
            text.str.to_datetime(first_format, strict=False, time_unit="us", cache=False).alias(f"{name}:first"),
            text.null_count().alias(f"{name}:blank"),
            text.str.contains(AWARE_SUFFIX).any().fill_null(False).alias(f"{name}:offsets"),
        ]
    tried = frame.select(exprs)
    for name in columns:
        first = tried[f"{name}:first"]
        usual = frame.is_empty() or (not tried[f"{name}:offsets"][0]
                                     and first.null_count() == tried[f"{name}:blank"][0])
        out[name] = _localized(first, None, timezone) if usual else _format_by_format(frame[name], timezone, formats)
    return out


def _iso_cast(values: pl.Series) -> pl.Series | None:
    """The values (each null or of ISO_SHAPE) read by Arrow's ISO-8601 cast; None when one is no real
    time (2024-13-45T99:00:00), which the formats then read as polars does (as null)."""
    try:
        return pl.Series(values.name, pc.cast(values.cast(pl.String).to_arrow(), pa.timestamp("us")))
    except pa.ArrowException:
        return None


def _format_by_format(values: pl.Series, timezone: str, formats: Sequence[str]) -> tuple[pl.Series, pl.Series]:
    """The general case of ``parse_timestamps``: offsets, or several formats in one column."""
    stripped = values.cast(pl.String).str.strip_chars()
    text = stripped.set(stripped == "", None)
    candidates = (*formats, *NAIVE_FORMATS)
    suffixed = text.str.contains(AWARE_SUFFIX).fill_null(False)
    size = text.len()
    aware_us = pl.repeat(None, size, dtype=pl.Int64, eager=True)
    naive_us = pl.repeat(None, size, dtype=pl.Int64, eager=True)
    rows = pl.int_range(size, eager=True, dtype=pl.UInt32)

    def first_format_wins(pending: pl.Series, candidates: Sequence[str], zone: str | None, out: pl.Series) -> pl.Series:
        """Parse ``pending`` rows with each format in turn, writing what it reads to ``out`` (epoch
        microseconds); the rows no format could read are returned."""
        for fmt in candidates:
            if pending.is_empty():
                break
            values = text if pending.len() == size else text.gather(pending)
            # no cache: request timestamps are nearly all distinct, and caching them costs half as much again
            parsed = values.str.to_datetime(fmt, strict=False, time_unit="us", time_zone=zone, cache=False)
            read = parsed.is_not_null()
            if read.all():
                out.scatter(pending, parsed.to_physical())
                return pending.clear()
            if read.any():
                out.scatter(pending.filter(read), parsed.filter(read).to_physical())
                pending = pending.filter(~read)
        return pending

    present = text.is_not_null()
    unread = first_format_wins(rows.filter(suffixed), AWARE_FORMATS, "UTC", aware_us)
    first_format_wins(pl.concat([rows.filter(present & ~suffixed), unread]).sort(), candidates, None, naive_us)
    return _localized(naive_us.cast(pl.Datetime("us")), aware_us, timezone)


def _localized(naive: pl.Series, aware_us: pl.Series | None, timezone: str) -> tuple[pl.Series, pl.Series]:
    """(UTC timestamp, in-gap flag): the aware values where given (epoch microseconds), else the naive
    ones read as the city's local time."""
    local = naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    gap = naive.is_not_null() & local.is_null()
    utc_us = local.dt.convert_time_zone("UTC").to_physical()
    if aware_us is not None:
        utc_us = aware_us.fill_null(utc_us)
    if gap.any():
        # a local time inside the spring-forward gap: read it one hour later, then step back an hour in UTC
        shifted = naive.filter(gap).dt.offset_by("1h").dt.replace_time_zone(
            timezone, ambiguous="earliest", non_existent="null").dt.offset_by("-1h")
        utc_us = utc_us.scatter(gap.arg_true(), shifted.dt.convert_time_zone("UTC").to_physical())
    return utc_us.cast(pl.Datetime("us", "UTC")), gap


def month_bounds_utc(month: str, timezone: str) -> tuple[datetime, datetime]:
    """The UTC instants where the local month ``YYYY-MM`` starts and the next one starts, read as the
    published local times ``YYYY-MM-01T00:00:00`` are (``_localized``): a time is in the local month
    exactly when it is at or after the first and before the second."""
    year, mon = (int(part) for part in month.split("-"))
    if not 1 <= mon <= 12:
        raise ValueError(f"not a month (YYYY-MM): {month!r}")
    naive = pl.Series([datetime(year, mon, 1), datetime(year + (mon == 12), mon % 12 + 1, 1)],
                      dtype=pl.Datetime("us"))
    start, end = _localized(naive, None, timezone)[0].to_list()
    return start, end
