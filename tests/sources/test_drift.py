"""Schema drift: fields a source gained or lost between partitions."""

from __future__ import annotations

import polars as pl

from hotline_eval.sources.drift import FIELDS_SCHEMA, field_drift


def test_drift_reports_new_and_vanished_fields() -> None:
    known = pl.DataFrame({"source_id": "s", "field_name": ["unique_key", "created_date", "complaint_type"],
                          "first_seen_partition": "2024-09", "last_seen_partition": "2024-09"}, schema=FIELDS_SCHEMA)
    mapping = {"request_id": "unique_key", "created_at": "created_date", "category": "complaint_type"}
    drift = field_drift(known, "s", "2024-10", ["unique_key", "created_date", "problem_type"], mapping,
                        had_records=True)
    assert drift.new_fields == ["problem_type"] and drift.missing_mapped == ["complaint_type"]
    rows = {r["field_name"]: r for r in drift.fields.iter_rows(named=True)}
    assert rows["complaint_type"]["last_seen_partition"] == "2024-09"
    assert rows["problem_type"]["first_seen_partition"] == "2024-10"
    quiet = field_drift(drift.fields, "s", "2024-11", ["unique_key", "created_date", "complaint_type",
                                                       "problem_type"], mapping, had_records=True)
    assert quiet.new_fields == [] and quiet.missing_mapped == []
    empty_month = field_drift(drift.fields, "s", "2024-12", [], mapping, had_records=False)
    assert empty_month.missing_mapped == []
