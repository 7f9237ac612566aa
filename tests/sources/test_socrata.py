"""The Socrata connector through real HTTP against a loopback server answering in SODA 2.1 JSON."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from hotline_eval.errors import FetchError, SourceFormatError
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources import socrata
from tests.helpers import nyc_record, nyc_source, serve_socrata_pages, soda_body


def test_month_window_is_half_open_local_time() -> None:
    source = nyc_source("https://data.cityofnewyork.us")
    assert socrata.month_where(source, "2024-12") == (
        "created_date >= '2024-12-01T00:00:00' AND created_date < '2025-01-01T00:00:00'")


def test_paging_across_three_pages_keeps_a_boundary_duplicate_once(server: HTTPServer, client: HttpClient) -> None:
    source = nyc_source(server.url_for("/").rstrip("/"), page_size=3)
    # record 3 shows up again at the top of page 2 (rows shifted while paging), updated in between
    pages = [
        [nyc_record(1, "2024-03-01T08:00:00.000", closed="2024-03-01T09:00:00.000"),
         nyc_record(2, "2024-03-02T08:00:00.000", status="Open"),
         nyc_record(3, "2024-03-03T08:00:00.000", status="Open", updated="2024-03-03T08:00:00.000Z")],
        [nyc_record(3, "2024-03-03T08:00:00.000", closed="2024-03-04T08:00:00.000",
                    updated="2024-03-04T08:00:00.000Z"),
         nyc_record(4, "2024-03-04T08:00:00.000", status="Open"),
         nyc_record(5, "2024-03-05T08:00:00.000", status="Open")],
        [nyc_record(6, "2024-03-31T23:59:00.000", status="Open")],
    ]
    serve_socrata_pages(server, source, "2024-03", pages)
    batch = socrata.fetch_month(client, source, "new_york", "2024-03")
    assert len(batch.pages) == 3
    assert batch.rows["request_id"].to_list() == ["1", "2", "3", "4", "5", "6"]
    assert batch.duplicates_dropped == 1
    kept = batch.rows.filter(batch.rows["request_id"] == "3").row(0, named=True)
    assert kept["status_raw"] == "Closed" and kept["closed_raw"] == "2024-03-04T08:00:00.000"
    assert kept["page_number"] == 1
    assert set(batch.rows["sha256"].to_list()) == {p.response.sha256 for p in batch.pages}
    # every request asked for a stable order and the window
    requests = [r for r, _ in server.log if r.path.startswith("/resource/")]
    assert all(r.args["$order"] == ":id" and "created_date >=" in r.args["$where"] for r in requests)
    assert [r.args["$offset"] for r in requests] == ["0", "3", "6"]


def test_app_token_is_sent_as_header_and_never_archived(server: HTTPServer, client: HttpClient, tmp_path) -> None:
    source = nyc_source(server.url_for("/").rstrip("/"), page_size=5)
    serve_socrata_pages(server, source, "2024-03", [[nyc_record(1, "2024-03-01T08:00:00.000")]])
    socrata.fetch_month(client, source, "new_york", "2024-03", app_token="tok-123")
    requests = [r for r, _ in server.log if r.path.endswith(".json")]
    assert [r.path for r in requests] == ["/api/views/erm2-nwe9.json", "/resource/erm2-nwe9.json"]
    assert all(r.headers["X-App-Token"] == "tok-123" for r in requests)
    assert "tok-123" not in "".join(p.read_text() for p in (tmp_path / "archive").rglob("*.json"))


def test_record_without_id_is_rejected_with_reason(server: HTTPServer, client: HttpClient) -> None:
    source = nyc_source(server.url_for("/").rstrip("/"), page_size=5)
    bad = nyc_record(9, "2024-03-01T08:00:00.000")
    del bad["unique_key"]
    serve_socrata_pages(server, source, "2024-03", [[nyc_record(1, "2024-03-01T08:00:00.000"), bad, "junk"]])
    batch = socrata.fetch_month(client, source, "new_york", "2024-03")
    assert batch.rows.height == 1
    assert sorted(batch.rejects["reason"].to_list()) == ["missing request id field 'unique_key'",
                                                         "record is a str, not an object"]
    assert batch.rejects["sha256"].to_list() == [batch.pages[0].response.sha256] * 2


def test_http_error_mid_paging_returns_nothing(server: HTTPServer, client: HttpClient) -> None:
    source = nyc_source(server.url_for("/").rstrip("/"), page_size=2)
    serve_socrata_pages(server, source, "2024-03", [[nyc_record(1, "2024-03-01T08:00:00.000"),
                                                     nyc_record(2, "2024-03-02T08:00:00.000")]])
    server.expect_request("/resource/erm2-nwe9.json").respond_with_data("upstream error", status=503)
    with pytest.raises(FetchError, match="HTTP 503 after 3 attempts"):
        socrata.fetch_month(client, source, "new_york", "2024-03")


def test_empty_month_is_an_empty_batch(server: HTTPServer, client: HttpClient) -> None:
    source = nyc_source(server.url_for("/").rstrip("/"), page_size=2)
    serve_socrata_pages(server, source, "2024-02", [[]])
    batch = socrata.fetch_month(client, source, "new_york", "2024-02")
    assert batch.rows.height == 0 and batch.rejects.height == 0 and len(batch.pages) == 1


def _both_ways(body: bytes, content_type: str = "application/json;charset=utf-8"):
    """records_to_raw over the page read as columns (as the connector reads it) and decoded record by record."""
    from hotline_eval.fetch.archive import make_response
    from hotline_eval.sources.pages import Page, array_page
    from hotline_eval.sources.records import records_to_raw
    from tests.helpers import NYC_FIELDS

    response = make_response("GET", "https://data.cityofnewyork.us/resource/erm2-nwe9.json", {"$offset": 0}, 200,
                             {"Content-Type": content_type}, body, is_synthetic=True)
    page = array_page(0, response)
    args = {"city_id": "new_york", "source_id": "nyc", "partition_month": "2024-03",
            "updated_system_field": ":updated_at"}
    fast = records_to_raw([page], NYC_FIELDS, **args)
    slow = records_to_raw([Page(number=0, response=response, records=response.json())], NYC_FIELDS, **args)
    return page, fast, slow


def _records(n: int, **extra) -> list[dict]:
    return [nyc_record(i, f"2024-03-{1 + i % 28:02d}T08:00:00.000", **extra) for i in range(n)]


@pytest.mark.parametrize("case", ["text", "late_field", "object_field", "numeric_mapped", "missing_id", "empty",
                                  "latin1"])
def test_a_page_read_as_columns_gives_the_rows_decoding_it_gives(case: str) -> None:
    import json
    records = _records(150, resolution_description="Résolu — «done»")
    content_type = "application/json;charset=utf-8"
    if case == "late_field":  # a field only after the first hundred records (where the schema is inferred)
        records[140]["new_field"] = "x"
    elif case == "object_field":  # Socrata's location column is an object; it is not read
        for r in records:
            r["location"] = {"latitude": r["latitude"], "human_address": "{}"}
    elif case == "numeric_mapped":  # a mapped field that is a number in some records: decoded instead
        records[120]["latitude"] = 40.5
    elif case == "missing_id":
        del records[7]["unique_key"]
    elif case == "empty":
        records = []
    elif case == "latin1":
        content_type = "application/json;charset=iso-8859-1"
    body = json.dumps(records, ensure_ascii=False).encode("latin-1" if case == "latin1" else "utf-8",
                      errors="replace")
    page, fast, slow = _both_ways(body, content_type)
    assert fast.rows.equals(slow.rows)
    assert fast.rejects.equals(slow.rejects)
    assert fast.fields_seen == slow.fields_seen
    read_as_columns = page.frame is not None
    assert read_as_columns == (case in {"text", "late_field", "object_field", "numeric_mapped", "missing_id", "empty"})
    if case == "late_field":
        assert "new_field" in fast.fields_seen
    if case == "missing_id":
        assert fast.rejects.height == 1 and fast.rows.height == 149
    assert page.count == len(records)


@pytest.mark.parametrize(("body", "message"), [
    (b'{"error": true, "message": "query timeout"}', "expected a JSON array"),
    (b'[{"unique_key": "1"', "is not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
def test_a_body_that_is_not_an_array_of_records_fails_naming_the_url(body: bytes, message: str) -> None:
    from hotline_eval.errors import SourceFormatError
    with pytest.raises(SourceFormatError, match=rf"erm2-nwe9\.json.*{message}"):
        _both_ways(body)


def _compact(records: list[dict]) -> bytes:
    """A page as SODA writes it: compact, one record per line."""
    return soda_body(records).encode()


def _late(records: list[dict], at: int, **fields: str) -> list[dict]:
    records[at].update(fields)
    return records


def _read_in_turn(bodies: list[bytes]):
    """Pages read one after another as socrata.fetch_pages reads them, each with the schema learned so far."""
    from hotline_eval.fetch.archive import make_response
    from hotline_eval.sources.pages import ArrayPageReader
    reader = ArrayPageReader()
    return [reader.read(number, make_response("GET", "https://data.cityofnewyork.us/resource/erm2-nwe9.json",
                                              {"$offset": number}, 200, {"Content-Type": "application/json"},
                                              body, is_synthetic=True))
            for number, body in enumerate(bodies)]


def _same_frame(page) -> None:
    """The page's frame holds exactly what reading it with every record's fields holds."""
    import polars as pl
    inferred = pl.read_json(page.response.body, infer_schema_length=None)
    held = page.frame.select(sorted(inferred.columns))
    assert held.equals(inferred.select(sorted(inferred.columns)))
    extra = [c for c in page.frame.columns if c not in inferred.columns]
    assert page.frame.select(extra).null_count().row(0) == (page.frame.height,) * len(extra)


def test_pages_with_rare_fields_are_read_with_the_fields_of_earlier_pages() -> None:
    from hotline_eval.sources.pages import ALL_RECORDS, FIRST_RECORDS, GIVEN_SCHEMA
    location = {"location": {"type": "Point", "coordinates": [-73.9442, 40.6782]}}
    bodies = [
        _compact(_records(20, **location)),  # a feed whose first page is uniform
        _compact(_late(_records(300, **location), 250, bridge_highway_name="BQE")),  # a rare field, late
        _compact(_late(_records(300, **location), 290, bridge_highway_name="FDR")),
        _compact(_records(300)),  # a page without the rare field (nor location)
    ]
    pages = _read_in_turn(bodies)
    assert [p.read_as for p in pages] == [FIRST_RECORDS, ALL_RECORDS, GIVEN_SCHEMA, GIVEN_SCHEMA]
    for page in pages:
        _same_frame(page)


@pytest.mark.parametrize("case", ["new_top_level", "new_nested", "spaced", "mixed_spacing", "escaped_colon",
                                  "explicit_null", "string_list", "duplicate_key"])
def test_a_page_read_with_learned_fields_loses_no_field(case: str) -> None:
    """Given a schema, polars drops other fields silently: every page that could hide one is read again
    inferring its fields, and the frame holds every field and value the page has."""
    import json

    from hotline_eval.sources.pages import GIVEN_SCHEMA
    location = {"location": {"type": "Point", "coordinates": [-73.9442, 40.6782]}}
    text = {"resolution_description": "Closed, see the report"}
    first = _compact(_late(_records(300, **location, **text), 250, bridge_highway_name="BQE"))
    records = _records(300, **location, **text)
    body = _compact(records)
    if case == "new_top_level":
        body = _compact(_late(records, 280, taxi_company_borough="QUEENS"))
    elif case == "new_nested":
        records[280]["location"] = {**records[280]["location"], "crs": "EPSG:4326"}
        body = _compact(records)
    elif case == "spaced":  # json.dumps' default separators, and a new field
        body = json.dumps(_late(records, 280, taxi_company_borough="QUEENS")).encode()
    elif case == "escaped_colon":  # text holding ', ' and, escaped, '",' and '":'
        body = _compact(_late(records, 280, resolution_description='said "stop", then "wait": done'))
    elif case == "mixed_spacing":  # a new key counted, a known one hidden by a space: the counts balance
        records[280] = {"taxi_company_borough": "QUEENS", **records[280]}
        body = _compact(records).replace(b'"QUEENS","', b'"QUEENS", "', 1)
    elif case == "explicit_null":
        body = _compact(_late(records, 280, landmark=None))
    elif case == "string_list":
        body = _compact(_late(records, 280, tags=["a", "b"]))
    elif case == "duplicate_key":
        body = _compact(records)[:-3] + b',"agency":"DOT"}]\n'
    second = _read_in_turn([first, body])[1]
    _same_frame(second)
    if case in {"new_top_level", "new_nested", "spaced", "mixed_spacing", "explicit_null", "string_list"}:
        assert second.read_as != GIVEN_SCHEMA
    if case == "escaped_colon":
        assert second.read_as == GIVEN_SCHEMA  # the count sees keys only


def test_a_fetch_with_rare_fields_gives_the_rows_of_reading_every_page_alone(server: HTTPServer,
                                                                            client: HttpClient) -> None:
    pages = [[nyc_record(p * 200 + i, f"2024-03-{1 + i % 28:02d}T08:00:00.000",
                         **({"vehicle_type": "Car"} if (p * 200 + i) % 97 == 5 else {}),
                         **({"landmark": "PARK"} if (p * 200 + i) % 151 == 150 else {}))
              for i in range(200 if p < 3 else 17)] for p in range(4)]
    batch, reference = _fetch_and_decode(server, client, pages)
    assert batch.rows.equals(reference.rows)
    assert batch.fields_seen == reference.fields_seen
    assert {"vehicle_type", "landmark"} <= batch.fields_seen


def _fetch_and_decode(server: HTTPServer, client: HttpClient, pages: list[list[dict]],
                      declared: list[str] | None = None, select: str = "all"):
    """A fetch of pages of 200 records (with ``declared``: served with X-SODA2 headers), and the same
    pages' records decoded one by one."""
    from hotline_eval.sources.records import records_to_raw
    from tests.helpers import NYC_FIELDS
    source = nyc_source(server.url_for("/").rstrip("/"), page_size=200, select=select)
    serve_socrata_pages(server, source, "2024-03", pages, declared=declared)
    batch = socrata.fetch_month(client, source, "new_york", "2024-03")
    alone = [type(p)(number=p.number, response=p.response, records=p.response.json()) for p in batch.pages]
    reference = records_to_raw(alone, NYC_FIELDS, city_id="new_york", source_id=source.id,
                               partition_month="2024-03", updated_system_field=":updated_at")
    return batch, reference


