"""Features of the cities' official hotline pages, read by one shared extractor.

``extract_features`` is driven by ``config/portal_rules.yaml`` (keywords per language, link patterns,
published-number patterns, per-site content selectors; see ``rules.py``) and yields ``PortalFeature``
rows for ``staging.portal_features``. A feature the page does not show is not returned: absence on one
page is not evidence of absence. A page that is not HTML fails with ``SourceFormatError`` naming what
was looked for, never returns None silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import polars as pl
from bs4 import Tag

from hotline_eval.errors import SourceFormatError
from hotline_eval.portals.rules import FEATURE_IDS, CatalogueSelectors, KeywordLists, PortalRules, SiteOverride
from hotline_eval.portals.text import (
    EVIDENCE_MAX_CHARS,
    NUMBER_PATTERN,
    alternation,
    fold,
    keyword_pattern,
    normalize,
    outermost,
    parse_html,
    parse_number,
    snippet,
)

LANGUAGE_WINDOW_CHARS = 250  # language names count only this close to a `languages` keyword
EXCLUDE_WINDOW_CHARS = 40
QUESTION_TAGS = ("h2", "h3", "h4", "h5", "h6", "summary", "dt", "button")
FAQ_QUESTION_MAX_CHARS = 300
_QUESTION_PREFIX = re.compile(r"(?:q\s*[.:：]|问[:：]|問[:：])", re.I)

FEATURES_SCHEMA = {"city_id": pl.String, "feature": pl.String, "value": pl.String, "value_num": pl.Float64,
                   "evidence": pl.String, "source_url": pl.String, "fetched_at": pl.String, "sha256": pl.String}

# a feature found: its value ("yes", a number, a language list), value_num and evidence
Found = tuple[str, float, str]


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
    folded: str  # fold(text), same indices
    roots: list[Tag]
    language_chain: tuple[str, ...]
    base_language: str
    hotline_numbers: frozenset[str] = frozenset()  # digits of the hotline's numbers and brand: never a count


def _language_chain(language: str, rules: PortalRules) -> tuple[str, ...]:
    base = language.split("-")[0]
    chain = [language, *rules.language_fallbacks.get(language, []), base, *rules.extra_languages, "*"]
    return tuple(dict.fromkeys(chain))


# ------------------------------------------------------------------------------------ matchers --
def _keyword_matcher(rules: PortalRules, feature: str, field: str, chain: tuple[str, ...],
                     extra: tuple[str, ...] = ()) -> re.Pattern[str] | None:
    key = ("kw", feature, field, chain, extra)
    if key not in rules._cache:
        lists: KeywordLists = getattr(rules.features[feature], field)
        words = [w for lang in chain for w in lists.get(lang, [])] + list(extra)
        rules._cache[key] = alternation(keyword_pattern(w) for w in words)
    return rules._cache[key]


def _number_matcher(rules: PortalRules, feature: str, chain: tuple[str, ...]) -> re.Pattern[str] | None:
    key = ("num", feature, chain)
    if key not in rules._cache:
        lists = rules.features[feature].numbers
        patterns = [p.replace("{n}", NUMBER_PATTERN) for lang in chain for p in lists.get(lang, [])]
        # each pattern has its own named group, so they are tried one at a time
        rules._cache[key] = [re.compile(p, re.IGNORECASE) for p in dict.fromkeys(patterns)] or None
    return rules._cache[key]


def _language_name_matchers(rules: PortalRules) -> list[tuple[str, re.Pattern[str]]]:
    key = ("language_names",)
    if key not in rules._cache:
        rules._cache[key] = [(code, m) for code, names in rules.language_names.items()
                             if (m := alternation(keyword_pattern(n) for n in names))]
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
                return normalize(anchor.get_text(" ")), href
    return None


# ------------------------------------------------------------------------------------ features --
def _presence(page: _Page, rules: PortalRules, feature: str, extra: tuple[str, ...]) -> Found | None:
    """A presence feature: a keyword in the text, else a link pattern.

    ``<li>Text 311-692 to get alerts by SMS</li>`` -> channel_sms ("yes", 1.0, evidence).
    """
    rule = rules.features[feature]
    match = _first_keyword(page, _keyword_matcher(rules, feature, "keywords", page.language_chain, extra),
                           _keyword_matcher(rules, feature, "exclude", page.language_chain))
    if match is not None:
        return "yes", 1.0, snippet(page.text, match.start(), match.end())
    link = _first_link(page, rule.links)
    if link is not None:
        text, href = link
        return "yes", 1.0, f"{text} ({href})"[:EVIDENCE_MAX_CHARS] if text else href[:EVIDENCE_MAX_CHARS]
    return None


PHONE_CHARS = r"[\d\s()+\-./]"  # what a phone number is written with
PHONE_MIN_DIGITS = 7
_PHONE_BEFORE = re.compile(PHONE_CHARS + "*$")
_PHONE_AFTER = re.compile(PHONE_CHARS + "*")
YEARS = range(1900, 2101)
# the published numbers read by _not_a_count; elsewhere a year-shaped number is a count as often as not
# (Shanghai: 常见问题2100余条, "2100-odd FAQ entries")
COUNTS_CHECKED = frozenset({"service_catalogue_size"})


def hotline_digits(numbers: Iterable[str], brand: str = "") -> frozenset[str]:
    """The digit strings a hotline is known by: each number's digits and each run of 3+ digits of its brand.

    (["311", "212-639-9675"], "NYC311") -> {"311", "2126399675"}; (["010"], "Línea Madrid 010") -> {"010"}.
    """
    found = {re.sub(r"\D", "", n) for n in numbers} | set(re.findall(r"\d{3,}", brand))
    return frozenset(d for d in found if d)


def _not_a_count(page: _Page, match: re.Match[str]) -> bool:
    """The hotline's own number ("Boston 311 services"), a year ("2024 services") or part of a phone
    number ("call 617-635-4500 services"): a number the page shows that counts nothing."""
    raw = match.group("n")
    digits = re.sub(r"\D", "", raw)
    if digits in page.hotline_numbers:
        return True
    more = page.folded[match.end("n"):match.end("n") + 1] in ("+", "余", "多")  # "2000+ services" is a count
    if not match.group("mult") and raw.isdigit() and int(raw) in YEARS and not more:
        return True
    start, end = match.span("n")
    before = _PHONE_BEFORE.search(page.folded, max(0, start - 40), start)
    after = _PHONE_AFTER.match(page.folded, end, end + 40)
    run = (before.group(0) if before else "") + raw + (after.group(0) if after else "")
    return sum(c.isdigit() for c in run) >= PHONE_MIN_DIGITS and not re.fullmatch(r"\d{1,3}(?:,\d{3})+", raw)


def _published_number(page: _Page, rules: PortalRules, feature: str) -> tuple[float, str] | None:
    """The largest number the page publishes for ``feature``, with its evidence; for a catalogue size
    (COUNTS_CHECKED) the hotline's number, a year or a phone number is not one (``_not_a_count``).

    ``<p>1823 answers enquiries for 23 participating departments.</p>`` -> (23.0, "...").
    """
    best: tuple[float, str] | None = None
    for regex in _number_matcher(rules, feature, page.language_chain) or []:
        for match in regex.finditer(page.folded):
            if feature in COUNTS_CHECKED and _not_a_count(page, match):
                continue
            value = parse_number(match)
            if best is None or value > best[0]:
                best = value, snippet(page.text, match.start(), match.end())
    return best


def _as_found(number: tuple[float, str]) -> Found:
    """A published number as a feature: its value written as an integer."""
    return str(int(number[0])), number[0], number[1]


def _languages(page: _Page, rules: PortalRules, extra: tuple[str, ...]) -> Found | None:
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
                evidence = snippet(page.text, match.start(), match.end())
            codes |= found
    published = _published_number(page, rules, "languages")
    if not codes and published is None:
        return None
    if codes:
        codes.add(page.base_language)
    count = max(float(len(codes)), published[0] if published else 0.0)
    return ",".join(sorted(codes)), count, (published[1] if published else evidence) or ""


@dataclass
class _FaqEntries:
    """What looks like FAQ entries on a page, counted each way."""

    selected: dict[int, Tag] = field(default_factory=dict)  # by the configured selectors
    details: int = 0  # <details> with a <summary>
    dts: int = 0  # <dt>
    questions: list[str] = field(default_factory=list)  # question headings

    def count(self, has_context: bool) -> int:
        """The entries, trusted on a page that says FAQ, uses the configured selectors or asks 2+ questions."""
        if has_context or self.selected or len(self.questions) >= 2:
            return max(len(self.selected), self.details, self.dts, len(self.questions))
        return 0

    def example(self) -> str:
        if self.questions:
            return self.questions[0]
        return normalize(next(iter(self.selected.values())).get_text(" ")) if self.selected else ""


def _is_question(text: str) -> bool:
    """'How do I ...?' or 'Q: ...' (问: 問:), of heading length."""
    return 0 < len(text) <= FAQ_QUESTION_MAX_CHARS and (text.endswith(("?", "？"))
                                                         or _QUESTION_PREFIX.match(text) is not None)


def _questions(root: Tag) -> list[str]:
    """Question headings; ``<h3><button>Question?</button></h3>`` counts once, at the innermost element."""
    found = []
    for element in root.find_all(QUESTION_TAGS):
        if element.find(QUESTION_TAGS) is not None:
            continue
        text = normalize(element.get_text(" "))
        if _is_question(text):
            found.append(text)
    return found


def _faq_entries(page: _Page, selectors: list[str]) -> _FaqEntries:
    entries = _FaqEntries()
    for root in page.roots:
        for selector in selectors:
            for element in root.select(selector):
                entries.selected[id(element)] = element
        entries.details += sum(1 for d in root.find_all("details") if d.find("summary"))
        entries.dts += len(root.find_all("dt"))
        entries.questions += _questions(root)
    return entries


def _faq_size(page: _Page, rules: PortalRules, extra: tuple[str, ...]) -> Found | None:
    """FAQ entries: configured selectors, <details>, <dt>, or question headings; or a published number.

    ``<h2>Frequently asked questions</h2><details><summary>How do I ...?</summary>...</details>`` x N -> N.
    """
    entries = _faq_entries(page, rules.features["faq_size"].selectors)
    has_context = _first_keyword(page, _keyword_matcher(rules, "faq_size", "keywords", page.language_chain,
                                                        extra)) is not None
    structural = entries.count(has_context)
    published = _published_number(page, rules, "faq_size")
    if published is not None and published[0] >= structural:
        return _as_found(published)
    if structural == 0:
        return None
    first = entries.example()
    evidence = f"{structural} FAQ entries on the page" + (f", e.g. {first}" if first else "")
    return str(structural), float(structural), evidence[:EVIDENCE_MAX_CHARS]


def _catalogue_size(page: _Page, rules: PortalRules, catalogue: CatalogueSelectors | None) -> Found | None:
    """A published number of services, or the items of the site's configured catalogue list."""
    published = _published_number(page, rules, "service_catalogue_size")
    listed = sum(len(root.select(catalogue.item)) for root in page.roots) if catalogue else 0
    if published is not None and published[0] >= listed:
        return _as_found(published)
    if listed and catalogue is not None:
        return str(listed), float(listed), f"{listed} services listed on the page ({catalogue.item})"
    return None


