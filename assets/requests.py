"""Request-level feeds: fetch a city-month into raw, then stage it. Both partitioned by city x month, so
built by `request_assets` from the registry and the evaluation window (the partitions' cities and months).

One run may carry many partitions (a partition range: `BackfillPolicy.single_run()`): each partition is
fetched or staged in turn and gets its own materialization with its own metadata, so the UI's grid shows
every cell; the quick start runs all the demo's partitions in one run (each run costs ~0.4 s of Dagster
bookkeeping). A partition that fails does not stop the others of its run: the step fails at the end naming
each failed partition, after the rest have landed (scripts/materialize_all.py then re-runs a failed range's
partitions one per run, so that every partition that can land does and each failure has its own run)."""


import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.catalog import OWNERS, RAW_GROUP, STAGING_GROUP, table_metadata
from assets.partitions import city_month_partitions
from assets.reference import MAPPINGS
from assets.resources import HttpResource, SourceCredentials
from assets.warehouse_io import WAREHOUSE_POOL, kept_open, warehouse
from hotline_eval.config.evaluation import Evaluation
from hotline_eval.config.registry import City, Registry
from hotline_eval.errors import is_retryable
from hotline_eval.publish.warehouse import replace_many
from hotline_eval.sources.ingest import fetch_partition, partition_state
from hotline_eval.staging.mappings import load_mappings
from hotline_eval.staging.partition import partition_sha256s, stage_partition
from hotline_eval.staging.service_requests import unmapped_share

RAW = dg.AssetKey(["raw", "service_request_records"])
STAGED = dg.AssetKey(["staging", "service_requests"])
# transitional, for sensors/freshness.py: the partitions the definitions factory built


def _city_month(key: str | dg.MultiPartitionKey) -> tuple[str, str]:
    keys = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else dict(
        zip(("city", "month"), str(key).split("|"), strict=True))
    return keys["city"], keys["month"]


def _results(context: dg.AssetExecutionContext, key: dg.AssetKey, landed: dict[str, dict],
             failures: dict[str, dg.Failure], checks: list[dg.AssetCheckResult]) -> Iterator[Any]:
    """Each landed partition's materialization with its own metadata and the checks; then, if any partition
    failed, the step's failure naming each (retried only when every failure can be). A run of one partition
    fails with that partition's own failure."""
    if not failures:
        for partition, metadata in landed.items():
            context.add_asset_metadata(metadata, partition_key=partition)
        yield dg.MaterializeResult()
        yield from checks
        return
    for partition, metadata in landed.items():  # what landed is shown as landed, though the step fails
        yield dg.AssetMaterialization(asset_key=key, partition=partition, metadata=metadata)
    yield from checks
    if len(failures) == 1 and not landed:
        raise next(iter(failures.values()))
    lines = "\n".join(f"{partition}: {failure.description}" for partition, failure in failures.items())
    raise dg.Failure(f"{len(failures)} of {len(failures) + len(landed)} partitions failed ({len(landed)} landed):\n"
                     f"{lines}", allow_retries=all(f.allow_retries for f in failures.values()))