NYC_DECLARED = [":id", ":updated_at", "unique_key", "created_date", "closed_date", "agency", "complaint_type",
                "status", "open_data_channel_type", "borough", "latitude", "longitude", "resolution_description",
                "resolution_action_updated_date", "vehicle_type", "landmark", "location"]


def test_pages_that_declare_their_fields_are_read_for_the_mapped_fields_only(server: HTTPServer,
                                                                            client: HttpClient) -> None:
    from hotline_eval.sources.pages import WANTED_OF_DECLARED
    location = {"type": "Point", "coordinates": [-73.9442, 40.6782]}
    pages = [[nyc_record(p * 200 + i, f"2024-03-{1 + i % 28:02d}T08:00:00.000", location=location,
                         **({"closed": "2024-03-29T08:00:00.000"} if i % 3 else {}),
                         **({"vehicle_type": "Car"} if (p * 200 + i) % 97 == 5 else {}),
                         **({"resolution_description": "Done, «fixed»"} if i % 5 == 0 else {}))
              for i in range(200 if p < 2 else 17)] for p in range(3)]
    batch, reference = _fetch_and_decode(server, client, pages, NYC_DECLARED)
    assert [p.read_as for p in batch.pages] == [WANTED_OF_DECLARED] * 3
    # the mapped fields the page declares, and :updated_at; not location, vehicle_type, ...
    assert set(batch.pages[0].frame.columns) == set(socrata.wanted_fields(
        nyc_source("https://x"))) & set(NYC_DECLARED)
    assert batch.rows.equals(reference.rows)
    # seen: what the records carry of the mapped fields, and every declared field not read
    assert batch.fields_seen == reference.fields_seen | {"landmark"}
    assert "landmark" not in reference.fields_seen  # declared, carried by no record


