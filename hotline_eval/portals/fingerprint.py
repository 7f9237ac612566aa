"""A page's structure (tag and class skeleton, not its text) and how far it moved since the last fetch.

``page_fingerprint`` / ``fingerprint_similarity`` / ``check_page_drift``: a page that yielded features
before and yields none now, or whose structure moved too far, fails the drift check.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from bs4 import Tag

from hotline_eval.portals.text import parse_html

# inline formatting: left out of the structure fingerprint, it changes with the text
INLINE_TAGS = frozenset({"b", "i", "em", "strong", "span", "br", "small", "sup", "sub", "u", "abbr", "code", "wbr",
                         "font", "mark", "s", "q", "cite", "time"})
FINGERPRINT_VERSION = "fp1"
FINGERPRINT_MAX_SHINGLES = 1024  # bottom-k sketch: the k smallest shingle hashes
FINGERPRINT_ANCESTORS = 2
DEFAULT_MIN_SIMILARITY = 0.5


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
    soup = parse_html(html, max_chars, "fingerprint")
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
