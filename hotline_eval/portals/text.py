"""Text and markup tools shared by the page readers: case folding that keeps indices, normalization,
keyword patterns, evidence snippets, published numbers, the not-HTML checks and parsing, and the
``<meta refresh>`` target (reported, never followed).

Pure functions over text already fetched (``client.get(url).text()`` decodes GBK, EUC-KR and the rest);
nothing here fetches.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from urllib.parse import urljoin

from bs4 import BeautifulSoup, Tag

from hotline_eval.errors import SourceFormatError

EVIDENCE_MAX_CHARS = 200
# markup that is never page content
NOISE_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "object")

# a published number: 4,000 / 4.000 / 4 000 / 2万 / 1만 (the lookbehind keeps "2024 175" and "7/24" apart)
NUMBER_PATTERN = r"(?<![\d.,/])(?P<n>\d{1,3}(?:[,. ]\d{3})+(?!\d)|\d+)(?:\s*(?P<mult>万|萬|만|千))?"
_MULTIPLIERS = {"万": 10_000, "萬": 10_000, "만": 10_000, "千": 1_000}
_LATIN_EDGE = r"0-9A-Za-z\u00C0-\u024F"
# A word's edges, case-sensitive inside the case-insensitive keyword patterns: the text and keywords are
# folded already, and the class compiled case-insensitively (~400 letters' case variants, once per keyword)
# was most of the time reading the portal pages (1.2 of 1.5 s in the quick start)
_NOT_AFTER_LATIN = f"(?<!(?-i:[{_LATIN_EDGE}]))"
_NOT_BEFORE_LATIN = f"(?!(?-i:[{_LATIN_EDGE}]))"


def _fold_char(char: str) -> str:
    folded = char.casefold()
    if len(folded) == 1:
        return folded
    lower = char.lower()
    return lower if len(lower) == 1 else char


def fold(text: str) -> str:
    """Case-fold keeping every index in place (so a match in the folded text locates the original)."""
    return "".join(_fold_char(c) for c in text)


def normalize(text: str) -> str:
    """NFKC (full-width digits and punctuation to ASCII), whitespace collapsed."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def keyword_pattern(keyword: str) -> str:
    """A keyword as a regex on folded text: Latin words whole, CJK anywhere, 're:' taken as is."""
    if keyword.startswith("re:"):
        return keyword[3:]
    word = fold(normalize(keyword))
    pattern = re.escape(word).replace(r"\ ", r"\s+")
    if re.match(f"[{_LATIN_EDGE}]", word[0]):
        pattern = _NOT_AFTER_LATIN + pattern
    if re.match(f"[{_LATIN_EDGE}]", word[-1]):
        pattern += _NOT_BEFORE_LATIN
    return pattern


def alternation(patterns: Iterable[str]) -> re.Pattern[str] | None:
    unique = list(dict.fromkeys(patterns))
    if not unique:
        return None
    return re.compile("|".join(f"(?:{p})" for p in unique), re.IGNORECASE)


def snippet(text: str, start: int, end: int, limit: int = EVIDENCE_MAX_CHARS) -> str:
    """Plain text around text[start:end], at most ``limit`` characters including ellipses."""
    end = min(end, start + limit - 2)
    room = limit - (end - start) - 2
    left = max(0, start - room // 2)
    right = min(len(text), end + (room - (start - left)))
    left = max(0, min(left, right - (limit - 2)))
    shown = text[left:right].strip()
    if left > 0:
        shown = "…" + shown
    if right < len(text):
        shown += "…"
    return shown[:limit]


def parse_number(match: re.Match[str]) -> float:
    """The number a NUMBER_PATTERN match stands for: '4,000' -> 4000.0, '2万' -> 20000.0."""
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


def parse_html(html: str, max_chars: int, what: str) -> BeautifulSoup:
    """Parse with lxml after the not-HTML checks; script/style/noscript (and friends) removed."""
    _check_markup(html, max_chars, what)
    try:
        soup = BeautifulSoup(html, "lxml")
    except RecursionError:  # never seen with lxml (it parsed 5,000 levels); kept as a clear message
        raise SourceFormatError(f"{what}: markup nested too deeply to parse") from None
    for node in soup.find_all(NOISE_TAGS):
        node.decompose()
    return soup


def outermost(elements: list[Tag]) -> list[Tag]:
    """The elements not inside another of them."""
    chosen = {id(e) for e in elements}
    return [e for e in elements if not any(id(p) in chosen for p in e.parents)]


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
