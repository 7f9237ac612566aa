"""ArcGIS REST feature layers and tables (issue #19): Cape Town's service-request table and a generic point
layer, through real HTTP against hand-written Esri JSON (tests/fixtures/arcgis/): paging on
``exceededTransferLimit``, the local month as a ``where`` of UTC timestamps, epoch milliseconds as local
times, error objects in 200 responses, bodies of the wrong shape, geometry in WGS 84, and the demo writer
read back through the connector."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from pydantic import ValidationError
from pytest_httpserver import HTTPServer

from hotline_eval.config.registry import load_registry
from hotline_eval.errors import SourceFormatError, is_retryable
from hotline_eval.fetch.archive import Archive
from hotline_eval.fetch.http import HttpClient, HttpPolicy
from hotline_eval.sources import arcgis, parse_source, write_demo
from hotline_eval.sources.arcgis import ArcgisFeatureServerSource
from hotline_eval.sources.demo import DemoFeed, Invented, Vocabulary
from hotline_eval.staging.mappings import load_mappings
from hotline_eval.staging.service_requests import stage_requests
from tests.helpers import FIXTURES

TZ = "Africa/Johannesburg"
SERVICE = "nyYfO9SxHU2ChQd9/arcgis/rest/services/Service_Requests_2023_until_20_May_2026/FeatureServer"
QUERY = f"/{SERVICE}/0/query"
CAPE_TOWN_FIELDS = {"request_id": "Notification", "created_at": "Created_On_Date", "closed_at": "Completed_Date",
                    "updated_at": "Changed_on", "category": "C3_Complaint_Type", "agency": "Work_Center",
                    "district": "Ward"}
OCTOBER_WHERE = ("Created_On_Date >= TIMESTAMP '2024-09-30 22:00:00' "
                 "AND Created_On_Date < TIMESTAMP '2024-10-31 22:00:00'")


def fixture(name: str) -> str:
    return (FIXTURES / "arcgis" / name).read_text(encoding="utf-8")


def cape_town(server: HTTPServer, **overrides) -> ArcgisFeatureServerSource:
    settings = dict(id="cape_town_service_requests_arcgis", kind="arcgis_featureserver",
                    base_url=server.url_for("/").rstrip("/"), service=SERVICE, layer=0, order_by="ObjectId",
                    docs_url="https://www.arcgis.com/home/item.html?id=90711027d33940b5a06e96ad8a8f7ede",
                    licence="City of Cape Town open data", fields=CAPE_TOWN_FIELDS, page_size=1000)
    settings.update(overrides)
    return ArcgisFeatureServerSource(**settings)


def query_string(source: ArcgisFeatureServerSource, where: str, offset: int) -> dict[str, str]:
    return {k: str(v) for k, v in arcgis.page_params(source, where, offset).items()}


def serve(server: HTTPServer, body: str, *, query: dict[str, str] | None = None, content_type: str = "application/json",
          path: str = QUERY) -> None:
    server.expect_request(path, query_string=query).respond_with_data(body, content_type=content_type)


def queries(server: HTTPServer, path: str = QUERY) -> list[dict[str, str]]:
    return [dict(request.args) for request, _ in server.log if request.path == path]


# --- paging ----------------------------------------------------------------------------------------------


def test_pages_are_read_until_exceeded_transfer_limit_is_false(server: HTTPServer, client: HttpClient) -> None:
    """We ask for 1,000 a page, the server caps at 3 and says there is more: the next offset is 3, not
    1,000, and the fetch ends on the page saying false."""
    source = cape_town(server)
    serve(server, fixture("cape_town_oct2024_page1.json"), query=query_string(source, OCTOBER_WHERE, 0))
    serve(server, fixture("cape_town_oct2024_page2.json"), query=query_string(source, OCTOBER_WHERE, 3))
    batch = arcgis.fetch_month(client, source, "cape_town", "2024-10", timezone=TZ)
    assert batch.rows["request_id"].to_list() == ["1021704112", "1021704187", "1021705033", "1021706420",
                                                  "1021707788"]
    assert len(batch.pages) == 2 and batch.dropped_outside_month == 0
    sent = queries(server)
    assert [q["resultOffset"] for q in sent] == ["0", "3"]
    assert sent[0] == {"where": OCTOBER_WHERE, "orderByFields": "ObjectId", "returnGeometry": "false", "f": "json",
                       "outFields": "C3_Complaint_Type,Changed_on,Completed_Date,Created_On_Date,Notification,"
                                    "ObjectId,Ward,Work_Center", "resultOffset": "0", "resultRecordCount": "1000"}
    row = batch.rows.row(0, named=True)
    assert (row["category_raw"], row["agency_raw"], row["district_raw"]) == (
        "Street Lights - Single Light Out", "Electricity - Public Lighting - Bellville", "062")
    assert row["latitude_raw"] is None and row["longitude_raw"] is None, "a table has no coordinates"


def test_an_absent_exceeded_transfer_limit_ends_the_fetch(server: HTTPServer, client: HttpClient) -> None:
    page = json.loads(fixture("cape_town_oct2024_page2.json"))
    del page["exceededTransferLimit"]
    serve(server, json.dumps(page))
    batch = arcgis.fetch_month(client, cape_town(server), "cape_town", "2024-10", timezone=TZ)
    assert batch.rows.height == 2 and len(queries(server)) == 1


def test_a_server_repeating_a_page_and_saying_more_ends_with_an_error(server: HTTPServer, client: HttpClient,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the offset, page 1 again with exceededTransferLimit true: an error naming the URL after the
    second request, not MAX_PAGES requests (capped here so that code without the check fails quickly)."""
    monkeypatch.setattr(arcgis, "MAX_PAGES", 6)
    serve(server, fixture("cape_town_oct2024_page1.json"))
    with pytest.raises(SourceFormatError, match=r"page 2 repeats page 1 \(the server ignores resultOffset\)") as caught:
        arcgis.fetch_month(client, cape_town(server), "cape_town", "2024-10", timezone=TZ)
    assert server.url_for(QUERY) in str(caught.value) and "cannot be paged past 3 records" in str(caught.value)
    assert len(queries(server)) == 2


