"""The raw rows every request-level connector returns, the source's values as text: their columns, the
rejects' columns, and how a value becomes text (pages are read in ``pages``, mapped to rows in ``records``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import polars as pl

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


def body_shape(body: Any) -> str:
    """What a response body is, for an error: its type, and an object's first keys."""
    if isinstance(body, dict):
        keys = [str(k) for k in body]
        shown = ", ".join(keys[:6]) + (f", ... ({len(keys)} keys)" if len(keys) > 6 else "")
        return f"an object with keys {shown}" if keys else "an empty object"
    return "null" if body is None else f"a JSON {type(body).__name__}"


def dig(data: object, *keys: str) -> object:
    """``data[k1][k2]...``, or None where a level is not a mapping or lacks the key."""
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def check_fields(fields: Mapping[str, str]) -> Mapping[str, str]:
    """Known staging fields, each naming a source field: a misspelt staging field would be read by no
    connector, without a word (a source's ``fields`` and each of its field generations')."""
    unknown = sorted(set(fields) - set(RAW_COLUMNS))
    if unknown:
        raise ValueError(f"unknown staging fields {unknown}; known: {sorted(RAW_COLUMNS)}")
    empty = sorted(name for name, spec in fields.items() if not spec.strip())
    if empty:
        raise ValueError(f"no source field named for {empty}")
    return fields
