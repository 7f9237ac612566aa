"""The hotline_eval code location, for `dagster dev` (workspace.yaml) and `dagster asset materialize -m
definitions`. Importing this module reads nothing: Dagster calls `defs` (lazy `@dg.definitions`) when it
loads the code location, which reads the settings from the environment and builds everything from them
with `build_definitions`; a bad configuration file fails the load with a clear message."""

from __future__ import annotations

import os

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.config import ProjectConfig
from assets.hotline_stats import hotline_stats_asset
from assets.marts import mart_assets
from assets.partitions import city_month_partitions, served_partitions
from assets.portals import portal_assets
from assets.publish import analyst_warehouse
from assets.reference import reference_assets
from assets.report import ranking_report
from assets.requests import request_assets
from assets.resources import ProjectSettings, SourceCredentials, http_resource
from hotline_eval.config.settings import Settings, load_settings
from sensors import automation


def _credentials() -> SourceCredentials:
    # an app token only raises Socrata's rate limits: run without one when it is not set
    token = dg.EnvVar("SOCRATA_APP_TOKEN") if os.environ.get("SOCRATA_APP_TOKEN") else None
    return SourceCredentials(socrata_app_token=token)


def build_definitions(settings: Settings) -> dg.Definitions:
    """Every asset, check, job, schedule, sensor and resource, built from `settings` and the registry and
    evaluation window they name."""
    config = ProjectConfig.load(settings)
    registry, evaluation = config.registry, config.evaluation
    # only the partitions the mode can serve: in replay mode, those the archive holds
    partitions = city_month_partitions(registry, evaluation, served_partitions(settings))
    settings.work_db.parent.mkdir(parents=True, exist_ok=True)
    auto = automation(partitions, registry)
    return dg.Definitions(
        assets=[*reference_assets(registry), *request_assets(registry, evaluation, partitions),
                hotline_stats_asset(registry), *portal_assets(registry), *mart_assets(registry, evaluation),
                analyst_warehouse, ranking_report],
        jobs=auto.jobs,
        schedules=auto.schedules,
        sensors=auto.sensors,
        resources={
            "settings": ProjectSettings.from_settings(settings),
            "http": http_resource(settings),
            "credentials": _credentials(),
            "warehouse_db": DuckDBResource(database=str(settings.work_db),
                                           connection_config=settings.duckdb_config),
        },
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings())