def test_a_declared_mapped_field_no_record_carries_stays_unseen(server: HTTPServer, client: HttpClient) -> None:
    """Drift reports a mapped field that no record has; declaring it must not hide that."""
    import polars as pl

    from hotline_eval.sources.drift import FIELDS_SCHEMA, field_drift
    pages = [[nyc_record(i, "2024-03-02T08:00:00.000") for i in range(5)]]  # no closed_date, no resolution
    batch, reference = _fetch_and_decode(server, client, pages, NYC_DECLARED)
    assert batch.fields_seen - reference.fields_seen == {"landmark", "location", "vehicle_type"}
    assert {"closed_date", "resolution_description"}.isdisjoint(batch.fields_seen)
    drift = field_drift(pl.DataFrame(schema=FIELDS_SCHEMA), "nyc", "2024-03", batch.fields_seen,
                        nyc_source("https://x").fields, had_records=True)
    assert {"closed_date", "resolution_description"} <= set(drift.missing_mapped)


@pytest.mark.parametrize("case", ["object_value", "boolean_value", "mapped_not_declared", "no_records"])
def test_a_declared_page_gives_the_rows_decoding_it_gives(server: HTTPServer, client: HttpClient,
                                                          case: str) -> None:
    from hotline_eval.sources.pages import WANTED_OF_DECLARED
    records = [nyc_record(i, "2024-03-02T08:00:00.000", resolution_description="ok") for i in range(30)]
    declared = list(NYC_DECLARED)
    if case == "object_value":  # a mapped field holding an object: polars refuses it as text
        records[20]["resolution_description"] = {"text": "ok", "by": "DOT"}
    elif case == "boolean_value":
        records[20]["resolution_description"] = True
    elif case == "mapped_not_declared":  # the header leaves out a field the records carry: not read
        declared.remove("resolution_description")
    elif case == "no_records":
        records = []
    batch, reference = _fetch_and_decode(server, client, [records], declared)
    page = batch.pages[0]
    if case == "object_value":
        assert page.read_as != WANTED_OF_DECLARED
        assert batch.rows.equals(reference.rows) and batch.fields_seen == reference.fields_seen
    elif case == "mapped_not_declared":
        assert page.read_as == WANTED_OF_DECLARED
        assert batch.rows["resolution_raw"].null_count() == 30  # what the publisher says is not there
        assert "resolution_description" not in batch.fields_seen
    else:
        assert page.read_as == WANTED_OF_DECLARED
        assert batch.rows.equals(reference.rows)
        if case == "boolean_value":
            assert batch.rows["resolution_raw"][20] == "true"


