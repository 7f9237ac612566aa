"""Published hotline statistics of every aggregate source -> staging.hotline_stats."""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.config import REGISTRY
from assets.resources import HttpResource
from assets.warehouse_io import WAREHOUSE_POOL, fetch_log_row, warehouse
from hotline_eval.errors import HotlineEvalError
from hotline_eval.fetch.archive import archive_rows
from hotline_eval.publish.warehouse import Append, Replace, replace_many
from hotline_eval.stats.tables import fetch_stats, table_urls


@dg.asset(
    key_prefix=["staging"], name="hotline_stats", group_name="staging", kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL, retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
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
    writes: list = []
    status: dict[str, str] = {}
    problems: dict[str, list[str]] = {}
    frames: list[pl.DataFrame] = []
    for city, source in REGISTRY.sources("aggregate_table"):
        log = {"run_id": context.run.run_id, "source_id": source.id, "city_id": city.id, "partition_key": "*",
               "refresh": "full", "pages": len(table_urls(source))}
        try:
            frame, bad_cells, responses = fetch_stats(http.client(city.hosts), source, city.id)
        except HotlineEvalError as exc:
            # one source failing must not stop the others, nor erase its last good rows
            status[source.id] = f"failed: {exc}"
            context.log.error(f"{source.id}: {exc}")
            writes.append(Append("raw.fetch_log", fetch_log_row(**log, status="failed", error=str(exc))))
            continue
        status[source.id] = f"ok: {frame.height} values"
        if bad_cells:
            problems[source.id] = bad_cells[:20]
            context.log.warning(f"{source.id}: {len(bad_cells)} cells could not be read: {bad_cells[:5]}")
        frames.append(frame)
        writes += [
            Replace("staging.hotline_stats", frame, {"source_id": source.id}),
            Replace("raw.http_archive", archive_rows(responses, source_id=source.id, archive_dir=http.source_dir,
                                                     partition_key=None), {"source_id": source.id}),
            Append("raw.fetch_log", fetch_log_row(**log, status="ok", rows=frame.height)),
        ]
    with warehouse(warehouse_db) as con:
        replace_many(con, writes)
    landed = pl.concat(frames) if frames else pl.DataFrame()
    rates = landed.filter(pl.col("metric").str.ends_with("_rate")) if landed.height else landed
    failed = [s for s, v in status.items() if v.startswith("failed")]
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": landed.height,
        "cities": landed["city_id"].n_unique() if landed.height else 0,
        "sources": dg.MetadataValue.json(status),
        "unreadable_cells": dg.MetadataValue.json(problems),
    })
    yield dg.AssetCheckResult(check_name="every_source_fetched", passed=not failed,
                              severity=dg.AssetCheckSeverity.WARN, metadata={"failed": ", ".join(failed) or "none"})
    out_of_range = rates.filter(~pl.col("value").is_between(0, 100)).height if rates.height else 0
    yield dg.AssetCheckResult(check_name="rates_are_percentages", passed=out_of_range == 0,
                              metadata={"out_of_range": out_of_range})
