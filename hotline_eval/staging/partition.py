"""Stage one city-month partition from raw into staging, whole or only what changed.

An incremental fetch upserts a day's records into a month of raw rows; re-staging the whole month
for them costs as much as a full stage. ``stage_requests`` works row by row, so only raw rows that
are new or came from another archived page than their staged version need staging again. That is
safe only while the staging inputs are the same as when the partition was last staged (the value
mappings, time zone, date formats and the staging logic, hashed into ``staging_version``) and no raw
row has gone (a full re-fetch can drop records); otherwise the whole partition is staged again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import duckdb
import polars as pl

from hotline_eval.publish.warehouse import Replace, Upsert, Write, query, replace_many
from hotline_eval.sources.common import RAW_SCHEMA
from hotline_eval.staging.mappings import apply_mappings
from hotline_eval.staging.service_requests import StagedBatch, stage_requests

# bump when stage_requests changes what it writes for the same raw row
STAGE_LOGIC_VERSION = "3"  # 3: rows created outside the month, lists/objects as values rejected

STATE_SCHEMA = {"city_id": pl.String, "partition_month": pl.String, "staging_version": pl.String,
                "staged_at": pl.Datetime("us", "UTC"), "mode": pl.String, "rows_staged": pl.Int64}

# both sides filtered to the partition by constants, so each join reads one partition, not the tables
_CHANGED_RAW = """
SELECT r.* FROM raw.service_request_records r
WHERE r.city_id = $city AND r.partition_month = $month
  AND (r.request_id, r.sha256) NOT IN (SELECT request_id, sha256 FROM staging.service_requests
                                       WHERE city_id = $city AND partition_month = $month)
"""
_GONE_FROM_RAW = """
SELECT count(*) AS n FROM staging.service_requests
WHERE city_id = $city AND partition_month = $month
  AND request_id NOT IN (SELECT request_id FROM raw.service_request_records
                         WHERE city_id = $city AND partition_month = $month)
"""

# the partition's staged raw values, counted: what its unmapped share is computed over
_PARTITION_VALUES = """
SELECT source_id, status_raw, channel_raw, category_raw, count(*) AS n FROM staging.service_requests
WHERE city_id = ? AND partition_month = ? GROUP BY ALL
"""
# request ids of the partition that a source also staged in another month (a record whose creation
# date moved, or a feed that re-uses ids), with those months
_IDS_IN_OTHER_MONTHS = """
SELECT s.source_id, s.request_id, list(DISTINCT o.partition_month ORDER BY o.partition_month) AS months
FROM staging.service_requests s
JOIN staging.service_requests o
  ON o.city_id = s.city_id AND o.source_id = s.source_id AND o.request_id = s.request_id
 AND o.partition_month <> s.partition_month
