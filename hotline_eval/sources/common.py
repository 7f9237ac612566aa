"""What every request-level connector returns: raw rows with the source's values as text."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from hotline_eval.archive import ArchivedResponse

# staging field -> raw column; the field names are the keys of a source's `fields` mapping
RAW_COLUMNS = {
    "request_id": "request_id",
    "created_at": "created_raw",
    "closed_at": "closed_raw",
    "updated_at": "updated_raw",
    "status": "status_raw",
    "category": "category_raw",
    "channel": "channel_raw",
    "agency": "agency_raw",
    "district": "district_raw",
    "latitude": "latitude_raw",
    "longitude": "longitude_raw",
    "resolution": "resolution_raw",
}
RAW_SCHEMA = {
    "city_id": pl.String,
    "source_id": pl.String,
    "partition_month": pl.String,
    **{column: pl.String for column in RAW_COLUMNS.values()},
    "source_updated_at": pl.String,
    "page_number": pl.Int32,
    "sha256": pl.String,
    "is_synthetic": pl.Boolean,
}
REJECT_SCHEMA = {
    "city_id": pl.String,
    "source_id": pl.String,
    "partition_key": pl.String,
    "request_id": pl.String,
    "reason": pl.String,
    "record": pl.String,
    "sha256": pl.String,
    "is_synthetic": pl.Boolean,
}


def as_text(value: Any) -> str | None:
    """A published value as text: strings as they are, numbers as written, objects as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass
class Page:
    """One fetched page of records, with the response it came from."""

    number: int
    response: ArchivedResponse
    records: list[Any]


@dataclass
class RawBatch:
    """The raw rows of one partition, what was rejected on the way, and what was fetched."""

    rows: pl.DataFrame
    rejects: pl.DataFrame
    pages: list[Page] = field(default_factory=list)
    fields_seen: frozenset[str] = frozenset()
    duplicates_dropped: int = 0

    @property
    def sha256s(self) -> list[str]:
        return sorted({p.response.sha256 for p in self.pages})

    @property
    def is_synthetic(self) -> bool:
        return any(p.response.is_synthetic for p in self.pages)


def reject_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=REJECT_SCHEMA)


def field_getter(spec: str) -> Callable[[dict[str, Any]], str | None]:
    """Read a source field by its spec: ``name``; ``a.b`` for a key inside an object (Opendatasoft's
    ``geo_point_2d.lat``); ``a+b`` for parts published apart and joined with a space (a date and a
    time column)."""
    if "+" in spec:
        getters = [field_getter(part.strip()) for part in spec.split("+")]

        def joined(record: dict[str, Any]) -> str | None:
            parts = [v for g in getters if (v := g(record)) not in (None, "")]
            return " ".join(parts) if parts else None

        return joined
    if "." in spec and not spec.startswith(":"):
        outer, inner = spec.split(".", 1)

        def nested(record: dict[str, Any]) -> str | None:
            value = record.get(outer)
            if isinstance(value, str) and value.startswith("{"):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    return None
            return as_text(value.get(inner)) if isinstance(value, dict) else None

        return nested
    return lambda record: as_text(record.get(spec))


def derived_request_id(record: dict[str, Any], id_fields: Sequence[str]) -> str:
    """A stable id for feeds that publish none: a hash of the identifying fields' values."""
    payload = "\x1f".join(as_text(record.get(f)) or "" for f in id_fields)
    return "h" + hashlib.sha1(payload.encode("utf-8")).hexdigest()[:20]


_PLAIN_TYPES = {str, type(None)}


def field_values(records: list[dict[str, Any]], spec: str) -> list[str | None]:
    """One field of every record, as text (see ``field_getter``). A plain field name is read with one
    comprehension and converted only when some value is not already text (most feeds send strings)."""
    if "+" in spec or ("." in spec and not spec.startswith(":")):
        getter = field_getter(spec)
        return [getter(r) for r in records]
    values = [r.get(spec) for r in records]
    return values if set(map(type, values)) <= _PLAIN_TYPES else [as_text(v) for v in values]


