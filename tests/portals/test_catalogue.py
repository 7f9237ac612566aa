"""Service directories (hotline_eval.portals.catalogue): Open311 JSON and XML, data records, HTML catalogues."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from hotline_eval.config.registry import load_registry
from hotline_eval.errors import ConfigError, SourceFormatError
from hotline_eval.portals.catalogue import (
    CATALOG_SCHEMA,
    parse_directory_records,
    parse_html_catalogue,
    parse_open311_services,
)
from hotline_eval.portals.rules import PortalRules
from tests.config.city_copies import copy_registry, mutate_city
from tests.portals.helpers import DEMO_PAGES, NYC_FIELDS, PAGES, page


# ---------------------------------------------------------------------------------- catalogues --
def test_open311_services_json(tmp_path: Path) -> None:
    body = (PAGES / "open311_services.json").read_bytes()
    frame = parse_open311_services(body, "application/json; charset=utf-8", city_id="toronto", sha256="a" * 64)
    assert frame.schema == pl.Schema(CATALOG_SCHEMA)
    assert frame["service_code"].to_list() == ["CSROWC-05", "30102", "CSROWR-12"]  # the integer code is text
    row = frame.row(1, named=True)
    assert row == {"city_id": "toronto", "service_code": "30102", "name": "Graffiti on private property",
                   "group": "Graffiti", "agency": None, "keywords": "graffiti, private property, building",
                   "sha256": "a" * 64}
    assert frame.row(2, named=True)["keywords"] is None
    assert frame.row(2, named=True)["agency"] == "Transportation Services"
    wrapped = b'{"services": ' + body + b"}"
    assert parse_open311_services(wrapped, None, city_id="toronto", sha256="a" * 64).height == 3


def test_open311_services_xml() -> None:
    body = (PAGES / "open311_services.xml").read_bytes()
    frame = parse_open311_services(body, "text/xml", city_id="san_francisco", sha256="b" * 64)
    assert frame["service_code"].to_list() == ["001", "002", "003"]  # leading zeros kept
    assert frame["group"].to_list() == ["sanitation", "street", "street"]
    assert frame.row(0, named=True)["keywords"] == "lorem, ipsum, dolor"
    assert frame.row(2, named=True)["keywords"] is None  # <keywords/>
    # sniffed without a content type
    assert parse_open311_services(body, None, city_id="san_francisco", sha256="b" * 64).height == 3


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b'[{"service_name": "No code"}]', "application/json", r"service #0 \(No code\): service_code is missing"),
        (b'[{"service_code": 7}]', "application/json", r"service #0 \(code 7\): service_name is missing"),
        (b'[{"service_code": true, "service_name": "x"}]', None, "service_code is missing or not a code"),
        (b"[]", "application/json", "lists no services"),
        (b'{"error": "rate limited"}', "application/json", "expected a JSON list of services"),
        (b"[1, 2]", "application/json", "service #0 is a int"),
        (b"<services><service>", "text/xml", "not well-formed XML"),
        (b"{not json", "application/json", "not valid JSON"),
    ],
)
def test_open311_services_errors(body: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(SourceFormatError, match=message):
        parse_open311_services(body, content_type, city_id="x", sha256="c" * 64)


def test_open311_xml_entities_are_not_expanded() -> None:
    body = b"""<?xml version="1.0"?><!DOCTYPE services [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<services><service><service_code>1</service_code><service_name>a &xxe; b</service_name></service></services>"""
    frame = parse_open311_services(body, "text/xml", city_id="x", sha256="d" * 64)
    assert "root:" not in frame["name"][0]


@pytest.mark.parametrize(("body", "message"), [
    (b'[{"problem": null, "agency": "HPD"}]', "record #0 has no value in its code fields"),
    (b'[["HPD", "Heat"]]', "record #0 is a list, not an object"),
    (b'{"error": true, "message": "query.soql.no-such-column"}', "expected a JSON list of records, got dict"),
    (b"[]", "lists no services"),
    (b"<html>Service unavailable</html>", "not valid JSON"),
])
def test_directory_records_errors(body: bytes, message: str) -> None:
    with pytest.raises(SourceFormatError, match=message):
        parse_directory_records(body, "application/json", city_id="new_york", sha256="d" * 64, fields=NYC_FIELDS)


def test_records_only_for_service_directories(tmp_path: Path) -> None:
    path = copy_registry(tmp_path)
    mutate_city(path, "new_york", lambda city: city["portals"][0].update(records={"code": ["x"], "name": ["x"]}))
    with pytest.raises(ConfigError, match="`records` describes a service directory"):
        load_registry(path)


def test_html_catalogue_berlin(rules: PortalRules) -> None:
    selectors = next(o.catalogue for o in rules.overrides if o.city_id == "berlin")
    frame = parse_html_catalogue(page("berlin_service_az.html"), city_id="berlin", sha256="e" * 64,
                                 selectors=selectors)
    assert frame["service_code"].to_list() == ["120686", "121469", "120703", "121151"]
    assert frame["group"].to_list() == ["A", "A", "B", "P"]
    assert frame["name"][0] == "Anmeldung einer Wohnung"
    assert frame.schema == pl.Schema(CATALOG_SCHEMA)


def test_html_catalogue_madrid(rules: PortalRules) -> None:
    selectors = next(o.catalogue for o in rules.overrides if o.city_id == "madrid")
    frame = parse_html_catalogue(page("madrid_linea_madrid.html"), city_id="madrid", sha256="f" * 64,
                                 selectors=selectors)
    assert frame.rows(named=True)[0] == {
        "city_id": "madrid", "service_code": "6e6a4a3e53e5b010", "name": "Empadronamiento", "group": "Padrón",
        "agency": "Dirección General de Estadística", "keywords": None, "sha256": "f" * 64}


def test_html_catalogue_item_without_its_code_fails_loudly(rules: PortalRules) -> None:
    selectors = next(o.catalogue for o in rules.overrides if o.city_id == "berlin")
    html = '<div class="azlist"><ul class="list"><li><a href="/moved/">Anmeldung</a></li></ul></div>'
    with pytest.raises(SourceFormatError, match=r"item #0 \(Anmeldung\) has no code at 'a'\[href\]"):
        parse_html_catalogue(html, city_id="berlin", sha256="0" * 64, selectors=selectors)


def test_demo_service_directories_parse() -> None:
    """Every machine-readable directory the registry configures has a demo body in its real format."""
    parsed = {}
    for city in load_registry().cities:
        for index, portal in enumerate(city.portals):
            if portal.kind != "services":
                continue
            if portal.records is not None:
                body = (DEMO_PAGES / city.id / f"{index}.json").read_bytes()
                frame = parse_directory_records(body, "application/json", city_id=city.id, sha256="0" * 64,
                                                fields=portal.records)
            elif portal.url.endswith(".json"):
                body = (DEMO_PAGES / city.id / "services.json").read_bytes()
                frame = parse_open311_services(body, "application/json", city_id=city.id, sha256="0" * 64)
            else:
                continue  # an HTML catalogue: its demo page is checked with the other pages
            assert frame.height >= 5 and frame["service_code"].n_unique() == frame.height, city.id
            parsed[city.id] = frame
    assert sorted(parsed) == ["madrid", "new_york", "paris", "san_francisco", "toronto"]
