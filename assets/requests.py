"""Request-level feeds: fetch a city-month into raw, then stage it. Both partitioned by city x month, so
built by `request_assets` from the registry and the evaluation window (the partitions' cities and months)."""


import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.catalog import OWNERS, RAW_GROUP, STAGING_GROUP, table_metadata
from assets.partitions import city_month_partitions
from assets.reference import MAPPINGS
from assets.resources import HttpResource, SourceCredentials
from assets.warehouse_io import WAREHOUSE_POOL, warehouse
from hotline_eval.config.evaluation import Evaluation
from hotline_eval.config.registry import Registry
from hotline_eval.errors import is_retryable
from hotline_eval.publish.warehouse import replace_many
from hotline_eval.sources.ingest import fetch_partition, partition_state
from hotline_eval.staging.mappings import load_mappings
from hotline_eval.staging.partition import partition_sha256s, stage_partition
from hotline_eval.staging.service_requests import unmapped_share

RAW = dg.AssetKey(["raw", "service_request_records"])
STAGED = dg.AssetKey(["staging", "service_requests"])
# transitional, for sensors/freshness.py: the partitions the definitions factory built


def _city_month(context: dg.AssetExecutionContext) -> tuple[str, str]:
    keys = context.partition_key.keys_by_dimension
    return keys["city"], keys["month"]


class StageConfig(dg.Config):
    """Run config of a staging partition."""

    full: bool = False  # re-stage every raw row, not only the records changed since the last staging


class FetchConfig(dg.Config):
    """Run config of a request partition fetch."""

    incremental: bool = False  # fetch only records changed since the partition's cursor (Socrata)


def request_assets(registry: Registry, evaluation: Evaluation,
                   partitions: dg.MultiPartitionsDefinition | None = None) -> list[dg.AssetsDefinition]:
    """raw/service_request_records and staging/service_requests over `partitions` (default: the registry's
    request-level cities x months from the evaluation's first month)."""
    partitions = partitions or city_month_partitions(registry, evaluation)

    @dg.asset(
        key_prefix=["raw"],
        name="service_request_records",
        group_name=RAW_GROUP,
        owners=OWNERS,
        partitions_def=partitions,
        kinds={"python", "duckdb"},
        pool=WAREHOUSE_POOL,
        retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
        check_specs=[dg.AssetCheckSpec(
            "schema_drift", asset=["raw", "service_request_records"],
            description="Warns when a source publishes fields it never had, or stops publishing a field our "
                        "mapping reads. Ingest goes on; review the source in config/cities/<city>.yaml.")],
        description="Records of each request-level feed created in one local month, values as published, "
                    "with the archived page each came from (raw.service_request_records, raw.http_archive).",
    )
    def raw_service_request_records(
        context: dg.AssetExecutionContext, config: FetchConfig, http: HttpResource, credentials: SourceCredentials,
        warehouse_db: DuckDBResource,
    ):
        city_id, month = _city_month(context)
        city = registry.city(city_id)
        with warehouse(warehouse_db) as con:
            state = partition_state(con, city, month, incremental=config.incremental)
        # everything is fetched first: an error mid-paging leaves nothing to write but its fetch-log row
        result = fetch_partition(http.client(city.hosts), city, month, state, run_id=context.run.run_id,
                                 partition_key=context.partition_key, archive_dir=http.source_dir,
                                 app_token=credentials.socrata_app_token)
        with warehouse(warehouse_db) as con:
            replace_many(con, result.writes)
            table = table_metadata(con, RAW, {"city_id": city_id, "partition_month": month})
        if result.failure is not None:
            # retrying cannot help a missing or corrupt archive entry, a refused URL, a changed format, a full disk
            raise dg.Failure(result.failure.message, allow_retries=is_retryable(result.failure.error))
        if result.rejected:
            context.log.warning(f"{city_id} {month}: {result.rejected} records rejected at fetch (see raw.rejects)")
        if result.drift_notes:
            context.log.warning(f"{city_id} {month}: schema drift {result.drift_notes}")
        metadata = result.metadata()
        yield dg.MaterializeResult(metadata={
            **table, **metadata, "archive_sha256s": dg.MetadataValue.json(metadata["archive_sha256s"]),
            "mode": http.mode})
        yield dg.AssetCheckResult(check_name="schema_drift", passed=not result.drift_notes,
                                  severity=dg.AssetCheckSeverity.WARN,
                                  metadata={"drift": dg.MetadataValue.json(result.drift_notes)})


    @dg.asset(
        key_prefix=["staging"],
        name="service_requests",
        group_name=STAGING_GROUP,
        owners=OWNERS,
        partitions_def=partitions,
        deps=[RAW, MAPPINGS],
        kinds={"polars", "duckdb"},
        pool=WAREHOUSE_POOL,
        check_specs=[
            dg.AssetCheckSpec("unmapped_share_below_threshold", asset=["staging", "service_requests"],
                              description="Share of rows whose status, channel or category value is not in "
                                          "config/mappings stays below the configured threshold."),
            dg.AssetCheckSpec("unique_request_ids", asset=["staging", "service_requests"],
                              description="No request id appears twice in the partition, nor in another "
                                          "month partition of the same source."),
        ],
        description="Service requests in one model: UTC times, common status, category and channel "
                    "(staging.service_requests); rows that cannot be staged go to raw.rejects with the reason.",
    )
    def staging_service_requests(context: dg.AssetExecutionContext, config: StageConfig, warehouse_db: DuckDBResource):
        city_id, month = _city_month(context)
        city = registry.city(city_id)
        mappings = load_mappings()
        with warehouse(warehouse_db) as con:
            # day-first formats a city's sources declare (one request feed per city so far)
            formats = [f for s in city.sources for f in s.datetime_formats]
            result = stage_partition(con, city_id, month, city.timezone, mappings, formats, delta=not config.full)
            sha256s = partition_sha256s(con, city_id, month)
            table = table_metadata(con, STAGED, {"city_id": city_id, "partition_month": month})
        staged, share, elsewhere = result.staged, result.unmapped_share, result.ids_in_other_months
        yield dg.MaterializeResult(metadata={
            **table,
            "dagster/row_count": result.rows_in_partition,
            "mode": result.mode,  # delta: only records new or changed since the partition was last staged
            "rows_staged_this_run": staged.rows.height,
            "unmapped_share": round(share, 4),  # of the whole partition's staged rows
            "unmapped_share_this_run": round(unmapped_share(staged.stats), 4),
            "sha256s": dg.MetadataValue.json(sha256s),
            **{k: v for k, v in staged.stats.items() if k != "rows"},
            # the partition's date range, whatever this run staged
            **({"created_min": result.created_min, "created_max": result.created_max} if result.created_min else {}),
        })
        yield dg.AssetCheckResult(
            check_name="unmapped_share_below_threshold",
            passed=share <= evaluation.unmapped_share_warn,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"unmapped_share": round(share, 4), "threshold": evaluation.unmapped_share_warn,
                      "rows": result.rows_in_partition,
                      "unmapped_values": dg.MetadataValue.json(result.unmapped_values)},
        )
        yield dg.AssetCheckResult(
            check_name="unique_request_ids", passed=result.duplicate_ids == 0 and not elsewhere,
            metadata={"duplicates": result.duplicate_ids, "ids_in_other_months": len(elsewhere),
                      "examples": dg.MetadataValue.json(dict(list(elsewhere.items())[:10]))})

    return [raw_service_request_records, staging_service_requests]
