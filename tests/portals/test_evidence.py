"""A city's pages and directories read over HTTP (hotline_eval.portals.evidence): failures named once,
directories published as data never read as pages, caps and <meta refresh> left to the client."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline_eval.config.registry import DirectoryRecords, Portal, load_registry
from hotline_eval.errors import FetchError, PolicyError
from hotline_eval.portals.catalogue import parse_directory_records
from hotline_eval.portals.evidence import is_data_directory, read_city_pages, read_service_directory
from hotline_eval.portals.rules import PortalRules
from hotline_eval.portals.text import meta_refresh_target
from tests.helpers import make_client
from tests.portals.helpers import NYC_FIELDS, NYC_SLA


def test_directory_records_from_socrata_over_http(tmp_path: Path, server) -> None:
    server.expect_request("/resource/cs9t-e3x8.json", query_string="$limit=50000").respond_with_data(
        NYC_SLA, content_type="application/json;charset=utf-8")
    city = next(c for c in load_registry().cities if c.id == "new_york")
    frame = read_service_directory(make_client(tmp_path), city, server.url_for("/resource/cs9t-e3x8.json") +
                                   "?$limit=50000", None, NYC_FIELDS)
    assert frame["service_code"].to_list() == [
        "Heat/Hot Water / Entire Building", "Plumbing / Water Leak",
        "Noise - Residential / Loud Music/Party", "Street Condition"]  # the DOB duplicate kept once
    noise = frame.row(2, named=True)
    assert (noise["name"], noise["group"], noise["agency"]) == ("Loud Music/Party", "Noise - Residential", "NYPD")
    assert frame.row(3, named=True)["name"] == "Street Condition"  # no detail: the code names it
    assert frame["is_synthetic"].to_list() == [False] * 4 and frame["sha256"].str.len_chars().to_list() == [64] * 4
    assert frame["is_complete_directory"].all()


def test_directory_records_from_an_opendatasoft_export_and_a_request_feed(tmp_path: Path, server) -> None:
    export = '[{"type": "Propreté", "soustype": "Déjections canines"}, ' \
             '{"type": "Propreté", "soustype": "[] A requalifier"}, {"type": "Eau", "soustype": null}]'
    server.expect_request("/api/explore/v2.1/catalog/datasets/dans-ma-rue/exports/json").respond_with_data(
        export.encode("utf-8"), content_type="application/json; charset=utf-8")
    paris = next(c for c in load_registry().cities if c.id == "paris")
    frame = read_service_directory(
        make_client(tmp_path), paris,
        server.url_for("/api/explore/v2.1/catalog/datasets/dans-ma-rue/exports/json") + "?group_by=type,soustype",
        None, DirectoryRecords(code=["type", "soustype"], name=["soustype"], group="type"))
    assert frame["service_code"].to_list() == ["Propreté / Déjections canines", "Propreté / [] A requalifier", "Eau"]
    assert frame["name"].to_list() == ["Déjections canines", "[] A requalifier", "Eau"]
    # Avisos Madrid: a request list whose distinct services are the directory; group from a nested key
    requests = b'[{"service_id": "591b379e", "service_name": "Desperfecto en calzada", ' \
               b'"typology": {"visible_name": "Aviso"}}, {"service_id": "591b379e", "service_name": ' \
               b'"Desperfecto en calzada", "typology": {"visible_name": "Aviso"}}, {"service_id": "591b3c01", ' \
               b'"service_name": "Nueva instalaci\\u00f3n.", "typology": {"visible_name": "Petici\\u00f3n"}}]'
    madrid = parse_directory_records(requests, "application/json", city_id="madrid", sha256="c" * 64,
                                     fields=DirectoryRecords(code=["service_id"], name=["service_name"],
                                                             group="typology.visible_name"))
    assert madrid.select("service_code", "name", "group").rows() == [
        ("591b379e", "Desperfecto en calzada", "Aviso"), ("591b3c01", "Nueva instalación.", "Petición")]


def test_five_megabyte_page_is_capped_by_the_client(tmp_path: Path, server) -> None:
    server.expect_request("/huge").respond_with_data(b"<html><body>" + b"<p>x</p>" * 655_360 + b"</body></html>",
                                                     content_type="text/html")
    client = make_client(tmp_path, max_body_bytes=1_000_000)
    with pytest.raises(FetchError, match="exceeds the cap of 1,000,000"):
        client.get(server.url_for("/huge"))


def test_meta_refresh_to_unlisted_host_is_reported_not_followed(tmp_path: Path, server) -> None:
    html = ('<html><head><meta http-equiv="Refresh" content="0; URL=\'https://evil.example/steal\'"></head>'
            "<body><p>Moved.</p></body></html>")
    server.expect_request("/moved").respond_with_data(html, content_type="text/html; charset=utf-8")
    client = make_client(tmp_path)
    response = client.get(server.url_for("/moved"))
    target = meta_refresh_target(response.text(), base_url=response.url)
    assert target == "https://evil.example/steal"
    with pytest.raises(PolicyError, match="not in this source's allow-list"):
        client.check_url(target)
    assert [r.path for r, _ in server.log] == ["/robots.txt", "/moved"]  # nothing else was requested
    assert meta_refresh_target('<meta http-equiv="refresh" content="5; url=/new">',
                               base_url="https://sf311.org/old") == "https://sf311.org/new"
    assert meta_refresh_target('<meta http-equiv="refresh" content="30">') is None


# ------------------------------------------------------------- directories are not feature pages --
def test_which_portals_are_data_directories() -> None:
    """Directories published as data are read by the catalogue reader only, whatever their URL looks like
    (a query string, an export path, no extension); an HTML catalogue is also a page of features."""
    directories = {city.id: [p.url for p in city.portals if is_data_directory(p)] for city in load_registry().cities}
    assert {c: urls for c, urls in directories.items() if urls} == {
        "new_york": ["https://data.cityofnewyork.us/resource/cs9t-e3x8.json?$limit=50000"],
        "san_francisco": ["https://mobile311.sfgov.org/open311/v2/services.json"],
        "toronto": ["https://secure.toronto.ca/webwizard/ws/services.json"],
        "paris": ["https://opendata.paris.fr/api/explore/v2.1/catalog/datasets/dans-ma-rue/exports/json"
                  "?select=type,soustype&group_by=type,soustype"],
        "madrid": ["https://sic-apipro.madrid.es/requests?jurisdiction_ids=es.madrid&limit=100"],
    }
    assert is_data_directory(Portal(kind="services", url="https://x.example/open311/v2/services.xml?jurisdiction_id=x",
                                    language="en"))
    assert not is_data_directory(Portal(kind="services", url="https://service.berlin.de/", language="de"))
    assert not is_data_directory(Portal(kind="open_data", url="https://x.example/data.json", language="en"))


def test_json_directories_are_not_read_as_pages(tmp_path: Path, server, json_city, rules: PortalRules) -> None:
    reading = read_city_pages(make_client(tmp_path), json_city, rules, {})
    assert [(p.url.rsplit("/", 1)[1], p.status) for p in reading.pages] == [("home", "ok"), ("about", "failed")]
    about = json_city.portals[1].url
    failed = reading.pages[1]
    assert "looks like JSON, not HTML" in failed.reason and failed.reason.count(about) == 1, failed.reason
    assert not [r for r, _ in server.log if r.path != "/robots.txt" and r.path not in ("/home", "/about")]