def test_an_empty_page_saying_there_is_more_is_an_error(server: HTTPServer, client: HttpClient,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arcgis, "MAX_PAGES", 6)
    serve(server, json.dumps({"objectIdFieldName": "ObjectId", "features": [], "exceededTransferLimit": True}))
    with pytest.raises(SourceFormatError, match="exceededTransferLimit is true on an empty page"):
        arcgis.fetch_month(client, cape_town(server), "cape_town", "2024-10", timezone=TZ)
    assert len(queries(server)) == 1


def test_an_empty_month_is_one_page(server: HTTPServer, client: HttpClient) -> None:
    # an empty feature set comes without "fields" (Query reference)
    serve(server, json.dumps({"objectIdFieldName": "ObjectId", "uniqueIdField": {"name": "ObjectId",
                              "isSystemMaintained": True}, "globalIdFieldName": "", "features": []}))
    batch = arcgis.fetch_month(client, cape_town(server), "cape_town", "2024-10", timezone=TZ)
    assert batch.rows.height == 0 and len(batch.pages) == 1


# --- the month: where, local times, rows outside it -------------------------------------------------------


@pytest.mark.parametrize(("timezone", "month", "start", "end"), [
    (TZ, "2024-10", "2024-09-30 22:00:00", "2024-10-31 22:00:00"),  # UTC+2, no DST
    (TZ, "2024-12", "2024-11-30 22:00:00", "2024-12-31 22:00:00"),  # the year turns
    ("America/New_York", "2024-03", "2024-03-01 05:00:00", "2024-04-01 04:00:00"),  # DST starts on 10 March
])
def test_the_where_is_the_local_month_as_utc_timestamps(timezone: str, month: str, start: str, end: str) -> None:
    """Hosted layers store dates in UTC and standardized SQL compares them with TIMESTAMP literals: the
    literals are the UTC instants where the local month starts and ends."""
    source = ArcgisFeatureServerSource(id="x", base_url="https://services6.arcgis.com", docs_url="https://x.org/d",
                                       licence="open", service=SERVICE, fields=CAPE_TOWN_FIELDS)
    assert arcgis.month_where(source, month, timezone) == (
        f"Created_On_Date >= TIMESTAMP '{start}' AND Created_On_Date < TIMESTAMP '{end}'")
    filtered = source.model_copy(update={"where": "C3_Complaint_Type LIKE 'Street Lights%'"})
    assert arcgis.month_where(filtered, month, timezone).endswith(") AND (C3_Complaint_Type LIKE 'Street Lights%')")


