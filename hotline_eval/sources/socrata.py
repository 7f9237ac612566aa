"""Socrata SODA 2.x: ``/resource/<4x4>.json`` paged with ``$limit``/``$offset`` and a stable ``$order``.

Docs: https://dev.socrata.com/docs/paging.html (paging needs an ``$order`` to be stable),
https://dev.socrata.com/docs/queries/where.html, https://dev.socrata.com/docs/system-fields.html
(``:id``, ``:updated_at``), https://dev.socrata.com/docs/app-tokens.html (``X-App-Token`` header).
Floating timestamps (no zone) are the city's local time; the staging transform converts them.
A JSON response lists the query's fields and their types in the X-SODA2-Fields and X-SODA2-Types headers
(left out when the two together pass 5,000 characters: soda-fountain's Exporter.writeSoda2FieldsHeader).

A source with ``select: mapped`` (the default) asks for the fields its mapping reads only (``$select``),
about 40% of the bytes of NYC's ``:*, *`` records: the dataset's other fields, which drift watches, are
read from its metadata (``/api/views/<4x4>.json``, ``columns[].fieldName``), fetched and archived with the
pages. A mapped field the dataset no longer has is left out of the query (SODA refuses a query naming an
unknown field) and drift reports it; ``select: all`` asks for every field (``:*, *``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, date, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources.base import Connector, SourceBase
from hotline_eval.sources.common import dig
from hotline_eval.sources.demo import FETCHED_AT, DemoFeed, as_json, pages_of, store, to_record
from hotline_eval.sources.drift import top_level
from hotline_eval.sources.pages import ArrayPageReader, Page
from hotline_eval.sources.records import RawBatch, records_to_raw

SYSTEM_ID = ":id"
SYSTEM_UPDATED = ":updated_at"
# every record has these, whatever the dataset's metadata lists (docs/system-fields)
SYSTEM_FIELDS = frozenset({SYSTEM_ID, ":created_at", SYSTEM_UPDATED})
SELECT_ALL = ":*, *"  # the system fields too
MAX_PAGES = 100_000
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?$")


class SocrataSource(SourceBase):
    """A SODA dataset: its 4x4 id, and fields for at least the request id and the creation time."""

    kind: Literal["socrata"] = "socrata"
    dataset: str = Field(min_length=1)  # the 4x4 id, e.g. erm2-nwe9
    fields: dict[str, str]
    page_size: int = Field(default=1000, ge=1, le=50_000)
    # "mapped" asks for the fields the mapping reads ($select; the dataset's other fields are taken from
    # its metadata for drift), "all" for every field of every record (:*, *)
    select: Literal["mapped", "all"] = "mapped"

    @field_validator("fields")
    @classmethod
    def _window_and_key(cls, value: dict[str, str]) -> dict[str, str]:
        missing = [f for f in ("request_id", "created_at") if f not in value]
        if missing:
            raise ValueError(f"a socrata source needs fields for {missing}")
        return value


def resource_url(source: SocrataSource) -> str:
    return f"{source.base_url.rstrip('/')}/resource/{source.dataset}.json"


def view_url(source: SocrataSource) -> str:
    """The dataset's metadata: its columns, when its rows last changed (``rowsUpdatedAt``)."""
    return f"{source.base_url.rstrip('/')}/api/views/{source.dataset}.json"


def month_bounds(month: str) -> tuple[str, str]:
    """'2024-03' -> ('2024-03-01T00:00:00', '2024-04-01T00:00:00'), floating local times."""
    year, mon = (int(p) for p in month.split("-"))
    start = date(year, mon, 1)
    end = date(year + (mon == 12), mon % 12 + 1, 1)
    return f"{start.isoformat()}T00:00:00", f"{end.isoformat()}T00:00:00"


def month_where(source: SocrataSource, month: str) -> str:
    """SoQL window on the creation field for one local month (half-open)."""
    start, end = month_bounds(month)
    created = source.fields["created_at"]
    return f"{created} >= '{start}' AND {created} < '{end}'"


def page_params(source: SocrataSource, where: str, number: int, *, select: str,
                order: str = SYSTEM_ID) -> dict[str, str | int]:
    """Query of page ``number`` for the fields ``select`` names, ordered by a stable key (which SoQL
    need not select)."""
    return {
        "$select": select,
        "$where": where,
        "$order": order,
        "$limit": source.page_size,
        "$offset": number * source.page_size,
    }


def declared_fields(response: ArchivedResponse) -> tuple[str, ...] | None:
    """The fields the response's records can carry, from X-SODA2-Fields (with X-SODA2-Types beside it, as
    SODA writes them); None when the headers are absent, empty or do not match."""
    return _declared_fields(response.headers.get("x-soda2-fields"), response.headers.get("x-soda2-types"))