def _single_run_asset(**kwargs: Any) -> Callable[..., dg.AssetsDefinition]:
    """@dg.asset whose partitions a run may carry many of (``BackfillPolicy.single_run()``: a UI backfill of a
    range is one run too). The parameter is beta in dagster 1.13; its warning at every load would be noise."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter `backfill_policy`", category=dg.BetaWarning)
        return dg.asset(backfill_policy=dg.BackfillPolicy.single_run(), **kwargs)


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

    @_single_run_asset(
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
        failures: dict[str, dg.Failure] = {}
        landed: dict[str, dict] = {}
        drift: dict[str, dict] = {}
        with kept_open(warehouse_db):
            for key in context.partition_keys:
                city_id, month = _city_month(key)
                fetched = _fetch(context, warehouse_db, http, credentials, registry.city(city_id), month, key,
                                 incremental=config.incremental)
                if isinstance(fetched, dg.Failure):
                    failures[key] = fetched
                    continue
                landed[key], notes = fetched
                if notes:
                    drift[key] = notes
        yield from _results(context, RAW, landed, failures, [dg.AssetCheckResult(
            check_name="schema_drift", passed=not drift, severity=dg.AssetCheckSeverity.WARN,
            metadata={"drift": dg.MetadataValue.json(drift if len(context.partition_keys) > 1
                                                     else next(iter(drift.values()), {})),
                      "partitions": len(context.partition_keys)})])


    @_single_run_asset(
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
        mappings = load_mappings()
        staged: dict[str, StagedPartition] = {}
        failures: dict[str, dg.Failure] = {}
        with kept_open(warehouse_db):
            for key in context.partition_keys:
                city_id, month = _city_month(key)
                try:
                    staged[key] = _stage(warehouse_db, registry.city(city_id), month, mappings, full=config.full)
                except dg.Failure as exc:
                    if len(context.partition_keys) == 1:
                        raise
                    failures[key] = exc
                    context.log.error(f"{key}: {exc.description}")
        landed = {key: partition.metadata for key, partition in staged.items()}
        yield from _results(context, STAGED, landed, failures, _staging_checks(staged, evaluation.unmapped_share_warn))

    return [raw_service_request_records, staging_service_requests]


def _fetch(context: dg.AssetExecutionContext, warehouse_db: DuckDBResource, http: HttpResource,
           credentials: SourceCredentials, city: City, month: str, key: str, *,
           incremental: bool) -> tuple[dict[str, Any], dict] | dg.Failure:
    """Fetch one partition into raw: its materialization metadata and schema drift, or its failure."""
    with warehouse(warehouse_db) as con:
        state = partition_state(con, city, month, incremental=incremental)
    # everything is fetched first: an error mid-paging leaves nothing to write but its fetch-log row
    result = fetch_partition(http.client(city.hosts), city, month, state, run_id=context.run.run_id,
                             partition_key=key, archive_dir=http.source_dir, app_token=credentials.socrata_app_token)
    with warehouse(warehouse_db) as con:
        replace_many(con, result.writes)
        table = table_metadata(con, RAW, {"city_id": city.id, "partition_month": month})
    if result.failure is not None:
        context.log.error(f"{key}: {result.failure.message}")
        # retrying cannot help a missing or corrupt archive entry, a refused URL, a changed format, a full disk
        return dg.Failure(result.failure.message, allow_retries=is_retryable(result.failure.error))
    if result.rejected:
        context.log.warning(f"{city.id} {month}: {result.rejected} records rejected at fetch (see raw.rejects)")
    if result.drift_notes:
        context.log.warning(f"{city.id} {month}: schema drift {result.drift_notes}")
    metadata = result.metadata()
    return ({**table, **metadata, "archive_sha256s": dg.MetadataValue.json(metadata["archive_sha256s"]),
             "mode": http.mode}, result.drift_notes)


@dataclass(frozen=True)
class StagedPartition:
    """One partition's staging: its materialization metadata and what the step's checks read."""

    metadata: dict[str, Any]
    unmapped_share: float
    unmapped_values: dict
    duplicate_ids: int
    ids_in_other_months: dict[str, str]
    rows: int


def _stage(warehouse_db: DuckDBResource, city: City, month: str, mappings: pl.DataFrame, *,
           full: bool) -> StagedPartition:
    with warehouse(warehouse_db) as con:
        # day-first formats a city's sources declare (one request feed per city so far)
        formats = [f for s in city.sources for f in s.datetime_formats]
        result = stage_partition(con, city.id, month, city.timezone, mappings, formats, delta=not full)
        sha256s = partition_sha256s(con, city.id, month)
        table = table_metadata(con, STAGED, {"city_id": city.id, "partition_month": month})
    staged = result.staged
    metadata = {
        **table,
        "dagster/row_count": result.rows_in_partition,
        "mode": result.mode,  # delta: only records new or changed since the partition was last staged
        "rows_staged_this_run": staged.rows.height,
        "unmapped_share": round(result.unmapped_share, 4),  # of the whole partition's staged rows
        "unmapped_share_this_run": round(unmapped_share(staged.stats), 4),
        "sha256s": dg.MetadataValue.json(sha256s),
        **{k: v for k, v in staged.stats.items() if k != "rows"},
        # the partition's date range, whatever this run staged
        **({"created_min": result.created_min, "created_max": result.created_max} if result.created_min else {}),
    }
    return StagedPartition(metadata, result.unmapped_share, result.unmapped_values, result.duplicate_ids,
                           result.ids_in_other_months, result.rows_in_partition)


def _staging_checks(staged: dict[str, StagedPartition], threshold: float) -> list[dg.AssetCheckResult]:
    """The staging checks over the partitions of a run (one partition: as it always was)."""
    single = next(iter(staged.values())) if len(staged) == 1 else None
    over = {k: round(p.unmapped_share, 4) for k, p in staged.items() if p.unmapped_share > threshold}
    elsewhere = {k: v for p in staged.values() for k, v in p.ids_in_other_months.items()}
    return [dg.AssetCheckResult(
        check_name="unmapped_share_below_threshold",
        passed=not over,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"unmapped_share": round(max((p.unmapped_share for p in staged.values()), default=0.0), 4),
                  "threshold": threshold, "rows": sum(p.rows for p in staged.values()),
                  "unmapped_values": dg.MetadataValue.json(
                      single.unmapped_values if single else {k: p.unmapped_values for k, p in staged.items()
                                                             if p.unmapped_values}),
                  **({} if single else {"partitions_over_threshold": dg.MetadataValue.json(over),
                                        "partitions": len(staged)})},
    ), dg.AssetCheckResult(
        check_name="unique_request_ids",
        passed=not any(p.duplicate_ids for p in staged.values()) and not elsewhere,
        metadata={"duplicates": sum(p.duplicate_ids for p in staged.values()), "ids_in_other_months": len(elsewhere),
                  "examples": dg.MetadataValue.json(dict(list(elsewhere.items())[:10]))})]