@pytest.mark.parametrize("headers", [
    {},
    {"x-soda2-fields": "[]", "x-soda2-types": "[]"},
    {"x-soda2-fields": '["a","b"]'},
    {"x-soda2-fields": '["a","b"]', "x-soda2-types": '["text"]'},
    {"x-soda2-fields": '["a",', "x-soda2-types": '["text"]'},
    {"x-soda2-fields": '["a",2]', "x-soda2-types": '["text","text"]'},
    {"x-soda2-fields": '{"a":"text"}', "x-soda2-types": '["text"]'},
])
def test_fields_are_declared_only_by_both_headers_agreeing(headers: dict[str, str]) -> None:
    from hotline_eval.fetch.archive import make_response
    response = make_response("GET", "https://x/resource/a.json", None, 200, headers, b"[]")
    assert socrata.declared_fields(response) is None
    both = make_response("GET", "https://x/resource/a.json", None, 200,
                         {"X-SODA2-Fields": '["a","b"]', "X-SODA2-Types": '["text","point"]'}, b"[]")
    assert socrata.declared_fields(both) == ("a", "b")


class _Fetches:
    """A fetch of pages of SODA JSON by number, logging each call; a missing page raises as replay does."""

    def __init__(self, pages: dict[int, bytes], declared: bool = True) -> None:
        import json
        self.pages, self.log = pages, []
        self.headers = {"Content-Type": "application/json;charset=utf-8"}
        if declared:
            self.headers |= {"X-SODA2-Fields": json.dumps(NYC_DECLARED),
                             "X-SODA2-Types": json.dumps(["text"] * len(NYC_DECLARED))}

    def __call__(self, number: int):
        from hotline_eval.errors import ReplayMissError
        from hotline_eval.fetch.archive import make_response
        self.log.append(number)
        if number not in self.pages:
            raise ReplayMissError(f"page {number} is not in the archive")
        return make_response("GET", "https://data.cityofnewyork.us/resource/erm2-nwe9.json", {"$offset": number},
                             200, self.headers, self.pages[number], is_synthetic=True)


