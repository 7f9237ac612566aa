"""Published hotline statistics of every aggregate source -> staging.hotline_stats."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.catalog import OWNERS, STAGING_GROUP, table_metadata
from assets.resources import HttpResource
from assets.warehouse_io import WAREHOUSE_POOL, warehouse
from hotline_eval.config.registry import Registry
from hotline_eval.publish.warehouse import replace_many
from hotline_eval.stats.collect import fetch_all_stats

STATS = dg.AssetKey(["staging", "hotline_stats"])


def hotline_stats_asset(registry: Registry) -> dg.AssetsDefinition:
    """staging/hotline_stats over this registry's aggregate sources."""

    @dg.asset(
        key_prefix=["staging"], name="hotline_stats", group_name=STAGING_GROUP, kinds={"python", "duckdb"},
        owners=OWNERS, pool=WAREHOUSE_POOL,
        retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
        check_specs=[
            dg.AssetCheckSpec("every_source_fetched", asset=["staging", "hotline_stats"],
                              description="Every aggregate source was fetched and parsed this run; a failed one "
                                          "keeps its last good rows."),
            dg.AssetCheckSpec("rates_are_percentages", asset=["staging", "hotline_stats"],
                              description="Every *_rate value lies in [0, 100]."),
        ],
        description="Statistics cities publish about their hotline (call volumes, answer, resolution and "
                    "satisfaction rates) from CSV, HTML or JSON tables, one row per period and metric.",
    )
    def hotline_stats(context: dg.AssetExecutionContext, http: HttpResource, warehouse_db: DuckDBResource):
        result = fetch_all_stats(registry, http.client, run_id=context.run.run_id, archive_dir=http.source_dir)
        for message in result.errors:
            context.log.error(message)
        for message in result.warnings:
            context.log.warning(message)
        with warehouse(warehouse_db) as con:
            replace_many(con, result.writes)
            table = table_metadata(con, STATS)
        landed = result.landed
        yield dg.MaterializeResult(metadata={
            **table,
            "dagster/row_count": landed.height,
            "cities": landed["city_id"].n_unique() if landed.height else 0,
            "sources": dg.MetadataValue.json(result.status),
            "unreadable_cells": dg.MetadataValue.json(result.unreadable),
        })
        yield dg.AssetCheckResult(check_name="every_source_fetched", passed=not result.failed,
                                  severity=dg.AssetCheckSeverity.WARN,
                                  metadata={"failed": ", ".join(result.failed) or "none"})
        out_of_range = result.rates_out_of_range()
        yield dg.AssetCheckResult(check_name="rates_are_percentages", passed=out_of_range == 0,
                                  metadata={"out_of_range": out_of_range})

    return hotline_stats
