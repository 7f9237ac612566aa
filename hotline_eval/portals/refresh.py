"""Every registered city's hotline pages and service directories -> typed warehouse write plans.

What the portal assets run: one call reads every city and returns the plan (``Replace`` / ``Append``)
with what happened to each page or directory; the asset writes the plan in one transaction, then reads
back the summary it reports. A city whose pages drifted, or that gave nothing, keeps its last good
evidence: nothing of it is replaced, only its fetch attempt is logged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import duckdb
import polars as pl

from hotline_eval.config.registry import City
from hotline_eval.errors import HotlineEvalError
from hotline_eval.fetch.archive import archive_rows
from hotline_eval.fetch.http import HttpClient
from hotline_eval.portals.evidence import FINGERPRINT_SCHEMA, CityReading, read_city_pages, read_service_directory
from hotline_eval.portals.rules import CatalogueSelectors, PortalRules
from hotline_eval.publish.warehouse import Append, Replace, Write, query

# the HTTP client allowed exactly a city's hosts
ClientFor = Callable[[frozenset[str]], HttpClient]
# one raw.fetch_log row from its fields (source_id, city_id, partition_key, status, refresh, rows, pages, error)
LogRow = Callable[..., pl.DataFrame]


# ------------------------------------------------------------------------------ portal features --
@dataclass(frozen=True)
class PortalFeaturesRefresh:
    """The write plan of one refresh of every city's pages, and the pages that failed or drifted."""

    writes: list[Write]
    failed: dict[str, str]  # URL -> reason (which names the URL)
    drifted: dict[str, str]  # URL -> drift verdict


@dataclass(frozen=True)
class EvidenceCoverage:
    """staging.portal_features after a write: the cities with evidence (now or from an earlier run), rows."""

    cities: list[str]
    rows: int

    def missing(self, city_ids: Iterable[str]) -> list[str]:
        return sorted(set(city_ids) - set(self.cities))


def previous_fingerprints(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, int]]:
    """Each page's last good (fingerprint, feature count), by URL, from raw.page_fingerprints."""
    rows = query(con, "SELECT url, fingerprint, feature_count FROM raw.page_fingerprints")
    return {r["url"]: (r["fingerprint"], r["feature_count"]) for r in rows.iter_rows(named=True)}


def _fetch_log(reading: CityReading, log_row: LogRow) -> Append:
    """The city's fetch attempt: ok when any page was read, with the reasons of the pages that were not."""
    return Append("raw.fetch_log", log_row(
        source_id=f"{reading.city_id}_portal", city_id=reading.city_id, partition_key="*",
        status="ok" if reading.read else "failed", refresh="full",
        rows=sum(p.features.height for p in reading.read), pages=len(reading.pages),
        error="; ".join(p.reason for p in reading.pages if p.status != "ok") or None))


def _evidence_writes(reading: CityReading, archive_dir: str) -> list[Write]:
    """The city's features and fingerprints replaced, and the responses they were read from archived."""
    where = {"city_id": reading.city_id}
    features = reading.feature_rows().with_columns(pl.col("fetched_at").str.to_datetime(time_zone="UTC"))
    fingerprints = reading.fingerprint_rows().with_columns(pl.col("fetched_at").str.to_datetime(time_zone="UTC"))
    fingerprints = fingerprints.cast({**FINGERPRINT_SCHEMA, "fetched_at": pl.Datetime("us", "UTC")})
    writes: list[Write] = [Replace("staging.portal_features", features, where),
                           Replace("raw.page_fingerprints", fingerprints, where)]
    for page in reading.read:
        writes.append(Replace("raw.http_archive", archive_rows([page.response], source_id=f"{reading.city_id}_portal",
                                                               archive_dir=archive_dir, partition_key=None),
                              {"url": page.response.url}))
    return writes


