"""Hotline pages and service directories -> staging.portal_features and staging.service_catalog."""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.config import REGISTRY
from assets.resources import HttpResource
from assets.warehouse_io import WAREHOUSE_POOL, fetch_log_row, warehouse
from hotline_eval.errors import HotlineEvalError
from hotline_eval.fetch.archive import archive_rows
from hotline_eval.portals.evidence import FINGERPRINT_SCHEMA, read_city_pages, read_service_directory
from hotline_eval.portals.pages import load_portal_rules
from hotline_eval.publish.warehouse import Append, Replace, query, replace_many

FEATURES = dg.AssetKey(["staging", "portal_features"])
CATALOG = dg.AssetKey(["staging", "service_catalog"])
RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)


@dg.asset(
    key=FEATURES, group_name="portals", kinds={"beautifulsoup", "duckdb"}, pool=WAREHOUSE_POOL, retry_policy=RETRY,
    check_specs=[
        dg.AssetCheckSpec("no_page_drift", asset=FEATURES, blocking=True,
                          description="Fails when a page that yielded features before yields none, or its structure "
                                      "changed beyond the threshold; the city's last good evidence is kept."),
        dg.AssetCheckSpec("every_city_has_evidence", asset=FEATURES,
                          description="Every registered city has portal evidence (now or from an earlier run)."),
    ],
    description="Channels, hours, languages, FAQ size, tracking, accessibility and integration read from each "
                "city's official hotline pages (config/cities.yaml portals, config/portal_rules.yaml).",
)
def portal_features(context: dg.AssetExecutionContext, http: HttpResource, warehouse_db: DuckDBResource):
    rules = load_portal_rules()
    with warehouse(warehouse_db) as con:
        previous = {r["url"]: (r["fingerprint"], r["feature_count"])
                    for r in query(con, "SELECT url, fingerprint, feature_count FROM raw.page_fingerprints")
                    .iter_rows(named=True)}
    writes: list = []
    drift: dict[str, str] = {}
    failed: dict[str, str] = {}
    for city in REGISTRY.cities:
        reading = read_city_pages(http.client(city.hosts), city, rules, previous)
        for page in reading.pages:
            if page.status == "failed":
                failed[page.url] = page.reason
            elif page.status == "drifted":
                drift[page.url] = page.reason
        log = fetch_log_row(run_id=context.run.run_id, source_id=f"{city.id}_portal", city_id=city.id,
                            partition_key="*", status="ok" if reading.read else "failed", refresh="full",
                            rows=sum(p.features.height for p in reading.read), pages=len(reading.pages),
                            error="; ".join(p.reason for p in reading.pages if p.status != "ok") or None)
        writes.append(Append("raw.fetch_log", log))
        if reading.drifted or not reading.read:
            # keep the last good evidence: nothing of this city is replaced by a drifted or empty reading
            continue
        rows = reading.feature_rows()
        fingerprints = reading.fingerprint_rows().with_columns(pl.col("fetched_at").str.to_datetime(time_zone="UTC"))
        writes += [
            Replace("staging.portal_features",
                    rows.with_columns(pl.col("fetched_at").str.to_datetime(time_zone="UTC")), {"city_id": city.id}),
            Replace("raw.page_fingerprints",
                    fingerprints.cast({**FINGERPRINT_SCHEMA, "fetched_at": pl.Datetime("us", "UTC")}),
                    {"city_id": city.id}),
        ]
        for page in reading.read:
            writes.append(Replace("raw.http_archive", archive_rows([page.response], source_id=f"{city.id}_portal",
                                                                   archive_dir=http.source_dir, partition_key=None),
                                  {"url": page.response.url}))
    with warehouse(warehouse_db) as con:
        replace_many(con, writes)
        covered = query(con, "SELECT DISTINCT city_id FROM staging.portal_features")["city_id"].to_list()
        features = query(con, "SELECT count(*) AS n FROM staging.portal_features")["n"][0]
    for reason in failed.values():
        context.log.warning(f"page not read: {reason}")  # the reason names the URL
    for reason in drift.values():
        context.log.error(f"page drift: {reason}")
    missing = sorted({c.id for c in REGISTRY.cities} - set(covered))
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": int(features),
        "cities_with_evidence": len(covered),
        "pages_failed": dg.MetadataValue.json(failed),
        "pages_drifted": dg.MetadataValue.json(drift),
    })
    yield dg.AssetCheckResult(check_name="no_page_drift", passed=not drift,
                              metadata={"drifted": dg.MetadataValue.json(drift)})
    yield dg.AssetCheckResult(check_name="every_city_has_evidence", passed=not missing,
                              severity=dg.AssetCheckSeverity.WARN, metadata={"missing": ", ".join(missing) or "none"})


@dg.asset(
    key=CATALOG, group_name="portals", kinds={"python", "duckdb"}, pool=WAREHOUSE_POOL, retry_policy=RETRY,
    check_specs=[dg.AssetCheckSpec("codes_unique_per_city", asset=CATALOG,
                                   description="No service code appears twice in one city's directory.")],
    description="Services of each hotline's published directory (portals of kind `services`): data records with "
                "the fields the registry names, Open311 GeoReport v2 services.json/.xml, or an HTML catalogue "
                "read with the site's selectors.",
)
def service_catalog(context: dg.AssetExecutionContext, http: HttpResource, warehouse_db: DuckDBResource):
    rules = load_portal_rules()
    writes: list = []
    status: dict[str, str] = {}
    for city in REGISTRY.cities:
        for portal in (p for p in city.portals if p.kind == "services"):
            override = next((o for o in rules.overrides if o.city_id == city.id and o.catalogue is not None
                             and (o.url_prefix is None or portal.url.startswith(o.url_prefix))), None)
            try:
                frame = read_service_directory(http.client(city.hosts), city, portal.url,
                                               override.catalogue if override else None, portal.records)
            except HotlineEvalError as exc:
                status[portal.url] = f"failed: {exc}"
                context.log.warning(f"{portal.url}: {exc}")
                continue
            status[portal.url] = f"ok: {frame.height} services"
            writes.append(Replace("staging.service_catalog", frame, {"city_id": city.id}))
    with warehouse(warehouse_db) as con:
        replace_many(con, writes)
        catalog = query(con, "SELECT city_id, service_code FROM staging.service_catalog")
    duplicates = catalog.height - catalog.unique().height
    yield dg.MaterializeResult(metadata={"dagster/row_count": catalog.height,
                                         "cities": catalog["city_id"].n_unique() if catalog.height else 0,
                                         "directories": dg.MetadataValue.json(status)})
    yield dg.AssetCheckResult(check_name="codes_unique_per_city", passed=duplicates == 0,
                              metadata={"duplicates": duplicates})
