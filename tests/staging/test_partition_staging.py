"""Staging a partition whole or only its changed records gives the same rows (hotline_eval/staging/partition.py)."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from hotline_eval.publish.warehouse import Replace, Upsert, apply_ddl, query, replace_many
from hotline_eval.sources.common import RAW_SCHEMA
from hotline_eval.staging.mappings import load_mappings
from hotline_eval.staging.partition import stage_partition

WHERE = {"city_id": "new_york", "source_id": "nyc", "partition_month": "2024-10"}


def raw_rows(rows: list[tuple[str, str, str | None, str, str]]) -> pl.DataFrame:
    """(request_id, created, closed, status, page sha256) -> raw.service_request_records rows."""
    return pl.DataFrame([{
        **WHERE, "request_id": rid, "created_raw": created, "closed_raw": closed, "updated_raw": None,
        "status_raw": status, "category_raw": "Noise - Residential", "channel_raw": "PHONE", "agency_raw": "NYPD",
        "district_raw": "BROOKLYN", "latitude_raw": "40.7", "longitude_raw": "-73.9", "resolution_raw": None,
        "source_updated_at": None, "page_number": 0, "sha256": sha, "is_synthetic": True,
    } for rid, created, closed, status, sha in rows], schema=RAW_SCHEMA)


def upsert_raw(con: duckdb.DuckDBPyConnection, frame: pl.DataFrame) -> None:
    replace_many(con, [Upsert("raw.service_request_records", frame, key="request_id", where=WHERE)])


def staged(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return query(con, "SELECT request_id, created_at, closed_at, status, sha256, quality_flags "
                      "FROM staging.service_requests ORDER BY request_id").rows()


def rejected(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return query(con, "SELECT request_id, reason FROM raw.rejects WHERE stage = 'stage' ORDER BY request_id").rows()


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    apply_ddl(con)
    upsert_raw(con, raw_rows([("1", "2024-10-01T08:00:00.000", None, "Open", "p1"),
                              ("2", "2024-10-02T08:00:00.000", "2024-10-03T08:00:00.000", "Closed", "p1"),
                              ("3", "not a time", None, "Open", "p1")]))
    return con


def stage(con: duckdb.DuckDBPyConnection, mappings: pl.DataFrame | None = None, *, delta: bool = True):
    return stage_partition(con, "new_york", "2024-10", "America/New_York",
                           load_mappings() if mappings is None else mappings, delta=delta)


def test_only_changed_records_are_restaged_and_the_result_equals_a_full_restage(con) -> None:
    assert stage(con).mode == "full"
    again = stage(con)
    assert (again.mode, again.staged.rows.height, again.rows_in_partition) == ("delta", 0, 2)
    # a day's pull: request 1 closed (a new page), request 3 fixed, request 2 now unreadable, request 4 new
    upsert_raw(con, raw_rows([("1", "2024-10-01T08:00:00.000", "2024-10-05T09:00:00.000", "Closed", "p2"),
                              ("3", "2024-10-04T08:00:00.000", None, "Open", "p2"),
                              ("2", "yesterday", None, "Open", "p2"),
                              ("4", "2024-10-06T08:00:00.000", None, "Open", "p2")]))
    result = stage(con)
    assert result.mode == "delta" and result.staged.rows.height + result.staged.rejects.height == 4
    assert [(r[0], r[3], r[4]) for r in staged(con)] == [("1", "closed", "p2"), ("3", "open", "p2"),
                                                         ("4", "open", "p2")]
    assert rejected(con) == [("2", "unparseable creation time: yesterday")]
    after_delta = (staged(con), rejected(con))
    assert stage(con, delta=False).mode == "full"
    assert (staged(con), rejected(con)) == after_delta


def test_new_mappings_or_vanished_records_restage_the_whole_partition(con) -> None:
    stage(con)
    changed = load_mappings().with_columns(
        pl.when((pl.col("mapping") == "status") & (pl.col("raw_value").str.to_lowercase() == "open"))
        .then(pl.lit("other")).otherwise(pl.col("mapped_value")).alias("mapped_value"))
    result = stage(con, changed)
    assert result.mode == "full" and {r[3] for r in staged(con)} == {"other", "closed"}
    # a full re-fetch dropped request 2: its staged row must go too
    replace_many(con, [Replace("raw.service_request_records", raw_rows(
        [("1", "2024-10-01T08:00:00.000", None, "Open", "p3")]), WHERE)])
    result = stage(con, changed)
    assert result.mode == "full" and [r[0] for r in staged(con)] == ["1"]
    state = query(con, "SELECT mode, rows_staged FROM staging.staged_partitions").rows()
    assert state == [("full", 1)]
