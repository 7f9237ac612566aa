"""Request-level assets are partitioned by city x month: a static city dimension (the registry's
cities that have a request-level connector) and a monthly dimension in the city's local time.

Multi-partitions rather than dynamic ones: the cities are versioned configuration, so the set is
known at load time, and the UI can show a city x month grid with gaps visible at a glance.

The grid holds the partitions the mode can serve, so that every cell, "Materialize all" and "Latest" can
succeed: in live mode the configured months (`first_month` of config/evaluation.yaml, or
$HOTLINE_EVAL_FIRST_MONTH, to the current month); in replay mode the cities and months the replay archive
holds (its manifest.json, the one scripts/materialize_all.py runs), or the configured months for an archive
without a manifest (a copy of a live archive, which may hold any month)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg

from hotline_eval.config.evaluation import Evaluation
from hotline_eval.config.registry import Registry
from hotline_eval.config.settings import Settings
from hotline_eval.errors import ConfigError
from hotline_eval.sources import is_request_level

MONTH_FORMAT = "%Y-%m"
MANIFEST = "manifest.json"


def request_level_cities(registry: Registry) -> list[str]:
    return [c.id for c in registry.cities if any(is_request_level(s) for s in c.sources)]


def archived_partitions(replay_dir: Path) -> dict[str, list[str]] | None:
    """The request partitions a replay archive holds, ``{city_id: [YYYY-MM, ...]}`` (its manifest.json's
    ``request_partitions``); None when the archive has no manifest."""
    path = Path(replay_dir) / MANIFEST
    if not path.exists():
        return None
    try:
        served = json.loads(path.read_text(encoding="utf-8"))["request_partitions"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a replay archive manifest with request_partitions ({exc})") from exc
    return {str(city): sorted(str(m) for m in months) for city, months in served.items()}


def served_partitions(settings: Settings) -> dict[str, list[str]] | None:
    """What the mode can serve: the replay archive's partitions in replay mode, None (the configured months)
    in live mode."""
    return archived_partitions(settings.replay_dir) if settings.mode == "replay" else None


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12}-{number % 12 + 1:02d}"


def _months(months: Sequence[str]) -> dg.PartitionsDefinition:
    """Monthly partitions from the first to the last of ``months`` when they follow each other (the demo
    archive's do), otherwise exactly those months."""
    expected = list(months[:1])
    while expected and expected[-1] < months[-1]:
        expected.append(_next_month(expected[-1]))
    if not months or expected != list(months):
        return dg.StaticPartitionsDefinition(list(months))
    return dg.MonthlyPartitionsDefinition(start_date=months[0], end_date=_next_month(months[-1]), fmt=MONTH_FORMAT)


def city_month_partitions(registry: Registry, evaluation: Evaluation,
                          served: Mapping[str, Sequence[str]] | None = None) -> dg.MultiPartitionsDefinition:
    """The request partitions: the registry's request-level cities x the evaluation's months (first_month to
    the current month) or, with ``served`` (an archive's partitions, see `served_partitions`), only the cities
    and months it holds."""
    cities = request_level_cities(registry)
    if served is None:
        months: dg.PartitionsDefinition = dg.MonthlyPartitionsDefinition(
            start_date=evaluation.first_month, fmt=MONTH_FORMAT, end_offset=1)
    else:
        cities = [c for c in cities if served.get(c)]
        months = _months(sorted({m for c in cities for m in served[c]}))
    return dg.MultiPartitionsDefinition({"city": dg.StaticPartitionsDefinition(cities), "month": months})


def partition_key(city_id: str, month: str) -> str:
    """The multi-partition key string Dagster uses (dimensions in alphabetical order: city, month)."""
    return dg.MultiPartitionKey({"city": city_id, "month": month})