def _read_pages(fetches: _Fetches, page_size: int = 5, max_pages: int = 100):
    """The pages read_pages yields, each with the fetches made by the time it was yielded."""
    reader = socrata.page_reader(nyc_source("https://x", page_size=page_size))
    return [(page, list(fetches.log)) for page in reader.read_pages(fetches, page_size, max_pages)]


@pytest.mark.parametrize("declared", [True, False])
def test_pages_are_read_beside_fetching_the_next_only_when_they_read_alone(declared: bool) -> None:
    bodies = {n: _compact(_records(5 if n < 3 else 2)) for n in range(4)}
    got = _read_pages(_Fetches(bodies, declared))
    in_turn = _Fetches(bodies, declared)
    reader = socrata.page_reader(nyc_source("https://x", page_size=5))
    expected = [reader.read(n, in_turn(n)) for n in range(4)]
    assert [p.number for p, _ in got] == [0, 1, 2, 3]
    for (page, _), same in zip(got, expected, strict=True):
        assert page.read_as == same.read_as and page.frame.equals(same.frame)
    # declared: the next page was fetched (and read beside) before this one was handed over
    assert [log for _, log in got] == ([[0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 3]] if declared
                                       else [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]])


def test_a_page_fetched_ahead_of_a_short_page_is_dropped_with_its_error() -> None:
    # page 1 has five lines but three records: it looks full, page 2 is fetched ahead and is missing
    bodies = {0: _compact(_records(5)), 1: _compact(_records(3)) + b"\n\n"}
    got = _read_pages(_Fetches(bodies))
    assert [(p.number, p.count) for p, _ in got] == [(0, 5), (1, 3)]
    assert got[-1][1] == [0, 1, 2]


