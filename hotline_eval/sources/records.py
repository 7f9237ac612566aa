"""Mapping the records of fetched pages to raw rows (``records_to_raw``): the mapped fields as text,
one version per request id, what is not a record or has no id rejected with the reason."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.sources.common import RAW_COLUMNS, RAW_SCHEMA, REJECT_SCHEMA, as_text
from hotline_eval.sources.pages import WANTED_OF_DECLARED, Page


@dataclass
class RawBatch:
    """The raw rows of one partition, what was rejected on the way, and what was fetched."""

    rows: pl.DataFrame
    rejects: pl.DataFrame
    pages: list[Page] = field(default_factory=list)
    fields_seen: frozenset[str] = frozenset()
    duplicates_dropped: int = 0
    # records the server returned from outside the partition's local month, left out (a server that
    # ignores the date window it was asked for)
    dropped_outside_month: int = 0
    # what else was fetched to read the pages (a Socrata dataset's metadata), archived with them
    responses: list[ArchivedResponse] = field(default_factory=list)
    # the field mapping the rows were read with when it is not the source's own (a CKAN field
    # generation): drift compares what was seen with this
    mapped_fields: dict[str, str] | None = None

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


def _plain(spec: str) -> bool:
    return "+" not in spec and ("." not in spec or spec.startswith(":"))


def _text_fields(page: Page, specs: Mapping[str, str], id_spec: str | None) -> pl.DataFrame | None:
    """The fields a page's records are read from, as its columns, when that gives what the record path
    would: every field read is a plain name whose values are all text or absent, and every record has
    an id. None when the page must be read record by record."""
    frame = page.frame
    if frame is None or not all(_plain(spec) for spec in specs.values()):
        return None
    schema = frame.schema
    if any(schema.get(spec, pl.Null) not in (pl.String, pl.Null) for spec in specs.values()):
        return None
    if id_spec is not None:
        if id_spec not in schema:
            return None
        ids = frame[id_spec]
        if ids.null_count() or (ids == "").any():
            return None
    # a frame of the page's own columns (a select would plan a query per page)
    return pl.DataFrame([frame.get_column(spec) for spec in sorted(set(specs.values())) if spec in schema])


def _fields_seen(page: Page) -> Iterable[str]:
    """The fields a page read as columns shows: its columns; for a page read for its wanted fields only,
    those a record carries (a field our mapping reads that no record has must stay unseen: drift reports
    it) and the declared fields not read, which the publisher says its records carry."""
    frame = page.frame
    if page.read_as != WANTED_OF_DECLARED or page.declared_fields is None:
        return frame.columns
    read = frame.columns
    present = [name for name in read if frame[name].null_count() < frame.height]
    return [*present, *set(page.declared_fields).difference(read)]


def _good_records(page: Page, fields: Mapping[str, str], *, city_id: str, source_id: str, partition_month: str,
                  rejects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's records that are objects with an id; the others go to ``rejects`` with the reason."""
    records = page.record_list()
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


