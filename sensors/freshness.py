"""Source freshness sensor and run-failure sensor."""

import json
from datetime import UTC, datetime

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.partitions import partition_key
from assets.resources import HttpResource
from assets.warehouse_io import warehouse
from hotline_eval.config.registry import Registry
from hotline_eval.errors import HotlineEvalError
from hotline_eval.publish.runlog import failure_rows
from hotline_eval.publish.warehouse import Append, replace_many
from hotline_eval.sources import has_freshness, is_request_level
from hotline_eval.sources.freshness import changed_sources, source_version

HOST_TAG = "hotline_eval/source_host"


def host_tags(registry: Registry, city_id: str) -> dict[str, str]:
    """Runs of one source host share a tag; dagster.yaml allows one run per tag value at a time."""
    hosts = sorted({s.host for s in registry.city(city_id).sources if is_request_level(s)})
    return {HOST_TAG: ",".join(hosts)} if hosts else {}


def make_freshness_sensor(job, registry: Registry, partitions: dg.MultiPartitionsDefinition) -> dg.SensorDefinition:
    """`job` is the request job (define_asset_job); the cities polled are those of `partitions`."""
    cities = set(partitions.get_partitions_def_for_dimension("city").get_partition_keys())

    @dg.sensor(job=job, minimum_interval_seconds=3600, default_status=dg.DefaultSensorStatus.STOPPED,
               description="Polls each request feed's dataset metadata (Socrata rowsUpdatedAt, CKAN "
                           "metadata_modified, Opendatasoft data_processed) and requests runs for the current "
                           "month of the sources that changed; the cursor keeps the last stamp per source.")
    def source_freshness(context: dg.SensorEvaluationContext, http: HttpResource):
        previous = json.loads(context.cursor) if context.cursor else {}
        current = dict(previous)
        month = datetime.now(UTC).strftime("%Y-%m")
        requests: list[dg.RunRequest] = []
        for city, source in registry.sources():
            if city.id not in cities or not has_freshness(source):
                continue
            try:
                current[source.id] = source_version(http.client(city.hosts), source)
            except HotlineEvalError as exc:
                # keep the old stamp: the source is checked again next time
                context.log.warning(f"{source.id}: freshness unknown: {exc}")
        for change in changed_sources(previous, current):
            city, _ = registry.source(change.source_id)
            key = partition_key(city.id, month)
            requests.append(dg.RunRequest(run_key=f"{change.source_id}@{change.version}:{key}", partition_key=key,
                                          tags=host_tags(registry, city.id),
                                          run_config={"ops": {"raw__service_request_records": {
                                              "config": {"incremental": True}}}}))
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(current, sort_keys=True))

    return source_freshness


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Records every failed run (job, partition, assets, error) in raw.run_failures.")
def record_run_failures(context: dg.RunFailureSensorContext, warehouse_db: DuckDBResource) -> None:
    run = context.dagster_run
    steps = context.get_step_failure_events()
    frame = failure_rows(
        run_id=run.run_id, job_name=run.job_name, partition_key=run.tags.get("dagster/partition"),
        asset_keys=[k.to_user_string() for k in (run.asset_selection or [])],
        errors=[(e.step_key or "", _error_text(e.event_specific_data.error if e.event_specific_data else None))
                for e in steps] or [("", context.failure_event.message or "run failed")],
        failed_at=datetime.now(UTC),
    )
    with warehouse(warehouse_db) as con:
        replace_many(con, [Append("raw.run_failures", frame)])


def _error_text(error) -> str:
    """The error and the causes under it (Dagster wraps the user's exception), outermost last."""
    parts = []
    while error is not None:
        parts.append(error.message.strip())
        error = error.cause
    return " | caused by: ".join(reversed(parts))
