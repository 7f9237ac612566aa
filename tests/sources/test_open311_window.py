"""London's FixMyStreet feed (issue #19): an Open311 server that answers at most 1,000 requests per call,
the newest first, and does not page. A window whose call returns the cap is split in halves until every
call returns fewer; the pages tile the month with no gap and no request twice; a one-second window that
still returns the cap fails naming it. The server below does what FixMyStreet's Open311 controller does
(perllib/FixMyStreet/App/Controller/Open311.pm: jurisdiction_id required, start_date <= confirmed <
end_date, ``rows => 1000`` ordered by confirmation time descending, ``page`` ignored), serving requests
in its JSON shape (tests/fixtures/fixmystreet/, hand-written)."""

from __future__ import annotations

import copy
import itertools
import json
import random
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from hotline_eval.config.registry import load_registry
from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import Archive
from hotline_eval.fetch.http import HttpClient, HttpPolicy
from hotline_eval.sources import open311, parse_source
from hotline_eval.sources.demo import DemoFeed, Invented, Vocabulary
from hotline_eval.sources.open311_window import midpoint
from tests.helpers import FIXTURES

PATH = "/open311/v2/requests.json"
TZ = "Europe/London"
MONTH = "2024-10"
LONDON = ZoneInfo(TZ)
SAMPLE = json.loads((FIXTURES / "fixmystreet" / "requests_london_2024-10.json").read_text())["service_requests"]


def london_source(server: HTTPServer) -> open311.Open311Source:
    """London's FixMyStreet source as the registry configures it, pointed at the loopback server."""
    source = load_registry().city("london").sources[0]
    assert isinstance(source, open311.Open311Source)
    return source.model_copy(update={"base_url": server.url_for("/open311/v2").rstrip("/")})


def fms_request(number: int, confirmed: datetime) -> dict:
    """A request in FixMyStreet's shape (a sample record of the fixture), its id and time replaced."""
    record = copy.deepcopy(SAMPLE[number % len(SAMPLE)])
    stamp = confirmed.astimezone(LONDON).isoformat()
    record.update(service_request_id=6_000_000 + number, requested_datetime=stamp, updated_datetime=stamp)
    return record


def confirmed_at(record: dict) -> datetime:
    return datetime.fromisoformat(record["requested_datetime"])


class FixMyStreet:
    """What FixMyStreet's ``get_requests`` answers: the requests confirmed in [start_date, end_date), the
    newest ``cap`` of them, in ``{"service_requests": [...]}``; ``inclusive_end`` for a server that also
    counts a request confirmed at ``end_date``. Records each call's window and count."""

    def __init__(self, feed: list[dict], cap: int = 1000, inclusive_end: bool = False) -> None:
        self.feed, self.cap, self.inclusive_end = feed, cap, inclusive_end
        self.calls: list[tuple[str, str, int]] = []

    def __call__(self, request: Request) -> Response:
        args = request.args
        assert "page" not in args and "page_size" not in args  # the server does not page: nothing to send
        if not args.get("jurisdiction_id"):
            return Response("<p>Note: <strong>ERROR: Missing jurisdiction_id</strong></p>", content_type="text/html")
        start, end = datetime.fromisoformat(args["start_date"]), datetime.fromisoformat(args["end_date"])
        inside = [r for r in self.feed if start <= confirmed_at(r) < end
                  or (self.inclusive_end and confirmed_at(r) == end)]
        answer = sorted(inside, key=confirmed_at, reverse=True)[:self.cap]
        self.calls.append((args["start_date"], args["end_date"], len(answer)))
        return Response(json.dumps({"service_requests": answer}), content_type="application/json; charset=utf-8")


def serve(server: HTTPServer, fms: FixMyStreet) -> None:
    server.expect_request(PATH).respond_with_handler(fms)


def month_feed() -> tuple[list[dict], str]:
    """2,650 requests in October 2024: 1,200 on one busy day (the 14th), 1,449 spread over the month (the
    clocks go back on the 27th), and one confirmed exactly on the first split point. Returns the feed and
    that split point."""
    start, end = open311.month_window(MONTH, TZ)
    first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
    busy = datetime(2024, 10, 14, 7, 0, tzinfo=LONDON)
    feed = [fms_request(i, busy + timedelta(seconds=37 * i)) for i in range(1200)]
    step = (last - first) / 1450
    feed += [fms_request(1200 + i, first + step * (i + 1)) for i in range(1449)]
    split = midpoint(start, end, TZ)
    feed.append(fms_request(2649, datetime.fromisoformat(split)))
    return feed, split


