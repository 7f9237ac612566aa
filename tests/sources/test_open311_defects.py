"""Open311 GeoReport v2 servers that do not do what they are asked (issue #19): a server that ignores the
date window or ``page``, one that caps ``page_size`` below ours, and one that answers with something
other than a list of requests. Hand-written GeoReport v2 responses over real HTTP."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources import open311

TZ = "America/Toronto"
PATH = "/open311/v2/requests.json"


def source(server: HTTPServer, page_size: int) -> open311.Open311Source:
    return open311.Open311Source(id="city_open311", kind="open311",
                                 base_url=server.url_for("/open311/v2").rstrip("/"),
                                 docs_url="https://wiki.open311.org/GeoReport_v2", licence="open", page_size=page_size)


def req(i: int, requested: str, status: str = "open") -> dict:
    return {"service_request_id": str(101000000 + i), "status": status, "service_name": "Pot hole",
            "service_code": "CSROWR-12", "requested_datetime": requested, "updated_datetime": requested,
            "address": f"{i} Yonge St", "lat": 43.65 + i / 1000, "long": -79.38, "agency_responsible": "311"}


def oct_requests(n: int) -> list[dict]:
    return [req(i, f"2018-10-{i + 1:02d}T09:00:00-04:00") for i in range(n)]


def serve_pages(server: HTTPServer, pages: list[list[dict]], page_size: int) -> None:
    start, end = open311.month_window("2018-10", TZ)
    for number, page in enumerate(pages, start=1):
        server.expect_request(PATH, query_string={"start_date": start, "end_date": end, "page": str(number),
                                                  "page_size": str(page_size)}).respond_with_json(page)


def requests_made(server: HTTPServer) -> int:
    return sum(1 for request, _ in server.log if request.path == PATH)


def test_a_server_ignoring_the_date_window_gives_only_the_local_month(server: HTTPServer,
                                                                      client: HttpClient) -> None:
    """The whole feed for any window (and any page): only requests created in October, Toronto time, are
    kept, whatever offset they are written with; the others are counted."""
    feed = [
        req(0, "2018-09-30T23:30:00-04:00"),  # September
        req(1, "2018-10-01T03:00:00Z"),  # 23:00 on 30 September in Toronto
        req(2, "2018-10-01T00:30:00-04:00"),
        req(3, "2018-10-15T12:00:00-04:00"),
        req(4, "2018-11-01T03:30:00+00:00"),  # 23:30 on 31 October in Toronto
        req(5, "2018-11-01T10:00:00-04:00"),  # November
        req(6, "2019-03-02T08:00:00-05:00"),  # months later
    ]
    server.expect_request(PATH).respond_with_json({"service_requests": feed})
    batch = open311.fetch_month(client, source(server, 50), "toronto", "2018-10", timezone=TZ)
    assert batch.rows["request_id"].to_list() == ["101000002", "101000003", "101000004"]
    assert batch.dropped_outside_month == 4
    assert batch.rows["partition_month"].unique().to_list() == ["2018-10"]
    # the server answered page 2 with page 1 again and page 1 was short: it does not page; one page kept
    assert len(batch.pages) == 1 and requests_made(server) == 2


def test_a_server_ignoring_page_ends_the_fetch_with_an_error(server: HTTPServer, client: HttpClient,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Full pages, the same again and again: an error naming the URL after the second, not MAX_PAGES
    requests (capped here so that the code before the fix fails quickly rather than after 10,000)."""
    monkeypatch.setattr(open311, "MAX_PAGES", 6)
    server.expect_request(PATH).respond_with_json(oct_requests(2))
    with pytest.raises(SourceFormatError, match=r"requests\.json\?.*page=2.*: page 2 repeats page 1") as caught:
        open311.fetch_month(client, source(server, 2), "toronto", "2018-10", timezone=TZ)
    assert server.url_for(PATH) in str(caught.value) and "cannot be paged" in str(caught.value)
    assert requests_made(server) == 2


@pytest.mark.parametrize("total", [7, 6, 3])
def test_a_server_capping_page_size_is_paged_to_the_end(server: HTTPServer, client: HttpClient, total: int) -> None:
    """We ask for 50 a page, the server gives 3: every request of the month lands, not the first 3; the
    fetch ends on a page shorter than the cap or empty."""
    records = oct_requests(total)
    pages = [records[i:i + 3] for i in range(0, total, 3)]
    if len(pages[-1]) == 3:
        pages.append([])
    serve_pages(server, pages, 50)
    batch = open311.fetch_month(client, source(server, 50), "toronto", "2018-10", timezone=TZ)
    assert batch.rows["request_id"].to_list() == [r["service_request_id"] for r in records]
    assert len(batch.pages) == requests_made(server) == len(pages)


def test_a_short_month_on_a_paging_server_ends_on_the_empty_page(server: HTTPServer, client: HttpClient) -> None:
    serve_pages(server, [oct_requests(2), []], 50)
    batch = open311.fetch_month(client, source(server, 50), "toronto", "2018-10", timezone=TZ)
    assert batch.rows.height == 2 and batch.dropped_outside_month == 0 and requests_made(server) == 2


@pytest.mark.parametrize(("body", "seen"), [
    ({"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "[]"},
     "got an object with keys statusCode, headers, body"),
    ({"service_requests": "none this month"}, "got an object with keys service_requests "
                                              "(service_requests is a JSON str)"),
    ({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8}, "keys a, b, c, d, e, f, ... (8 keys)"),
    ("maintenance", "got a JSON str"),
    (None, "got null"),
])
def test_a_body_that_is_not_a_list_of_requests_is_named(server: HTTPServer, client: HttpClient, body: object,
                                                        seen: str) -> None:
    server.expect_request(PATH).respond_with_json(body)
    with pytest.raises(SourceFormatError) as caught:
        open311.fetch_month(client, source(server, 50), "toronto", "2018-10", timezone=TZ)
    message = str(caught.value)
    assert server.url_for(PATH) in message and "expected a list of service requests" in message
    assert seen in message
