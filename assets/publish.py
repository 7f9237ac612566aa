"""Publish the work database to the analysts' file in one atomic swap."""

from pathlib import Path

import dagster as dg

from assets.config import SETTINGS
from assets.hotline_stats import hotline_stats
from assets.marts import SCORE_SPECS, indicator_facts
from assets.portals import portal_features, service_catalog
from assets.reference import cities, curated_evidence, value_mappings
from assets.requests import staging_service_requests
from assets.warehouse_io import WAREHOUSE_POOL
from hotline_eval.publish.warehouse import PUBLISHED_STORAGE_VERSION, publish


@dg.asset(
    name="analyst_warehouse", group_name="publish", kinds={"duckdb"}, pool=WAREHOUSE_POOL,
    deps=[*(spec.key for spec in SCORE_SPECS), indicator_facts, staging_service_requests, hotline_stats, cities,
          value_mappings, curated_evidence, portal_features, service_catalog],
    description="The DuckDB file analysts open (HOTLINE_EVAL_DUCKDB, default data/hotline_eval.duckdb): "
                "a consistent copy of raw, staging and marts, swapped in atomically, readable by DuckDB 1.4+.",
)
def analyst_warehouse(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    counts = publish(SETTINGS.work_db, SETTINGS.analyst_db)
    context.log.info(f"published {SETTINGS.analyst_db}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(Path(SETTINGS.analyst_db).resolve())),
        "storage_version": PUBLISHED_STORAGE_VERSION,
        "tables": dg.MetadataValue.json(counts),
    })
