"""A feed whose every record is rejected fails its partition (issue #19, 8): the failure names the
commonest reject reason and the count, is not retried, and still writes the rejects and the failed
fetch-log row; the partition's rows stay as they were."""

from __future__ import annotations

from pathlib import Path

from pytest_httpserver import HTTPServer

from hotline_eval.config.registry import City
from hotline_eval.errors import is_retryable
from hotline_eval.publish.warehouse import query, replace_many
from hotline_eval.sources import socrata
from hotline_eval.sources.ingest import fetch_partition, partition_state
from tests.helpers import make_client, nyc_record, serve_socrata_query

MONTH = "2024-03"
PARTITION = "new_york|2024-03"


def _fetch_into(server: HTTPServer, city: City, con, tmp_path: Path, records: list[dict]):
    source = city.sources[0]
    serve_socrata_query(server, source, socrata.month_where(source, MONTH), records)
    state = partition_state(con, city, MONTH, incremental=False)
    result = fetch_partition(make_client(tmp_path), city, MONTH, state, run_id="r2", partition_key=PARTITION,
                             archive_dir=str(tmp_path / "archive"))
    replace_many(con, result.writes)
    return result


def _no_id(day: int) -> dict:
    record = nyc_record(day, f"2024-03-{day:02d}T08:00:00.000")
    del record["unique_key"]
    return record


def test_a_feed_whose_every_record_is_rejected_fails_naming_the_commonest_reason(
        server: HTTPServer, city: City, con, tmp_path) -> None:
    landed = _fetch_into(server, city, con, tmp_path, [nyc_record(1, "2024-03-01T08:00:00.000")])
    assert landed.failure is None
    # the feed renamed its id field: five records without one, one that is not an object
    result = _fetch_into(server, city, con, tmp_path, [_no_id(d) for d in range(1, 6)] + ["not a record"])
    assert result.failure is not None and not is_retryable(result.failure.error)
    message = result.failure.message
    assert message.startswith(f"new_york {MONTH} nyc_311_socrata: all 6 records were rejected")
    assert "(5 of 6): missing request id field 'unique_key'" in message
    # the rejects and the failed fetch-log row are written; the rows landed before stay
    assert query(con, "SELECT count(*) AS n FROM raw.rejects WHERE stage = 'fetch'").item() == 6
    log = query(con, "SELECT status, error FROM raw.fetch_log ORDER BY fetched_at").rows()
    assert log == [("ok", None), ("failed", message)]
    assert query(con, "SELECT request_id FROM raw.service_request_records").rows() == [("1",)]


def test_some_rejected_records_do_not_fail_the_partition(server: HTTPServer, city: City, con, tmp_path) -> None:
    result = _fetch_into(server, city, con, tmp_path, [nyc_record(1, "2024-03-01T08:00:00.000"), _no_id(2)])
    assert result.failure is None and result.rejected == 1


def test_an_empty_month_is_not_a_failure(server: HTTPServer, city: City, con, tmp_path) -> None:
    assert _fetch_into(server, city, con, tmp_path, []).failure is None
