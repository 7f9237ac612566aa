"""Portal features (hotline_eval.portals.features, .text): site families, encodings, hostile markup.

Fixtures in tests/fixtures/portals are hand-written in the structure of each site family (NYC311's
portal, sf311.org, toronto.ca, 12345 on beijing.gov.cn in GB2312/GBK, 120dasan.or.kr in EUC-KR,
1823.gov.hk, metro.tokyo.lg.jp, service.berlin.de, paris.fr, madrid.es) with invented content.
"""

from __future__ import annotations

import pytest

from hotline_eval.config.registry import load_registry
from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.encoding import decode_body
from hotline_eval.portals.catalogue import parse_html_catalogue, parse_open311_services
from hotline_eval.portals.evidence import is_data_directory
from hotline_eval.portals.features import extract_features, portal_features_frame
from hotline_eval.portals.fingerprint import fingerprint_similarity, page_fingerprint
from hotline_eval.portals.rules import CatalogueSelectors, PortalRules
from hotline_eval.portals.text import EVIDENCE_MAX_CHARS, meta_refresh_target
from tests.portals.helpers import DEMO_PAGES, PAGES, features_of, page

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
      "open_data_published", "accessibility_relay", "accessibility_sign_language"},
     {"open_24_7", "languages", "accessibility_tty"}),  # ACCEO is a relay service, not a text telephone
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
    body = (PAGES / "beijing_12345_gbk.html").read_bytes()
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
    body = (PAGES / "seoul_120dasan_euckr.html").read_bytes()
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


# ----------------------------------------------------------------------------------- hostile --
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


def test_turkish_and_rioplatense_pages(rules: PortalRules) -> None:
    tr = features_of("<main><p>ALO 153 7/24 hizmet vermektedir. İşaret dili ile görüntülü görüşme.</p></main>", rules,
                     url="https://www.ibb.istanbul/", language="tr", city_id="istanbul")
    assert {"open_24_7", "accessibility_sign_language"} <= set(tr)
    assert "service_catalogue_size" not in tr  # "7/24 hizmet" is not "24 services"
    es = features_of("<p>Llamá al 147 o escribí por WhatsApp a Boti, el asistente virtual.</p>", rules,
                     url="https://buenosaires.gob.ar/147", language="es", city_id="buenos_aires")
    assert {"channel_phone", "channel_social", "channel_chatbot"} <= set(es)