def test_rows_outside_the_local_month_are_dropped_and_counted(server: HTTPServer, client: HttpClient) -> None:
    """A server that ignored the where: 30 September and 1 November (local midnight) are left out and
    counted; 1 October at local midnight (22:00 UTC on 30 September) is October's."""
    serve(server, fixture("cape_town_ignores_where.json"))
    batch = arcgis.fetch_month(client, cape_town(server), "cape_town", "2024-10", timezone=TZ)
    assert batch.rows["request_id"].to_list() == ["1021704112", "1021707788"]
    assert batch.dropped_outside_month == 2


def test_epoch_milliseconds_become_the_citys_local_time(server: HTTPServer, client: HttpClient) -> None:
    """Created_On_Date 1727733600000 is 2024-09-30T22:00Z, midnight on 1 October in Cape Town: written
    with the city's offset, and staged as that instant; a null date stays null."""
    page = json.loads(fixture("cape_town_oct2024_page1.json"))
    page["exceededTransferLimit"] = False
    serve(server, json.dumps(page))
    batch = arcgis.fetch_month(client, cape_town(server), "cape_town", "2024-10", timezone=TZ)
    first, second = batch.rows.row(0, named=True), batch.rows.row(1, named=True)
    assert first["created_raw"] == "2024-10-01T00:00:00.000+02:00"
    assert first["closed_raw"] == "2024-10-04T00:00:00.000+02:00"
    assert first["updated_raw"] == first["source_updated_at"] == "2024-10-04T00:00:00.000+02:00"
    assert second["closed_raw"] is None and second["created_raw"] == "2024-10-15T00:00:00.000+02:00"
    staged = stage_requests(batch.rows, TZ, load_mappings(), month="2024-10").rows.sort("request_id")
    assert staged["created_at"][0] == datetime.fromisoformat("2024-09-30T22:00:00+00:00")
    assert staged["category"].to_list() == ["street_lighting", "water_sewer", "other"]


def test_dates_in_a_zone_with_daylight_saving_time() -> None:
    frame = pl.DataFrame({"created_raw": ["1710052200000", "1710054900000", "1709267400000", "not a date", None,
                                          "99999999999999999999"]})
    local = frame.select(arcgis.epoch_ms_to_local("created_raw", "America/New_York"))["created_raw"].to_list()
    assert local == ["2024-03-10T01:30:00.000-05:00", "2024-03-10T03:15:00.000-04:00",
                     "2024-02-29T23:30:00.000-05:00", "not a date", None, "99999999999999999999"]


# --- errors ------------------------------------------------------------------------------------------------


def test_an_error_object_in_a_200_response_names_its_code_and_message(server: HTTPServer, client: HttpClient) -> None:
    serve(server, fixture("error_invalid_where.json"))
    with pytest.raises(arcgis.ArcgisQueryError) as caught:
        arcgis.fetch_month(client, cape_town(server), "cape_town", "2024-10", timezone=TZ)
    message = str(caught.value)
    assert server.url_for(QUERY) in message and "code 400" in message
    assert "'Unable to complete operation.'" in message and "'where' parameter is invalid" in message
    assert not is_retryable(caught.value), "a wrong query stays wrong"


def test_a_server_side_error_object_is_retryable(server: HTTPServer, client: HttpClient) -> None:
    serve(server, fixture("error_server.json"))
    with pytest.raises(arcgis.ArcgisServerError, match=r"code 500, message 'Error performing query operation\.'") \
            as caught:
        arcgis.fetch_month(client, cape_town(server), "cape_town", "2024-10", timezone=TZ)
    assert is_retryable(caught.value)


