"""Hotline pages and service directories -> staging.portal_features and staging.service_catalog."""

from functools import partial

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.catalog import OWNERS, STAGING_GROUP, table_metadata
from assets.resources import HttpResource
from assets.warehouse_io import WAREHOUSE_POOL, warehouse
from hotline_eval.config.registry import Registry
from hotline_eval.fetch.log import fetch_log_row
from hotline_eval.portals.refresh import (
    catalog_summary,
    evidence_coverage,
    previous_fingerprints,
    refresh_portal_features,
    refresh_service_catalog,
)
from hotline_eval.portals.rules import load_portal_rules
from hotline_eval.publish.warehouse import replace_many

FEATURES = dg.AssetKey(["staging", "portal_features"])
CATALOG = dg.AssetKey(["staging", "service_catalog"])
RETRY = dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL)

FEATURE_CHECKS = [
    dg.AssetCheckSpec("no_page_drift", asset=FEATURES, blocking=True,
                      description="Fails when a page that yielded features before yields none, or its structure "
                                  "changed beyond the threshold; the city's last good evidence is kept."),
    dg.AssetCheckSpec("every_city_has_evidence", asset=FEATURES,
                      description="Every registered city has portal evidence (now or from an earlier run)."),
]


def portal_assets(registry: Registry) -> list[dg.AssetsDefinition]:
    """staging/portal_features and staging/service_catalog over this registry's cities."""

    @dg.asset(
        key=FEATURES, group_name=STAGING_GROUP, kinds={"beautifulsoup", "duckdb"}, owners=OWNERS, pool=WAREHOUSE_POOL,
        retry_policy=RETRY,
        check_specs=FEATURE_CHECKS,
        description="Channels, hours, languages, FAQ size, tracking, accessibility and integration read from each "
                    "city's official hotline pages (the portals of config/cities/, config/portal_rules.yaml).",
    )
    def portal_features(context: dg.AssetExecutionContext, http: HttpResource, warehouse_db: DuckDBResource):
        rules = load_portal_rules()
        with warehouse(warehouse_db) as con:
            previous = previous_fingerprints(con)
        refresh = refresh_portal_features(registry.cities, http.client, rules, previous,
                                          archive_dir=http.source_dir,
                                          log_row=partial(fetch_log_row, run_id=context.run.run_id))
        with warehouse(warehouse_db) as con:
            replace_many(con, refresh.writes)
            coverage = evidence_coverage(con)
            table = table_metadata(con, FEATURES)
        for reason in refresh.failed.values():
            context.log.warning(f"page not read: {reason}")  # the reason names the URL
        for reason in refresh.drifted.values():
            context.log.error(f"page drift: {reason}")
        missing = coverage.missing(c.id for c in registry.cities)
        yield dg.MaterializeResult(metadata={
            **table,
            "dagster/row_count": coverage.rows,
            "cities_with_evidence": len(coverage.cities),
            "pages_failed": dg.MetadataValue.json(refresh.failed),
            "pages_drifted": dg.MetadataValue.json(refresh.drifted),
        })
        yield dg.AssetCheckResult(check_name="no_page_drift", passed=not refresh.drifted,
                                  metadata={"drifted": dg.MetadataValue.json(refresh.drifted)})
        yield dg.AssetCheckResult(check_name="every_city_has_evidence", passed=not missing,
                                  severity=dg.AssetCheckSeverity.WARN,
                                  metadata={"missing": ", ".join(missing) or "none"})


    @dg.asset(
        key=CATALOG, group_name=STAGING_GROUP, kinds={"python", "duckdb"}, owners=OWNERS, pool=WAREHOUSE_POOL,
        retry_policy=RETRY,
        check_specs=[dg.AssetCheckSpec("codes_unique_per_city", asset=CATALOG,
                                       description="No service code appears twice in one directory of a city (a "
                                                   "city's directories in several languages share codes).")],
        description="Services of each hotline's published directory (portals of kind `services`): data records with "
                    "the fields the registry names, Open311 GeoReport v2 services.json/.xml, or an HTML catalogue "
                    "read with the site's selectors. A city may publish several (one per language); each keeps its "
                    "rows, by `directory_url`.",
    )
    def service_catalog(context: dg.AssetExecutionContext, http: HttpResource, warehouse_db: DuckDBResource):
        refresh = refresh_service_catalog(registry.cities, http.client, load_portal_rules())
        for url, reason in refresh.failed.items():
            context.log.warning(f"{url}: {reason}")
        with warehouse(warehouse_db) as con:
            replace_many(con, refresh.writes)
            summary = catalog_summary(con)
            table = table_metadata(con, CATALOG)
        yield dg.MaterializeResult(metadata={**table, "dagster/row_count": summary.rows, "cities": summary.cities,
                                             "directories": dg.MetadataValue.json(refresh.status),
                                             "services_per_city": dg.MetadataValue.json(summary.services)})
        yield dg.AssetCheckResult(check_name="codes_unique_per_city", passed=summary.duplicates == 0,
                                  metadata={"duplicates": summary.duplicates})

    return [portal_features, service_catalog]