def refresh_portal_features(cities: Iterable[City], client_for: ClientFor, rules: PortalRules,
                            previous: dict[str, tuple[str, int]], *, archive_dir: str,
                            log_row: LogRow) -> PortalFeaturesRefresh:
    """Read every city's pages (``previous`` from previous_fingerprints) into one write plan: per city its
    fetch log, then, unless a page drifted or none was read, its features, fingerprints and archive rows."""
    writes: list[Write] = []
    failed: dict[str, str] = {}
    drifted: dict[str, str] = {}
    for city in cities:
        reading = read_city_pages(client_for(city.hosts), city, rules, previous)
        failed.update((p.url, p.reason) for p in reading.pages if p.status == "failed")
        drifted.update((p.url, p.reason) for p in reading.drifted)
        writes.append(_fetch_log(reading, log_row))
        if reading.drifted or not reading.read:
            continue  # keep the last good evidence: nothing of this city is replaced by a drifted or empty reading
        writes += _evidence_writes(reading, archive_dir)
    return PortalFeaturesRefresh(writes, failed, drifted)


def evidence_coverage(con: duckdb.DuckDBPyConnection) -> EvidenceCoverage:
    covered = query(con, "SELECT DISTINCT city_id FROM staging.portal_features")["city_id"].to_list()
    rows = query(con, "SELECT count(*) AS n FROM staging.portal_features")["n"][0]
    return EvidenceCoverage(covered, int(rows))


# ------------------------------------------------------------------------------ service catalog --
@dataclass(frozen=True)
class ServiceCatalogRefresh:
    """The write plan of one read of every service directory, and how each went."""

    writes: list[Write]
    status: dict[str, str]  # URL -> "ok: N services" or "failed: <reason>"
    failed: dict[str, str]  # URL -> reason


@dataclass(frozen=True)
class CatalogSummary:
    """staging.service_catalog after a write."""

    rows: int
    cities: int
    duplicates: int  # (city, directory, service code) triples listed more than once
    services: dict[str, int]  # city -> distinct service codes over all its directories (each counted once)


def _catalogue_selectors(rules: PortalRules, city_id: str, url: str) -> CatalogueSelectors | None:
    """The HTML catalogue selectors of the first override for this city and URL that has any."""
    return next((o.catalogue for o in rules.overrides_for(city_id, url) if o.catalogue is not None), None)


def _city_catalog_writes(city_id: str, read: dict[str, pl.DataFrame], every_directory_read: bool) -> list[Write]:
    """The city's directories that were read, each keyed by its URL. When all were read, the city's rows
    are replaced as a whole (rows of a directory no longer configured, or written before ``directory_url``
    existed, go too); otherwise each directory read replaces only its own rows, and a directory that
    failed keeps its last good rows."""
    if not read:
        return []
    if every_directory_read:
        return [Replace("staging.service_catalog", pl.concat(list(read.values()), how="vertical_relaxed"),
                        {"city_id": city_id})]
    return [Replace("staging.service_catalog", frame, {"city_id": city_id, "directory_url": url})
            for url, frame in read.items()]


def refresh_service_catalog(cities: Iterable[City], client_for: ClientFor, rules: PortalRules) -> ServiceCatalogRefresh:
    """Read every directory (portals of kind ``services``); a city with several (one per language, say)
    keeps the rows of each, told apart by ``directory_url``."""
    writes: list[Write] = []
    status: dict[str, str] = {}
    failed: dict[str, str] = {}
    for city in cities:
        read: dict[str, pl.DataFrame] = {}
        directories = [p for p in city.portals if p.kind == "services"]
        for portal in directories:
            try:
                frame = read_service_directory(client_for(city.hosts), city, portal.url,
                                               _catalogue_selectors(rules, city.id, portal.url), portal.records)
            except HotlineEvalError as exc:
                status[portal.url] = f"failed: {exc}"
                failed[portal.url] = str(exc)
                continue
            status[portal.url] = f"ok: {frame.height} services"
            read[portal.url] = frame.with_columns(pl.lit(portal.url).alias("directory_url"))
        writes += _city_catalog_writes(city.id, read, len(read) == len({p.url for p in directories}))
    return ServiceCatalogRefresh(writes, status, failed)


def catalog_summary(con: duckdb.DuckDBPyConnection) -> CatalogSummary:
    catalog = query(con, "SELECT city_id, directory_url, service_code FROM staging.service_catalog")
    services = catalog.group_by("city_id").agg(pl.col("service_code").n_unique().alias("n"))
    return CatalogSummary(rows=catalog.height, cities=catalog["city_id"].n_unique() if catalog.height else 0,
                          duplicates=catalog.height - catalog.unique().height,
                          services=dict(zip(services["city_id"].to_list(), services["n"].to_list(), strict=True)))