def page_window(url: str) -> tuple[str, str]:
    query = parse_qs(urlsplit(url).query)
    return query["start_date"][0], query["end_date"][0]


def test_the_london_source_is_configured_for_fixmystreet(server: HTTPServer, client: HttpClient) -> None:
    """The registry's source: the 33 London councils, jurisdiction_id sent, whole-month window, no paging;
    the requests of the hand-written response land with FixMyStreet's extensions read."""
    source = london_source(server)
    assert source.split_window and source.max_per_call == 1000 and source.jurisdiction_id == "fixmystreet.com"
    assert "partial" in (source.coverage_note or "").lower()
    serve(server, fms := FixMyStreet(SAMPLE))
    batch = open311.fetch_month(client, source, "london", MONTH, timezone=TZ)
    start, end = open311.month_window(MONTH, TZ)
    assert (start, end) == ("2024-10-01T00:00:00+01:00", "2024-11-01T00:00:00+00:00")
    assert fms.calls == [(start, end, 4)]
    (request, _), = [(r, _) for r, _ in server.log if r.path == PATH]
    assert request.args["jurisdiction_id"] == "fixmystreet.com"
    assert request.args["agency_responsible"].split("|") == [str(n) for n in range(2480, 2513)]
    rows = batch.rows.sort("request_id")
    assert rows["request_id"].to_list() == ["5910044", "5911876", "5912120", "5912347"]
    first = rows.row(3, named=True)
    assert (first["created_raw"], first["updated_raw"], first["status_raw"], first["category_raw"]) == (
        "2024-10-21T08:14:03+01:00", "2024-10-22T10:02:51+01:00", "open", "Potholes")
    assert (first["agency_raw"], first["channel_raw"], first["latitude_raw"], first["longitude_raw"]) == (
        '["Bromley Council"]', "Web interface", "51.40217", "0.01963")
    assert rows["agency_raw"][0] == '["Westminster City Council", "TfL"]'
    assert len(batch.pages) == 1 and batch.responses == []


