"""Features of the cities' official hotline pages, their service directories, and page drift.

Pure functions over text already fetched (``client.get(url).text()`` decodes GBK, EUC-KR and the
rest); nothing here fetches, and a ``<meta refresh>`` is reported, never followed.

- ``extract_features``: one shared extractor driven by ``config/portal_rules.yaml`` (keywords per
  language, link patterns, published-number patterns, per-site content selectors) yields
  ``PortalFeature`` rows for ``staging.portal_features``. A feature the page does not show is not
  returned: absence on one page is not evidence of absence.
- ``parse_open311_services`` / ``parse_html_catalogue``: service directories for
  ``staging.service_catalog`` (Open311 GeoReport v2 ``services.json``/``.xml``, or an HTML list
  described by CSS selectors in the rules file).
- ``page_fingerprint`` / ``fingerprint_similarity`` / ``check_page_drift``: a page's structure
  (tag and class skeleton, not its text) and how far it moved since the last fetch.

Every parser fails with ``SourceFormatError`` naming what it looked for, never returns None silently.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin

import polars as pl
import soupsieve
from bs4 import BeautifulSoup, Tag
from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from hotline_eval.config.files import load_yaml_model
from hotline_eval.config.registry import DirectoryRecords
from hotline_eval.config.settings import PROJECT_ROOT
from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.encoding import decode_body

DEFAULT_RULES_FILE = PROJECT_ROOT / "config" / "portal_rules.yaml"

FeatureId = Literal[
    "channel_phone", "channel_sms", "channel_web_form", "channel_mobile_app", "channel_social", "channel_email",
    "channel_walk_in", "channel_chatbot", "open_24_7", "languages", "online_case_tracking", "faq_size",
    "service_catalogue_size", "open_data_published", "accessibility_tty", "accessibility_sign_language",
    "agencies_integrated",
]
FEATURE_IDS: tuple[str, ...] = FeatureId.__args__  # type: ignore[attr-defined]
# features whose value is a number (value_num); the rest are presence ("yes") or the language list
NUMBER_FEATURES = ("faq_size", "service_catalogue_size", "agencies_integrated")

EVIDENCE_MAX_CHARS = 200
LANGUAGE_WINDOW_CHARS = 250  # language names count only this close to a `languages` keyword
EXCLUDE_WINDOW_CHARS = 40
# markup that is never page content
NOISE_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "object")
# inline formatting: left out of the structure fingerprint, it changes with the text
INLINE_TAGS = frozenset({"b", "i", "em", "strong", "span", "br", "small", "sup", "sub", "u", "abbr", "code", "wbr",
                         "font", "mark", "s", "q", "cite", "time"})
FINGERPRINT_VERSION = "fp1"
FINGERPRINT_MAX_SHINGLES = 1024  # bottom-k sketch: the k smallest shingle hashes
FINGERPRINT_ANCESTORS = 2
QUESTION_TAGS = ("h2", "h3", "h4", "h5", "h6", "summary", "dt", "button")
HEADING_TAGS = ["h1", "h2", "h3", "h4"]

# a published number: 4,000 / 4.000 / 4 000 / 2万 / 1만 (the lookbehind keeps "2024 175" and "7/24" apart)
_NUMBER = r"(?<![\d.,/])(?P<n>\d{1,3}(?:[,. ]\d{3})+(?!\d)|\d+)(?:\s*(?P<mult>万|萬|만|千))?"
_MULTIPLIERS = {"万": 10_000, "萬": 10_000, "만": 10_000, "千": 1_000}
_LATIN_EDGE = r"0-9A-Za-z\u00C0-\u024F"

CATALOG_SCHEMA = {"city_id": pl.String, "service_code": pl.String, "name": pl.String, "group": pl.String,
                  "agency": pl.String, "keywords": pl.String, "sha256": pl.String}
FEATURES_SCHEMA = {"city_id": pl.String, "feature": pl.String, "value": pl.String, "value_num": pl.Float64,
                   "evidence": pl.String, "source_url": pl.String, "fetched_at": pl.String, "sha256": pl.String}


# --------------------------------------------------------------------------------- the rules file --
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from None
    return pattern


def _check_css(selector: str | None) -> str | None:
    if selector is None:
        return None
    try:
        soupsieve.compile(selector)
    except Exception as exc:  # soupsieve raises SelectorSyntaxError and friends
        raise ValueError(f"not a valid CSS selector {selector!r}: {exc}") from None
    return selector


KeywordLists = dict[str, list[str]]


def _check_keyword_lists(value: KeywordLists) -> KeywordLists:
    for language, words in value.items():
        if language != "*" and not re.fullmatch(r"[a-z]{2}(-[A-Za-z]{2,4})?", language):
            raise ValueError(f"language key {language!r} is not a language code (or '*')")
        for word in words:
            if not word.strip():
                raise ValueError(f"empty keyword in {language!r}")
            if word.startswith("re:"):
                _check_regex(word[3:])
    return value


class FeatureRule(_Strict):
    """How one feature is recognised; see the header of config/portal_rules.yaml."""

    keywords: KeywordLists = Field(default_factory=dict)
    links: list[str] = Field(default_factory=list)
    exclude: KeywordLists = Field(default_factory=dict)
    numbers: KeywordLists = Field(default_factory=dict)
    selectors: list[str] = Field(default_factory=list)

    _kw = field_validator("keywords", "exclude")(_check_keyword_lists)

    @field_validator("links")
    @classmethod
    def _links(cls, value: list[str]) -> list[str]:
        return [_check_regex(p) for p in value]

    @field_validator("selectors")
    @classmethod
    def _selectors(cls, value: list[str]) -> list[str]:
        for selector in value:
            _check_css(selector)
        return value

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, value: KeywordLists) -> KeywordLists:
        for patterns in value.values():
            for pattern in patterns:
                if pattern.count("{n}") != 1:
                    raise ValueError(f"number pattern {pattern!r} must contain '{{n}}' exactly once")
                _check_regex(pattern.replace("{n}", _NUMBER))
        return value


class CatalogueSelectors(_Strict):
    """CSS selectors of an HTML service directory. All but ``item`` are relative to one item.

    ``code`` + ``code_attr`` + ``code_pattern`` take the service code from an attribute (e.g. the
    number in ``href="/dienstleistung/120686/"``); without them the service name is the code.
    ``group_heading`` takes the group from the nearest heading (h1-h4) before the item.
    """

    item: str
    name: str | None = None
    code: str | None = None
    code_attr: str | None = None
    code_pattern: str | None = None
    group: str | None = None
    group_heading: bool = False
    agency: str | None = None
    keywords: str | None = None

    _css = field_validator("item", "name", "code", "group", "agency", "keywords")(_check_css)

    @field_validator("code_pattern")
    @classmethod
    def _pattern(cls, value: str | None) -> str | None:
        if value is not None and re.compile(_check_regex(value)).groups < 1:
            raise ValueError(f"code_pattern {value!r} needs a group () around the code")
        return value


class SiteOverride(_Strict):
    """Rules for one city's pages (all of them, or those under ``url_prefix``)."""

    city_id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    url_prefix: str | None = None
    content_selector: str | None = None
    extra_keywords: dict[FeatureId, KeywordLists] = Field(default_factory=dict)
    catalogue: CatalogueSelectors | None = None

    _css = field_validator("content_selector")(_check_css)

    @field_validator("extra_keywords")
    @classmethod
    def _extra(cls, value: dict[str, KeywordLists]) -> dict[str, KeywordLists]:
        for lists in value.values():
            _check_keyword_lists(lists)
        return value