def test_errors_ahead_are_raised_when_their_page_is_reached() -> None:
    from hotline_eval.errors import ReplayMissError, SourceFormatError
    reader = socrata.page_reader(nyc_source("https://x", page_size=5))
    for fetches, error, message in [
        (_Fetches({0: _compact(_records(5))}), ReplayMissError, "page 1"),  # fetching page 1 failed
        (_Fetches({0: _compact(_records(5)), 1: b'{"error": true}\n\n\n\n\n'}), SourceFormatError,
         r"erm2-nwe9\.json.*expected a JSON array"),  # reading page 1 (ahead) failed
    ]:
        pages = []
        with pytest.raises(error, match=message):
            for page in reader.read_pages(fetches, 5, 100):
                pages.append(page.number)
        assert pages == [0]


def test_read_pages_stops_at_max_pages_without_fetching_more() -> None:
    fetches = _Fetches({n: _compact(_records(5)) for n in range(5)})
    got = _read_pages(fetches, max_pages=2)
    assert [p.number for p, _ in got] == [0, 1] and fetches.log == [0, 1]


def test_a_fetch_of_more_than_max_pages_fails_naming_it(server: HTTPServer, client: HttpClient, monkeypatch) -> None:
    monkeypatch.setattr(socrata, "MAX_PAGES", 2)
    source = nyc_source(server.url_for("/").rstrip("/"), page_size=2)
    serve_socrata_pages(server, source, "2024-03", [_records(2), _records(2)], declared=NYC_DECLARED)
    with pytest.raises(SourceFormatError, match="more than 2 pages"):
        socrata.fetch_month(client, source, "new_york", "2024-03")


# the query of a source with select: mapped (NYC's mapping, in its order), and the system field the cursor reads
NYC_MAPPED_SELECT = ("unique_key, created_date, closed_date, resolution_action_updated_date, status, "
                     "complaint_type, open_data_channel_type, agency, borough, latitude, longitude, "
                     "resolution_description, :updated_at")


def test_a_mapped_source_asks_for_the_mapped_fields_and_sees_the_others_in_the_metadata(
        server: HTTPServer, client: HttpClient) -> None:
    from hotline_eval.sources.pages import WANTED_OF_DECLARED
    from tests.helpers import NYC_COLUMNS
    location = {"type": "Point", "coordinates": [-73.9442, 40.6782]}
    pages = [[nyc_record(p * 200 + i, f"2024-03-{1 + i % 28:02d}T08:00:00.000", location=location,
                         descriptor="Loud Music/Party", **({"closed": "2024-03-29T08:00:00.000"} if i % 3 else {}))
              for i in range(200 if p < 2 else 17)] for p in range(3)]
    batch, reference = _fetch_and_decode(server, client, pages, NYC_MAPPED_SELECT.split(", "), select="mapped")
    requests = [r for r, _ in server.log]
    assert [r.path for r in requests if r.path.startswith("/api/")] == ["/api/views/erm2-nwe9.json"]
    assert {r.args["$select"] for r in requests if r.path.startswith("/resource/")} == {NYC_MAPPED_SELECT}
    # the pages hold the selected fields only, and are read for them alone
    assert [p.read_as for p in batch.pages] == [WANTED_OF_DECLARED] * 3
    assert b"location" not in batch.pages[0].response.body and b":id" not in batch.pages[0].response.body
    assert batch.rows.equals(reference.rows)
    # the metadata is kept to be archived with the pages
    assert [r.url for r in batch.responses] == [server.url_for("/api/views/erm2-nwe9.json")]
    # seen: the mapped fields a record has (no record has a resolution), and the columns not asked for
    wanted = set(NYC_MAPPED_SELECT.split(", "))
    assert batch.fields_seen == reference.fields_seen | (set(NYC_COLUMNS) - wanted)
    assert {"location", "descriptor", "bbl"} <= batch.fields_seen
    assert {"resolution_description", "resolution_action_updated_date"}.isdisjoint(batch.fields_seen)


