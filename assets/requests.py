"""Request-level feeds: fetch a city-month into raw, then stage it. Both partitioned by city x month."""


import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.config import EVALUATION, REGISTRY
from assets.partitions import city_month_partitions
from assets.reference import value_mappings
from assets.resources import HttpResource, SourceCredentials
from assets.warehouse_io import WAREHOUSE_POOL, warehouse
from hotline_eval.archive import archive_rows
from hotline_eval.errors import FetchError, PolicyError, ReplayMissError, SourceFormatError
from hotline_eval.mappings import load_mappings
from hotline_eval.sources import REQUEST_CONNECTORS, fetch_request_month
from hotline_eval.sources.common import RAW_SCHEMA
from hotline_eval.transforms.service_requests import stage_requests, unmapped_share
from hotline_eval.warehouse import query, replace_many

CITY_MONTHS = city_month_partitions(REGISTRY, EVALUATION)


def _city_month(context: dg.AssetExecutionContext) -> tuple[str, str]:
    keys = context.partition_key.keys_by_dimension
    return keys["city"], keys["month"]


@dg.asset(
    key_prefix=["raw"],
    name="service_request_records",
    group_name="ingest",
    partitions_def=CITY_MONTHS,
    kinds={"python", "duckdb"},
    pool=WAREHOUSE_POOL,
    retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
    description="Records of each request-level feed created in one local month, values as published, "
                "with the archived page each came from (raw.service_request_records, raw.http_archive).",
)
def raw_service_request_records(
    context: dg.AssetExecutionContext, http: HttpResource, credentials: SourceCredentials,
    warehouse_db: DuckDBResource,
) -> dg.MaterializeResult:
    city_id, month = _city_month(context)
    city = REGISTRY.city(city_id)
    client = http.client(city.hosts)
    sources = [s for s in city.sources if s.kind in REQUEST_CONNECTORS]
    # fetch everything first: an error mid-paging raises here, before anything is written
    try:
        batches = [(s, fetch_request_month(client, s, city_id, month, app_token=credentials.socrata_app_token))
                   for s in sources]
    except (ReplayMissError, PolicyError, SourceFormatError) as exc:
        # retrying cannot help: a missing archive entry, a refused URL or a changed format
        raise dg.Failure(f"{city_id} {month}: {exc}", allow_retries=False) from None
    except FetchError as exc:
        raise dg.Failure(f"{city_id} {month}: {exc}", allow_retries=True) from None
    writes = []
    for source, batch in batches:
        where = {"city_id": city_id, "source_id": source.id}
        writes += [
            ("raw.service_request_records", batch.rows, {**where, "partition_month": month}),
            ("raw.rejects", batch.rejects.with_columns(stage=pl.lit("fetch")),
             {**where, "partition_key": month, "stage": "fetch"}),
            ("raw.http_archive", archive_rows([p.response for p in batch.pages], source_id=source.id,
                                              archive_dir=http.source_dir, partition_key=context.partition_key),
             {"source_id": source.id, "partition_key": context.partition_key}),
        ]
    with warehouse(warehouse_db) as con:
        replace_many(con, writes)
    rows = sum(b.rows.height for _, b in batches)
    rejected = sum(b.rejects.height for _, b in batches)
    if rejected:
        context.log.warning(f"{city_id} {month}: {rejected} records rejected at fetch (see raw.rejects)")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows,
        "rejected": rejected,
        "duplicates_dropped": sum(b.duplicates_dropped for _, b in batches),
        "pages": sum(len(b.pages) for _, b in batches),
        "sources": ", ".join(s.id for s in sources),
        "source_urls": ", ".join(p.response.url for _, b in batches for p in b.pages[:1]),
        "archive_sha256s": dg.MetadataValue.json([h for _, b in batches for h in b.sha256s]),
        "is_synthetic": any(b.is_synthetic for _, b in batches),
        "mode": http.mode,
    })


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
def staging_service_requests(context: dg.AssetExecutionContext, warehouse_db: DuckDBResource):
    city_id, month = _city_month(context)
    city = REGISTRY.city(city_id)
    mappings = load_mappings()
    with warehouse(warehouse_db) as con:
        raw = query(con, "SELECT * FROM raw.service_request_records WHERE city_id = ? AND partition_month = ?",
                    [city_id, month]).cast(RAW_SCHEMA)
        staged = stage_requests(raw, city.timezone, mappings)
        replace_many(con, [
            ("staging.service_requests", staged.rows, {"city_id": city_id, "partition_month": month}),
            ("raw.rejects", staged.rejects.with_columns(stage=pl.lit("stage")),
             {"city_id": city_id, "partition_key": month, "stage": "stage"}),
        ])
    share = unmapped_share(staged.stats)
    duplicates = staged.rows.height - staged.rows.select("request_id").n_unique()
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": staged.rows.height,
        "unmapped_share": round(share, 4),
        "sha256s": dg.MetadataValue.json(sorted(raw["sha256"].unique().to_list())),
        **{k: v for k, v in staged.stats.items() if k != "rows"},
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