WHERE s.city_id = $city AND s.partition_month = $month AND o.city_id = $city
GROUP BY ALL ORDER BY s.source_id, s.request_id
"""
MAPPED_COLUMNS = [("status", "status_raw", "status"), ("channel", "channel_raw", "channel"),
                  ("category", "category_raw", "category")]


@dataclass
class StagedPartition:
    staged: StagedBatch  # the rows staged this run (all of the partition in full mode)
    mode: Literal["full", "delta"]
    rows_in_partition: int  # staging rows of the partition after the write
    duplicate_ids: int  # rows beyond the first per request id in the partition (0 expected)
    created_min: str | None  # the partition's date range after the write
    created_max: str | None
    # of the whole partition after the write, not only the rows staged this run: the share of rows with an
    # unmapped status, channel or category (the worst of the three), and the commonest unmapped values
    unmapped_share: float = 0.0
    unmapped_values: dict[str, dict[str, int]] = field(default_factory=dict)
    # request ids of the partition that its source also staged in another month: id -> those months
    ids_in_other_months: dict[str, list[str]] = field(default_factory=dict)


def staging_version(timezone: str, mappings: pl.DataFrame, formats: Sequence[str]) -> str:
    """A hash of everything besides the raw row that decides its staged row."""
    digest = hashlib.sha256()
    for part in (STAGE_LOGIC_VERSION, timezone, "\x1f".join(formats), mappings.sort(mappings.columns).write_csv()):
        digest.update(part.encode("utf-8") + b"\x1e")
    return digest.hexdigest()


def stage_partition(con: duckdb.DuckDBPyConnection, city_id: str, month: str, timezone: str, mappings: pl.DataFrame,
                    formats: Sequence[str] = (), *, delta: bool = True) -> StagedPartition:
    """Stage the partition's raw rows and write them, its rejects and its state in one transaction;
    with ``delta``, only the rows that changed since it was last staged with the same inputs."""
    version = staging_version(timezone, mappings, formats)
    where = {"city_id": city_id, "partition_month": month}
    last = query(con, "SELECT staging_version FROM staging.staged_partitions WHERE city_id = ? AND partition_month = ?",
                 [city_id, month])
    mode: Literal["full", "delta"] = "full"
    if delta and last.height and last.item(0, 0) == version:
        gone = con.sql(_GONE_FROM_RAW, params={"city": city_id, "month": month}).fetchall()[0][0]
        mode = "delta" if gone == 0 else "full"
    if mode == "delta":
        raw = con.sql(_CHANGED_RAW, params={"city": city_id, "month": month}).pl().cast(RAW_SCHEMA)
    else:
        raw = query(con, "SELECT * FROM raw.service_request_records WHERE city_id = ? AND partition_month = ?",
                    [city_id, month]).cast(RAW_SCHEMA)
    staged = stage_requests(raw, timezone, mappings, formats, month=month)
    rejects = staged.rejects.with_columns(stage=pl.lit("stage"))
    rejects_where = {"city_id": city_id, "partition_key": month, "stage": "stage"}
    state = pl.DataFrame([{**where, "staging_version": version, "staged_at": datetime.now(UTC), "mode": mode,
                           "rows_staged": staged.rows.height}], schema=STATE_SCHEMA)
    if mode == "full":
        writes: list[Write] = [Replace("staging.service_requests", staged.rows, where),
                               Replace("raw.rejects", rejects, rejects_where)]
    else:
        # a changed record replaces its staged row or its reject, whichever it had
        changed = raw["request_id"]
        writes = [Upsert("staging.service_requests", staged.rows, key="request_id", where=where, key_values=changed),
                  Upsert("raw.rejects", rejects, key="request_id", where=rejects_where, key_values=changed)]
    replace_many(con, [*writes, Replace("staging.staged_partitions", state, where)])
    after = query(con, "SELECT count(*) AS n, count(*) - count(DISTINCT request_id) AS duplicates, "
                       "min(created_at)::VARCHAR AS created_min, max(created_at)::VARCHAR AS created_max "
                       "FROM staging.service_requests WHERE city_id = ? AND partition_month = ?",
                  [city_id, month]).row(0, named=True)
    share, unmapped = partition_unmapped(con, city_id, month, mappings)
    return StagedPartition(staged=staged, mode=mode, rows_in_partition=int(after["n"]),
                           duplicate_ids=int(after["duplicates"]), created_min=after["created_min"],
                           created_max=after["created_max"], unmapped_share=share, unmapped_values=unmapped,
                           ids_in_other_months=ids_in_other_months(con, city_id, month))


def partition_unmapped(con: duckdb.DuckDBPyConnection, city_id: str, month: str, mappings: pl.DataFrame,
                       top: int = 10) -> tuple[float, dict[str, dict[str, int]]]:
    """Over every staged row of the partition (a delta run re-stages only the changed ones): the share
    of rows with an unmapped status, channel or category value (the worst of the three), and per mapping
    the ``top`` unmapped raw values by rows."""
    values = query(con, _PARTITION_VALUES, [city_id, month])
    total = int(values["n"].sum()) if values.height else 0
    if not total:
        return 0.0, {name: {} for name, _, _ in MAPPED_COLUMNS}
    flagged = apply_mappings(values, mappings, MAPPED_COLUMNS)
    worst, out = 0, {}
    for name, raw_column, _ in MAPPED_COLUMNS:
        unmapped = (flagged.filter(pl.col(f"{name}_unmapped")).group_by(raw_column).agg(pl.col("n").sum())
                    .sort(["n", raw_column], descending=[True, False]))
        worst = max(worst, int(unmapped["n"].sum()))
        out[name] = dict(zip(unmapped[raw_column].head(top).to_list(), unmapped["n"].head(top).to_list(),
                             strict=True))
    return worst / total, out


def ids_in_other_months(con: duckdb.DuckDBPyConnection, city_id: str, month: str) -> dict[str, list[str]]:
    """The partition's request ids that the same source also staged in another month partition, each
    with those months (``source_id/request_id`` when the partition has more than one source)."""
    rows = con.sql(_IDS_IN_OTHER_MONTHS, params={"city": city_id, "month": month}).fetchall()
    several = len({source for source, _, _ in rows}) > 1
    return {(f"{source}/{rid}" if several else rid): list(months) for source, rid, months in rows}


def partition_sha256s(con: duckdb.DuckDBPyConnection, city_id: str, month: str) -> list[str]:
    """The archived responses the partition's staged rows came from, by sha256, sorted."""
    return query(con, "SELECT DISTINCT sha256 FROM staging.service_requests WHERE city_id = ? "
                      "AND partition_month = ? ORDER BY sha256", [city_id, month])["sha256"].to_list()