def test_a_mapped_field_the_dataset_lost_is_not_asked_for_and_drift_reports_it(
        server: HTTPServer, client: HttpClient) -> None:
    import polars as pl

    from hotline_eval.sources.drift import FIELDS_SCHEMA, field_drift
    from tests.helpers import NYC_COLUMNS
    source = nyc_source(server.url_for("/").rstrip("/"), page_size=5)
    columns = [c for c in NYC_COLUMNS if c != "complaint_type"] + ["complaint_type_311"]  # renamed upstream
    serve_socrata_pages(server, source, "2024-03", [_records(3)], columns=columns)
    batch = socrata.fetch_month(client, source, "new_york", "2024-03")
    select = next(r.args["$select"] for r, _ in server.log if r.path.startswith("/resource/"))
    assert select == NYC_MAPPED_SELECT.replace(" complaint_type,", "")
    assert batch.rows.height == 3 and batch.rows["category_raw"].null_count() == 3
    known = pl.DataFrame({"source_id": "nyc", "field_name": [*NYC_COLUMNS, ":updated_at"],
                          "first_seen_partition": "2024-02", "last_seen_partition": "2024-02"}, schema=FIELDS_SCHEMA)
    drift = field_drift(known, "nyc", "2024-03", batch.fields_seen, source.fields, had_records=True)
    assert "complaint_type" in drift.missing_mapped and drift.new_fields == ["complaint_type_311"]


@pytest.mark.parametrize(("lost", "message"), [("unique_key", "no field unique_key"),
                                               ("created_date", "no field created_date")])
def test_a_dataset_without_the_id_or_creation_field_fails_before_paging(server: HTTPServer, client: HttpClient,
                                                                        lost: str, message: str) -> None:
    from tests.helpers import NYC_COLUMNS, serve_socrata_view
    source = nyc_source(server.url_for("/").rstrip("/"), page_size=5)
    with pytest.raises(SourceFormatError, match=message):
        serve_socrata_view(server, source, [c for c in NYC_COLUMNS if c != lost])  # what the connector asks
    with pytest.raises(SourceFormatError, match=rf"nyc_311_socrata: dataset erm2-nwe9 has {message} any more"):
        socrata.fetch_month(client, source, "new_york", "2024-03")
    assert not [r for r, _ in server.log if r.path.startswith("/resource/")]


@pytest.mark.parametrize(("answer", "error", "message"), [
    ({"id": "erm2-nwe9", "columns": []}, SourceFormatError, "lists no columns with a fieldName"),
    ({"id": "erm2-nwe9"}, SourceFormatError, "lists no columns with a fieldName"),
    ([{"fieldName": "unique_key"}], SourceFormatError, "lists no columns with a fieldName"),
    ("<html>maintenance</html>", SourceFormatError, "response is not JSON"),
    (404, FetchError, "HTTP 404"),
])
def test_metadata_that_cannot_be_read_fails_the_fetch_naming_it(server: HTTPServer, client: HttpClient,
                                                                answer, error, message: str) -> None:
    source = nyc_source(server.url_for("/").rstrip("/"), page_size=5)
    handler = server.expect_request("/api/views/erm2-nwe9.json")
    if answer == 404:
        handler.respond_with_json({"code": "not_found", "error": True, "message": "Cannot find view"}, status=404)
    elif isinstance(answer, str):
        handler.respond_with_data(answer, content_type="text/html")
    else:
        handler.respond_with_json(answer)
    with pytest.raises(error, match=rf"api/views/erm2-nwe9\.json.*{message}"):
        socrata.fetch_month(client, source, "new_york", "2024-03")
    assert not [r for r, _ in server.log if r.path.startswith("/resource/")]
