"""Jobs, schedules and sensors. The jobs select assets by key; the schedule that walks the request-level
cities is built by `automation` from the partitions the definitions factory built."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from assets.catalog import MARTS_GROUP, PUBLISH_GROUP
from assets.hotline_stats import STATS
from assets.partitions import partition_key
from assets.portals import CATALOG, FEATURES
from assets.reference import CITIES, EVIDENCE, MAPPINGS
from assets.requests import RAW, STAGED
from hotline_eval.config.registry import Registry
from sensors.freshness import host_tags, make_freshness_sensor, record_run_failures
from sensors.run_recovery import release_dead_runs_sensor

# request-level partitions and their staging, then everything downstream
# the nightly refresh pulls only what changed since each partition's cursor
INCREMENTAL = {"ops": {"raw__service_request_records": {"config": {"incremental": True}}}}

ingest_job = dg.define_asset_job(
    "refresh_requests",
    selection=dg.AssetSelection.assets(RAW, STAGED),
    description="Fetch and stage one city-month of request-level data.",
)
score_job = dg.define_asset_job(
    "score_and_publish",
    selection=(dg.AssetSelection.assets(CITIES, MAPPINGS, EVIDENCE, STATS)
               | dg.AssetSelection.groups(MARTS_GROUP, PUBLISH_GROUP)),
    description="Refresh published statistics, recompute indicator facts and the ranking, publish the analyst file.",
)


def daily_current_month_schedule(partitions: dg.MultiPartitionsDefinition, registry: Registry) -> dg.ScheduleDefinition:
    """The nightly refresh of the current month of every request-level city of `partitions` (none in replay
    mode, whose partitions are the archive's months)."""
    cities = partitions.get_partitions_def_for_dimension("city").get_partition_keys()

    @dg.schedule(job=ingest_job, cron_schedule="15 3 * * *", execution_timezone="UTC",
                 default_status=dg.DefaultScheduleStatus.STOPPED)
    def daily_current_month(context: dg.ScheduleEvaluationContext):
        """Every night, refresh the current month of every request-level city."""
        month = context.scheduled_execution_time.strftime("%Y-%m")
        served = [city for city in cities if partitions.has_partition_key(partition_key(city, month))]
        if not served:
            return dg.SkipReason(f"{month} is not a request partition (in replay mode only the archive's months are)")
        return [dg.RunRequest(run_key=f"{partition_key(city, month)}@{context.scheduled_execution_time:%Y-%m-%d}",
                              partition_key=partition_key(city, month), tags=host_tags(registry, city),
                              run_config=INCREMENTAL) for city in served]

    return daily_current_month


daily_scoring = dg.ScheduleDefinition(
    name="daily_scoring", job=score_job, cron_schedule="15 5 * * *", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every morning, after the request refresh, recompute the ranking and publish.",
)

portals_job = dg.define_asset_job(
    "refresh_portals",
    selection=dg.AssetSelection.assets(FEATURES, CATALOG),
    description="Read every city's hotline pages and service directories again.",
)
weekly_portals = dg.ScheduleDefinition(
    name="weekly_portals", job=portals_job, cron_schedule="0 4 * * 1", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Every Monday, the hotline pages and service directories (they change slowly; daily scoring "
                "uses the last good evidence).",
)

JOBS = [ingest_job, score_job, portals_job]


@dataclass(frozen=True)
class Automation:
    jobs: list
    schedules: list
    sensors: list


def automation(partitions: dg.MultiPartitionsDefinition, registry: Registry) -> Automation:
    """The jobs, schedules and sensors of the code location."""
    return Automation(
        jobs=JOBS,
        schedules=[daily_current_month_schedule(partitions, registry), daily_scoring, weekly_portals],
        sensors=[make_freshness_sensor(ingest_job, registry, partitions), record_run_failures,
                 release_dead_runs_sensor],
    )
