"""Issue #19, defects 4 and 5: a city with several service directories keeps every one (and counts a
service listed in each language once); the hotline's own number, a year or a phone number on a page is
not a catalogue size."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from hotline_eval.config.registry import City, Portal, load_registry
from hotline_eval.evaluation.computations import service_catalogue_size
from hotline_eval.evaluation.evidence import Evidence
from hotline_eval.portals.evidence import read_city_pages
from hotline_eval.portals.refresh import catalog_summary, refresh_service_catalog
from hotline_eval.portals.rules import PortalRules
from hotline_eval.publish.warehouse import apply_ddl, replace_many
from tests.helpers import make_client
from tests.portals.helpers import features_of

# Helsinki's Open311 lists (?locale=fi|en|sv): the same 15 service codes, named in each language
LOCALES = ("fi", "en", "sv")
CODES = [f"{171 + i}" for i in range(15)]


def _services(locale: str) -> bytes:
    return json.dumps([{"service_code": code, "service_name": f"{locale} service {code}", "group": locale}
                       for code in CODES]).encode()


def _serve_directories(server, broken: str | None = None) -> None:
    for locale in LOCALES:
        body = b"<html>maintenance</html>" if locale == broken else _services(locale)
        server.expect_request(f"/{locale}/services.json").respond_with_data(body, content_type="application/json")


def _city_with_directories(server) -> City:
    """new_york standing in for Helsinki: one services portal per language, on the loopback server."""
    base = next(c for c in load_registry().cities if c.id == "new_york")
    portals = [Portal(kind="services", url=server.url_for(f"/{locale}/services.json"), language=locale[:2])
               for locale in LOCALES]
    return base.model_copy(update={"portals": portals, "sources": []})


def _refresh(tmp_path: Path, con: duckdb.DuckDBPyConnection, city: City, rules: PortalRules, run: str):
    client = make_client(tmp_path / run)
    refresh = refresh_service_catalog([city], lambda _hosts: client, rules)
    replace_many(con, refresh.writes)
    return refresh


def _catalogue_size(con: duckdb.DuckDBPyConnection) -> float:
    ev = Evidence.from_warehouse(con, "2025", load_registry())
    sizes = {r["city_id"]: r["raw_value"] for r in service_catalogue_size(ev, None).iter_rows(named=True)}
    return sizes["new_york"]


def test_every_directory_of_a_city_is_kept_and_a_service_counts_once(tmp_path: Path, server,
                                                                    rules: PortalRules) -> None:
    """Three language lists of 15 services: 45 rows, one directory_url each, a catalogue of 15 (not the
    last list alone, not 45). A list that then fails keeps its last good rows."""
    _serve_directories(server)
    city = _city_with_directories(server)
    con = duckdb.connect(str(tmp_path / "work.duckdb"))
    try:
        apply_ddl(con)
        refresh = _refresh(tmp_path, con, city, rules, "first")
        assert set(refresh.status.values()) == {"ok: 15 services"}
        # before the fix each directory replaced the city's rows: the last list's 15 were left
        assert con.execute("SELECT count(*) FROM staging.service_catalog").fetchall() == [(45,)]
        by_directory = dict(con.execute("SELECT directory_url, count(*) FROM staging.service_catalog "
                                        "GROUP BY ALL").fetchall())
        assert by_directory == {p.url: 15 for p in city.portals}
        summary = catalog_summary(con)
        assert (summary.rows, summary.duplicates, summary.services) == (45, 0, {"new_york": 15})
        assert _catalogue_size(con) == 15.0

        server.clear_all_handlers()
        server.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
        _serve_directories(server, broken="sv")
        refresh = _refresh(tmp_path, con, city, rules, "second")
        assert list(refresh.failed) == [city.portals[2].url]
        names = con.execute("SELECT directory_url, min(name) FROM staging.service_catalog GROUP BY ALL").fetchall()
        assert dict(names) == {p.url: f"{locale} service 171" for p, locale in zip(city.portals, LOCALES,
                                                                                    strict=True)}
        assert _catalogue_size(con) == 15.0
    finally:
        con.close()


def test_the_hotlines_own_number_is_not_the_catalogue_size(tmp_path: Path, server, rules: PortalRules) -> None:
    """'NYC311 ... 311 services' on new_york's page: 311 is the hotline (registry numbers and brand), the
    catalogue size is the other number, or none."""
    server.expect_request("/home").respond_with_data(
        "<html><body><main><p>NYC311: 311 services are one call away.</p>"
        "<p>Browse 512 services online.</p></main></body></html>", content_type="text/html; charset=utf-8")
    server.expect_request("/about").respond_with_data(
        "<html><body><main><p>Boston 311 services are open 24/7.</p></main></body></html>",
        content_type="text/html; charset=utf-8")
    base = next(c for c in load_registry().cities if c.id == "new_york")
    city = base.model_copy(update={"sources": [], "portals": [
        Portal(kind="home", url=server.url_for("/home"), language="en"),
        Portal(kind="about", url=server.url_for("/about"), language="en")]})
    reading = read_city_pages(make_client(tmp_path), city, rules, {})
    sizes = {p.url.rsplit("/", 1)[1]: p.features.filter(feature="service_catalogue_size")["value_num"].to_list()
             for p in reading.read}
    assert sizes == {"home": [512.0], "about": []}


@pytest.mark.parametrize("text", [
    "<p>Our 2024 services guide is online.</p>",  # a year
    "<p>Call 0860 103 089 services desk, weekdays.</p>",  # a phone number, read as 103 089
    "<p>Call 617-635-4500 services line.</p>",  # the tail of a phone number
])
def test_a_year_or_a_phone_number_is_not_a_catalogue_size(text: str, rules: PortalRules) -> None:
    found = features_of(f"<html><body><main>{text}</main></body></html>", rules, url="https://example.org/",
                        language="en", city_id="x")
    assert "service_catalogue_size" not in found, found.get("service_catalogue_size")


def test_a_published_count_still_counts(rules: PortalRules) -> None:
    found = features_of("<html><body><main><p>Call 311 for any of our 1,200 services, since 2019.</p>"
                        "</main></body></html>", rules, url="https://example.org/", language="en", city_id="x")
    assert found["service_catalogue_size"].value_num == 1200.0
