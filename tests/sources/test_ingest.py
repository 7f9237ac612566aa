"""One city-month into raw, as the library plans it (no Dagster): which connectors pull incrementally,
the cursors read, the write plan of a full and of an incremental pull, and a failed fetch that plans
nothing but its fetch-log row."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from pytest_httpserver import HTTPServer

from hotline_eval.config.registry import City
from hotline_eval.errors import SourceFormatError
from hotline_eval.publish.warehouse import Append, Replace, Upsert, replace_many
from hotline_eval.sources import fetch_request_month, socrata, supports_incremental
from hotline_eval.sources.ingest import fetch_partition, partition_state
from tests.helpers import make_client, nyc_record, serve_socrata_query

MONTH = "2024-03"
PARTITION = "new_york|2024-03"


def _serve(server: HTTPServer, city: City, records: list[dict] | str, since: str | None = None) -> None:
    source = city.sources[0]
    where = socrata.month_where(source, MONTH) + (f" AND :updated_at > '{since}'" if since else "")
    serve_socrata_query(server, source, where, records)


def _fetch(city: City, con: duckdb.DuckDBPyConnection, tmp_path: Path, *, incremental: bool = False):
    state = partition_state(con, city, MONTH, incremental=incremental)
    return fetch_partition(make_client(tmp_path), city, MONTH, state, run_id="r1", partition_key=PARTITION,
                           archive_dir=str(tmp_path / "archive"))


def test_only_connectors_that_declare_it_pull_incrementally(city: City) -> None:
    socrata_source = city.sources[0]
    ckan_source = socrata_source.model_copy(update={"kind": "ckan"})
    assert supports_incremental(socrata_source) and not supports_incremental(ckan_source)
    with pytest.raises(NotImplementedError, match="incremental pulls are not supported for ckan"):
        fetch_request_month(None, ckan_source, city.id, MONTH, timezone=city.timezone, since="2024-03-01T00:00:00Z")


def test_a_full_pull_plans_every_table_and_reports_its_numbers(server: HTTPServer, city: City, con, tmp_path) -> None:
    _serve(server, city, [nyc_record(1, "2024-03-01T08:00:00.000"), nyc_record(2, "2024-03-02T08:00:00.000"),
                          {"created_date": "2024-03-03T08:00:00.000"}])
    result = _fetch(city, con, tmp_path, incremental=True)  # nothing landed yet: no cursor, a full pull
    assert result.failure is None
    assert [(type(w).__name__, w.table) for w in result.writes] == [
        ("Replace", "raw.service_request_records"), ("Replace", "raw.source_fields"), ("Append", "raw.fetch_log"),
        ("Replace", "raw.http_archive"), ("Replace", "raw.rejects")]
    metadata = result.metadata()
    assert (metadata["dagster/row_count"], metadata["rejected"], metadata["refresh"]) == (2, 1, "nyc_311_socrata=full")
    assert metadata["pages"] == 1 and len(metadata["archive_sha256s"]) == 1
    # no history yet, so nothing is new; mapped fields no record carried are noted
    assert result.drift_notes == {"nyc_311_socrata": {"new": [], "missing_mapped": [
        "closed_date", "resolution_action_updated_date", "resolution_description"]}}


def test_an_incremental_pull_upserts_from_the_cursor(server: HTTPServer, city: City, con, tmp_path) -> None:
    _serve(server, city, [nyc_record(1, "2024-03-01T08:00:00.000", updated="2024-03-01T10:00:01.000Z")])
    replace_many(con, _fetch(city, con, tmp_path).writes)
    assert partition_state(con, city, MONTH, incremental=False).cursors == {}
    state = partition_state(con, city, MONTH, incremental=True)
    assert state.cursors == {"nyc_311_socrata": "2024-03-01T10:00:01.000Z"}

    _serve(server, city, [nyc_record(1, "2024-03-01T08:00:00.000", updated="2024-03-05T10:00:00.000Z")],
           since="2024-03-01T10:00:01.000Z")
    result = _fetch(city, con, tmp_path, incremental=True)
    rows, _fields, log, archive = result.writes  # no rejects: nothing to append
    assert isinstance(rows, Upsert) and rows.key == "request_id"
    assert isinstance(log, Append) and log.rows["refresh"].to_list() == ["incremental"]
    assert isinstance(archive, Append)


def test_a_failed_fetch_plans_only_its_log_row(server: HTTPServer, city: City, con, tmp_path) -> None:
    _serve(server, city, "<html><body>Down for maintenance</body></html>")
    result = _fetch(city, con, tmp_path)
    assert isinstance(result.failure.error, SourceFormatError)
    assert result.failure.message.startswith(f"new_york {MONTH} nyc_311_socrata: ")
    (write,) = result.writes
    assert isinstance(write, Append) and write.table == "raw.fetch_log"
    assert write.rows.select("status", "refresh").row(0) == ("failed", "full")
    assert not isinstance(write, Replace) and result.batches == []