class PortalRules(_Strict):
    """config/portal_rules.yaml, validated. Compiled matchers are cached on the instance."""

    version: int = Field(ge=1)
    extra_languages: list[str] = Field(default_factory=list)
    language_fallbacks: dict[str, list[str]] = Field(default_factory=dict)
    max_html_chars: int = Field(default=8_000_000, gt=0)
    language_names: dict[str, list[str]]
    features: dict[FeatureId, FeatureRule]
    overrides: list[SiteOverride] = Field(default_factory=list)

    _cache: dict[Any, Any] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _every_feature(self) -> PortalRules:
        missing = [f for f in FEATURE_IDS if f not in self.features]
        if missing:
            raise ValueError(f"features: missing rules for {missing}")
        for feature in NUMBER_FEATURES:
            if feature != "faq_size" and not self.features[feature].numbers:
                raise ValueError(f"features.{feature}: needs `numbers` patterns")
        return self

    def overrides_for(self, city_id: str, url: str) -> list[SiteOverride]:
        return [o for o in self.overrides if o.city_id == city_id and (o.url_prefix is None or
                                                                       url.startswith(o.url_prefix))]


def _describe_loc(loc: Sequence[int | str], raw: Any) -> str:
    parts: list[str] = []
    node = raw
    for key in loc:
        if isinstance(key, int) and isinstance(node, list) and key < len(node):
            node = node[key]
            label = node.get("city_id") if isinstance(node, dict) else None
            parts.append(f"[{key}]" + (f"({label})" if label else ""))
            continue
        parts.append(f".{key}" if parts else str(key))
        node = node.get(key) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def load_portal_rules(path: Path | str = DEFAULT_RULES_FILE) -> PortalRules:
    """Read and validate the rules file; any problem is a ConfigError naming the file and field."""
    return load_yaml_model(Path(path), PortalRules, what="portal rules",
                           describe=lambda loc, raw, _text: _describe_loc(loc, raw),
                           expect="a mapping with 'version', 'language_names' and 'features'")


# ------------------------------------------------------------------------------------ text tools --
def _fold_char(char: str) -> str:
    folded = char.casefold()
    if len(folded) == 1:
        return folded
    lower = char.lower()
    return lower if len(lower) == 1 else char


def _fold(text: str) -> str:
    """Case-fold keeping every index in place (so a match in the folded text locates the original)."""
    return "".join(_fold_char(c) for c in text)


