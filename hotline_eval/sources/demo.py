"""What the demo archive's writers share (``scripts/build_demo_archive.py`` invents the requests; each
source kind's ``write_demo`` writes them in its platform's real format): the invented request, the
published values a source uses, a record in a source's mapping, and an archive entry marked synthetic."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotline_eval.fetch.archive import Archive, make_response

if TYPE_CHECKING:
    from hotline_eval.config.registry import City
    from hotline_eval.sources.base import SourceBase

FETCHED_AT = datetime(2025, 1, 15, 6, 0, tzinfo=UTC)
NOTE = "invented demo data in the source's real format (hotline_eval demo archive)"


@dataclass(frozen=True)
class Vocabulary:
    """Published values a source uses (taken from its real data), which the demo draws from."""

    open_statuses: tuple[str, ...]
    closed_status: str | None
    cancelled_status: str | None
    channels: tuple[str, ...]
    categories: tuple[str, ...]
    agencies: tuple[str, ...]
    districts: tuple[str, ...]
    timestamp_format: str = "%Y-%m-%dT%H:%M:%S.000"
    # the portal serves the data as plain file downloads (a CKAN portal with its DataStore off)
    file_downloads: bool = False
    # write the source's files in this field generation's shape (CKAN `field_generations`): the demo
    # publishes what the portal publishes now when the registry's own `fields` read an older shape
    generation: str | None = None


@dataclass
class Invented:
    """One invented request, before it is written in a source's format."""

    number: int
    created: datetime  # local, naive
    closed: datetime | None
    status: str | None
    category: str
    channel: str | None
    agency: str | None
    district: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True)
class DemoFeed:
    """One source's demo: where to write, the city and source, and for a request feed its vocabulary and
    the requests invented per month; ``rng`` for values a writer invents itself (statistics), and
    ``handwritten``: the folder of hand-written responses (``<source id>/<n>.html``) for layouts no
    generator mimics."""

    archive: Archive
    city: City
    source: SourceBase
    rng: random.Random
    handwritten: Path
    vocabulary: Vocabulary | None = None
    months: dict[str, list[Invented]] = field(default_factory=dict)

    @property
    def items(self) -> list[Invented]:
        """Every month's requests, oldest month first."""
        return [item for items in self.months.values() for item in items]


def put(record: dict[str, Any], spec: str | None, value: Any) -> None:
    """Write ``value`` under a field spec: plain, ``a.b`` (nested object) or ``a+b`` (date + time)."""
    if spec is None or value is None:
        return
    if "+" in spec:
        date_field, time_field = (p.strip() for p in spec.split("+", 1))
        record[date_field], record[time_field] = value.split(" ", 1)
    elif "." in spec:
        outer, inner = spec.split(".", 1)
        record.setdefault(outer, {})[inner] = value
    else:
        record[spec] = value


def to_record(item: Invented, source: SourceBase, vocab: Vocabulary, request_id: str | None, *,
              numbers: bool = False) -> dict[str, Any]:
    """The request as a record in the source's mapping; coordinates as text (SODA, CSV) or, with
    ``numbers``, as JSON numbers (Opendatasoft)."""
    fields = source.fields
    record: dict[str, Any] = {}
    put(record, fields.get("request_id"), request_id)
    put(record, fields.get("created_at"), item.created.strftime(vocab.timestamp_format))
    put(record, fields.get("closed_at"), item.closed.strftime(vocab.timestamp_format) if item.closed else None)
    put(record, fields.get("status"), item.status)
    last_change = max(item.created, item.closed or item.created) + timedelta(minutes=7)
    put(record, fields.get("updated_at"), last_change.strftime(vocab.timestamp_format))
    put(record, fields.get("category"), item.category)
    put(record, fields.get("channel"), item.channel)
    put(record, fields.get("agency"), item.agency)
    put(record, fields.get("district"), item.district)
    for name, value in (("latitude", item.latitude), ("longitude", item.longitude)):
        if value is not None:
            put(record, fields.get(name), round(value, 6) if numbers else f"{value:.9f}")
    return record


def store(archive: Archive, url: str, params: dict | None, body: bytes, content_type: str,
          headers: dict[str, str] | None = None) -> None:
    """One response in the archive, marked synthetic."""
    archive.store(make_response("GET", url, params, 200, {"Content-Type": content_type, **(headers or {})}, body,
                                is_synthetic=True, note=NOTE, fetched_at=FETCHED_AT))


def as_json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def pages_of(records: list, size: int) -> list[list]:
    pages = [records[i:i + size] for i in range(0, len(records), size)]
    if not pages or len(pages[-1]) == size:
        pages.append([])  # connectors stop at the first short page; an exact multiple needs an empty one
    return pages
