"""Request-level assets are partitioned by city x month: a static city dimension (the registry's
cities that have a request-level connector) and a monthly dimension in the city's local time.

Multi-partitions rather than dynamic ones: the cities are versioned configuration, so the set is
known at load time, and the UI can show a city x month grid with gaps visible at a glance."""

from __future__ import annotations

import dagster as dg

from hotline_eval.config.evaluation import Evaluation
from hotline_eval.config.registry import Registry
from hotline_eval.sources import is_request_level

MONTH_FORMAT = "%Y-%m"


def request_level_cities(registry: Registry) -> list[str]:
    return [c.id for c in registry.cities if any(is_request_level(s) for s in c.sources)]


def city_month_partitions(registry: Registry, evaluation: Evaluation) -> dg.MultiPartitionsDefinition:
    return dg.MultiPartitionsDefinition({
        "city": dg.StaticPartitionsDefinition(request_level_cities(registry)),
        "month": dg.MonthlyPartitionsDefinition(start_date=evaluation.first_month, fmt=MONTH_FORMAT, end_offset=1),
    })


def partition_key(city_id: str, month: str) -> str:
    """The multi-partition key string Dagster uses (dimensions in alphabetical order: city, month)."""
    return dg.MultiPartitionKey({"city": city_id, "month": month})