def _normalize(text: str) -> str:
    """NFKC (full-width digits and punctuation to ASCII), whitespace collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def _keyword_pattern(keyword: str) -> str:
    """A keyword as a regex on folded text: Latin words whole, CJK anywhere, 're:' taken as is."""
    if keyword.startswith("re:"):
        return keyword[3:]
    word = _fold(_normalize(keyword))
    pattern = re.escape(word).replace(r"\ ", r"\s+")
    if re.match(f"[{_LATIN_EDGE}]", word[0]):
        pattern = f"(?<![{_LATIN_EDGE}])" + pattern
    if re.match(f"[{_LATIN_EDGE}]", word[-1]):
        pattern += f"(?![{_LATIN_EDGE}])"
    return pattern


def _alternation(patterns: Iterable[str]) -> re.Pattern[str] | None:
    unique = list(dict.fromkeys(patterns))
    if not unique:
        return None
    return re.compile("|".join(f"(?:{p})" for p in unique), re.IGNORECASE)


def _snippet(text: str, start: int, end: int, limit: int = EVIDENCE_MAX_CHARS) -> str:
    """Plain text around text[start:end], at most ``limit`` characters including ellipses."""
    end = min(end, start + limit - 2)
    room = limit - (end - start) - 2
    left = max(0, start - room // 2)
    right = min(len(text), end + (room - (start - left)))
    left = max(0, min(left, right - (limit - 2)))
    snippet = text[left:right].strip()
    if left > 0:
        snippet = "…" + snippet
    if right < len(text):
        snippet += "…"
    return snippet[:limit]


def _parse_number(match: re.Match[str]) -> float:
    digits = re.sub(r"[,. ]", "", match.group("n"))
    return float(int(digits) * _MULTIPLIERS.get(match.group("mult") or "", 1))


def _check_markup(html: str, max_chars: int, what: str) -> None:
    if not isinstance(html, str):
        raise SourceFormatError(f"{what}: expected decoded text, got {type(html).__name__} (decode with .text())")
    if len(html) > max_chars:
        raise SourceFormatError(f"{what}: page of {len(html):,} characters exceeds the parse cap of {max_chars:,}")
    head = html[:65536].lstrip("\ufeff \t\r\n")
    if not head:
        raise SourceFormatError(f"{what}: empty page (no text at all)")
    if "\x00" in head[:4096]:
        raise SourceFormatError(f"{what}: binary content (NUL bytes), not HTML")
    if head.startswith("%PDF"):
        raise SourceFormatError(f"{what}: a PDF document, not HTML")
    if head[0] in "{[" and "<" not in head[:200]:
        raise SourceFormatError(f"{what}: looks like JSON, not HTML")
    if not re.search(r"<\s*[a-zA-Z!]", head):
        raise SourceFormatError(f"{what}: no markup in the first 64 KB: not HTML")


def _soup(html: str, max_chars: int, what: str) -> BeautifulSoup:
    """Parse with lxml after the not-HTML checks; script/style/noscript (and friends) removed."""
    _check_markup(html, max_chars, what)
    try:
        soup = BeautifulSoup(html, "lxml")
    except RecursionError:  # never seen with lxml (it parsed 5,000 levels); kept as a clear message
        raise SourceFormatError(f"{what}: markup nested too deeply to parse") from None
    for node in soup.find_all(NOISE_TAGS):
        node.decompose()
    return soup


def _outermost(elements: list[Tag]) -> list[Tag]:
    chosen = {id(e) for e in elements}
    return [e for e in elements if not any(id(p) in chosen for p in e.parents)]


# ------------------------------------------------------------------------------------ features --
@dataclass(frozen=True)
class PortalFeature:
    """One feature a page shows. ``value`` is "yes", a number, or a comma list of language codes."""

    city_id: str
    feature: str
    value: str
    value_num: float | None
    evidence: str  # plain text around the match, at most 200 characters
    source_url: str


@dataclass(frozen=True)
class _Page:
    text: str  # normalized plain text of the content
    folded: str  # _fold(text), same indices
    roots: list[Tag]
    language_chain: tuple[str, ...]
    base_language: str


def _language_chain(language: str, rules: PortalRules) -> tuple[str, ...]:
    base = language.split("-")[0]
    chain = [language, *rules.language_fallbacks.get(language, []), base, *rules.extra_languages, "*"]
    return tuple(dict.fromkeys(chain))


def _keyword_matcher(rules: PortalRules, feature: str, field: str, chain: tuple[str, ...],
                     extra: tuple[str, ...] = ()) -> re.Pattern[str] | None:
    key = ("kw", feature, field, chain, extra)
    if key not in rules._cache:
        lists: KeywordLists = getattr(rules.features[feature], field)
        words = [w for lang in chain for w in lists.get(lang, [])] + list(extra)
        rules._cache[key] = _alternation(_keyword_pattern(w) for w in words)
    return rules._cache[key]


def _number_matcher(rules: PortalRules, feature: str, chain: tuple[str, ...]) -> re.Pattern[str] | None:
    key = ("num", feature, chain)
    if key not in rules._cache:
        lists = rules.features[feature].numbers
        patterns = [p.replace("{n}", _NUMBER) for lang in chain for p in lists.get(lang, [])]
        # each pattern has its own named group, so they are tried one at a time
        rules._cache[key] = [re.compile(p, re.IGNORECASE) for p in dict.fromkeys(patterns)] or None
    return rules._cache[key]


def _language_name_matchers(rules: PortalRules) -> list[tuple[str, re.Pattern[str]]]:
    key = ("language_names",)
    if key not in rules._cache:
        rules._cache[key] = [(code, m) for code, names in rules.language_names.items()
                             if (m := _alternation(_keyword_pattern(n) for n in names))]
    return rules._cache[key]


def _first_keyword(page: _Page, matcher: re.Pattern[str] | None,
                   exclude: re.Pattern[str] | None = None) -> re.Match[str] | None:
    """The first match not cancelled by an exclude phrase next to it.

    ``<p>Die 115 ist nicht rund um die Uhr erreichbar.</p>`` -> no match for open_24_7.
    """
    if matcher is None:
        return None
    for match in matcher.finditer(page.folded):
        if exclude is not None:
            window = page.folded[max(0, match.start() - EXCLUDE_WINDOW_CHARS):match.end() + EXCLUDE_WINDOW_CHARS]
            if exclude.search(window):
                continue
        return match
    return None


def _first_link(page: _Page, patterns: list[str]) -> tuple[str, str] | None:
    """``<a href="tel:311">Call 311</a>`` -> ("Call 311", "tel:311") for the pattern '^tel:'."""
    if not patterns:
        return None
    regex = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
    for root in page.roots:
        for anchor in root.find_all("a", href=True):
            href = str(anchor.get("href", "")).strip()
            if regex.search(href):
                return _normalize(anchor.get_text(" ")), href
    return None


def _presence(page: _Page, rules: PortalRules, feature: str, extra: tuple[str, ...]) -> tuple[str, float, str] | None:
    """A presence feature: a keyword in the text, else a link pattern.

    ``<li>Text 311-692 to get alerts by SMS</li>`` -> channel_sms ("yes", 1.0, evidence).
    """
    rule = rules.features[feature]
    match = _first_keyword(page, _keyword_matcher(rules, feature, "keywords", page.language_chain, extra),
                           _keyword_matcher(rules, feature, "exclude", page.language_chain))
    if match is not None:
        return "yes", 1.0, _snippet(page.text, match.start(), match.end())
    link = _first_link(page, rule.links)
    if link is not None:
        text, href = link
        return "yes", 1.0, f"{text} ({href})"[:EVIDENCE_MAX_CHARS] if text else href[:EVIDENCE_MAX_CHARS]
    return None


def _published_number(page: _Page, rules: PortalRules, feature: str) -> tuple[float, str] | None:
    """The largest number the page publishes for ``feature``, with its evidence.

    ``<p>1823 answers enquiries for 23 participating departments.</p>`` -> (23.0, "...").
    """
    best: tuple[float, str] | None = None
    for regex in _number_matcher(rules, feature, page.language_chain) or []:
        for match in regex.finditer(page.folded):
            value = _parse_number(match)
            if best is None or value > best[0]:
                best = value, _snippet(page.text, match.start(), match.end())
    return best


def _languages(page: _Page, rules: PortalRules, extra: tuple[str, ...]) -> tuple[str, float, str] | None:
    """Language names near a `languages` keyword, and a published count.

    ``<p>Help is available in 175 languages, including Spanish, Chinese and Russian.</p>``
    -> ("en,es,ru,zh", 175.0, evidence); the page's own language is counted once any is found.
    """
    context = _keyword_matcher(rules, "languages", "keywords", page.language_chain, extra)
    codes: set[str] = set()
    evidence: str | None = None
    if context is not None:
        for match in context.finditer(page.folded):
            lo, hi = max(0, match.start() - LANGUAGE_WINDOW_CHARS), match.end() + LANGUAGE_WINDOW_CHARS
            window = page.folded[lo:hi]
            found = {code for code, names in _language_name_matchers(rules) if names.search(window)}
            if found and evidence is None:
                evidence = _snippet(page.text, match.start(), match.end())
            codes |= found
    published = _published_number(page, rules, "languages")
    if not codes and published is None:
        return None
    if codes:
        codes.add(page.base_language)
    count = max(float(len(codes)), published[0] if published else 0.0)
    return ",".join(sorted(codes)), count, (published[1] if published else evidence) or ""


def _faq_size(page: _Page, rules: PortalRules, extra: tuple[str, ...]) -> tuple[str, float, str] | None:
    """FAQ entries: configured selectors, <details>, <dt>, or question headings; or a published number.

    ``<h2>Frequently asked questions</h2><details><summary>How do I ...?</summary>...</details>`` x N -> N.
    """
    rule = rules.features["faq_size"]
    selected: dict[int, Tag] = {}
    details = dts = 0
    questions: list[str] = []
    for root in page.roots:
        for selector in rule.selectors:
            for element in root.select(selector):
                selected[id(element)] = element
        details += sum(1 for d in root.find_all("details") if d.find("summary"))
        dts += len(root.find_all("dt"))
        for element in root.find_all(QUESTION_TAGS):
            if element.find(QUESTION_TAGS) is not None:
                continue  # <h3><button>Question?</button></h3> counts once, at the innermost element
            text = _normalize(element.get_text(" "))
            if 0 < len(text) <= 300 and (text.endswith(("?", "？")) or re.match(r"(?:q\s*[.:：]|问[:：]|問[:：])", text,
                                                                                 re.I)):
                questions.append(text)
    has_context = _first_keyword(page, _keyword_matcher(rules, "faq_size", "keywords", page.language_chain,
                                                        extra)) is not None
    structural = 0
    if has_context or selected or len(questions) >= 2:
        structural = max(len(selected), details, dts, len(questions))
    published = _published_number(page, rules, "faq_size")
    if published is not None and published[0] >= structural:
        return str(int(published[0])), published[0], published[1]
    if structural == 0:
        return None
    first = questions[0] if questions else _normalize(next(iter(selected.values())).get_text(" ")) if selected else ""
    evidence = f"{structural} FAQ entries on the page" + (f", e.g. {first}" if first else "")
    return str(structural), float(structural), evidence[:EVIDENCE_MAX_CHARS]


def _catalogue_size(page: _Page, rules: PortalRules,
                    catalogue: CatalogueSelectors | None) -> tuple[str, float, str] | None:
    """A published number of services, or the items of the site's configured catalogue list."""
    published = _published_number(page, rules, "service_catalogue_size")
    listed = sum(len(root.select(catalogue.item)) for root in page.roots) if catalogue else 0
    if published is not None and published[0] >= listed:
        return str(int(published[0])), published[0], published[1]
    if listed and catalogue is not None:
        return str(listed), float(listed), f"{listed} services listed on the page ({catalogue.item})"
    return None


