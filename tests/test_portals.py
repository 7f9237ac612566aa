"""Portal features, service catalogues and page drift (hotline_eval.portals.pages).

Fixtures in tests/fixtures/portals are hand-written in the structure of each site family (NYC311's
portal, sf311.org, toronto.ca, 12345 on beijing.gov.cn in GB2312/GBK, 120dasan.or.kr in EUC-KR,
1823.gov.hk, metro.tokyo.lg.jp, service.berlin.de, paris.fr, madrid.es) with invented content.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from hotline_eval.config.registry import DirectoryRecords, Portal, load_registry
from hotline_eval.errors import ConfigError, FetchError, PolicyError, SourceFormatError
from hotline_eval.fetch.encoding import decode_body
from hotline_eval.portals.evidence import is_data_directory, read_city_pages, read_service_directory
from hotline_eval.portals.pages import (
    CATALOG_SCHEMA,
    DEFAULT_RULES_FILE,
    EVIDENCE_MAX_CHARS,
    FEATURE_IDS,
    CatalogueSelectors,
    PortalFeature,
    PortalRules,
    check_page_drift,
    extract_features,
    fingerprint_similarity,
    load_portal_rules,
    meta_refresh_target,
    page_fingerprint,
    parse_directory_records,
    parse_html_catalogue,
    parse_open311_services,
    portal_features_frame,
)
from tests.helpers import make_client

FIXTURES = Path(__file__).parent / "fixtures" / "portals"
DEMO_PAGES = Path(__file__).resolve().parents[1] / "scripts" / "demo_portal_pages"


@pytest.fixture(scope="module")
def rules() -> PortalRules:
    return load_portal_rules()


def page(name: str) -> str:
    return decode_body((FIXTURES / name).read_bytes())


def features_of(html: str, rules: PortalRules, *, url: str, language: str, city_id: str) -> dict[str, PortalFeature]:
    found = extract_features(html, url=url, language=language, city_id=city_id, rules=rules)
    assert len({f.feature for f in found}) == len(found), "one row per feature"
    return {f.feature: f for f in found}


# --------------------------------------------------------------------------------- rules file --
def test_rules_file_loads_with_every_feature(rules: PortalRules) -> None:
    assert set(rules.features) == set(FEATURE_IDS)
    assert rules.version >= 1


def write_rules(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load(DEFAULT_RULES_FILE.read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "portal_rules.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["features"]["channel_phone"].update(links=["(unclosed"]), "features.channel_phone.links"),
        (lambda r: r["features"].pop("open_24_7"), "missing rules for ['open_24_7']"),
        (lambda r: r["features"]["faq_size"]["numbers"].update(en=["no placeholder"]), "features.faq_size.numbers"),
        (lambda r: r["overrides"][0].update(content_selector="div[["), "overrides[0](new_york).content_selector"),
        (lambda r: r.update(colour="blue"), "colour"),
    ],
)
def test_bad_rules_file_names_file_and_field(tmp_path: Path, mutate, expected: str) -> None:
    path = write_rules(tmp_path, mutate)
    with pytest.raises(ConfigError) as info:
        load_portal_rules(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_rules_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_portal_rules(tmp_path / "nope.yaml")


# ------------------------------------------------------------------------------ site families --
FAMILIES = [
    # fixture, url, language, city, features that must be found, features that must not
    ("nyc_portal_home.html", "https://portal.311.nyc.gov/", "en", "new_york",
     {"channel_phone", "channel_sms", "channel_web_form", "channel_mobile_app", "open_24_7", "languages",
      "online_case_tracking", "faq_size", "open_data_published", "accessibility_tty", "accessibility_sign_language",
      "agencies_integrated"},
     {"channel_chatbot", "channel_social"}),  # the chatbot words are in a <script>; @nyc311 is in the footer
    ("sf311_home.html", "https://sf311.org/", "en", "san_francisco",
     {"channel_phone", "channel_web_form", "channel_mobile_app", "channel_social", "open_24_7", "languages",
      "online_case_tracking", "open_data_published", "accessibility_tty"},
     {"channel_chatbot"}),
    ("toronto_311.html", "https://www.toronto.ca/home/311-toronto-at-your-service/", "en", "toronto",
     {"channel_phone", "channel_email", "channel_web_form", "channel_mobile_app", "open_24_7", "languages",
      "faq_size", "accessibility_tty"},
     {"channel_sms"}),
    ("hong_kong_1823_about.html", "https://www.1823.gov.hk/en/about-us", "en", "hong_kong",
     {"channel_phone", "channel_email", "channel_web_form", "channel_mobile_app", "channel_sms", "channel_chatbot",
      "open_24_7", "online_case_tracking", "agencies_integrated"},
     {"accessibility_sign_language"}),  # only in the footer, outside the configured <main>
    ("tokyo_soudan.html", "https://www.metro.tokyo.lg.jp/", "ja", "tokyo",
     {"channel_phone", "channel_web_form", "channel_walk_in", "languages", "accessibility_tty",
      "accessibility_sign_language", "agencies_integrated", "open_data_published"},
     {"open_24_7", "channel_email"}),  # weekday hours; "メールフォーム" is a form, not e-mail
    ("berlin_service_az.html", "https://service.berlin.de/", "de", "berlin",
     {"channel_phone", "channel_email", "channel_web_form", "channel_walk_in", "accessibility_sign_language",
      "service_catalogue_size"},
     {"open_24_7", "open_data_published"}),  # "nicht rund um die Uhr"; open data link is in the footer
    ("paris_3975.html", "https://www.paris.fr/", "fr", "paris",
     {"channel_phone", "channel_web_form", "channel_mobile_app", "channel_walk_in", "online_case_tracking",
      "open_data_published", "accessibility_tty", "accessibility_sign_language"},
     {"open_24_7", "languages"}),
    ("madrid_linea_madrid.html", "https://www.madrid.es/", "es", "madrid",
     {"channel_phone", "channel_web_form", "channel_mobile_app", "channel_walk_in", "open_24_7", "languages",
      "online_case_tracking", "open_data_published", "accessibility_sign_language", "service_catalogue_size"},
     {"agencies_integrated"}),
]


@pytest.mark.parametrize(("fixture", "url", "language", "city_id", "present", "absent"), FAMILIES,
                         ids=[f[0] for f in FAMILIES])
def test_site_family_features(rules: PortalRules, fixture: str, url: str, language: str, city_id: str,
                              present: set[str], absent: set[str]) -> None:
    found = features_of(page(fixture), rules, url=url, language=language, city_id=city_id)
    assert present <= set(found), f"missing {present - set(found)}"
    assert not (absent & set(found)), f"unexpected {absent & set(found)}"
    for feature in found.values():
        assert feature.city_id == city_id and feature.source_url == url
        assert 0 < len(feature.evidence) <= EVIDENCE_MAX_CHARS
        assert "<" not in feature.evidence and "&amp;" not in feature.evidence


def test_nyc_values(rules: PortalRules) -> None:
    found = features_of(page("nyc_portal_home.html"), rules, url="https://portal.311.nyc.gov/", language="en",
                        city_id="new_york")
    assert found["languages"].value_num == 175
    assert set(found["languages"].value.split(",")) >= {"en", "es", "zh", "ru", "ht", "ko"}
    assert found["faq_size"].value_num == 4000 and "4,000" in found["faq_size"].evidence
    assert found["agencies_integrated"].value == "200"
    assert found["open_24_7"].value == "yes" and found["open_24_7"].value_num == 1.0
    assert "24 hours a day" in found["open_24_7"].evidence


def test_faq_entries_are_counted_once(rules: PortalRules) -> None:
    found = features_of(page("toronto_311.html"), rules, url="https://www.toronto.ca/home/311/", language="en",
                        city_id="toronto")
    assert found["faq_size"].value_num == 3  # <h3><button>...?</button></h3> x 3
    assert found["languages"].value_num == 180


def test_faq_from_details_elements(rules: PortalRules) -> None:
    html = ("<main><h2>FAQ</h2>" + "".join(f"<details><summary>Item {i}</summary><p>...</p></details>"
                                           for i in range(5)) + "</main>")
    found = features_of(html, rules, url="https://example.org/", language="en", city_id="x")
    assert found["faq_size"].value_num == 5


def test_gbk_page_is_decoded_and_matched(rules: PortalRules) -> None:
    body = (FIXTURES / "beijing_12345_gbk.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    html = decode_body(body)  # <meta ... charset=gb2312> -> decoded as GB18030
    assert "堃" in html  # a GBK character outside GB2312
    found = features_of(html, rules, url="https://www.beijing.gov.cn/hudong/", language="zh-CN", city_id="beijing")
    assert {"channel_phone", "channel_web_form", "channel_social", "channel_mobile_app", "channel_email",
            "open_24_7", "online_case_tracking", "open_data_published"} <= set(found)
    assert found["agencies_integrated"].value_num == 56 and "56条政务服务热线" in found["agencies_integrated"].evidence
    assert found["faq_size"].value_num == 1200
    assert set(found["languages"].value.split(",")) == {"zh", "en", "ja", "ko"}
    assert "12345市民服务热线_首都之窗" not in found["channel_phone"].evidence  # the <title> is not content


def test_euc_kr_page_is_decoded_and_matched(rules: PortalRules) -> None:
    body = (FIXTURES / "seoul_120dasan_euckr.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    html = decode_body(body)
    found = features_of(html, rules, url="https://120dasan.or.kr", language="ko", city_id="seoul")
    assert {"channel_phone", "channel_sms", "channel_social", "open_24_7", "online_case_tracking",
            "accessibility_sign_language"} <= set(found)
    assert found["agencies_integrated"].value_num == 41  # "41개 기관", not "25개 자치구"
    assert found["languages"].value_num == 7
    assert {"en", "zh", "ja", "vi", "mn", "ko"} <= set(found["languages"].value.split(","))
    assert found["faq_size"].value_num == 2  # <dl class="faq_list"><dt>...</dt>


def test_zh_hk_page_uses_traditional_keywords(rules: PortalRules) -> None:
    html = ("<main><p>1823全日無休，市民可致電或透過流動應用程式「Tell me@1823」查詢，"
            "並可以手語進行視像查詢。</p></main>")
    found = features_of(html, rules, url="https://www.1823.gov.hk/tc/about-us", language="zh-HK",
                        city_id="hong_kong")
    assert {"open_24_7", "channel_phone", "channel_mobile_app", "accessibility_sign_language"} <= set(found)


# --------------------------------------------------------------------------- every parser, <div> --
def test_every_parser_on_an_empty_div(rules: PortalRules) -> None:
    assert extract_features("<div></div>", url="https://example.org/", language="en", city_id="x", rules=rules) == []
    assert meta_refresh_target("<div></div>") is None
    assert fingerprint_similarity(page_fingerprint("<div></div>"), page_fingerprint("<div></div>")) == 1.0
    with pytest.raises(SourceFormatError, match=r"catalogue selector 'div.azlist ul.list li' matches nothing"):
        parse_html_catalogue("<div></div>", city_id="berlin", sha256="0" * 64,
                             selectors=CatalogueSelectors(item="div.azlist ul.list li"))
    with pytest.raises(SourceFormatError, match="neither JSON nor XML"):
        parse_open311_services(b"div", None, city_id="x", sha256="0" * 64)
    with pytest.raises(SourceFormatError, match="expected a <services> root element, found <div>"):
        parse_open311_services(b"<div></div>", None, city_id="x", sha256="0" * 64)
    with pytest.raises(SourceFormatError, match=r"content selector 'div\.wrapper-body'"):
        extract_features("<div></div>", url="https://portal.311.nyc.gov/", language="en", city_id="new_york",
                         rules=rules)


@pytest.mark.parametrize(
    ("body", "message"),
    [("", "empty page"), ("   \n ", "empty page"), ('{"services": []}', "looks like JSON"),
     ("%PDF-1.7 ...", "a PDF document"), ("just words, no markup", "not HTML"), ("<p>a\x00b</p>", "binary")],
)
def test_not_html_is_a_clear_error(rules: PortalRules, body: str, message: str) -> None:
    with pytest.raises(SourceFormatError, match=message):
        extract_features(body, url="https://example.org/", language="en", city_id="x", rules=rules)
    with pytest.raises(SourceFormatError, match=message):
        page_fingerprint(body)


# ---------------------------------------------------------------------------------- catalogues --
def test_open311_services_json(tmp_path: Path) -> None:
    body = (FIXTURES / "open311_services.json").read_bytes()
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
    body = (FIXTURES / "open311_services.xml").read_bytes()
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


# Socrata /resource/cs9t-e3x8.json (NYC 311 Service Level Agreements): strings only, nulls left out
NYC_SLA = b"""[
 {"agency": "HPD", "problem": "Heat/Hot Water", "problem_details": "Entire Building", "sla_days": "3 days"},
 {"agency": "HPD", "problem": "Plumbing", "problem_details": "Water Leak", "additional_details": "Heavy Flow",
  "sla_days": "30 days"},
 {"agency": "NYPD", "problem": "Noise - Residential", "problem_details": "Loud Music/Party", "sla_days": "8 hours"},
 {"agency": "DOB", "problem": "Noise - Residential", "problem_details": "Loud Music/Party",
  "sla_days": "SLA Not Managed by 311"},
 {"agency": "DOT", "problem": "Street Condition", "sla_days": "10 days"}
]"""
NYC_FIELDS = DirectoryRecords(code=["problem", "problem_details"], name=["problem_details"], group="problem",
                              agency="agency")


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
    registry = yaml.safe_load(Path("config/cities.yaml").read_text(encoding="utf-8"))
    registry["cities"][0]["portals"][0]["records"] = {"code": ["x"], "name": ["x"]}
    path = tmp_path / "cities.yaml"
    path.write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
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


# ------------------------------------------------------------------------------------- drift --
def test_fingerprint_ignores_text_and_list_growth() -> None:
    html = page("nyc_portal_home.html")
    grown = html.replace("Get help with City services", "Get quick help with all City services").replace(
        '<li><a href="/sign-in/">Sign In</a></li>', '<li><a href="/sign-in/">Sign In</a></li>' * 20)
    assert fingerprint_similarity(page_fingerprint(html), page_fingerprint(grown)) == 1.0


def test_drift_detected_when_structure_changes(rules: PortalRules) -> None:
    before_html, after_html = page("nyc_portal_home.html"), page("nyc_portal_home_redesign.html")
    before, after = page_fingerprint(before_html), page_fingerprint(after_html)
    similarity = fingerprint_similarity(before, after)
    assert 0.0 <= similarity < 0.3
    # the configured content selector is gone: extraction fails loudly instead of finding nothing
    with pytest.raises(SourceFormatError, match=r"content selector 'div\.wrapper-body'.*structure has changed"):
        extract_features(after_html, url="https://portal.311.nyc.gov/", language="en", city_id="new_york",
                         rules=rules)
    # without a selector the redesigned page simply yields no features: the check fails on both counts
    found = extract_features(after_html, url="https://portal.311.nyc.gov/", language="en", city_id="nyc_other",
                             rules=rules)
    verdict = check_page_drift(url="https://portal.311.nyc.gov/", previous_fingerprint=before,
                               current_fingerprint=after, previous_feature_count=12,
                               current_feature_count=len(found))
    assert not verdict.passed
    assert "found 12 features before and none now" in verdict.message and "similarity" in verdict.message
    same = check_page_drift(url="u", previous_fingerprint=before, current_fingerprint=before,
                            previous_feature_count=12, current_feature_count=12)
    assert same.passed and same.similarity == 1.0
    first = check_page_drift(url="u", previous_fingerprint=None, current_fingerprint=after,
                             previous_feature_count=None, current_feature_count=0)
    assert first.passed and first.similarity is None


def test_fingerprint_similarity_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a fp1 page fingerprint"):
        fingerprint_similarity("hello", page_fingerprint("<p>x</p>"))


# ----------------------------------------------------------------------------------- hostile --
def test_five_megabyte_page_is_capped_by_the_client(tmp_path: Path, server) -> None:
    server.expect_request("/huge").respond_with_data(b"<html><body>" + b"<p>x</p>" * 655_360 + b"</body></html>",
                                                     content_type="text/html")
    client = make_client(tmp_path, max_body_bytes=1_000_000)
    with pytest.raises(FetchError, match="exceeds the cap of 1,000,000"):
        client.get(server.url_for("/huge"))


def test_parse_cap_on_text(rules: PortalRules) -> None:
    small = rules.model_copy(update={"max_html_chars": 1_000})
    with pytest.raises(SourceFormatError, match="exceeds the parse cap of 1,000"):
        extract_features("<p>" + "x" * 2_000 + "</p>", url="u", language="en", city_id="x", rules=small)


def test_deeply_nested_markup(rules: PortalRules) -> None:
    html = ("<html><body>" + "<div class='n'>" * 5_000 + "<p>Open 24 hours a day, 7 days a week.</p>"
            + "</div>" * 5_000 + "<p>Call 311.</p></body></html>")
    found = features_of(html, rules, url="https://example.org/", language="en", city_id="x")
    assert {"open_24_7", "channel_phone"} <= set(found)
    fingerprint = page_fingerprint(html)
    assert fingerprint_similarity(fingerprint, fingerprint) == 1.0
    assert meta_refresh_target(html) is None


def test_script_style_and_noscript_are_noise(rules: PortalRules) -> None:
    html = """<html><head><style>.chatbot{display:none} /* 24/7 */</style></head><body>
    <script>var s = "chatbot available 24/7 in 120 languages; sign language; TTY";</script>
    <noscript>Call 311 from your phone</noscript><template><p>virtual agent</p></template>
    <p>Welcome.</p></body></html>"""
    assert extract_features(html, url="https://example.org/", language="en", city_id="x", rules=rules) == []


def test_entities_are_decoded(rules: PortalRules) -> None:
    html = ("<p>Tom &amp; Jerry&#8217;s hotline&nbsp;is open 24&#47;7. &#x627;&#x644; &lt;b&gt;"
            "Email us at help&#64;city.example.</p>")
    found = features_of(html, rules, url="https://example.org/", language="en", city_id="x")
    assert "Tom & Jerry’s hotline is open 24/7" in found["open_24_7"].evidence
    assert "help@city.example" in found["channel_email"].evidence
    assert "&amp;" not in found["open_24_7"].evidence and "\xa0" not in found["open_24_7"].evidence


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


def test_features_frame(rules: PortalRules) -> None:
    found = extract_features(page("paris_3975.html"), url="https://www.paris.fr/", language="fr", city_id="paris",
                             rules=rules)
    frame = portal_features_frame(found, fetched_at="2025-01-01T00:00:00+00:00", sha256="9" * 64)
    assert frame.height == len(found) and frame["sha256"].unique().to_list() == ["9" * 64]
    assert frame.columns == ["city_id", "feature", "value", "value_num", "evidence", "source_url", "fetched_at",
                             "sha256"]


# ------------------------------------------------------------------------------- demo pages --
def test_demo_pages_exist_for_every_portal_and_show_features(rules: PortalRules) -> None:
    registry = load_registry()
    for city in registry.cities:
        for index, portal in enumerate(city.portals):
            if is_data_directory(portal):
                continue  # a machine-readable service directory: see the next test
            path = DEMO_PAGES / city.id / f"{index}.html"
            assert path.exists(), f"no demo page {path} for {portal.url}"
            found = extract_features(decode_body(path.read_bytes()), url=portal.url, language=portal.language,
                                     city_id=city.id, rules=rules)
            assert len(found) >= 3, f"{path}: only {[f.feature for f in found]}"


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


def test_turkish_and_rioplatense_pages(rules: PortalRules) -> None:
    tr = features_of("<main><p>ALO 153 7/24 hizmet vermektedir. İşaret dili ile görüntülü görüşme.</p></main>", rules,
                     url="https://www.ibb.istanbul/", language="tr", city_id="istanbul")
    assert {"open_24_7", "accessibility_sign_language"} <= set(tr)
    assert "service_catalogue_size" not in tr  # "7/24 hizmet" is not "24 services"
    es = features_of("<p>Llamá al 147 o escribí por WhatsApp a Boti, el asistente virtual.</p>", rules,
                     url="https://buenosaires.gob.ar/147", language="es", city_id="buenos_aires")
    assert {"channel_phone", "channel_social", "channel_chatbot"} <= set(es)


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


HOME = "<html><body><main><p>Call 311, 24/7, or use the app. Track your request online.</p></main></body></html>"
SERVICES = b'[{"service_code": "001", "service_name": "Pothole", "group": "Streets"}, ' \
           b'{"service_code": "002", "service_name": "Graffiti", "group": "Cleaning"}]'


@pytest.fixture
def json_city(server):
    """new_york with its portals on the loopback server: a page, a page URL answering JSON (a genuine
    error), a directory of data records behind a query string, and Open311 services.json."""
    server.expect_request("/home").respond_with_data(HOME, content_type="text/html; charset=utf-8")
    server.expect_request("/about").respond_with_data('{"error": "moved"}', content_type="application/json")
    server.expect_request("/resource/sla.json").respond_with_data(NYC_SLA, content_type="application/json")
    server.expect_request("/open311/v2/services.json").respond_with_data(SERVICES, content_type="application/json")
    base = next(c for c in load_registry().cities if c.id == "new_york")
    portals = [Portal(kind="home", url=server.url_for("/home"), language="en"),
               Portal(kind="about", url=server.url_for("/about"), language="en"),
               Portal(kind="services", url=server.url_for("/resource/sla.json") + "?$limit=50000", language="en",
                      records=NYC_FIELDS),
               Portal(kind="services", url=server.url_for("/open311/v2/services.json") + "?jurisdiction_id=x",
                      language="en")]
    return base.model_copy(update={"portals": portals, "sources": []})


def test_json_directories_are_not_read_as_pages(tmp_path: Path, server, json_city, rules: PortalRules) -> None:
    reading = read_city_pages(make_client(tmp_path), json_city, rules, {})
    assert [(p.url.rsplit("/", 1)[1], p.status) for p in reading.pages] == [("home", "ok"), ("about", "failed")]
    about = json_city.portals[1].url
    failed = reading.pages[1]
    assert "looks like JSON, not HTML" in failed.reason and failed.reason.count(about) == 1, failed.reason
    assert not [r for r, _ in server.log if r.path != "/robots.txt" and r.path not in ("/home", "/about")]


def test_portal_assets_warn_once_for_a_json_page_and_read_json_directories(tmp_path: Path, server, json_city,
                                                                          monkeypatch) -> None:
    """The Dagster layer: a JSON directory gives no "page not read" warning and lands in the catalogue;
    a page URL answering JSON warns once, naming its URL once."""
    import logging

    import dagster as dg
    import duckdb
    from dagster_duckdb import DuckDBResource

    import assets.portals as portal_assets
    from assets.resources import HttpResource

    # one directory: the catalogue keeps one per city (the registry configures no more)
    city = json_city.model_copy(update={"portals": json_city.portals[:3]})
    monkeypatch.setattr(portal_assets, "REGISTRY", load_registry().model_copy(update={"cities": [city]}))
    instance = dg.DagsterInstance.ephemeral()
    resources = {"http": HttpResource(mode="live", archive_dir=str(tmp_path / "archive"),
                                      replay_dir=str(tmp_path / "replay"), private_hosts=["localhost"],
                                      min_interval_s=0.0, max_attempts=1),
                 "warehouse_db": DuckDBResource(database=str(tmp_path / "work.duckdb"))}
    result = dg.materialize([portal_assets.portal_features, portal_assets.service_catalog], resources=resources,
                            instance=instance)
    assert result.success
    warnings = [e.user_message for e in instance.all_logs(result.run_id)
                if e.level >= logging.WARNING and e.dagster_event is None]
    about = json_city.portals[1].url
    assert warnings == [f"page not read: {about}: looks like JSON, not HTML"], warnings
    con = duckdb.connect(str(tmp_path / "work.duckdb"), read_only=True)
    try:
        catalog = con.execute("SELECT service_code FROM staging.service_catalog ORDER BY ALL").fetchall()
        pages = con.execute("SELECT value FROM staging.portal_features WHERE feature = 'pages_read'").fetchall()
    finally:
        con.close()
    assert [c for (c,) in catalog] == ["Heat/Hot Water / Entire Building", "Noise - Residential / Loud Music/Party",
                                       "Plumbing / Water Leak", "Street Condition"]
    assert pages == [(city.portals[0].url,)]
    assert [r.path for r, _ in server.log if r.path.endswith(".json")] == ["/resource/sla.json"]  # by the catalogue