def _find(page: _Page, rules: PortalRules, feature: str, extra: tuple[str, ...],
          catalogue: CatalogueSelectors | None) -> Found | None:
    """One feature on the page, by the reader its kind needs."""
    if feature == "languages":
        return _languages(page, rules, extra)
    if feature == "faq_size":
        return _faq_size(page, rules, extra)
    if feature == "service_catalogue_size":
        return _catalogue_size(page, rules, catalogue)
    if feature == "agencies_integrated":
        number = _published_number(page, rules, feature)
        return _as_found(number) if number else None
    return _presence(page, rules, feature, extra)


# ---------------------------------------------------------------------------------------- page --
def _page_for(html: str, *, url: str, language: str, city_id: str, rules: PortalRules,
              content_selector: str | None, hotline_numbers: frozenset[str]) -> _Page:
    soup = parse_html(html, rules.max_html_chars, url)
    # the <head> (title, meta) is not content: "12345市民服务热线" in a title is a brand, not a channel
    roots: list[Tag] = [soup.body or soup]
    if content_selector:
        selected = soup.select(content_selector)
        if not selected:
            raise SourceFormatError(
                f"{url}: content selector {content_selector!r} (config/portal_rules.yaml, override for {city_id}) "
                "matches nothing: the page structure has changed"
            )
        roots = outermost(selected)
    text = normalize(" ".join(root.get_text(" ") for root in roots))
    return _Page(text=text, folded=fold(text), roots=roots, language_chain=_language_chain(language, rules),
                 base_language=language.split("-")[0], hotline_numbers=hotline_numbers)


