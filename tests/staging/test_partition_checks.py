"""The staging asset's checks see the whole partition and the source's other months (issue #19, 6 and 1b):
``unmapped_share_below_threshold`` over every staged row of the partition, not the rows a delta run
re-staged; ``unique_request_ids`` across the month partitions of a source."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from dagster_duckdb import DuckDBResource

from assets.requests import request_assets
from hotline_eval.config.evaluation import load_evaluation
from hotline_eval.config.registry import load_registry
from hotline_eval.publish.warehouse import Replace, apply_ddl, replace_many
from hotline_eval.sources.common import RAW_SCHEMA
from hotline_eval.staging.mappings import load_mappings
from hotline_eval.staging.partition import stage_partition

SOURCE = "nyc_311_socrata"


def raw_rows(month: str, rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """(request_id, created, channel) -> raw rows of New York's feed in ``month``."""
    return pl.DataFrame([{
        "city_id": "new_york", "source_id": SOURCE, "partition_month": month, "request_id": rid,
        "created_raw": created, "closed_raw": None, "updated_raw": None, "status_raw": "Open",
        "category_raw": "Noise - Residential", "channel_raw": channel, "agency_raw": "NYPD",
        "district_raw": "BROOKLYN", "latitude_raw": "40.7", "longitude_raw": "-73.9", "resolution_raw": None,
        "source_updated_at": None, "page_number": 0, "sha256": "p1", "is_synthetic": True,
    } for rid, created, channel in rows], schema=RAW_SCHEMA)


def land(con: duckdb.DuckDBPyConnection, month: str, rows: list[tuple[str, str, str]]) -> None:
    where = {"city_id": "new_york", "source_id": SOURCE, "partition_month": month}
    replace_many(con, [Replace("raw.service_request_records", raw_rows(month, rows), where)])


# 5 of 12 requests (41.7%) came in by a channel the mappings do not know
OCTOBER = [(str(i), f"2024-10-{i:02d}T08:00:00.000", "PIGEON" if i <= 5 else "PHONE") for i in range(1, 13)]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    apply_ddl(con)
    land(con, "2024-10", OCTOBER)
    return con


def stage(con: duckdb.DuckDBPyConnection, month: str = "2024-10"):
    return stage_partition(con, "new_york", month, "America/New_York", load_mappings())


def test_a_rerun_of_unchanged_data_keeps_the_partitions_unmapped_share(con) -> None:
    first = stage(con)
    assert first.mode == "full" and first.unmapped_share == pytest.approx(5 / 12)
    assert first.unmapped_values["channel"] == {"PIGEON": 5}
    again = stage(con)  # nothing changed: a delta run re-stages no row
    assert (again.mode, again.staged.rows.height) == ("delta", 0)
    assert again.unmapped_share == pytest.approx(5 / 12)
    assert again.unmapped_values["channel"] == {"PIGEON": 5}


def test_a_request_id_staged_in_another_month_of_the_source_is_found(con) -> None:
    assert stage(con).ids_in_other_months == {}
    # request 3, created in October, re-published with a November creation date
    land(con, "2024-11", [("3", "2024-11-02T08:00:00.000", "PHONE"), ("13", "2024-11-03T08:00:00.000", "PHONE")])
    assert stage(con, "2024-11").ids_in_other_months == {"3": ["2024-10"]}
    assert stage(con).ids_in_other_months == {"3": ["2024-11"]}


_, staging_service_requests = request_assets(load_registry(), load_evaluation())
NYC = {"city": "new_york"}


def _checks(work_db: Path, month: str) -> dict[str, dg.AssetCheckEvaluation]:
    result = dg.materialize([staging_service_requests], partition_key=dg.MultiPartitionKey({**NYC, "month": month}),
                            resources={"warehouse_db": DuckDBResource(database=str(work_db))})
    assert result.success
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_the_asset_checks_see_the_whole_partition_and_the_other_months(tmp_path: Path) -> None:
    work_db = tmp_path / "work.duckdb"
    with duckdb.connect(str(work_db)) as con:
        apply_ddl(con)
        land(con, "2024-10", OCTOBER)
    first = _checks(work_db, "2024-10")
    assert not first["unmapped_share_below_threshold"].passed
    assert first["unique_request_ids"].passed
    again = _checks(work_db, "2024-10")  # a delta re-run of unchanged data
    assert not again["unmapped_share_below_threshold"].passed
    assert again["unmapped_share_below_threshold"].metadata["unmapped_share"].value == pytest.approx(0.4167)
    with duckdb.connect(str(work_db)) as con:
        land(con, "2024-11", [("3", "2024-11-02T08:00:00.000", "PHONE")])
    november = _checks(work_db, "2024-11")
    assert not november["unique_request_ids"].passed
    assert november["unique_request_ids"].metadata["ids_in_other_months"].value == 1
