"""Source freshness sensor and run-failure sensor."""

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.partitions import partition_key
from assets.resources import HttpResource, ProjectSettings
from assets.warehouse_io import warehouse
from hotline_eval.config.registry import Registry
from hotline_eval.errors import HotlineEvalError
from hotline_eval.publish.runlog import failure_rows, publish_run_log, run_log_rows
from hotline_eval.publish.warehouse import Replace, replace_many
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
            if not partitions.has_partition_key(key):  # replay mode: only the archive's months are partitions
                continue
            requests.append(dg.RunRequest(run_key=f"{change.source_id}@{change.version}:{key}", partition_key=key,
                                          tags=host_tags(registry, city.id),
                                          run_config={"ops": {"raw__service_request_records": {
                                              "config": {"incremental": True}}}}))
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(current, sort_keys=True))

    return source_freshness


@dg.run_failure_sensor(default_status=dg.DefaultSensorStatus.RUNNING,
                       description="Records every failed run (job, partition, assets, error) in raw.run_failures "
                                   "and puts the run's failure and fetch-log rows into the analyst file at once, by "
                                   "the publish's atomic swap (readers are never blocked).")
def record_run_failures(context: dg.RunFailureSensorContext, warehouse_db: DuckDBResource,
                        settings: ProjectSettings) -> None:
    record_failure(context.instance, context.dagster_run, warehouse_db, Path(settings.analyst_db))


def record_failure(instance: dg.DagsterInstance, run: dg.DagsterRun, warehouse_db: DuckDBResource,
                   analyst_db: Path) -> None:
    """Record the failed ``run`` (one row per failed step, with the error and its causes) in the work
    database's raw.run_failures, and put the run's run-log rows (failures, fetch attempts) into the analyst
    file at once. The run-failure sensor calls it; so can a script running jobs in process."""
    frame = failure_rows(
        run_id=run.run_id, job_name=run.job_name, partition_key=run.tags.get("dagster/partition"),
        asset_keys=_run_assets(instance, run), errors=_run_errors(instance, run.run_id), failed_at=datetime.now(UTC))
    rows, work_error = {"raw.run_failures": frame}, None
    try:
        with warehouse(warehouse_db) as con:  # the work database: the next full publish carries them on
            replace_many(con, [Replace("raw.run_failures", frame, {"run_id": run.run_id})])
            rows = run_log_rows(con, run.run_id)
    except Exception as exc:  # (e.g. a run writing it for longer than the connection retries): publish anyway
        work_error = exc
    publish_run_log(analyst_db, run.run_id, rows)
    if work_error is not None:
        raise work_error


def _run_assets(instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[str]:
    """The assets the run was materializing: its selection, or (a job's run has none) those it planned."""
    keys = set(run.asset_selection or [])
    if not keys:
        planned = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED)
        keys = {e.dagster_event.asset_key for e in planned if e.dagster_event and e.dagster_event.asset_key}
    return [k.to_user_string() for k in keys]


def _run_errors(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(step, error) of each failed step, or ("", the run's failure message) when no step failed."""
    steps = [e.dagster_event for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE)
             if e.dagster_event]
    if steps:
        return [(e.step_key or "", _error_text(e.step_failure_data.error if e.step_failure_data else None))
                for e in steps]
    failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return [("", (failures[-1].message if failures else "") or "run failed")]


def _error_text(error) -> str:
    """The error and the causes under it (Dagster wraps the user's exception), outermost last."""
    parts = []
    while error is not None:
        parts.append(error.message.strip())
        error = error.cause
    return " | caused by: ".join(reversed(parts))
