"""Publish the work database to the analysts' file in one atomic swap, holding the publish lock that the
run-failure sensor's run-log publishes hold too (hotline_eval.publish.swap)."""

from pathlib import Path

import dagster as dg

from assets.catalog import OWNERS, PUBLISH_GROUP
from assets.hotline_stats import STATS
from assets.marts import FACTS, SCORE_SPECS
from assets.portals import CATALOG, FEATURES
from assets.reference import CITIES, EVIDENCE, MAPPINGS
from assets.requests import STAGED
from assets.resources import ProjectSettings
from assets.warehouse_io import WAREHOUSE_POOL
from hotline_eval.publish.swap import publish_lock
from hotline_eval.publish.warehouse import PUBLISHED_STORAGE_VERSION, publish

# a run-log publish copies the file once: a full publish waits for it rather than fail
LOCK_TIMEOUT_S = 600.0


@dg.asset(
    name="analyst_warehouse", group_name=PUBLISH_GROUP, owners=OWNERS, kinds={"duckdb"}, pool=WAREHOUSE_POOL,
    deps=[*(spec.key for spec in SCORE_SPECS), FACTS, STAGED, STATS, CITIES, MAPPINGS, EVIDENCE, FEATURES, CATALOG],
    description="The DuckDB file analysts open (HOTLINE_EVAL_DUCKDB, default data/hotline_eval.duckdb): "
                "a consistent copy of raw, staging and marts, swapped in atomically, readable by DuckDB 1.4+.",
)
def analyst_warehouse(context: dg.AssetExecutionContext, settings: ProjectSettings) -> dg.MaterializeResult:
    with publish_lock(Path(settings.analyst_db), LOCK_TIMEOUT_S):
        counts = publish(Path(settings.work_db), Path(settings.analyst_db))
    context.log.info(f"published {settings.analyst_db}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(Path(settings.analyst_db).resolve())),
        "storage_version": PUBLISHED_STORAGE_VERSION,
        "tables": dg.MetadataValue.json(counts),
    })