@functools.lru_cache(maxsize=64)  # every page of a fetch sends the same two headers
def _declared_fields(fields_header: str | None, types_header: str | None) -> tuple[str, ...] | None:
    try:
        fields = json.loads(fields_header or "null")
        types = json.loads(types_header or "null")
    except json.JSONDecodeError:
        return None
    if not (isinstance(fields, list) and isinstance(types, list) and fields and len(fields) == len(types)
            and all(isinstance(f, str) for f in fields)):
        return None
    return tuple(fields)


def wanted_fields(source: SocrataSource) -> tuple[str, ...]:
    """The published fields the source's mapping reads, and the system field ``:updated_at``."""
    return tuple(dict.fromkeys([*(name for spec in source.fields.values() for name in top_level(spec)),
                                SYSTEM_UPDATED]))


def dataset_fields(response: ArchivedResponse) -> tuple[str, ...]:
    """The field names of a dataset's columns, from its metadata (``columns[].fieldName``)."""
    meta = response.json()
    columns = meta.get("columns") if isinstance(meta, dict) else None
    names = [c.get("fieldName") for c in columns if isinstance(c, dict)] if isinstance(columns, list) else []
    names = [name for name in names if isinstance(name, str) and name]
    if not names:
        raise SourceFormatError(f"{response.url}: the dataset metadata lists no columns with a fieldName")
    return tuple(dict.fromkeys(names))


def mapped_select(source: SocrataSource, columns: Sequence[str]) -> str:
    """``$select`` of the wanted fields the dataset has (``columns``: its metadata's). The request id and
    the creation time, which the query's window and every row need, must be among them."""
    have = SYSTEM_FIELDS | set(columns)
    lost = [name for role in ("request_id", "created_at") for name in top_level(source.fields[role])
            if name not in have]
    if lost:
        raise SourceFormatError(f"{source.id}: dataset {source.dataset} has no field {', '.join(lost)} any more "
                                "(its metadata lists the columns it has); review the mapping in config/cities/")
    return ", ".join(name for name in wanted_fields(source) if name in have)


def page_reader(source: SocrataSource) -> ArrayPageReader:
    """How one fetch's pages are read: for the fields the mapping reads when a page declares its fields,
    else each with the fields of the pages before it (a page need not infer them again)."""
    return ArrayPageReader(wanted=wanted_fields(source), declared=declared_fields)


def token_headers(app_token: str | None) -> dict[str, str] | None:
    return {"X-App-Token": app_token} if app_token else None


def fetch_pages(client: HttpClient, source: SocrataSource, where: str, *, select: str,
                app_token: str | None = None, order: str = SYSTEM_ID) -> Iterator[Page]:
    """Yield the pages of the query (``select``, ``where``) until one comes back short. ``$order`` on the
    system id keeps paging stable. A page whose fields are declared is read for the fields the mapping
    reads only (``read_record_columns``), beside the fetching of the next (``ArrayPageReader.read_pages``)."""
    headers = token_headers(app_token)
    url = resource_url(source)

    def fetch(number: int) -> ArchivedResponse:
        return client.get(url, page_params(source, where, number, select=select, order=order), headers=headers)

    page = None
    for page in page_reader(source).read_pages(fetch, source.page_size, MAX_PAGES):
        yield page
    if page is not None and page.count >= source.page_size:
        raise SourceFormatError(f"{url}: more than {MAX_PAGES} pages for {where!r}")


def fetch_month(client: HttpClient, source: SocrataSource, city_id: str, month: str, *, timezone: str = "",
                app_token: str | None = None, since: str | None = None) -> RawBatch:
    """Records created in ``month`` (local time), as raw rows; with ``since`` (a ``:updated_at``
    stamp), only those changed after it. Any fetch error propagates: nothing partial is returned.
    With ``select: mapped``, the dataset's metadata is fetched first (``mapped_select``); the fields seen
    are then the mapped fields a record has and the dataset's other columns."""
    del timezone  # the window is in floating local time, as the data is
    where = month_where(source, month)
    if since is not None:
        if not STAMP.match(since):
            raise ValueError(f"not a Socrata :updated_at stamp: {since!r}")
        where += f" AND {SYSTEM_UPDATED} > '{since}'"
    metadata = None
    select = SELECT_ALL
    if source.select == "mapped":
        metadata = client.get(view_url(source), headers=token_headers(app_token))
        columns = dataset_fields(metadata)
        select = mapped_select(source, columns)
    pages = list(fetch_pages(client, source, where, select=select, app_token=app_token))
    batch = records_to_raw(pages, source.fields, city_id=city_id, source_id=source.id, partition_month=month,
                           updated_system_field=SYSTEM_UPDATED)
    if metadata is None:
        return batch
    unasked = set(columns).difference(wanted_fields(source))
    return dataclasses.replace(batch, fields_seen=batch.fields_seen | unasked, responses=[metadata])


