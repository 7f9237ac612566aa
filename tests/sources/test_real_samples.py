"""Real public 311 rows (../shared/real_samples/, when present) through the real parsers: every row
lands in staging or in the rejects with a reason, times are UTC, the mapped-channel share is reported."""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl
import pytest

from hotline_eval.fetch.archive import make_response
from hotline_eval.sources.ckan import csv_records
from hotline_eval.sources.open311 import STANDARD_FIELDS
from hotline_eval.sources.pages import Page
from hotline_eval.sources.records import records_to_raw
from hotline_eval.staging.mappings import load_mappings
from hotline_eval.staging.service_requests import stage_requests
from tests.helpers import PROJECT, SHARED_SAMPLES

pytestmark = pytest.mark.skipif(not SHARED_SAMPLES.exists(), reason="../shared/real_samples/ is not present")


@dataclass(frozen=True)
class Sample:
    path: str
    reader: str  # csv | json_records | open311_json
    timezone: str
    fields: dict[str, str]


NYC_API = {"request_id": "unique_key", "created_at": "created_date", "closed_at": "closed_date", "status": "status",
           "category": "complaint_type", "channel": "open_data_channel_type", "agency": "agency",
           "district": "borough", "latitude": "latitude", "longitude": "longitude",
           "resolution": "resolution_description"}
SAMPLES = {
    "nyc_csv_export": Sample("nyc311_socrata_csv_export/nyc311_2023-02-28_export_sample.csv", "csv",
                             "America/New_York", {
                                 "request_id": "Unique Key", "created_at": "Created Date",
                                 "closed_at": "Closed Date", "status": "Status", "category": "Complaint Type",
                                 "channel": "Open Data Channel Type", "agency": "Agency", "district": "Borough",
                                 "latitude": "Latitude", "longitude": "Longitude",
                                 "resolution": "Resolution Description"}),
    "nyc_soda_json": Sample("nyc311_soda_json_2026_fixtures", "json_records", "America/New_York", NYC_API),
    "sf_socrata": Sample("sf311_socrata_2023/sf_311_raw_2023-11-28.csv", "csv", "America/Los_Angeles", {
        "request_id": "service_request_id", "created_at": "requested_datetime", "closed_at": "closed_date",
        "status": "status_description", "category": "service_name", "channel": "source",
        "agency": "agency_responsible", "district": "supervisor_district", "latitude": "lat", "longitude": "long",
        "resolution": "status_notes"}),
    "chicago_socrata": Sample("chicago311_socrata_2021/chicago_311_2021-01_sample.csv", "csv", "America/Chicago", {
        "request_id": "sr_number", "created_at": "created_date", "closed_at": "closed_date", "status": "status",
        "category": "sr_type", "channel": "origin", "agency": "owner_department", "district": "ward",
        "latitude": "latitude", "longitude": "longitude"}),
    "boston_ckan": Sample("boston311_ckan/boston311-100.csv", "csv", "America/New_York", {
        "request_id": "case_enquiry_id", "created_at": "open_dt", "closed_at": "closed_dt", "status": "case_status",
        "category": "type", "channel": "source", "agency": "department", "district": "neighborhood",
        "latitude": "latitude", "longitude": "longitude", "resolution": "closure_reason"}),
    "toronto_open311": Sample("open311_toronto/requests_2018-10.json", "open311_json", "America/Toronto",
                              STANDARD_FIELDS),
    "bloomington_open311": Sample("open311_bloomington/requests.json", "open311_json",
                                  "America/Indiana/Indianapolis", STANDARD_FIELDS),
}


def pages_of(sample: Sample) -> list[Page]:
    path = SHARED_SAMPLES / sample.path
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    pages = []
    for number, file in enumerate(files):
        body = file.read_bytes()
        response = make_response("GET", f"https://samples.invalid/{file.name}", None, 200,
                                 {"Content-Type": "application/json" if file.suffix == ".json" else "text/csv"}, body)
        if sample.reader == "csv":
            records = csv_records(body, "text/csv; charset=utf-8", None, file.name)
        else:
            data = json.loads(body)
            records = data.get("service_requests", data) if isinstance(data, dict) and sample.reader == "open311_json" \
                else data
            records = records if isinstance(records, list) else [records]
        pages.append(Page(number=number, response=response, records=records))
    return pages


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_real_sample_lands_in_staging_or_rejects(name: str, record_property) -> None:
    sample = SAMPLES[name]
    pages = pages_of(sample)
    published = sum(p.count for p in pages)
    batch = records_to_raw(pages, sample.fields, city_id=name, source_id=name, partition_month="sample")
    staged = stage_requests(batch.rows, sample.timezone, load_mappings())
    # every published record is accounted for: staged, rejected (with a reason) or a duplicate version
    assert staged.rows.height + staged.rejects.height + batch.rejects.height + batch.duplicates_dropped == published
    reasons = pl.concat([staged.rejects["reason"], batch.rejects["reason"]])
    assert reasons.null_count() == 0 and (reasons.str.len_chars() > 0).all()
    assert staged.rows.height > 0
    assert str(staged.rows.schema["created_at"].time_zone) == "UTC"
    assert staged.rows["created_at"].null_count() == 0
    # share of staged rows whose channel is known (feeds without a channel field score 0)
    channel_share = staged.rows.filter(pl.col("channel") != "unknown").height / staged.rows.height
    record_property("mapped_channel_share", round(channel_share, 3))
    print(f"{name}: {published} published, {staged.rows.height} staged, "
          f"{staged.rejects.height + batch.rejects.height} rejected, mapped channel share {channel_share:.1%}, "
          f"flags {({k: v for k, v in staged.stats.items() if k.startswith('flag_') and v})}")


def test_nyc_export_quirks_are_caught() -> None:
    sample = SAMPLES["nyc_csv_export"]
    batch = records_to_raw(pages_of(sample), sample.fields, city_id="nyc", source_id="nyc", partition_month="s")
    staged = stage_requests(batch.rows, sample.timezone, load_mappings())
    # PROVENANCE.md: 2 rows close before they were created; 146 have no closing date
    assert staged.stats["flag_closed_before_created"] >= 2
    assert staged.rows["closed_at"].null_count() >= 146
    # 12-hour clock, local time: 02/28/2023 11:45:00 PM EST is 04:45 UTC on 1 March
    first = staged.rows.filter(pl.col("request_id") == "56923577").row(0, named=True)
    assert first["created_at"].isoformat() == "2023-03-01T04:45:00+00:00"


def test_chicago_and_sf_channels_map() -> None:
    for name in ("chicago_socrata", "sf_socrata"):
        sample = SAMPLES[name]
        batch = records_to_raw(pages_of(sample), sample.fields, city_id=name, source_id=name, partition_month="s")
        staged = stage_requests(batch.rows, sample.timezone, load_mappings())
        assert staged.stats["unmapped_channel"] == 0, staged.stats["unmapped_values"]


def test_samples_folder_is_outside_the_project() -> None:
    assert not (PROJECT / "real_samples").exists()