def _page_for(html: str, *, url: str, language: str, city_id: str, rules: PortalRules,
              content_selector: str | None) -> _Page:
    soup = _soup(html, rules.max_html_chars, url)
    # the <head> (title, meta) is not content: "12345市民服务热线" in a title is a brand, not a channel
    roots: list[Tag] = [soup.body or soup]
    if content_selector:
        selected = soup.select(content_selector)
        if not selected:
            raise SourceFormatError(
                f"{url}: content selector {content_selector!r} (config/portal_rules.yaml, override for {city_id}) "
                "matches nothing: the page structure has changed"
            )
        roots = _outermost(selected)
    text = _normalize(" ".join(root.get_text(" ") for root in roots))
    return _Page(text=text, folded=_fold(text), roots=roots, language_chain=_language_chain(language, rules),
                 base_language=language.split("-")[0])


def extract_features(html: str, *, url: str, language: str, city_id: str, rules: PortalRules) -> list[PortalFeature]:
    """Every feature the page shows, in FEATURE_IDS order (features not shown are left out).

    A page with no features (``<div></div>``) gives []; a page that is not HTML at all (empty, JSON,
    binary, too large) or that lacks its configured content selector raises SourceFormatError.
    """
    overrides = rules.overrides_for(city_id, url)
    content_selector = next((o.content_selector for o in overrides if o.content_selector), None)
    catalogue = next((o.catalogue for o in overrides if o.catalogue), None)
    page = _page_for(html, url=url, language=language, city_id=city_id, rules=rules, content_selector=content_selector)
    results: list[PortalFeature] = []
    for feature in FEATURE_IDS:
        extra = tuple(w for o in overrides for lang in page.language_chain
                      for w in o.extra_keywords.get(feature, {}).get(lang, []))  # type: ignore[call-overload]
        if feature == "languages":
            found = _languages(page, rules, extra)
        elif feature == "faq_size":
            found = _faq_size(page, rules, extra)
        elif feature == "service_catalogue_size":
            found = _catalogue_size(page, rules, catalogue)
        elif feature == "agencies_integrated":
            number = _published_number(page, rules, feature)
            found = (str(int(number[0])), number[0], number[1]) if number else None
        else:
            found = _presence(page, rules, feature, extra)
        if found is not None:
            value, value_num, evidence = found
            results.append(PortalFeature(city_id=city_id, feature=feature, value=value, value_num=value_num,
                                         evidence=evidence, source_url=url))
    return results


