"""Far-out and malformed values (issue #21): a record created outside its partition's local month, or a
list or an object where a field holds one value, is rejected with its reason; a coordinate that is not a
number in range is flagged. Never a silent NULL, a silent 'other', or a row in the wrong month."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import polars as pl
import pytest

from hotline_eval.fetch.archive import make_response
from hotline_eval.publish.warehouse import Upsert, apply_ddl, query, replace_many
from hotline_eval.sources.common import RAW_SCHEMA
from hotline_eval.sources.pages import array_page
from hotline_eval.sources.records import records_to_raw
from hotline_eval.staging.mappings import load_mappings
from hotline_eval.staging.partition import stage_partition
from hotline_eval.staging.service_requests import stage_requests
from hotline_eval.staging.timeparse import month_bounds_utc

NYC = "America/New_York"
FIELDS = {"request_id": "id", "created_at": "created", "closed_at": "closed", "status": "status",
          "category": "type", "channel": "channel", "agency": "agency", "latitude": "lat", "longitude": "lon"}


@pytest.fixture(scope="module")
def mappings() -> pl.DataFrame:
    return load_mappings()


def record(rid: str, **values) -> dict:
    base = {"id": rid, "created": "2024-10-15T08:00:00.000", "closed": None, "status": "Closed",
            "type": "Noise - Residential", "channel": "PHONE", "agency": "NYPD", "lat": "40.7", "lon": "-73.9"}
    return {**base, **values}


def raw_of(records: list[dict], month: str = "2024-10") -> pl.DataFrame:
    """The records as a Socrata page body, read as the connectors read it (columns when they can be,
    record by record otherwise), into raw rows of partition ``month``."""
    response = make_response("GET", "https://data.example.org/resource/x.json", None, 200,
                             {"Content-Type": "application/json"}, json.dumps(records).encode())
    page = array_page(0, response)
    return records_to_raw([page], FIELDS, city_id="new_york", source_id="nyc_311_socrata",
                          partition_month=month).rows


def stage(records: list[dict], mappings: pl.DataFrame, month: str | None = "2024-10"):
    return stage_requests(raw_of(records), NYC, mappings, month=month)


def reasons(batch) -> dict[str, str]:
    return dict(zip(batch.rejects["request_id"].to_list(), batch.rejects["reason"].to_list(), strict=True))


# --- a creation time outside the partition's month --------------------------------------------------
def test_a_record_created_outside_the_partition_month_is_rejected_with_the_reason(mappings) -> None:
    batch = stage([record("far", created="2100-06-01T00:00:00.000"),
                   record("before", created="2024-09-30T23:59:59.000"),
                   record("after", created="2024-11-01T00:00:00.000"),
                   record("first", created="2024-10-01T00:00:00.000"),
                   record("last", created="2024-10-31T23:59:59.999"),
                   # 03:30 UTC on 1 November is 23:30 on 31 October in New York: the local month counts
                   record("offset", created="2024-11-01T03:30:00Z"),
                   record("offset_out", created="2024-10-01T03:30:00Z")], mappings)
    assert sorted(batch.rows["request_id"].to_list()) == ["first", "last", "offset"]
    assert reasons(batch) == {
        "far": "creation time outside the partition month 2024-10 (America/New_York time): 2100-06-01T00:00:00.000",
        "before": "creation time outside the partition month 2024-10 (America/New_York time): "
                  "2024-09-30T23:59:59.000",
        "after": "creation time outside the partition month 2024-10 (America/New_York time): "
                 "2024-11-01T00:00:00.000",
        "offset_out": "creation time outside the partition month 2024-10 (America/New_York time): "
                      "2024-10-01T03:30:00Z",
    }
    assert batch.stats["created_max"] < "2024-11-01 05:00"


def test_staging_a_partition_writes_far_out_records_to_raw_rejects() -> None:
    con = duckdb.connect()
    apply_ddl(con)
    raw = raw_of([record("ok"), record("far", created="2100-06-01T00:00:00.000")])
    replace_many(con, [Upsert("raw.service_request_records", raw, key="request_id",
                              where={"city_id": "new_york", "partition_month": "2024-10"})])
    result = stage_partition(con, "new_york", "2024-10", NYC, load_mappings())
    assert result.rows_in_partition == 1 and result.created_max is not None and result.created_max < "2024-11"
    assert query(con, "SELECT request_id FROM staging.service_requests").rows() == [("ok",)]
    assert query(con, "SELECT request_id, stage, reason FROM raw.rejects").rows() == [
        ("far", "stage", "creation time outside the partition month 2024-10 (America/New_York time): "
                         "2100-06-01T00:00:00.000")]


def test_month_bounds_are_the_local_month_in_utc() -> None:
    assert month_bounds_utc("2024-10", NYC) == (datetime(2024, 10, 1, 4, tzinfo=UTC),
                                                datetime(2024, 11, 1, 4, tzinfo=UTC))
    assert month_bounds_utc("2024-12", "Asia/Shanghai") == (datetime(2024, 11, 30, 16, tzinfo=UTC),
                                                            datetime(2024, 12, 31, 16, tzinfo=UTC))
    with pytest.raises(ValueError, match="not a month"):
        month_bounds_utc("2024-13", NYC)


def test_without_a_month_any_creation_time_stages(mappings) -> None:
    """stage_requests alone (no partition named) keeps judging dates only by whether they can be real."""
    batch = stage([record("far", created="2100-06-01T00:00:00.000")], mappings, month=None)
    assert batch.rows["request_id"].to_list() == ["far"]


# --- lists and objects where one value belongs --------------------------------------------------------
@pytest.mark.parametrize(("values", "reason"), [
    ({"lat": [40.7, -73.9]}, "latitude is a list, not a single value: [40.7, -73.9]"),
    ({"lon": {"value": -73.9}}, 'longitude is an object, not a single value: {"value": -73.9}'),
    ({"status": {"code": 2, "name": "Closed"}},
     'status is an object, not a single value: {"code": 2, "name": "Closed"}'),
    ({"type": ["Noise", "Noise - Residential"]},
     'category is a list, not a single value: ["Noise", "Noise - Residential"]'),
    ({"channel": {"name": "PHONE"}}, 'channel is an object, not a single value: {"name": "PHONE"}'),
    ({"agency": ["NYPD"]}, 'agency is a list, not a single value: ["NYPD"]'),
    ({"created": ["2024-10-15T08:00:00.000"]}, 'created_at is a list, not a single value: ["2024-10-15T08:00:00.000"]'),
    ({"closed": {"date": "2024-10-16"}}, 'closed_at is an object, not a single value: {"date": "2024-10-16"}'),
])
def test_a_list_or_an_object_where_one_value_belongs_is_rejected(mappings, values: dict, reason: str) -> None:
    batch = stage([record("ok"), record("bad", **values)], mappings)
    assert batch.rows["request_id"].to_list() == ["ok"]
    assert reasons(batch) == {"bad": reason}
    assert batch.rows["quality_flags"].to_list() == [[]]


def test_the_columnar_read_and_the_record_read_agree_on_a_list_valued_field(mappings) -> None:
    """A page of text fields is read as columns; one list sends it to the record-by-record read, whose
    JSON text staging recognizes: the list is rejected, the other records staged as before."""
    good = [record(str(i)) for i in range(5)]
    assert stage(good, mappings).rows.height == 5
    batch = stage([*good, record("5", lat=[40.7])], mappings)
    assert batch.rows.height == 5 and reasons(batch) == {"5": "latitude is a list, not a single value: [40.7]"}


def test_text_that_only_opens_with_a_bracket_is_a_value(mappings) -> None:
    batch = stage([record("1", type="[Noise] Loud music", agency="{DEP}", status="[closed")], mappings)
    assert batch.rejects.height == 0
    row = batch.rows.row(0, named=True)
    assert (row["category_raw"], row["agency"], row["status_raw"]) == ("[Noise] Loud music", "{DEP}", "[closed")


# --- coordinates that are not numbers in range -----------------------------------------------------------
def test_a_coordinate_that_is_not_a_number_in_range_is_nulled_and_flagged(mappings) -> None:
    batch = stage([record("text", lat="forty"), record("range", lon="-273.9"), record("nan", lat=float("nan")),
                   record("comma", lat="40,7"), record("ok"), record("blank", lat="", lon=None),
                   record("number", lat=40.7, lon=-73.9)], mappings)
    rows = {r["request_id"]: r for r in batch.rows.iter_rows(named=True)}
    assert batch.rejects.height == 0
    for rid in ("text", "range", "nan", "comma"):
        assert "invalid_coordinates" in rows[rid]["quality_flags"], rid
    assert rows["text"]["latitude"] is None and rows["text"]["longitude"] == -73.9
    assert rows["range"]["longitude"] is None and rows["range"]["latitude"] == 40.7
    for rid in ("ok", "blank", "number"):
        assert "invalid_coordinates" not in rows[rid]["quality_flags"], rid
    assert (rows["number"]["latitude"], rows["number"]["longitude"]) == (40.7, -73.9)
    assert batch.stats["flag_invalid_coordinates"] == 4


def test_raw_rows_built_by_hand_take_the_same_checks(mappings) -> None:
    """Rows already in raw (landed before this check) are judged when re-staged, not only new fetches."""
    base = {c: None for c in RAW_SCHEMA}
    base.update(city_id="new_york", source_id="nyc_311_socrata", partition_month="2024-10", page_number=0,
                sha256="ab" * 32, is_synthetic=False, created_raw="2024-10-02T10:00:00.000")
    raw = pl.DataFrame([{**base, "request_id": "1", "status_raw": '{"a": 1}'},
                        {**base, "request_id": "2", "latitude_raw": "[1, 2]"},
                        {**base, "request_id": "3", "status_raw": "Open"}], schema=RAW_SCHEMA)
    batch = stage_requests(raw, NYC, mappings, month="2024-10")
    assert batch.rows["request_id"].to_list() == ["3"]
    assert reasons(batch) == {"1": 'status is an object, not a single value: {"a": 1}',
                              "2": "latitude is a list, not a single value: [1, 2]"}
