"""How the report words numbers: percentages, scores, ranks with their ties and intervals, evidence ages,
links. Indicator values are worded by hotline_eval.evaluation.explain (the explanations use the same)."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

from hotline_eval.evaluation.explain import is_missing, ordinal

NO_DATA = "no data"
SHA_PREFIX = 12  # characters of an archived response's sha256 shown


def esc(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def pct(value: float | None) -> str:
    """A share of weight (coverage, real share, curated share) as a whole percentage; "no data" when missing."""
    return NO_DATA if is_missing(value) else f"{value:.0%}"


def points(value: float | None) -> str:
    """A 0-100 score with one decimal; "no data" when missing (never 0)."""
    return NO_DATA if is_missing(value) else f"{value:.1f}"


def rank_phrase(rank: int | None, ranks: list[int]) -> str:
    """``3rd of 7`` or ``tied 3rd of 7`` (another ranked city shares the rank); ``not ranked``."""
    if rank is None:
        return "not ranked"
    tied = ranks.count(rank) > 1
    return f"{'tied ' if tied else ''}{ordinal(rank)} of {len(ranks)}"


def interval(low: int | None, high: int | None) -> str:
    """The 90% rank interval as integers: ``2–4``, or ``1`` when every draw agrees."""
    if low is None or high is None:
        return "–"
    return f"{low}" if low == high else f"{low}–{high}"


def age_phrase(year: int | None, age: int | None, evaluation_year: int) -> str:
    """HTML: ``2024``, or ``2023`` with ``1 year before 2024`` (``after``) when not the evaluation year."""
    if year is None:
        return "–"
    if not age:
        return str(year)
    years = f"{abs(age)} year{'s' if abs(age) != 1 else ''}"
    return f"{year}<small class='age'>{years} {'before' if age < 0 else 'after'} {evaluation_year}</small>"


def clip(text: str, limit: int = 180) -> str:
    """``text`` cut at a word to about ``limit`` characters, with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def short_url(url: str) -> str:
    """Host and path of a URL, cut to a readable length, for link text."""
    parts = urlsplit(url)
    text = (parts.netloc + parts.path).rstrip("/")
    return text if len(text) <= 60 else text[:57] + "…"


def is_web_url(url: str | None) -> bool:
    return bool(url) and urlsplit(url).scheme in ("http", "https")


def link(url: str | None, text: str, css: str = "evidence", title: str | None = None) -> str:
    """An outbound link; plain text when the URL is not http(s)."""
    if not is_web_url(url):
        return esc(text)
    extra = f" title='{esc(title)}'" if title else ""
    return f"<a class='{css}' href='{esc(url)}' rel='noopener'{extra}>{esc(text)}</a>"


def sha_note(shas: list[str] | None) -> str:
    """``archived sha256 1a2b3c4d5e6f (+3 more)`` for the responses a value rests on; empty when none."""
    if not shas:
        return ""
    more = f" (+{len(shas) - 1} more)" if len(shas) > 1 else ""
    return f"archived sha256 <code>{esc(shas[0][:SHA_PREFIX])}</code>{more}"
