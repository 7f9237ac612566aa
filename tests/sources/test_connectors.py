"""CKAN, Opendatasoft and Open311 connectors through real HTTP, answering in each API's real format,
and Socrata's incremental pull."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from pytest_httpserver import HTTPServer

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources import ckan, open311, opendatasoft, socrata
from hotline_eval.sources.ckan import CkanSource
from hotline_eval.sources.open311 import Open311Source
from hotline_eval.sources.opendatasoft import OpendatasoftSource
from tests.helpers import nyc_record, nyc_source, serve_socrata_pages

TORONTO_FIELDS = {"created_at": "Creation Date", "status": "Status", "category": "Service Request Type",
                  "agency": "Division", "district": "Ward"}
TORONTO_ID_FIELDS = ["Creation Date", "Service Request Type", "Division", "Ward",
                     "First 3 Chars of Postal Code", "Intersection Street 1", "Intersection Street 2"]


def ckan_source(base: str, **overrides) -> CkanSource:
    settings = dict(id="toronto_311_ckan", kind="ckan", base_url=base, docs_url="https://open.toronto.ca/",
                    licence="Open Government Licence – Toronto", dataset="311-service-requests-customer-initiated",
                    fields=TORONTO_FIELDS, derive_id_from=TORONTO_ID_FIELDS, page_size=2)
    settings.update(overrides)
    return CkanSource(**settings)


def ckan_ok(result) -> str:
    return json.dumps({"help": "https://ckan0.cf.opendata.inter.prod-toronto.ca/api/3/action/help_show?name=x",
                       "success": True, "result": result})


def package(resources: list[dict]) -> dict:
    return {"id": "2e54bc0e-4399-4076-b717-351df5918ae7", "name": "311-service-requests-customer-initiated",
            "title": "311 Service Requests - Customer Initiated", "num_resources": len(resources),
            "resources": resources}


def toronto_row(created: str, kind: str, ward: str, status: str = "Completed") -> dict:
    return {"Creation Date": created, "Status": status, "First 3 Chars of Postal Code": "M4C",
            "Intersection Street 1": "", "Intersection Street 2": "", "Ward": ward,
            "Service Request Type": kind, "Division": "Solid Waste Management Services", "Section": "Collections"}


def test_ckan_datastore_paging_and_month_window(server: HTTPServer, client: HttpClient) -> None:
    source = ckan_source(server.url_for("/").rstrip("/"))
    server.expect_request("/api/3/action/package_show", query_string={"id": source.dataset}).respond_with_data(
        ckan_ok(package([
            {"id": "res-2023", "name": "311-service-requests-customer-initiated-2023", "format": "CSV",
             "datastore_active": True, "url": "https://x/2023.csv"},
            {"id": "res-2024", "name": "311-service-requests-customer-initiated-2024", "format": "CSV",
             "datastore_active": True, "url": "https://x/2024.csv"},
            {"id": "readme", "name": "readme", "format": "XLSX", "datastore_active": False, "url": "https://x/r"},
        ])), content_type="application/json")
    rows = [
        toronto_row("2024-10-01 08:15:00", "Residential: Bin: Repair or Replace Lid", "Beaches-East York (19)"),
        toronto_row("2024-09-30 23:59:00", "Road - Pot hole", "Toronto-Danforth (14)"),  # not October
        toronto_row("2024-10-31 23:30:00", "Road - Pot hole", "Toronto-Danforth (14)", status="In-progress"),
        toronto_row("2024-10-31 23:30:00", "Road - Pot hole", "Toronto-Danforth (14)", status="In-progress"),
        toronto_row("2024-11-01 00:00:00", "Graffiti", "Spadina-Fort York (10)"),  # not October
    ]
    for offset in (0, 2, 4):
        page = [{"_id": offset + i + 1, **r} for i, r in enumerate(rows[offset:offset + 2])]
        server.expect_request("/api/3/action/datastore_search", query_string={
            "resource_id": "res-2024", "limit": "2", "offset": str(offset), "sort": "_id"}).respond_with_data(
            ckan_ok({"resource_id": "res-2024", "records": page, "total": 5, "_links": {
                "start": "/api/3/action/datastore_search?resource_id=res-2024",
                "next": f"/api/3/action/datastore_search?resource_id=res-2024&offset={offset + 2}"}}),
            content_type="application/json")
    batch = ckan.fetch_month(client, source, "toronto", "2024-10", timezone="America/Toronto")
    assert len(batch.pages) == 3
    assert batch.rows["created_raw"].to_list() == ["2024-10-01 08:15:00", "2024-10-31 23:30:00",
                                                   "2024-10-31 23:30:00"]
    ids = batch.rows["request_id"].to_list()
    assert len(set(ids)) == 3 and ids[2] == ids[1] + "#2", "identical published rows are kept, once each"
    assert batch.rows["district_raw"][0] == "Beaches-East York (19)"


def test_ckan_zip_resource_when_datastore_is_off(server: HTTPServer, client: HttpClient) -> None:
    source = ckan_source(server.url_for("/").rstrip("/"))
    csv_text = ("\ufeffCreation Date,Status,First 3 Chars of Postal Code,Intersection Street 1,Intersection Street 2,"
                "Ward,Service Request Type,Division,Section\n"
                "2024-10-02 09:00:00,Completed,M6H,,,Davenport (9),Noise,Municipal Licensing & Standards,"
                "District Enforcement\n"
                "2024-12-02 09:00:00,Initiated,M6H,,,Davenport (9),Noise,Municipal Licensing & Standards,"
                "District Enforcement\n")
    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w") as archive:
        archive.writestr("SR2024.csv", csv_text.encode("utf-8"))
    server.expect_request("/api/3/action/package_show").respond_with_data(ckan_ok(package([
        {"id": "r24", "name": "SR2024.zip", "format": "ZIP", "datastore_active": False,
         "url": server.url_for("/dataset/files/SR2024.zip")}])), content_type="application/json")
    server.expect_request("/dataset/files/SR2024.zip").respond_with_data(payload.getvalue(),
                                                                          content_type="application/zip")
    batch = ckan.fetch_month(client, source, "toronto", "2024-10", timezone="America/Toronto")
    assert batch.rows.height == 1 and batch.rows["status_raw"][0] == "Completed"
    assert batch.rows["category_raw"][0] == "Noise"


def test_ckan_error_envelope_is_a_clear_error(server: HTTPServer, client: HttpClient) -> None:
    source = ckan_source(server.url_for("/").rstrip("/"))
    server.expect_request("/api/3/action/package_show").respond_with_data(json.dumps(
        {"success": False, "error": {"__type": "Not Found Error", "message": "Not found"}}),
        content_type="application/json")
    with pytest.raises(SourceFormatError, match="not a successful CKAN action response"):
        ckan.fetch_month(client, source, "toronto", "2024-10", timezone="America/Toronto")


PARIS_FIELDS = {"request_id": "id_dmr", "created_at": "datedecl", "category": "type", "agency": "intervenant",
                "district": "arrondissement", "latitude": "geo_point_2d.lat", "longitude": "geo_point_2d.lon"}


def paris_source(base: str, page_size: int = 2) -> OpendatasoftSource:
    return OpendatasoftSource(id="paris_dansmarue_ods", kind="opendatasoft", base_url=base, docs_url="https://opendata.paris.fr",
                  licence="ODbL", dataset="dans-ma-rue", fields=PARIS_FIELDS, page_size=page_size)


def dmr(i: int, day: str) -> dict:
    return {"id_dmr": f"G2024{i:06d}", "type": "Propreté", "soustype": "Déchets abandonnés",
            "adresse": "12 Rue de Rivoli, 75004 Paris", "code_postal": "75004", "ville": "Paris",
            "arrondissement": "4", "prefixe": "G", "intervenant": "Services de la Ville de Paris",
            "conseilquartier": "SAINT-GERVAIS", "datedecl": day, "anneedecl": "2024", "moisdecl": 10,
            "numero": float(i), "geo_point_2d": {"lon": 2.3553, "lat": 48.8559}}


def test_opendatasoft_paging_with_nested_point(server: HTTPServer, client: HttpClient) -> None:
    source = paris_source(server.url_for("/").rstrip("/"))
    records = [dmr(i, f"2024-10-{i + 1:02d}") for i in range(5)]
    where = opendatasoft.month_where(source, "2024-10")
    assert where == "datedecl >= date'2024-10-01' AND datedecl < date'2024-11-01'"
    for offset in (0, 2, 4):
        server.expect_request("/api/explore/v2.1/catalog/datasets/dans-ma-rue/records", query_string={
            "where": where, "order_by": "id_dmr", "limit": "2", "offset": str(offset)}).respond_with_json(
            {"total_count": 5, "results": records[offset:offset + 2]})
    batch = opendatasoft.fetch_month(client, source, "paris", "2024-10")
    assert len(batch.pages) == 3 and batch.rows.height == 5
    first = batch.rows.row(0, named=True)
    assert (first["latitude_raw"], first["longitude_raw"]) == ("48.8559", "2.3553")
    assert first["category_raw"] == "Propreté" and first["district_raw"] == "4"


def test_opendatasoft_switches_to_export_beyond_the_offset_window(server: HTTPServer, client: HttpClient) -> None:
    source = paris_source(server.url_for("/").rstrip("/"))
    where = opendatasoft.month_where(source, "2024-10")
    server.expect_request("/api/explore/v2.1/catalog/datasets/dans-ma-rue/records").respond_with_json(
        {"total_count": 12_345, "results": [dmr(0, "2024-10-01"), dmr(1, "2024-10-01")]})
    server.expect_request("/api/explore/v2.1/catalog/datasets/dans-ma-rue/exports/json", query_string={
        "where": where, "order_by": "id_dmr"}).respond_with_json([dmr(i, "2024-10-02") for i in range(7)])
    batch = opendatasoft.fetch_month(client, source, "paris", "2024-10")
    assert batch.rows.height == 7 and len(batch.pages) == 1 and "/exports/json" in batch.pages[0].response.url


def test_open311_wrapped_list_paging_and_offsets(server: HTTPServer, client: HttpClient) -> None:
    source = Open311Source(id="city_open311", kind="open311", base_url=server.url_for("/open311/v2").rstrip("/"),
                    docs_url="https://wiki.open311.org/GeoReport_v2", licence="open", page_size=2)
    start, end = open311.month_window("2018-10", "America/Toronto")
    assert (start, end) == ("2018-10-01T00:00:00-04:00", "2018-11-01T00:00:00-04:00")

    def req(i: int, status: str) -> dict:
        return {"service_request_id": 101000000 + i, "status": status, "status_notes": "Completed - Done",
                "service_name": "Pot hole", "service_code": "CSROWR-12", "agency_responsible": "311",
                "requested_datetime": f"2018-10-0{i + 1}T09:00:00-04:00", "updated_datetime": None,
                "lat": 43.763138218999998, "long": -79.387, "media_url": ""}

    pages = [[req(0, "closed"), req(1, "open")], [req(2, "open")]]
    for number, page in enumerate(pages, start=1):
        server.expect_request("/open311/v2/requests.json", query_string={
            "start_date": start, "end_date": end, "page": str(number), "page_size": "2"}).respond_with_json(
            {"service_requests": page})
    batch = open311.fetch_month(client, source, "toronto", "2018-10", timezone="America/Toronto")
    assert batch.rows["request_id"].to_list() == ["101000000", "101000001", "101000002"]
    # Apple's JSON serializer wrote 43.763138218999998: the same double, kept at its shortest repr
    assert batch.rows["latitude_raw"][0] == "43.763138219"
    assert batch.rows["created_raw"][0] == "2018-10-01T09:00:00-04:00"


def test_socrata_incremental_pull_asks_only_for_changes(server: HTTPServer, client: HttpClient) -> None:
    source = nyc_source(server.url_for("/").rstrip("/"), page_size=5)
    since = "2024-03-20T10:00:00.000Z"
    where = socrata.month_where(source, "2024-03") + f" AND :updated_at > '{since}'"
    serve_socrata_pages(server, source, "2024-03", [[nyc_record(2, "2024-03-02T08:00:00.000",
                        closed="2024-03-25T08:00:00.000", updated="2024-03-25T08:00:05.000Z")]], where=where)
    batch = socrata.fetch_month(client, source, "new_york", "2024-03", since=since)
    assert batch.rows["request_id"].to_list() == ["2"]
    assert batch.rows["source_updated_at"][0] == "2024-03-25T08:00:05.000Z"
    with pytest.raises(ValueError, match="not a Socrata :updated_at stamp"):
        socrata.fetch_month(client, source, "new_york", "2024-03", since="x' OR 1=1 --")


def test_records_become_text_columns_and_bad_records_are_rejected_in_order() -> None:
    """Values as published: strings as they are, numbers as written, objects as JSON; a record that is
    not an object or has no id is rejected with its reason, in page order, and never staged."""
    from hotline_eval.fetch.archive import make_response
    from hotline_eval.sources.pages import Page
    from hotline_eval.sources.records import records_to_raw

    records = [{"id": "1", "lat": 43.65, "n": 7, "open": True, "geo": {"lat": 1}},
               ["not", "an", "object"],
               {"id": "", "lat": "43.7"},
               {"id": "2", "lat": "43.70", "n": None, "extra": "x"}]
    response = make_response("GET", "https://example.org/r.json", None, 200, {}, json.dumps(records).encode())
    batch = records_to_raw([Page(number=0, response=response, records=records)],
                           {"request_id": "id", "latitude": "lat", "category": "n", "status": "open",
                            "district": "geo"}, city_id="toronto", source_id="s", partition_month="2024-10")
    rows = batch.rows.select("request_id", "latitude_raw", "category_raw", "status_raw", "district_raw").rows()
    assert rows == [("1", "43.65", "7", "true", '{"lat": 1}'), ("2", "43.70", None, None, None)]
    assert batch.rejects["reason"].to_list() == ["record is a list, not an object", "missing request id field 'id'"]
    assert batch.fields_seen == {"id", "lat", "n", "open", "geo", "extra"}


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    (b'[{"id": "1", "n": 7}]', "application/json", [{"id": "1", "n": 7}]),
    # an id beyond 64 bits stays an exact integer
    (b'[{"id": 123456789012345678901234567890}]', "application/json", [{"id": 123456789012345678901234567890}]),
    (b'[{"v": NaN}]', "application/json", "nan"),  # accepted by the standard parser, as before
    ('[{"name": "Déjà vu"}]'.encode("cp1252"), "application/json; charset=windows-1252", [{"name": "Déjà vu"}]),
    (b'\xef\xbb\xbf[{"id": "1"}]', "application/json", [{"id": "1"}]),
])
def test_json_pages_decode_as_published(body: bytes, content_type: str, expected) -> None:
    from hotline_eval.fetch.archive import make_response

    decoded = make_response("GET", "https://example.org/p.json", None, 200, {"Content-Type": content_type},
                            body).json()
    if expected == "nan":
        assert decoded[0]["v"] != decoded[0]["v"]
    else:
        assert decoded == expected


def test_a_page_that_is_not_json_is_a_clear_error() -> None:
    from hotline_eval.fetch.archive import make_response

    response = make_response("GET", "https://example.org/p.json", None, 200, {"Content-Type": "application/json"},
                             b"<html>Service unavailable</html>")
    with pytest.raises(SourceFormatError, match=r"response is not JSON \(Expecting value at 0\)"):
        response.json()
