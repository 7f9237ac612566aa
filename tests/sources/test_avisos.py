"""Madrid's Avisos feed (issue #19): ``/requests?jurisdiction_ids=es.madrid&limit=100`` answers only its latest
requests, so the partition is what scheduled polls captured. Polled twice with overlap, over real HTTP and
into a real warehouse: rows seen in the first poll and not the second are kept, rows in both are not
duplicated, the newer version of a row wins by its update stamp, and the metadata says the partition is
what the polls captured (how many, the first and the last). The polls are hand-written in the feed's shape
(tests/fixtures/avisos/, from the saved answers of this URL in javierarce/avisos-madrid)."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from hotline_eval.config.registry import City, load_registry
from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import Archive
from hotline_eval.fetch.http import HttpClient, HttpPolicy
from hotline_eval.publish.warehouse import Upsert, query, replace_many
from hotline_eval.sources import avisos
from hotline_eval.sources.demo import DemoFeed, Invented, Vocabulary
from hotline_eval.sources.ingest import PartitionFetch, fetch_partition, partition_state
from hotline_eval.staging.mappings import load_mappings
from hotline_eval.staging.partition import stage_partition
from tests.helpers import FIXTURES, make_client

MONTH = "2024-06"
TZ = "Europe/Madrid"
POLLS = FIXTURES / "avisos"
ROWS_SQL = ("SELECT request_id, status_raw, updated_raw, category_raw, sha256 FROM raw.service_request_records "
            "WHERE source_id = 'madrid_avisos' AND partition_month = ? ORDER BY request_id")


def sha(name: str) -> str:
    return hashlib.sha256((POLLS / name).read_bytes()).hexdigest()


class Feed:
    """The Avisos endpoint: answers ``body`` (the poll's file) to the query the connector must send."""

    def __init__(self) -> None:
        self.body, self.content_type = b"[]", "application/json"

    def answer(self, name: str) -> None:
        self.body = (POLLS / name).read_bytes()
        self.content_type = "text/html" if name.endswith(".html") else "application/json"

    def __call__(self, request: Request) -> Response:
        assert dict(request.args) == {"jurisdiction_ids": "es.madrid", "limit": "100"}
        return Response(self.body, content_type=self.content_type)


@pytest.fixture
def feed(server: HTTPServer) -> Feed:
    feed = Feed()
    server.expect_request("/requests").respond_with_handler(feed)
    return feed


def madrid(server: HTTPServer, **changes) -> City:
    """Madrid of the registry, its Avisos source pointed at the loopback server."""
    city = load_registry().city("madrid")
    source = next(s for s in city.sources if isinstance(s, avisos.AvisosSource))
    source = source.model_copy(update={"base_url": server.url_for("/").rstrip("/"), **changes})
    return city.model_copy(update={"sources": [source]})


def poll(city: City, con: duckdb.DuckDBPyConnection, tmp_path: Path, month: str = MONTH) -> PartitionFetch:
    """One scheduled run of the partition: read its state, fetch, write the plan."""
    state = partition_state(con, city, month, incremental=True)  # as the daily schedule runs it
    result = fetch_partition(make_client(tmp_path), city, month, state, run_id="run", partition_key=f"madrid|{month}",
                             archive_dir=str(tmp_path / "archive"))
    replace_many(con, result.writes)
    return result


def test_a_poll_reads_the_latest_requests_as_published(server: HTTPServer, client: HttpClient, feed: Feed) -> None:
    feed.answer("poll_1.json")
    source = madrid(server).sources[0]
    assert source.accumulate and "what the polls captured" in (source.coverage_note or "")
    batch = avisos.fetch_month(client, source, "madrid", MONTH, timezone=TZ)
    rows = batch.rows.sort("request_id")
    assert rows["request_id"].to_list() == [f"831710{i}" for i in range(1, 7)]
    first = rows.row(1, named=True)
    assert (first["created_raw"], first["updated_raw"], first["status_raw"], first["category_raw"]) == (
        "2024-06-17T17:22:19+00:00", "2024-06-17T17:22:21+00:00", "middle_node", "Nueva instalación.")
    assert (first["latitude_raw"], first["longitude_raw"]) == ("40.3712843", "-3.7391277")
    assert rows["status_raw"].to_list() == ["final_not_ok_node", "middle_node", "final_ok_node", "middle_node",
                                            "middle_node", "middle_node"]
    assert {"status_node", "typology", "token", "current_node_estimated_start_datetime"} <= batch.fields_seen
    # a poll of the next month's partition: every request is from June, none is kept, none is rejected
    july = avisos.fetch_month(client, source, "madrid", "2024-07", timezone=TZ)
    assert (july.rows.height, july.dropped_outside_month, july.rejects.height) == (0, 6, 0)


def test_two_overlapping_polls_accumulate(server: HTTPServer, feed: Feed, con: duckdb.DuckDBPyConnection,
                                          tmp_path: Path) -> None:
    """Poll 1 has 8317101-06; poll 2 (an hour later) has 8317104-10: 8317105 has since been closed (a newer
    stamp), 8317106 is unchanged (the same stamp: the later poll's copy), and 8317104 comes back in an older
    state than poll 1 saw (a stale answer: the landed, newer version stays)."""
    city = madrid(server)
    feed.answer("poll_1.json")
    first = poll(city, con, tmp_path)
    assert first.failure is None and first.metadata()["coverage"]["madrid_avisos"]["polls"] == 1

    feed.answer("poll_2.json")
    second = poll(city, con, tmp_path)
    assert second.failure is None
    rows_write = second.writes[0]
    assert isinstance(rows_write, Upsert) and rows_write.key == "request_id"  # merged, never a Replace

    rows = query(con, ROWS_SQL, [MONTH])
    assert rows["request_id"].to_list() == [f"83171{n:02d}" for n in range(1, 11)]  # each once
    by_id = {r["request_id"]: r for r in rows.iter_rows(named=True)}
    for kept in ("8317101", "8317102", "8317103"):  # in poll 1 only: kept, from poll 1's page
        assert by_id[kept]["sha256"] == sha("poll_1.json")
    assert (by_id["8317105"]["status_raw"], by_id["8317105"]["updated_raw"], by_id["8317105"]["sha256"]) == (
        "final_ok_node", "2024-06-17T18:31:09+00:00", sha("poll_2.json"))  # closed since: the newer version
    assert (by_id["8317104"]["updated_raw"], by_id["8317104"]["sha256"]) == (
        "2024-06-17T17:59:30+00:00", sha("poll_1.json"))  # the stale copy of poll 2 did not win
    assert by_id["8317106"]["sha256"] == sha("poll_2.json")  # the same stamp: the later poll's copy
    assert by_id["8317110"]["category_raw"] == "Alcantarillado"

    coverage = second.metadata()["coverage"]["madrid_avisos"]
    assert coverage["captured"].startswith("what the polls captured")
    assert (coverage["polls"], coverage["requests"], coverage["older_versions_ignored"]) == (2, 10, 1)
    # the first poll is the first run's (its fetch-log time), the last this run's
    first_logged = query(con, "SELECT min(fetched_at) AS t FROM raw.fetch_log WHERE source_id = 'madrid_avisos'")
    assert datetime.fromisoformat(coverage["first_poll"]) == first_logged["t"][0]
    assert datetime.fromisoformat(coverage["first_poll"]) < datetime.fromisoformat(coverage["last_poll"])
    # both polls' pages still back the rows, and each poll is in the fetch log
    archived = query(con, "SELECT sha256 FROM raw.http_archive WHERE source_id = 'madrid_avisos' ORDER BY fetched_at")
    assert set(archived["sha256"]) == {sha("poll_1.json"), sha("poll_2.json")}
    log = query(con, "SELECT refresh, status, rows_landed FROM raw.fetch_log WHERE source_id = 'madrid_avisos'")
    assert log.rows() == [("accumulate", "ok", 6), ("accumulate", "ok", 6)]

    # staging reads the accumulated partition: the three node types map to open, closed and cancelled
    staged = stage_partition(con, "madrid", MONTH, TZ, load_mappings(), delta=False)
    assert staged.rows_in_partition == 10
    statuses = query(con, "SELECT status, count(*) AS n FROM staging.service_requests GROUP BY status ORDER BY status")
    assert statuses.rows() == [("cancelled", 1), ("closed", 3), ("open", 6)]


def test_a_rejected_poll_fails_and_keeps_what_earlier_polls_landed(server: HTTPServer, feed: Feed,
                                                                   con: duckdb.DuckDBPyConnection,
                                                                   tmp_path: Path) -> None:
    """The host's firewall answers some polls with an HTML "Request Rejected" page: the run fails naming the
    URL and the page, writes only its failed fetch-log row, and the partition keeps its rows; the next good
    poll counts only the good polls."""
    city = madrid(server)
    feed.answer("poll_1.json")
    poll(city, con, tmp_path)
    feed.answer("request_rejected.html")
    failed = poll(city, con, tmp_path)
    assert failed.failure is not None and isinstance(failed.failure.error, SourceFormatError)
    assert "got an HTML page ('Request Rejected')" in failed.failure.message
    assert server.url_for("/requests") in failed.failure.message
    assert [w.table for w in failed.writes] == ["raw.fetch_log"]
    assert query(con, ROWS_SQL, [MONTH]).height == 6
    feed.answer("poll_2.json")
    assert poll(city, con, tmp_path).metadata()["coverage"]["madrid_avisos"]["polls"] == 2


def test_a_json_object_instead_of_the_array_is_a_clear_error(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/requests").respond_with_json({"code": 401, "message": "Invalid app_key"})
    with pytest.raises(SourceFormatError, match=r"/requests\?.*expected a JSON array of requests, got an object "
                                                r"with keys code, message"):
        avisos.fetch_month(client, madrid(server).sources[0], "madrid", MONTH, timezone=TZ)


def test_without_accumulate_each_poll_replaces_the_partition(server: HTTPServer, feed: Feed,
                                                             con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    """The default of other feeds, and what ``accumulate: true`` exists to avoid: poll 2 alone remains."""
    city = madrid(server, accumulate=False)
    feed.answer("poll_1.json")
    poll(city, con, tmp_path)
    feed.answer("poll_2.json")
    result = poll(city, con, tmp_path)
    assert "coverage" not in result.metadata()
    assert query(con, ROWS_SQL, [MONTH])["request_id"].to_list() == [f"83171{n:02d}" for n in range(4, 11)]


def test_the_demo_writer_is_one_poll_the_connector_and_the_directory_read(tmp_path: Path) -> None:
    """write_demo stores one answer of the poll URL (the newest ``limit`` invented requests, newest first);
    replayed, it is a poll; it carries service_id and typology for the services directory on the same URL."""
    city = load_registry().city("madrid")
    source = city.sources[0].model_copy(update={"limit": 3})
    vocab = Vocabulary(open_statuses=("middle_node",), closed_status="final_ok_node", cancelled_status=None,
                       channels=(), categories=("Farola apagada", "Alcantarillado"), agencies=(),
                       districts=("Calle Mayor, 3",), timestamp_format="%Y-%m-%dT%H:%M:%S+02:00")
    items = [Invented(number=i, created=datetime(2024, 6, 10 + i, 12, 0), closed=None, status="middle_node",
                      category=vocab.categories[i % 2], channel=None, agency=None, district="Calle Mayor, 3",
                      latitude=40.4168, longitude=-3.7038) for i in range(5)]
    archive = Archive(tmp_path / "demo")
    assert avisos.write_demo(DemoFeed(archive, city, source, random.Random(1), tmp_path, vocabulary=vocab,
                                      months={MONTH: items})) == ["one poll: the latest 3 requests"]
    replay = HttpClient(HttpPolicy(allowed_hosts=frozenset(city.hosts)), mode="replay", replay=archive)
    batch = avisos.fetch_month(replay, source, "madrid", MONTH, timezone=TZ)
    assert batch.is_synthetic and batch.rows["request_id"].to_list() == ["20240600004", "20240600003", "20240600002"]
    assert batch.rows["latitude_raw"][0] == "40.4168" and batch.rows["status_raw"][0] == "middle_node"
    record = batch.pages[0].record_list()[0]
    assert record["typology"] == {"visible_name": "Aviso"} and len(record["service_id"]) == 24