class _PageRows:
    """The raw columns of one fetch's pages, page by page: a page read as text columns
    (``_text_fields``) gives them as they are, any other is decoded and read record by record. Collects
    the rejects and the fields seen on the way."""

    def __init__(self, fields: Mapping[str, str], specs: Mapping[str, str], derive_id_from: Sequence[str], *,
                 city_id: str, source_id: str, partition_month: str) -> None:
        self.fields, self.specs, self.derive_id_from = fields, specs, derive_id_from
        self.where = {"city_id": city_id, "source_id": source_id, "partition_month": partition_month}
        self.rejects: list[dict[str, Any]] = []
        self.fields_seen: set[str] = set()
        self._occurrences: dict[str, int] = {}
        self._as_columns: list[tuple[int, pl.DataFrame]] = []  # (page index, its fields) read straight from the body
        self._record_by_record: list[pl.DataFrame] = []  # raw columns and _page, built from decoded records

    def add(self, index: int, page: Page) -> None:
        text = None if self.derive_id_from else _text_fields(page, self.specs, self.fields.get("request_id"))
        if text is not None:
            self._as_columns.append((index, text))
            self.fields_seen.update(_fields_seen(page))
            return
        good = _good_records(page, self.fields, **self.where, rejects=self.rejects)
        for record in good:
            self.fields_seen.update(record)
        values = {raw: field_values(good, spec) for raw, spec in self.specs.items()}
        if "request_id" not in self.fields:
            values["request_id"] = self._derived_ids(good)
        self._record_by_record.append(pl.DataFrame(values, schema={raw: pl.String for raw in values})
                                      .with_columns(pl.lit(index, pl.UInt32).alias("_page")))

    def _derived_ids(self, records: list[dict[str, Any]]) -> list[str]:
        """Hashed ids, ``#2``, ``#3``... for a record identical to one before it in the partition."""
        ids = []
        for record in records:
            base = derived_request_id(record, self.derive_id_from)
            self._occurrences[base] = self._occurrences.get(base, 0) + 1
            ids.append(base if self._occurrences[base] == 1 else f"{base}#{self._occurrences[base]}")
        return ids

    def frame(self) -> pl.DataFrame:
        """The raw columns of every page, in page order, with ``_page`` the index of the page of each row."""
        parts = list(self._record_by_record)
        if self._as_columns:
            # the pages read as columns go through one select together, not one per page
            fields_frame = pl.concat([text for _, text in self._as_columns], how="diagonal_relaxed")
            page_of_row = np.repeat([i for i, _ in self._as_columns], [text.height for _, text in self._as_columns])
            parts.append(fields_frame.select(
                *[(pl.col(spec) if spec in fields_frame.columns else pl.lit(None)).cast(pl.String).alias(raw)
                  for raw, spec in self.specs.items()],
                pl.Series("_page", page_of_row, dtype=pl.UInt32)))
        rows = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame(schema={"_page": pl.UInt32})
        if self._as_columns and self._record_by_record:
            rows = rows.sort("_page", maintain_order=True)  # back in page order
        return rows


_PAGE_COLUMNS = ("page_number", "sha256", "is_synthetic", "city_id", "source_id", "partition_month")


def _raw_rows(rows: pl.DataFrame, pages: list[Page], *, city_id: str, source_id: str,
              partition_month: str) -> pl.DataFrame:
    """The rows in RAW_SCHEMA: each with its page's number and response, and the partition's keys."""
    page_numbers = pl.Series([p.number for p in pages], dtype=pl.Int32)
    page_sha256s = pl.Series([p.response.sha256 for p in pages], dtype=pl.String)
    page_synthetic = pl.Series([p.response.is_synthetic for p in pages], dtype=pl.Boolean)
    return rows.with_columns(
        page_numbers.gather(rows["_page"]).alias("page_number"),
        page_sha256s.gather(rows["_page"]).alias("sha256"),
        page_synthetic.gather(rows["_page"]).alias("is_synthetic"),
        pl.lit(city_id).alias("city_id"),
        pl.lit(source_id).alias("source_id"),
        pl.lit(partition_month).alias("partition_month"),
        *[pl.lit(None, pl.String).alias(c) for c in RAW_SCHEMA if c not in rows.columns and c not in _PAGE_COLUMNS],
    ).select(list(RAW_SCHEMA)).cast(RAW_SCHEMA)


def _newest_versions(rows: pl.DataFrame) -> pl.DataFrame:
    """One row per request id: the latest update, then the latest seen (the same request on two pages,
    rows having shifted while paging)."""
    if rows["request_id"].n_unique() == rows.height:
        return rows
    return (
        rows.with_row_index("_seen")
        .sort(["request_id", "source_updated_at", "_seen"], nulls_last=False)
        .unique(subset=["request_id"], keep="last", maintain_order=True)
        .sort("_seen")
        .drop("_seen")
    )


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
    specs = {raw: fields[f] for f, raw in RAW_COLUMNS.items() if f in fields}
    if updated_system_field:
        specs["source_updated_at"] = updated_system_field
    if "request_id" not in fields and not derive_id_from:
        raise ValueError(f"{source_id}: no request_id field and no fields to derive one from")
    keys = {"city_id": city_id, "source_id": source_id, "partition_month": partition_month}
    reading = _PageRows(fields, specs, derive_id_from, **keys)
    for index, page in enumerate(pages):
        reading.add(index, page)
    rows = _raw_rows(reading.frame(), pages, **keys)
    newest = _newest_versions(rows)
    return RawBatch(rows=newest, rejects=reject_frame(reading.rejects), pages=pages,
                    fields_seen=frozenset(reading.fields_seen), duplicates_dropped=rows.height - newest.height)
