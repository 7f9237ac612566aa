"""Page fingerprints and drift (hotline_eval.portals.fingerprint)."""

from __future__ import annotations

import pytest

from hotline_eval.errors import SourceFormatError
from hotline_eval.portals.features import extract_features
from hotline_eval.portals.fingerprint import check_page_drift, fingerprint_similarity, page_fingerprint
from hotline_eval.portals.rules import PortalRules
from tests.portals.helpers import page


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
