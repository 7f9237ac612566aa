"""Request-level feeds: fetch a city-month into raw, then stage it. Both partitioned by city x month."""


import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.config import EVALUATION, REGISTRY
from assets.partitions import city_month_partitions
from assets.reference import value_mappings
from assets.resources import HttpResource, SourceCredentials
from assets.warehouse_io import WAREHOUSE_POOL, fetch_log_row, warehouse
from hotline_eval.errors import HotlineEvalError, is_retryable
from hotline_eval.fetch.archive import archive_rows
from hotline_eval.publish.warehouse import Append, Replace, Upsert, Write, query, replace_many
from hotline_eval.sources import REQUEST_CONNECTORS, fetch_request_month
from hotline_eval.sources.drift import field_drift
from hotline_eval.staging.mappings import load_mappings
from hotline_eval.staging.partition import stage_partition
from hotline_eval.staging.service_requests import unmapped_share

CITY_MONTHS = city_month_partitions(REGISTRY, EVALUATION)


def _city_month(context: dg.AssetExecutionContext) -> tuple[str, str]:
    keys = context.partition_key.keys_by_dimension
    return keys["city"], keys["month"]


class StageConfig(dg.Config):
    """Run config of a staging partition."""

    full: bool = False  # re-stage every raw row, not only the records changed since the last staging


class FetchConfig(dg.Config):
    """Run config of a request partition fetch."""

    incremental: bool = False  # fetch only records changed since the partition's cursor (Socrata)


@dg.asset(
    key_prefix=["raw"],
    name="service_request_records",
    group_name="ingest",
    partitions_def=CITY_MONTHS,
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
    check_specs=[dg.AssetCheckSpec(
        "schema_drift", asset=["raw", "service_request_records"],
        description="Warns when a source publishes fields it never had, or stops publishing a field our "
                    "mapping reads. Ingest goes on; review config/cities.yaml.")],
    description="Records of each request-level feed created in one local month, values as published, "
                "with the archived page each came from (raw.service_request_records, raw.http_archive).",
)
def raw_service_request_records(
    context: dg.AssetExecutionContext, config: FetchConfig, http: HttpResource, credentials: SourceCredentials,
    warehouse_db: DuckDBResource,
):
    city_id, month = _city_month(context)
    city = REGISTRY.city(city_id)
    client = http.client(city.hosts)
    sources = [s for s in city.sources if s.kind in REQUEST_CONNECTORS]
    with warehouse(warehouse_db) as con:
        # the cursor is the newest platform update stamp landed for the partition: it moves only
        # when rows land, so a failed run cannot advance it
        cursors = {s.id: query(con, "SELECT max(source_updated_at) AS c FROM raw.service_request_records "
                                    "WHERE source_id = ? AND partition_month = ?", [s.id, month])["c"][0]
                   for s in sources if config.incremental and s.kind == "socrata"}
        known_fields = {s.id: query(con, "SELECT * FROM raw.source_fields WHERE source_id = ?", [s.id])
                        for s in sources}
    batches = []
    for source in sources:
        since = cursors.get(source.id)
        refresh = "incremental" if since else "full"
        # fetch everything first: an error mid-paging raises here, before anything is written
        try:
            batch = fetch_request_month(client, source, city_id, month, timezone=city.timezone,
                                        app_token=credentials.socrata_app_token, since=since)
        except (HotlineEvalError, NotImplementedError) as exc:
            with warehouse(warehouse_db) as con:
                replace_many(con, [Append("raw.fetch_log", fetch_log_row(
                    run_id=context.run.run_id, source_id=source.id, city_id=city_id, partition_key=month,
                    status="failed", refresh=refresh, error=str(exc)))])
            # retrying cannot help a missing or corrupt archive entry, a refused URL, a changed format, a full disk
            raise dg.Failure(f"{city_id} {month} {source.id}: {exc}", allow_retries=is_retryable(exc)) from None
        batches.append((source, batch, refresh))
    writes: list[Write] = []
    drift_notes: dict[str, dict[str, list[str]]] = {}
    for source, batch, refresh in batches:
        where = {"city_id": city_id, "source_id": source.id}
        month_where = {**where, "partition_month": month}
        drift = field_drift(known_fields[source.id], source.id, month, batch.fields_seen, source.fields,
                            had_records=batch.rows.height > 0)
        if drift.new_fields or drift.missing_mapped:
            drift_notes[source.id] = {"new": drift.new_fields, "missing_mapped": drift.missing_mapped}
        archived = archive_rows([*batch.responses, *(p.response for p in batch.pages)], source_id=source.id,
                                archive_dir=http.source_dir, partition_key=context.partition_key)
        rejects = batch.rejects.with_columns(stage=pl.lit("fetch"))
        writes += [
            Upsert("raw.service_request_records", batch.rows, key="request_id", where=month_where)
            if refresh == "incremental" else Replace("raw.service_request_records", batch.rows, month_where),
            Replace("raw.source_fields", drift.fields, {"source_id": source.id}),
            Append("raw.fetch_log", fetch_log_row(
                run_id=context.run.run_id, source_id=source.id, city_id=city_id, partition_key=month, status="ok",
                refresh=refresh, rows=batch.rows.height, pages=len(batch.pages))),
            # an incremental pull adds pages: the earlier ones still back the rows it did not replace
            Replace("raw.http_archive", archived, {"source_id": source.id, "partition_key": context.partition_key})
            if refresh == "full" else Append("raw.http_archive", archived),
        ]
        if refresh == "full":
            writes.append(Replace("raw.rejects", rejects, {**where, "partition_key": month, "stage": "fetch"}))
        elif batch.rejects.height:
            writes.append(Append("raw.rejects", rejects))
    with warehouse(warehouse_db) as con:
        replace_many(con, writes)
    rows = sum(b.rows.height for _, b, _ in batches)
    rejected = sum(b.rejects.height for _, b, _ in batches)
    if rejected:
        context.log.warning(f"{city_id} {month}: {rejected} records rejected at fetch (see raw.rejects)")
    if drift_notes:
        context.log.warning(f"{city_id} {month}: schema drift {drift_notes}")
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": rows,
        "rejected": rejected,
        "duplicates_dropped": sum(b.duplicates_dropped for _, b, _ in batches),
        "pages": sum(len(b.pages) for _, b, _ in batches),
        "refresh": ", ".join(f"{s.id}={r}" for s, _, r in batches),
        "sources": ", ".join(s.id for s in sources),
        "source_urls": ", ".join(p.response.url for _, b, _ in batches for p in b.pages[:1]),
        "archive_sha256s": dg.MetadataValue.json([h for _, b, _ in batches for h in b.sha256s]),
        "is_synthetic": any(b.is_synthetic for _, b, _ in batches),
        "mode": http.mode,
    })
    yield dg.AssetCheckResult(check_name="schema_drift", passed=not drift_notes, severity=dg.AssetCheckSeverity.WARN,
                              metadata={"drift": dg.MetadataValue.json(drift_notes)})