def _extra_keywords(overrides: list[SiteOverride], page: _Page, feature: str) -> tuple[str, ...]:
    """The site's extra keywords for ``feature``, in the page's language chain."""
    return tuple(w for o in overrides for lang in page.language_chain
                 for w in o.extra_keywords.get(feature, {}).get(lang, []))  # type: ignore[call-overload]


def extract_features(html: str, *, url: str, language: str, city_id: str, rules: PortalRules,
                     hotline_numbers: frozenset[str] = frozenset()) -> list[PortalFeature]:
    """Every feature the page shows, in FEATURE_IDS order (features not shown are left out).
    ``hotline_numbers`` (``hotline_digits`` of the city's registry hotline) are never read as a count.

    A page with no features (``<div></div>``) gives []; a page that is not HTML at all (empty, JSON,
    binary, too large) or that lacks its configured content selector raises SourceFormatError.
    """
    overrides = rules.overrides_for(city_id, url)
    content_selector = next((o.content_selector for o in overrides if o.content_selector), None)
    catalogue = next((o.catalogue for o in overrides if o.catalogue), None)
    page = _page_for(html, url=url, language=language, city_id=city_id, rules=rules, content_selector=content_selector,
                     hotline_numbers=hotline_numbers)
    results: list[PortalFeature] = []
    for feature in FEATURE_IDS:
        found = _find(page, rules, feature, _extra_keywords(overrides, page, feature), catalogue)
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