def read_stamp(client: HttpClient, source: SocrataSource) -> tuple[ArchivedResponse, object]:
    """When the dataset's rows last changed: ``rowsUpdatedAt`` (epoch seconds) in its metadata."""
    response = client.get(view_url(source))
    return response, dig(response.json(), "rowsUpdatedAt")


def write_demo(demo: DemoFeed) -> list[str]:
    """Each month's records as SODA pages, and the dataset's metadata the connector reads first."""
    return [f"{month}: {len(items):5} records, {_write_month(demo, month, items)} pages"
            for month, items in demo.months.items()]


def _write_month(demo: DemoFeed, month: str, items: list) -> int:
    source = demo.source
    assert isinstance(source, SocrataSource)
    records = _demo_records(demo, source, month, items)
    where = month_where(source, month)
    columns = _write_view(demo, source)
    if source.select == "mapped":
        select = mapped_select(source, columns)
        fields = select.split(", ")
        records = [{k: r[k] for k in fields if k in r} for r in records]
    else:
        select, fields = SELECT_ALL, sorted({k for r in records for k in r})
    pages = pages_of(records, source.page_size)
    # as SODA answers: the query's fields and types in headers, and a compact record per line
    declared = {"X-SODA2-Fields": json.dumps(fields),
                "X-SODA2-Types": json.dumps([_soda_type(source, f) for f in fields])}
    for number, page in enumerate(pages):
        body = "[" + "\n,".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in page) + "]\n"
        store(demo.archive, resource_url(source), page_params(source, where, number, select=select),
              body.encode("utf-8"), "application/json;charset=utf-8", declared)
    return len(pages)


def _demo_records(demo: DemoFeed, source: SocrataSource, month: str, items: list) -> list[dict]:
    """The month's requests as SODA records with their system fields, in ``:id`` order."""
    vocab = demo.vocabulary
    assert vocab is not None
    zone = ZoneInfo(demo.city.timezone)
    year, mon = (int(p) for p in month.split("-"))
    records = []
    for item in items:
        record = to_record(item, source, vocab, str(60_000_000 + (year % 100) * 1_000_000 + mon * 50_000 + item.number))
        last = max(item.created, item.closed or item.created)
        record[SYSTEM_ID] = "row-" + hashlib.sha1(f"{source.id} {month} {item.number}".encode()).hexdigest()[:10]
        record[":created_at"] = (item.created.replace(tzinfo=zone).astimezone(UTC) + timedelta(minutes=5)).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
        record[SYSTEM_UPDATED] = (last.replace(tzinfo=zone).astimezone(UTC) + timedelta(minutes=7)).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
        if item.closed and "resolution" in source.fields:
            record[source.fields["resolution"]] = "The agency responded to the request and closed it."
        records.append(record)
    return sorted(records, key=lambda r: r[SYSTEM_ID])


def _write_view(demo: DemoFeed, source: SocrataSource) -> list[str]:
    """The dataset's metadata, which the connector reads first for a source with select: mapped (the same
    for every month; its columns: every field the mapping reads); returns the columns."""
    columns = [name for name in wanted_fields(source) if not name.startswith(":")]
    store(demo.archive, view_url(source), None, as_json({
        "id": source.dataset, "name": f"{demo.city.name_en} 311 service requests (demo)", "assetType": "dataset",
        "viewType": "tabular", "rowsUpdatedAt": int(FETCHED_AT.timestamp()),
        "columns": [{"id": 1000 + i, "name": name, "fieldName": name, "position": i + 1,
                     "dataTypeName": _column_type(source, name)} for i, name in enumerate(columns)]}),
          "application/json;charset=utf-8")
    return columns


def _soda_type(source: SocrataSource, field: str) -> str:
    """The SODA type a demo field stands for (X-SODA2-Types)."""
    system = {SYSTEM_ID: "row_identifier", ":created_at": "fixed_timestamp", SYSTEM_UPDATED: "fixed_timestamp"}
    if field in system:
        return system[field]
    role = next((role for role, name in source.fields.items() if name == field), None)
    return {"created_at": "floating_timestamp", "closed_at": "floating_timestamp", "updated_at": "floating_timestamp",
            "latitude": "number", "longitude": "number"}.get(role, "text")


def _column_type(source: SocrataSource, field: str) -> str:
    """The type the dataset's metadata gives a demo column (``dataTypeName``: a floating timestamp is a
    ``calendar_date`` there)."""
    soda = _soda_type(source, field)
    return "calendar_date" if soda == "floating_timestamp" else soda


# since: a :updated_at stamp
CONNECTOR = Connector(SocrataSource, write_demo, fetch_month=fetch_month, supports_incremental=True,
                      read_stamp=read_stamp)