def portal_features_frame(features: Iterable[PortalFeature], *, fetched_at: str, sha256: str) -> pl.DataFrame:
    """Rows for staging.portal_features: the features of one fetched page with its provenance."""
    rows = [{"city_id": f.city_id, "feature": f.feature, "value": f.value, "value_num": f.value_num,
             "evidence": f.evidence, "source_url": f.source_url, "fetched_at": fetched_at, "sha256": sha256}
            for f in features]
    return pl.DataFrame(rows, schema=FEATURES_SCHEMA)


# -------------------------------------------------------------------------------- meta refresh --
_REFRESH_URL = re.compile(r"^\s*[\d.]*\s*[;,]?\s*(?:url\s*=\s*)?(?P<q>['\"]?)(?P<url>.*?)(?P=q)\s*$", re.I | re.S)


def meta_refresh_target(html: str, base_url: str | None = None) -> str | None:
    """The URL a ``<meta http-equiv="refresh" content="0; url=...">`` points to; None if there is none.

    Reported so that a page which moved can be seen, never followed: fetching happens only through
    the HTTP client, whose allow-list decides. Relative targets are resolved against ``base_url``.
    """
    if not html or "refresh" not in html.lower():
        return None
    soup = BeautifulSoup(html, "lxml")
    for meta in soup.find_all("meta"):
        if str(meta.get("http-equiv", "")).strip().lower() != "refresh":
            continue
        match = _REFRESH_URL.match(str(meta.get("content", "")))
        target = match.group("url").strip() if match else ""
        if target:
            return urljoin(base_url, target) if base_url else target
    return None


