"""raw.service_request_records -> staging.service_requests, in polars, column-wise.

Times become UTC (see hotline_eval.staging.timeparse); dates that cannot be real are flagged or rejected, as are
rows created outside their partition's month (local time) and fields holding a list or an object where
the model has one value (a latitude, a status): such a value is never staged as a silent NULL or
'other'. A coordinate that is text but not a number in range is nulled and flagged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl

from hotline_eval.sources.common import RAW_COLUMNS, REJECT_SCHEMA
from hotline_eval.staging.mappings import apply_mappings
from hotline_eval.staging.timeparse import blank_to_null as _blank_to_null
from hotline_eval.staging.timeparse import month_bounds_utc, parse_timestamp_columns

# dates before this are placeholders (1900-01-01, 1970-01-01), not events
PLACEHOLDER_BEFORE_YEAR = 1995

STAGING_COLUMNS = [
    "city_id", "source_id", "request_id", "partition_month", "created_at", "closed_at", "status_raw", "status",
    "category_raw", "category", "channel_raw", "channel", "agency", "district", "latitude", "longitude",
    "resolution", "quality_flags", "is_synthetic", "sha256",
]


# quality flag -> the column that raises it, in the order flags are listed
FLAG_COLUMNS = {
    "placeholder_closed_date": "_placeholder_closed",
    "closed_before_created": "_closed_before_created",
    "closed_within_minute": "_closed_within_minute",
    "zero_coordinates": "_zero_coordinates",
    "dst_gap_time": "_dst_gap",
    "status_inferred": "_status_inferred",
    # a published coordinate that is not a number within its range (nulled)
    "invalid_coordinates": "_invalid_coordinates",
}
# raw column -> its field, for the fields the model holds one value of (the update stamp is not staged)
SCALAR_FIELDS = {raw: name for name, raw in RAW_COLUMNS.items() if raw != "updated_raw"}
# every combination of flags as a list, indexed by its bits (bit i: the i-th flag above)
FLAG_LISTS = [[name for i, name in enumerate(FLAG_COLUMNS) if combination >> i & 1]
              for combination in range(1 << len(FLAG_COLUMNS))]
_FLAG_LIST_VALUES = pl.Series(FLAG_LISTS, dtype=pl.List(pl.String))


@dataclass
class StagedBatch:
    rows: pl.DataFrame
    rejects: pl.DataFrame
    stats: dict[str, object] = field(default_factory=dict)


def _coordinate(column: str, low: float, high: float) -> pl.Expr:
    # a blank value does not cast to a number either: null
    value = pl.col(column).str.strip_chars().cast(pl.Float64, strict=False)
    return pl.when(value.is_between(low, high)).then(value).otherwise(None)


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def structured_values(raw: pl.DataFrame) -> pl.Series:
    """Per row, the reason when a field the model holds one value of (SCALAR_FIELDS) holds a list or an
    object instead (as sources.common.as_text writes them: JSON), else null. The first such field in
    SCALAR_FIELDS order is named. Columns are scanned for an opening bracket first, so a batch without
    any costs one pass."""
    columns = [c for c in SCALAR_FIELDS if c in raw.columns]
    opening = {c: pl.col(c).str.starts_with("[") | pl.col(c).str.starts_with("{") for c in columns}
    suspect = raw.select(expr.any().fill_null(False).alias(c) for c, expr in opening.items()) if columns else None
    found: dict[int, str] = {}
    for column in columns:
        if not suspect[column][0]:
            continue
        rows = raw.select(opening[column].arg_true())[column]
        for row, text in zip(rows.to_list(), raw[column].gather(rows).to_list(), strict=True):
            if row in found:
                continue
            try:
                value = json.loads(text)
            except ValueError:
                continue  # text that merely opens with a bracket
            if isinstance(value, list | dict):
                kind = "a list" if isinstance(value, list) else "an object"
                found[row] = f"{SCALAR_FIELDS[column]} is {kind}, not a single value: {_clip(text)}"
    out = pl.repeat(None, raw.height, dtype=pl.String, eager=True).alias("_malformed")
    if found:
        out = out.scatter(list(found), list(found.values()))
    return out


def stage_requests(raw: pl.DataFrame, timezone: str, mappings: pl.DataFrame,
                   datetime_formats: Sequence[str] = (), *, month: str | None = None) -> StagedBatch:
    """Type, convert and map raw rows. Rows without a usable creation time, or with a list or an object
    where one value belongs (``structured_values``), go to rejects with the reason; with ``month`` (the
    partition's, YYYY-MM), so do rows created outside that month in the city's local time (a connector
    fetches a month by its creation times, so such a row is a far-out or mistyped date)."""
    times = parse_timestamp_columns(raw, ["created_raw", "closed_raw"], timezone, datetime_formats)
    (created, created_gap), (closed, closed_gap) = times["created_raw"], times["closed_raw"]
    lat = _coordinate("latitude_raw", -90, 90)
    lon = _coordinate("longitude_raw", -180, 180)
    frame = raw.with_columns(
        created.alias("created_at"),
        closed.alias("_closed_parsed"),
        (created_gap | closed_gap).alias("_dst_gap"),
        lat.alias("latitude"),
        lon.alias("longitude"),
        structured_values(raw),
    )
    placeholder_created = pl.col("created_at").dt.year() < PLACEHOLDER_BEFORE_YEAR
    if month is not None:
        start, end = month_bounds_utc(month, timezone)
        outside_month = ~pl.col("created_at").is_between(pl.lit(start), pl.lit(end), closed="left")
    else:
        outside_month = pl.lit(False)
    # which check a row fails, as a number (the reason text is written for the rejected rows only)
    failed = (
        pl.when(pl.col("_malformed").is_not_null()).then(5)
        .when(_blank_to_null("created_raw").is_null()).then(1)
        .when(pl.col("created_at").is_null()).then(2)
        .when(placeholder_created).then(3)
        .when(_blank_to_null("closed_raw").is_not_null() & pl.col("_closed_parsed").is_null()).then(4)
        .when(outside_month).then(6)
        .otherwise(0)
    )
    frame = frame.with_columns(failed.alias("_failed"))
    rejected = frame.filter(pl.col("_failed") != 0).with_columns(
        pl.when(pl.col("_failed") == 5).then(pl.col("_malformed"))
        .when(pl.col("_failed") == 1).then(pl.lit("missing creation time"))
        .when(pl.col("_failed") == 2).then(pl.lit("unparseable creation time: ") + pl.col("created_raw"))
        .when(pl.col("_failed") == 3).then(pl.lit("placeholder creation date: ") + pl.col("created_raw"))
        .when(pl.col("_failed") == 6).then(pl.lit(f"creation time outside the partition month {month} "
                                                  f"({timezone} time): ") + pl.col("created_raw"))
        .otherwise(pl.lit("unparseable closing time: ") + pl.col("closed_raw")).alias("_reject"))
    kept = frame.filter(pl.col("_failed") == 0)

    placeholder_closed = pl.col("_closed_parsed").dt.year() < PLACEHOLDER_BEFORE_YEAR
    zero_coordinates = (pl.col("latitude") == 0) & (pl.col("longitude") == 0)
    kept = kept.with_columns(
        pl.when(placeholder_closed).then(None).otherwise(pl.col("_closed_parsed")).alias("closed_at"),
        placeholder_closed.fill_null(False).alias("_placeholder_closed"),
        zero_coordinates.fill_null(False).alias("_zero_coordinates"),
        ((_blank_to_null("latitude_raw").is_not_null() & pl.col("latitude").is_null())
         | (_blank_to_null("longitude_raw").is_not_null() & pl.col("longitude").is_null()))
        .alias("_invalid_coordinates"),
    ).with_columns(
        (pl.col("closed_at") < pl.col("created_at")).fill_null(False).alias("_closed_before_created"),
        ((pl.col("closed_at") - pl.col("created_at")).dt.total_seconds().is_between(0, 59))
        .fill_null(False).alias("_closed_within_minute"),
        pl.when(pl.col("_zero_coordinates")).then(None).otherwise(pl.col("latitude")).alias("latitude"),
        pl.when(pl.col("_zero_coordinates")).then(None).otherwise(pl.col("longitude")).alias("longitude"),
    )
    kept = apply_mappings(kept, mappings, [("status", "status_raw", "status"), ("channel", "channel_raw", "channel"),
                                           ("category", "category_raw", "category")])
    # no published status: a closing time says closed; without one the status is unknown ('other'),
    # not open (feeds such as DansMaRue publish no status at all)
    status_missing = _blank_to_null("status_raw").is_null()
    kept = kept.with_columns(
        pl.when(status_missing & pl.col("closed_at").is_not_null()).then(pl.lit("closed"))
        .when(status_missing).then(pl.lit("other"))
        .otherwise(pl.col("status")).alias("status"),
        status_missing.alias("_status_inferred"),
    )
    flags = FLAG_COLUMNS
    # the flags as bits, then each combination's list from a table of all 2^7 (building a list per row
    # from seven conditional parts costs twenty times as much)
    bits = pl.sum_horizontal([pl.col(c).cast(pl.UInt8) * (1 << i) for i, c in enumerate(flags.values())])
    kept = kept.with_columns(
        pl.lit(_FLAG_LIST_VALUES).gather(bits).alias("quality_flags"),
        _blank_to_null("agency_raw").alias("agency"),
        _blank_to_null("district_raw").alias("district"),
        _blank_to_null("resolution_raw").alias("resolution"),
        _blank_to_null("channel_raw").alias("channel_raw"),
        _blank_to_null("category_raw").alias("category_raw"),
        _blank_to_null("status_raw").alias("status_raw"),
    )
    rows = kept.select(STAGING_COLUMNS)
    rejects = rejected.select(
        "city_id", "source_id", pl.col("partition_month").alias("partition_key"), "request_id",
        pl.col("_reject").alias("reason"),
        pl.struct([c for c in raw.columns if c.endswith("_raw")]).struct.json_encode().alias("record"),
        "sha256", "is_synthetic",
    ).cast(REJECT_SCHEMA)
    stats = {
        "rows": rows.height,
        "rejected": rejects.height,
        "unmapped_status": int(kept["status_unmapped"].sum()),
        "unmapped_channel": int(kept["channel_unmapped"].sum()),
        "unmapped_category": int(kept["category_unmapped"].sum()),
        "unmapped_values": _unmapped_values(kept),
        **{f"flag_{name}": int(kept[c].sum()) for name, c in flags.items()},
    }
    if rows.height:
        stats["created_min"] = str(rows["created_at"].min())
        stats["created_max"] = str(rows["created_at"].max())
    return StagedBatch(rows=rows, rejects=rejects, stats=stats)


def _unmapped_values(kept: pl.DataFrame, top: int = 10) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, raw_column in (("status", "status_raw"), ("channel", "channel_raw"), ("category", "category_raw")):
        if not kept[f"{name}_unmapped"].any():
            out[name] = {}
            continue
        counts = (kept.filter(pl.col(f"{name}_unmapped")).group_by(raw_column).len()
                  .sort(["len", raw_column], descending=[True, False]).head(top))
        out[name] = dict(zip(counts[raw_column].to_list(), counts["len"].to_list(), strict=True))
    return out


def unmapped_share(stats: dict[str, object]) -> float:
    """Share of staged rows with an unmapped status, channel or category value (the worst of the three)."""
    rows = int(stats.get("rows", 0) or 0)
    if not rows:
        return 0.0
    return max(int(stats[f"unmapped_{m}"]) for m in ("status", "channel", "category")) / rows
