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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import duckdb
import polars as pl

from hotline_eval.publish.warehouse import Replace, Upsert, Write, query, replace_many
from hotline_eval.sources.common import RAW_SCHEMA
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


@dataclass
class StagedPartition:
    staged: StagedBatch  # the rows staged this run (all of the partition in full mode)
    mode: Literal["full", "delta"]
    rows_in_partition: int  # staging rows of the partition after the write
    duplicate_ids: int  # rows beyond the first per request id in the partition (0 expected)
    created_min: str | None  # the partition's date range after the write
    created_max: str | None


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
    return StagedPartition(staged=staged, mode=mode, rows_in_partition=int(after["n"]),
                           duplicate_ids=int(after["duplicates"]), created_min=after["created_min"],
                           created_max=after["created_max"])


def partition_sha256s(con: duckdb.DuckDBPyConnection, city_id: str, month: str) -> list[str]:
    """The archived responses the partition's staged rows came from, by sha256, sorted."""
    return query(con, "SELECT DISTINCT sha256 FROM staging.service_requests WHERE city_id = ? "
                      "AND partition_month = ? ORDER BY sha256", [city_id, month])["sha256"].to_list()