# ------------------------------------------------------------------------------------ catalogue --
def _text_or_none(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = _normalize(str(value))
    return text or None


def _keywords(value: Any) -> str | None:
    """'graffiti,private property, building' or ['a', 'b'] -> 'graffiti, private property, building'."""
    parts = value if isinstance(value, list) else str(value or "").split(",")
    words = [_normalize(str(p)) for p in parts]
    return ", ".join(w for w in words if w) or None


def _service_code(value: Any, where: str) -> str:
    """Open311 service_code as text: Toronto publishes "CSROWC-05" and 30102 in one list."""
    if isinstance(value, bool) or value is None:
        raise SourceFormatError(f"{where}: service_code is missing or not a code ({value!r})")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    code = str(value).strip()
    if not code:
        raise SourceFormatError(f"{where}: service_code is empty")
    return code


def _json_list(text: str, what: str, envelope: str, noun: str) -> list[Any]:
    """A JSON list, bare or at key ``envelope`` of the object wrapping it."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceFormatError(f"{what}: {noun} are not valid JSON ({exc.msg} at {exc.pos})") from None
    if isinstance(data, dict) and isinstance(data.get(envelope), list):
        data = data[envelope]
    if not isinstance(data, list):
        raise SourceFormatError(f"{what}: expected a JSON list of {noun}, got {type(data).__name__}")
    return data


def _open311_json(text: str, what: str) -> list[dict[str, Any]]:
    data = _json_list(text, what, "services", "services")
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise SourceFormatError(f"{what}: service #{index} is a {type(entry).__name__}, not an object")
    return data


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _open311_xml(body: bytes, what: str) -> list[dict[str, Any]]:
    """``<services><service><service_code>001</service_code>...</service></services>``."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(body.lstrip(), parser=parser)
    except etree.XMLSyntaxError as exc:
        raise SourceFormatError(f"{what}: services are not well-formed XML ({exc})") from None
    if _local(root.tag) != "services":
        raise SourceFormatError(f"{what}: expected a <services> root element, found <{_local(root.tag)}>")
    entries = []
    for service in root:
        if _local(service.tag) != "service":
            continue
        entries.append({_local(child.tag): (child.text or "").strip() for child in service if _local(child.tag)})
    return entries


def _catalog_frame(rows: list[dict[str, Any]], what: str) -> pl.DataFrame:
    if not rows:
        raise SourceFormatError(f"{what}: lists no services")
    return pl.DataFrame(rows, schema=CATALOG_SCHEMA).unique(maintain_order=True)


def parse_open311_services(body: bytes, content_type: str | None, *, city_id: str, sha256: str) -> pl.DataFrame:
    """Open311 GeoReport v2 service list (``services.json`` or ``services.xml``) -> service_catalog rows.

    JSON: ``[{"service_code": "CSROWC-05", "service_name": "...", "group": "...", "keywords": "a, b",
    "metadata": true, "type": "batch", "description": "..."}]`` (also ``{"services": [...]}``);
    XML: ``<services><service>`` with the same child elements. The format comes from the content
    type, else from the first character. service_code is always text. ``agency`` is not in the
    spec; it is read from ``agency`` or ``agency_responsible`` where a server adds it.
    """
    what = f"{city_id} services ({sha256[:12]})"
    kind = (content_type or "").lower()
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if "json" in kind or ("xml" not in kind and stripped[:1] in (b"[", b"{")):
        entries = _open311_json(decode_body(body, content_type), what)
    elif "xml" in kind or stripped[:1] == b"<":
        entries = _open311_xml(stripped, what)
    else:
        raise SourceFormatError(f"{what}: neither JSON nor XML (content type {content_type!r})")
    rows = []
    for index, entry in enumerate(entries):
        name = _text_or_none(entry.get("service_name"))
        where = f"{what}: service #{index}" + (f" ({name})" if name else "")
        code = _service_code(entry.get("service_code"), where)
        if name is None:
            raise SourceFormatError(f"{where} (code {code}): service_name is missing")
        rows.append({"city_id": city_id, "service_code": code, "name": name,
                     "group": _text_or_none(entry.get("group")),
                     "agency": _text_or_none(entry.get("agency") or entry.get("agency_responsible")),
                     "keywords": _keywords(entry.get("keywords")), "sha256": sha256})
    return _catalog_frame(rows, what)


def _record_field(record: Mapping[str, Any], path: str | None) -> Any:
    """A field of a record; ``a.b`` reads key b of the object at a (``typology.visible_name``)."""
    value: Any = record
    for key in (path.split(".") if path else ()):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if path else None


def _joined(record: Mapping[str, Any], paths: Sequence[str]) -> str | None:
    parts = [t for t in (_text_or_none(_record_field(record, p)) for p in paths) if t]
    return " / ".join(parts) if parts else None


def parse_directory_records(body: bytes, content_type: str | None, *, city_id: str, sha256: str,
                            fields: DirectoryRecords) -> pl.DataFrame:
    """A service directory published as JSON data records -> service_catalog rows, by the fields the
    registry names (``a.b`` for a key inside an object). Accepts a list of objects (Socrata
    ``/resource/<id>.json``, an Opendatasoft ``/exports/json``, a request feed whose distinct services
    are the directory) or ``{"results": [...]}`` (Opendatasoft ``/records``). A record without a code
    raises SourceFormatError; a code listed twice (a directory row per agency or detail) is kept once,
    its first occurrence."""
    what = f"{city_id} directory records ({sha256[:12]})"
    data = _json_list(decode_body(body, content_type), what, "results", "records")
    rows, seen = [], set()
    for index, record in enumerate(data):
        if not isinstance(record, dict):
            raise SourceFormatError(f"{what}: record #{index} is a {type(record).__name__}, not an object")
        code = _joined(record, fields.code)
        if code is None:
            raise SourceFormatError(f"{what}: record #{index} has no value in its code fields {fields.code}")
        if code in seen:
            continue
        seen.add(code)
        rows.append({"city_id": city_id, "service_code": code, "name": _joined(record, fields.name) or code,
                     "group": _text_or_none(_record_field(record, fields.group)),
                     "agency": _text_or_none(_record_field(record, fields.agency)),
                     "keywords": _keywords(_record_field(record, fields.keywords)),
                     "sha256": sha256})
    return _catalog_frame(rows, what)


def _select_text(item: Tag, selector: str | None) -> str | None:
    if selector is None:
        return None
    element = item.select_one(selector)
    return _text_or_none(element.get_text(" ")) if element is not None else None


def parse_html_catalogue(html: str, *, city_id: str, sha256: str, selectors: CatalogueSelectors,
                         max_chars: int = 8_000_000) -> pl.DataFrame:
    """An HTML service directory -> service_catalog rows, by the site's configured selectors.

    For service.berlin.de's A-Z list::

        <div class="azlist"><h2>A</h2><ul class="list">
          <li><a href="/dienstleistung/120686/">Anmeldung einer Wohnung</a></li></ul></div>

    with ``item: "div.azlist ul.list li"``, ``code_attr: href``, ``code_pattern: "/dienstleistung/(\\d+)/"``,
    ``group_heading: true`` -> code 120686, group "A". A page without the item selector raises
    SourceFormatError naming it; so does an item whose configured code cannot be read.
    """
    what = f"{city_id} catalogue ({sha256[:12]})"
    soup = _soup(html, max_chars, what)
    items = soup.select(selectors.item)
    if not items:
        raise SourceFormatError(f"{what}: catalogue selector {selectors.item!r} matches nothing on the page")
    code_regex = re.compile(selectors.code_pattern) if selectors.code_pattern else None
    rows = []
    for index, item in enumerate(items):
        name_element = item.select_one(selectors.name) if selectors.name else item
        name = _text_or_none(name_element.get_text(" ")) if name_element is not None else None
        if name is None:
            continue  # a separator or letter heading inside the list, not a service
        code = name
        if selectors.code or selectors.code_attr or code_regex:
            element = item.select_one(selectors.code) if selectors.code else name_element
            raw = None
            if element is not None:
                raw = element.get(selectors.code_attr) if selectors.code_attr else element.get_text(" ")
            raw = " ".join(raw) if isinstance(raw, list) else raw
            found = code_regex.search(raw) if (code_regex and raw) else None
            code = (found.group(1) if found else None) if code_regex else _text_or_none(raw)
            if not code:
                raise SourceFormatError(
                    f"{what}: item #{index} ({name}) has no code at {selectors.code or selectors.name or 'item'!r}"
                    f"{'[' + selectors.code_attr + ']' if selectors.code_attr else ''}"
                    f"{' matching ' + repr(selectors.code_pattern) if selectors.code_pattern else ''}"
                )
        group = _select_text(item, selectors.group)
        if group is None and selectors.group_heading:
            heading = item.find_previous(HEADING_TAGS)
            group = _text_or_none(heading.get_text(" ")) if heading is not None else None
        rows.append({"city_id": city_id, "service_code": code, "name": name, "group": group,
                     "agency": _select_text(item, selectors.agency),
                     "keywords": _keywords(_select_text(item, selectors.keywords)), "sha256": sha256})
    if not rows:
        raise SourceFormatError(f"{what}: {len(items)} items match {selectors.item!r} but none has a name "
                                f"at {selectors.name!r}")
    return _catalog_frame(rows, what)


# -------------------------------------------------------------------------------- fingerprints --
def _label(element: Tag) -> str:
    """``<div class="col-md-6 card css-1x2y3z">`` -> 'div.card.col-md-.css-x' (digits dropped)."""
    classes = element.get("class") or []
    if isinstance(classes, str):
        classes = classes.split()
    cleaned = sorted({c for c in (re.sub(r"\d+", "", c.lower()) for c in classes) if len(c) > 1})[:4]
    return ".".join([element.name, *cleaned])


def page_fingerprint(html: str, *, max_chars: int = 8_000_000) -> str:
    """The page's structure, not its text: a bottom-k sketch of tag/class paths.

    Every element (inline formatting left out) becomes a shingle of its label and its two nearest
    ancestors' labels (``body>div.wrapper-body>div.page-copy``); the fingerprint is
    ``fp1:`` + the smallest FINGERPRINT_MAX_SHINGLES distinct shingle hashes, space-separated.
    Repeated items (a list of 10 or 100 entries) give the same shingles, so content growth does not
    count as drift; a redesign does.
    """
    soup = _soup(html, max_chars, "fingerprint")
    labels: dict[int, str] = {}
    hashes: set[str] = set()
    for element in soup.descendants:
        if not isinstance(element, Tag) or element.name in INLINE_TAGS:
            continue
        labels[id(element)] = _label(element)
        path = [labels[id(element)]]
        parent = element.parent
        while parent is not None and len(path) <= FINGERPRINT_ANCESTORS and isinstance(parent, Tag):
            if parent.name != "[document]":
                path.append(labels.get(id(parent)) or _label(parent))
            parent = parent.parent
        shingle = ">".join(reversed(path))
        hashes.add(hashlib.blake2b(shingle.encode(), digest_size=5).hexdigest())
    kept = sorted(hashes)[:FINGERPRINT_MAX_SHINGLES]
    return f"{FINGERPRINT_VERSION}:" + " ".join(kept)


def _fingerprint_set(fingerprint: str) -> set[str]:
    prefix, _, body = fingerprint.partition(":")
    if prefix != FINGERPRINT_VERSION:
        raise ValueError(f"not a {FINGERPRINT_VERSION} page fingerprint: {fingerprint[:20]!r}")
    return set(body.split())


def fingerprint_similarity(a: str, b: str) -> float:
    """Jaccard similarity of two fingerprints' shingles, in [0, 1] (1.0 = same structure).

    Exact when both pages have fewer than FINGERPRINT_MAX_SHINGLES distinct shingles, otherwise
    the bottom-k estimate over the k smallest hashes of the union.
    """
    set_a, set_b = _fingerprint_set(a), _fingerprint_set(b)
    if not set_a and not set_b:
        return 1.0
    union = set_a | set_b
    if len(set_a) >= FINGERPRINT_MAX_SHINGLES or len(set_b) >= FINGERPRINT_MAX_SHINGLES:
        union = set(sorted(union)[:FINGERPRINT_MAX_SHINGLES])
    both = union & set_a & set_b
    return len(both) / len(union)


@dataclass(frozen=True)
class DriftVerdict:
    passed: bool
    similarity: float | None
    message: str


DEFAULT_MIN_SIMILARITY = 0.5


def check_page_drift(*, url: str, previous_fingerprint: str | None, current_fingerprint: str,
                     previous_feature_count: int | None, current_feature_count: int,
                     min_similarity: float = DEFAULT_MIN_SIMILARITY) -> DriftVerdict:
    """Fails when a page that yielded features before yields none, or its structure moved too far.

    The first fetch of a page (no previous fingerprint) passes.
    """
    similarity = (fingerprint_similarity(previous_fingerprint, current_fingerprint)
                  if previous_fingerprint is not None else None)
    problems = []
    if previous_feature_count and current_feature_count == 0:
        problems.append(f"found {previous_feature_count} features before and none now")
    if similarity is not None and similarity < min_similarity:
        problems.append(f"structure similarity {similarity:.2f} is below {min_similarity:.2f}")
    if problems:
        return DriftVerdict(False, similarity, f"{url}: " + "; ".join(problems) + " (the page has changed: "
                            "review config/portal_rules.yaml)")
    shown = "first fetch" if similarity is None else f"structure similarity {similarity:.2f}"
    return DriftVerdict(True, similarity, f"{url}: {shown}, {current_feature_count} features")