def test_a_month_over_the_cap_is_split_until_every_call_is_under_it(server: HTTPServer,
                                                                   client: HttpClient) -> None:
    """2,650 requests against a cap of 1,000: the month and every window that returns exactly 1,000 are
    split in halves; the calls kept tile the month (each window starts where the one before ended) and
    together hold every request once, the one on the split point included."""
    feed, split = month_feed()
    serve(server, fms := FixMyStreet(feed))
    batch = open311.fetch_month(client, london_source(server), "london", MONTH, timezone=TZ)

    assert batch.rows.height == len(feed) == 2650 and batch.duplicates_dropped == 0
    assert sorted(batch.rows["request_id"].to_list()) == sorted(str(r["service_request_id"]) for r in feed)
    assert batch.dropped_outside_month == 0
    # every kept call returned fewer than the cap, every split one exactly the cap
    assert all(len(page.records) < 1000 for page in batch.pages)
    assert [n for _, _, n in fms.calls].count(1000) == len(batch.responses) >= 2
    assert len(fms.calls) == len(batch.pages) + len(batch.responses)
    # the kept windows tile the month, in order
    windows = [page_window(page.response.url) for page in batch.pages]
    start, end = open311.month_window(MONTH, TZ)
    assert windows[0][0] == start and windows[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    assert fms.calls[0] == (start, end, 1000)  # the whole month was asked first, and cut short
    assert split in {w[0] for w in windows}  # the request on it came back once, in the later half
    assert (batch.rows["request_id"] == "6002649").sum() == 1


def test_a_server_counting_the_end_bound_gives_the_boundary_request_once(server: HTTPServer,
                                                                        client: HttpClient) -> None:
    """A server reading end_date as inclusive answers the request on a split point in both halves: it
    lands once, counted among the duplicates dropped."""
    feed, _split = month_feed()
    serve(server, FixMyStreet(feed, inclusive_end=True))
    batch = open311.fetch_month(client, london_source(server), "london", MONTH, timezone=TZ)
    assert batch.rows.height == 2650 and batch.rows["request_id"].n_unique() == 2650
    assert batch.duplicates_dropped >= 1


def test_a_one_second_window_at_the_cap_fails_naming_it(server: HTTPServer, client: HttpClient) -> None:
    """1,000 requests confirmed in the same second (a bulk import): halving ends at that one second, which
    cannot be split; the fetch fails naming the URL, the window and the cap, not after MAX_CALLS calls."""
    burst = datetime(2024, 10, 14, 9, 0, 0, tzinfo=LONDON)
    feed = [fms_request(i, burst) for i in range(1000)] + [fms_request(1000, burst + timedelta(days=3))]
    serve(server, fms := FixMyStreet(feed))
    with pytest.raises(SourceFormatError) as caught:
        open311.fetch_month(client, london_source(server), "london", MONTH, timezone=TZ)
    message = str(caught.value)
    assert "the window 2024-10-14T09:00:00+01:00 to 2024-10-14T09:00:01+01:00" in message
    assert "1000 requests" in message and "cap of 1000" in message and "london_fixmystreet_open311 2024-10" in message
    assert message.startswith(server.url_for(PATH) + "?")
    assert len(fms.calls) < 60


def test_split_window_needs_the_cap() -> None:
    common = {"id": "x", "kind": "open311", "base_url": "https://example.org", "docs_url": "https://example.org/d",
              "licence": "open"}
    with pytest.raises(ValueError, match="split_window needs max_per_call"):
        parse_source({**common, "split_window": True})
    assert open311.base_params(parse_source(common)) == {}  # a plain source sends only its window and pages


def test_midpoint_is_a_whole_second_in_local_time() -> None:
    assert midpoint("2024-10-01T00:00:00+01:00", "2024-11-01T00:00:00+00:00", TZ) == "2024-10-16T12:30:00+01:00"
    # the day the clocks go back has 25 hours: its midpoint is 12.5 hours in, written with the new offset
    assert midpoint("2024-10-27T00:00:00+01:00", "2024-10-28T00:00:00+00:00", TZ) == "2024-10-27T11:30:00+00:00"
    assert midpoint("2024-10-14T09:00:00+01:00", "2024-10-14T09:00:03+01:00", TZ) == "2024-10-14T09:00:01+01:00"
    assert midpoint("2024-10-14T09:00:00+01:00", "2024-10-14T09:00:01+01:00", TZ) is None


def test_the_demo_writer_answers_the_windows_the_connector_asks_for(tmp_path) -> None:
    """write_demo in split mode (a cap of 3 here, 8 invented requests in October) stores each window the
    connector will ask for, as a capping server would answer it; replayed, every request comes back once."""
    city = load_registry().city("london")
    source = city.sources[0].model_copy(update={"max_per_call": 3})
    vocab = Vocabulary(open_statuses=("open",), closed_status="closed", cancelled_status=None,
                       channels=("Web interface", "iOS"), categories=("Potholes", "Flytipping"),
                       agencies=("Bromley Council",), districts=("",), timestamp_format="%Y-%m-%dT%H:%M:%S")
    items = [Invented(number=i, created=datetime(2024, 10, 3 + 3 * i, 9, 30), closed=None, status="open",
                      category=vocab.categories[i % 2], channel="iOS", agency="Bromley Council", district="",
                      latitude=51.4, longitude=0.02) for i in range(8)]
    archive = Archive(tmp_path / "demo")
    lines = open311.write_demo(DemoFeed(archive, city, source, random.Random(1), tmp_path, vocabulary=vocab,
                                        months={MONTH: items}))
    assert lines[0].startswith("2024-10:     8 records,") and "split)" in lines[0]
    replay = HttpClient(HttpPolicy(allowed_hosts=frozenset(city.hosts)), mode="replay", replay=archive)
    batch = open311.fetch_month(replay, source, "london", MONTH, timezone=TZ)
    assert batch.is_synthetic and batch.rows.height == 8 and batch.duplicates_dropped == 0
    assert len(batch.responses) >= 1 and all(len(page.records) < 3 for page in batch.pages)