def _good_records(page: Page, fields: Mapping[str, str], *, city_id: str, source_id: str, partition_month: str,
                  rejects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's records that are objects with an id; the others go to ``rejects`` with the reason."""
    records = page.records
    id_spec = fields.get("request_id")
    if all(isinstance(r, dict) for r in records):
        if id_spec is None:
            return records
        ids = field_values(records, id_spec)
        if None not in ids and "" not in ids:
            return records
    good = []
    for record in records:
        if not isinstance(record, dict):
            reason = f"record is a {type(record).__name__}, not an object"
        elif id_spec is not None and field_getter(id_spec)(record) in (None, ""):
            reason = f"missing request id field {id_spec!r}"
        else:
            good.append(record)
            continue
        rejects.append({
            "city_id": city_id, "source_id": source_id, "partition_key": partition_month,
            "request_id": None, "reason": reason, "record": json.dumps(record, ensure_ascii=False),
            "sha256": page.response.sha256, "is_synthetic": page.response.is_synthetic,
        })
    return good


def records_to_raw(
    pages: Iterable[Page],
    fields: Mapping[str, str],
    *,
    city_id: str,
    source_id: str,
    partition_month: str,
    updated_system_field: str | None = None,
    derive_id_from: Sequence[str] = (),
) -> RawBatch:
    """Pick the mapped fields out of every record, column by column; reject what is not a record
    or has no id; keep one version per request id (the latest update, then the latest page).

    A feed without ids (``derive_id_from`` set) gets a hash of those fields; identical records in
    one partition then get ``#2``, ``#3``... so each is counted once, as published."""
    pages = list(pages)
    columns: dict[str, list[Any]] = {c: [] for c in RAW_SCHEMA}
    rejects: list[dict[str, Any]] = []
    fields_seen: set[str] = set()
    specs = {raw: fields[f] for f, raw in RAW_COLUMNS.items() if f in fields}
    if "request_id" not in fields and not derive_id_from:
        raise ValueError(f"{source_id}: no request_id field and no fields to derive one from")
    occurrences: dict[str, int] = {}
    for page in pages:
        good = _good_records(page, fields, city_id=city_id, source_id=source_id, partition_month=partition_month,
                             rejects=rejects)
        for record in good:
            fields_seen.update(record)
        n = len(good)
        for raw_column in RAW_COLUMNS.values():
            spec = specs.get(raw_column)
            columns[raw_column].extend(field_values(good, spec) if spec else [None] * n)
        if "request_id" not in fields:
            ids = columns["request_id"]
            for i, record in enumerate(good, start=len(ids) - n):
                base = derived_request_id(record, derive_id_from)
                occurrences[base] = occurrences.get(base, 0) + 1
                ids[i] = base if occurrences[base] == 1 else f"{base}#{occurrences[base]}"
        columns["source_updated_at"].extend(
            field_values(good, updated_system_field) if updated_system_field else [None] * n)
        columns["page_number"].extend([page.number] * n)
        columns["sha256"].extend([page.response.sha256] * n)
        columns["is_synthetic"].extend([page.response.is_synthetic] * n)
        columns["city_id"].extend([city_id] * n)
        columns["source_id"].extend([source_id] * n)
        columns["partition_month"].extend([partition_month] * n)
    rows = pl.DataFrame(columns, schema=RAW_SCHEMA)
    before = rows.height
    # the same request on two pages (rows shift while paging): keep the newest version
    rows = (
        rows.with_row_index("_seen")
        .sort(["request_id", "source_updated_at", "_seen"], nulls_last=False)
        .unique(subset=["request_id"], keep="last", maintain_order=True)
        .sort("_seen")
        .drop("_seen")
    )
    return RawBatch(rows=rows, rejects=reject_frame(rejects), pages=pages, fields_seen=frozenset(fields_seen),
                    duplicates_dropped=before - rows.height)
