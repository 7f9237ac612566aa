"""The hotline_eval code location: one Definitions object for `dagster dev` (workspace.yaml) and
`dagster asset materialize -m definitions`."""

from __future__ import annotations

import os

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.config import SETTINGS
from assets.hotline_stats import hotline_stats
from assets.marts import indicator_facts, scores
from assets.portals import portal_features, service_catalog
from assets.publish import analyst_warehouse
from assets.reference import cities, curated_evidence, value_mappings
from assets.report import ranking_report
from assets.requests import raw_service_request_records, staging_service_requests
from assets.resources import HttpResource, SourceCredentials
from sensors import JOBS, SCHEDULES, SENSORS


def _credentials() -> SourceCredentials:
    # an app token only raises Socrata's rate limits: run without one when it is not set
    token = dg.EnvVar("SOCRATA_APP_TOKEN") if os.environ.get("SOCRATA_APP_TOKEN") else None
    return SourceCredentials(socrata_app_token=token)


SETTINGS.work_db.parent.mkdir(parents=True, exist_ok=True)

defs = dg.Definitions(
    assets=[cities, value_mappings, curated_evidence, raw_service_request_records, staging_service_requests,
            hotline_stats, portal_features, service_catalog, indicator_facts, scores, analyst_warehouse,
            ranking_report],
    jobs=JOBS,
    schedules=SCHEDULES,
    sensors=SENSORS,
    resources={
        "http": HttpResource(mode=SETTINGS.mode, archive_dir=str(SETTINGS.archive_dir),
                             replay_dir=str(SETTINGS.replay_dir)),
        "credentials": _credentials(),
        "warehouse_db": DuckDBResource(database=str(SETTINGS.work_db),
                                       connection_config={"memory_limit": SETTINGS.duckdb_memory_limit}),
    },
)