def test_a_200_that_is_not_json_is_named(server: HTTPServer, client: HttpClient) -> None:
    serve(server, "<html><body>ArcGIS Online is under maintenance</body></html>", content_type="text/html")
    with pytest.raises(SourceFormatError) as caught:
        arcgis.fetch_month(client, cape_town(server), "cape_town", "2024-10", timezone=TZ)
    message = str(caught.value)
    assert server.url_for(QUERY) in message and "response is not JSON" in message
    assert "Content-Type text/html" in message and "'<html><body>ArcGIS Online" in message


@pytest.mark.parametrize(("body", "seen"), [
    ({"count": 5}, "got an object with keys count"),
    ({"type": "FeatureCollection", "features": {"attributes": {}}}, "keys type, features (features is an object "),
    ([{"attributes": {"Notification": 1}}], "got a JSON list"),
    (None, "got null"),
])
def test_a_body_without_a_features_list_is_named(server: HTTPServer, client: HttpClient, body: object,
                                                 seen: str) -> None:
    serve(server, json.dumps(body))
    with pytest.raises(SourceFormatError) as caught:
        arcgis.fetch_month(client, cape_town(server), "cape_town", "2024-10", timezone=TZ)
    message = str(caught.value)
    assert server.url_for(QUERY) in message and "expected an ArcGIS query result" in message and seen in message


def test_exceeded_transfer_limit_that_is_not_a_boolean_is_named(server: HTTPServer, client: HttpClient) -> None:
    serve(server, json.dumps({"features": [], "exceededTransferLimit": "true"}))
    with pytest.raises(SourceFormatError, match="exceededTransferLimit is 'true', not true or false"):
        arcgis.fetch_month(client, cape_town(server), "cape_town", "2024-10", timezone=TZ)


def test_features_without_attributes_are_rejected_with_the_reason(server: HTTPServer, client: HttpClient) -> None:
    page = json.loads(fixture("cape_town_oct2024_page2.json"))
    page["features"].append({"geometry": None})
    serve(server, json.dumps(page))
    batch = arcgis.fetch_month(client, cape_town(server), "cape_town", "2024-10", timezone=TZ)
    assert batch.rows.height == 2
    assert batch.rejects["reason"].to_list() == ["missing request id field 'Notification'"]


# --- geometry, configuration, freshness --------------------------------------------------------------------


def test_a_point_layer_gives_coordinates_asked_for_in_wgs84(server: HTTPServer, client: HttpClient) -> None:
    """Mapping geometry.y / geometry.x asks for the geometry in WGS 84 (outSR=4326); a feature without
    geometry has no coordinates."""
    path = "/arcgis/rest/services/Service_Requests/FeatureServer/2/query"
    source = ArcgisFeatureServerSource(
        id="city_requests", base_url=server.url_for("/").rstrip("/"), docs_url="https://x.org/d", licence="open",
        service="arcgis/rest/services/Service_Requests/FeatureServer", layer=2, order_by="OBJECTID",
        fields={"request_id": "REQUEST_ID", "created_at": "CREATED_DATE", "category": "REQUEST_TYPE",
                "latitude": "geometry.y", "longitude": "geometry.x"})
    serve(server, fixture("point_layer_page.json"), path=path)
    batch = arcgis.fetch_month(client, source, "washington", "2024-03", timezone="America/New_York")
    sent = queries(server, path)[0]
    assert (sent["returnGeometry"], sent["outSR"], sent["outFields"]) == (
        "true", "4326", "CREATED_DATE,OBJECTID,REQUEST_ID,REQUEST_TYPE")
    assert batch.rows.select("latitude_raw", "longitude_raw").rows() == [("38.8976763", "-77.0365298"), (None, None)]
    assert batch.rows["created_raw"].to_list() == ["2024-03-10T01:30:00.000-05:00", "2024-03-10T03:15:00.000-04:00"]


