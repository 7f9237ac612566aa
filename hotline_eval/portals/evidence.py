"""Read a city's hotline pages into portal features, with drift detection and failures recorded.

A page that cannot be fetched (404, robots.txt, timeout, refused host) is recorded with its reason
and the other pages and cities go on. A page whose structure drifted, or that yields nothing where
it yielded features before, is marked drifted: the city's last good evidence is kept, never
overwritten by empties, and the drift check fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import polars as pl

from hotline_eval.config.registry import City, DirectoryRecords, Portal
from hotline_eval.errors import HotlineEvalError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.fetch.http import HttpClient
from hotline_eval.portals.catalogue import parse_directory_records, parse_html_catalogue, parse_open311_services
from hotline_eval.portals.features import extract_features, hotline_digits, portal_features_frame
from hotline_eval.portals.fingerprint import check_page_drift, page_fingerprint
from hotline_eval.portals.rules import CatalogueSelectors, PortalRules
from hotline_eval.portals.text import meta_refresh_target

FINGERPRINT_SCHEMA = {"city_id": pl.String, "url": pl.String, "fingerprint": pl.String, "feature_count": pl.Int32,
                      "fetched_at": pl.String, "sha256": pl.String}
STAGED_FEATURE_SCHEMA = {"city_id": pl.String, "feature": pl.String, "value": pl.String, "value_num": pl.Float64,
                         "evidence": pl.String, "source_url": pl.String, "fetched_at": pl.String,
                         "sha256": pl.String, "is_synthetic": pl.Boolean}


@dataclass
class PageReading:
    city_id: str
    url: str
    status: str  # ok, failed, drifted
    reason: str = ""
    features: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=STAGED_FEATURE_SCHEMA))
    fingerprint: str | None = None
    sha256: str | None = None
    fetched_at: str | None = None
    is_synthetic: bool = False
    response: ArchivedResponse | None = None


@dataclass
class CityReading:
    city_id: str
    pages: list[PageReading]

    @property
    def drifted(self) -> list[PageReading]:
        return [p for p in self.pages if p.status == "drifted"]

    @property
    def read(self) -> list[PageReading]:
        return [p for p in self.pages if p.status == "ok"]

    def feature_rows(self) -> pl.DataFrame:
        """The city's staged feature rows, with one `pages_read` row saying how many pages were read."""
        frames = [p.features for p in self.read]
        if not self.read:
            return pl.DataFrame(schema=STAGED_FEATURE_SCHEMA)
        first = self.read[0]
        marker = pl.DataFrame([{
            "city_id": self.city_id, "feature": "pages_read", "value": ", ".join(p.url for p in self.read),
            "value_num": float(len(self.read)), "evidence": None, "source_url": first.url,
            "fetched_at": first.fetched_at, "sha256": first.sha256, "is_synthetic": any(p.is_synthetic
                                                                                        for p in self.read)}],
            schema=STAGED_FEATURE_SCHEMA)
        return pl.concat([*frames, marker])

    def fingerprint_rows(self) -> pl.DataFrame:
        return pl.DataFrame([{"city_id": self.city_id, "url": p.url, "fingerprint": p.fingerprint,
                              "feature_count": p.features.height, "fetched_at": p.fetched_at, "sha256": p.sha256}
                             for p in self.read], schema=FINGERPRINT_SCHEMA)


def _is_data_url(url: str) -> bool:
    """A URL whose path names a JSON or XML document (``services.json``, ``cs9t-e3x8.json?$limit=...``)."""
    return urlsplit(url).path.lower().endswith((".json", ".xml"))


def is_data_directory(portal: Portal) -> bool:
    """A service directory published as data, not as a page: records the registry describes (a Socrata
    resource, an Opendatasoft export, a request feed) or Open311 ``services.json``/``.xml``. It is read
    by read_service_directory only; it has no text to read features from, so read_city_pages skips it.
    An HTML catalogue (``services`` with neither) is both: a page of features and a directory."""
    return portal.kind == "services" and (portal.records is not None or _is_data_url(portal.url))


def _naming(url: str, message: str) -> str:
    """``message`` naming ``url`` once: prefixed with it unless it already says it."""
    return message if url in message else f"{url}: {message}"


def read_city_pages(client: HttpClient, city: City, rules: PortalRules,
                    previous: Mapping[str, tuple[str, int]], *, min_similarity: float = 0.5) -> CityReading:
    """Fetch and parse every portal page of ``city`` (directories published as data are left to
    read_service_directory); ``previous`` maps each URL to its last good (fingerprint, feature count).
    A failed page's reason names its URL once."""
    pages = []
    for portal in city.portals:
        if is_data_directory(portal):
            continue
        try:
            response = client.get(portal.url)
            html = response.text()
            refresh = meta_refresh_target(html, portal.url)
            found = extract_features(html, url=portal.url, language=portal.language, city_id=city.id, rules=rules,
                                     hotline_numbers=hotline_digits(city.hotline.numbers, city.hotline.brand))
            fingerprint = page_fingerprint(html)
        except HotlineEvalError as exc:
            pages.append(PageReading(city.id, portal.url, "failed", _naming(portal.url, str(exc))))
            continue
        frame = portal_features_frame(found, fetched_at=response.fetched_at, sha256=response.sha256).with_columns(
            pl.lit(response.is_synthetic).alias("is_synthetic"))
        before = previous.get(portal.url)
        verdict = check_page_drift(url=portal.url, previous_fingerprint=before[0] if before else None,
                                   current_fingerprint=fingerprint,
                                   previous_feature_count=before[1] if before else None,
                                   current_feature_count=len(found), min_similarity=min_similarity)
        reason = verdict.message + (f"; <meta refresh> to {refresh} (not followed)" if refresh else "")
        pages.append(PageReading(city.id, portal.url, "ok" if verdict.passed else "drifted", reason, frame,
                                 fingerprint, response.sha256, response.fetched_at, response.is_synthetic, response))
    return CityReading(city.id, pages)


def read_service_directory(client: HttpClient, city: City, url: str, selectors: CatalogueSelectors | None,
                           records: DirectoryRecords | None = None) -> pl.DataFrame:
    """A service directory: data records with the fields the registry names, Open311 services.json/.xml,
    or an HTML catalogue read with the site's selectors."""
    response = client.get(url)
    content_type = (response.content_type or "").lower()
    if records is not None:
        frame = parse_directory_records(response.body, response.content_type, city_id=city.id,
                                        sha256=response.sha256, fields=records)
    elif _is_data_url(url) or "json" in content_type or "xml" in content_type:
        frame = parse_open311_services(response.body, response.content_type, city_id=city.id, sha256=response.sha256)
    else:
        if selectors is None:
            raise HotlineEvalError(f"{url}: an HTML service directory needs `catalogue` selectors in "
                                   f"config/portal_rules.yaml for {city.id}")
        frame = parse_html_catalogue(response.text(), city_id=city.id, sha256=response.sha256, selectors=selectors)
    return frame.with_columns(pl.lit(response.is_synthetic).alias("is_synthetic"),
                              pl.lit(records.complete if records is not None else True).alias("is_complete_directory"))