@dg.asset(
    key_prefix=["staging"],
    name="service_requests",
    group_name="staging",
    partitions_def=CITY_MONTHS,
    deps=[raw_service_request_records, value_mappings],
    kinds={"polars", "duckdb"},
    pool=WAREHOUSE_POOL,
    check_specs=[
        dg.AssetCheckSpec("unmapped_share_below_threshold", asset=["staging", "service_requests"],
                          description="Share of rows whose status, channel or category value is not in "
                                      "config/mappings stays below the configured threshold."),
        dg.AssetCheckSpec("unique_request_ids", asset=["staging", "service_requests"],
                          description="No (city_id, request_id) appears twice in the partition."),
    ],
    description="Service requests in one model: UTC times, common status, category and channel "
                "(staging.service_requests); rows that cannot be staged go to raw.rejects with the reason.",
)
def staging_service_requests(context: dg.AssetExecutionContext, config: StageConfig, warehouse_db: DuckDBResource):
    city_id, month = _city_month(context)
    city = REGISTRY.city(city_id)
    mappings = load_mappings()
    with warehouse(warehouse_db) as con:
        # day-first formats a city's sources declare (one request feed per city so far)
        formats = [f for s in city.sources for f in s.datetime_formats]
        result = stage_partition(con, city_id, month, city.timezone, mappings, formats, delta=not config.full)
        sha256s = query(con, "SELECT DISTINCT sha256 FROM staging.service_requests WHERE city_id = ? "
                             "AND partition_month = ? ORDER BY sha256", [city_id, month])["sha256"].to_list()
    staged = result.staged
    duplicates = result.duplicate_ids
    share = unmapped_share(staged.stats)
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": result.rows_in_partition,
        "mode": result.mode,  # delta: only records new or changed since the partition was last staged
        "rows_staged_this_run": staged.rows.height,
        "unmapped_share": round(share, 4),  # of the rows staged this run
        "sha256s": dg.MetadataValue.json(sha256s),
        **{k: v for k, v in staged.stats.items() if k != "rows"},
        # the partition's date range, whatever this run staged
        **({"created_min": result.created_min, "created_max": result.created_max} if result.created_min else {}),
    })
    yield dg.AssetCheckResult(
        check_name="unmapped_share_below_threshold",
        passed=share <= EVALUATION.unmapped_share_warn,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"unmapped_share": round(share, 4), "threshold": EVALUATION.unmapped_share_warn,
                  "unmapped_values": dg.MetadataValue.json(staged.stats["unmapped_values"])},
    )
    yield dg.AssetCheckResult(check_name="unique_request_ids", passed=duplicates == 0,
                              metadata={"duplicates": duplicates})
