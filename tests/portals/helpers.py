"""Shared by the portal tests: the hand-written pages, the demo pages, and a directory of data records."""

from __future__ import annotations

from hotline_eval.config.registry import DirectoryRecords
from hotline_eval.fetch.encoding import decode_body
from hotline_eval.portals.features import PortalFeature, extract_features
from hotline_eval.portals.rules import PortalRules
from tests.helpers import FIXTURES, PROJECT

# hand-written in the structure of each site family, with invented content
PAGES = FIXTURES / "portals"
DEMO_PAGES = PROJECT / "scripts" / "demo_portal_pages"


def page(name: str) -> str:
    """A hand-written page of tests/fixtures/portals, decoded as the HTTP client decodes it."""
    return decode_body((PAGES / name).read_bytes())


def features_of(html: str, rules: PortalRules, *, url: str, language: str, city_id: str) -> dict[str, PortalFeature]:
    found = extract_features(html, url=url, language=language, city_id=city_id, rules=rules)
    assert len({f.feature for f in found}) == len(found), "one row per feature"
    return {f.feature: f for f in found}


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