def test_cape_towns_source_asks_for_no_coordinates() -> None:
    source = load_registry().city("cape_town").sources[0]
    assert isinstance(source, ArcgisFeatureServerSource) and source.host == "services6.arcgis.com"
    assert arcgis.query_url(source) == f"https://services6.arcgis.com/{SERVICE}/0/query"
    assert not {"latitude", "longitude", "status", "channel"} & set(source.fields)
    assert not arcgis.wants_geometry(source)


@pytest.mark.parametrize(("change", "message"), [
    ({"service": "nyYfO9SxHU2ChQd9/arcgis/rest/services/Service_Requests"}, "ending in /FeatureServer"),
    ({"fields": {"request_id": "Notification"}}, "fields.created_at must name one attribute"),
    ({"fields": {**CAPE_TOWN_FIELDS, "created_at": "Created_On_Date+Created_Time"}}, "fields.created_at"),
    ({"dataset": "x"}, "dataset"),
])
def test_a_source_with_a_wrong_key_is_refused(change: dict, message: str) -> None:
    settings = {"id": "x", "kind": "arcgis_featureserver", "base_url": "https://services6.arcgis.com",
                "docs_url": "https://x.org/d", "licence": "open", "service": SERVICE, "fields": CAPE_TOWN_FIELDS}
    with pytest.raises(ValidationError, match=message):
        parse_source({**settings, **change})


def test_the_stamp_is_the_layers_last_edit_date(server: HTTPServer, client: HttpClient) -> None:
    path = f"/{SERVICE}/0"
    serve(server, fixture("cape_town_table.json"), path=path, query={"f": "json"})
    response, stamp = arcgis.read_stamp(client, cape_town(server))
    assert stamp == 1747692000000 and response.url.endswith(f"{path}?f=json")


# --- the demo archive ---------------------------------------------------------------------------------------


def test_the_demo_writer_is_read_back_by_the_connector(tmp_path: Path) -> None:
    """write_demo's pages (two pages and a bit per month here) replayed through fetch_month: every invented
    request of the month, with its times in the city's local time."""
    city = load_registry().city("cape_town")
    source = city.sources[0].model_copy(update={"page_size": 2})
    vocab = Vocabulary(open_statuses=(), closed_status=None, cancelled_status=None, channels=(),
                       categories=("No Power", "Street Lights - Single Light Out"), agencies=("Water - Reticulation",),
                       districts=("062", "099"))
    def invented(i: int, created: datetime) -> Invented:
        return Invented(number=i, created=created, closed=None if i == 1 else created + timedelta(days=2),
                        status=None, category=vocab.categories[i % 2], channel=None, agency="Water - Reticulation",
                        district="062", latitude=-33.92, longitude=18.42)

    months = {month: [invented(i, datetime(2024, mon, day)) for i, day in enumerate((1, 9, 30, 30, 12))]
              for month, mon in (("2024-10", 10), ("2024-11", 11))}
    archive = Archive(tmp_path / "demo")
    lines = write_demo(DemoFeed(archive, city, source, random.Random(1), tmp_path, vocabulary=vocab, months=months))
    assert lines == ["2024-10:     5 records, 3 pages", "2024-11:     5 records, 3 pages"]
    replay = HttpClient(HttpPolicy(allowed_hosts=frozenset(city.hosts)), mode="replay", replay=archive)
    batch = arcgis.fetch_month(replay, source, "cape_town", "2024-11", timezone=city.timezone)
    assert batch.is_synthetic and len(batch.pages) == 3 and batch.dropped_outside_month == 0
    assert batch.rows["request_id"].to_list() == [str(1_000_000_000 + n) for n in range(6, 11)]
    assert batch.rows["created_raw"][0] == "2024-11-01T00:00:00.000+02:00"
    assert batch.rows["closed_raw"].to_list()[:2] == ["2024-11-03T00:00:00.000+02:00", None]
    assert batch.rows["category_raw"][0] == "No Power" and batch.rows["latitude_raw"].null_count() == 5
    _, stamp = arcgis.read_stamp(replay, source)
    assert isinstance(stamp, int)
