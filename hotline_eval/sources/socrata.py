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
import json
import re
from collections.abc import Iterator, Sequence
from datetime import date

from hotline_eval.config.registry import Source
from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.fetch.http import HttpClient
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


def resource_url(source: Source) -> str:
    return f"{source.base_url.rstrip('/')}/resource/{source.dataset}.json"


def view_url(source: Source) -> str:
    """The dataset's metadata: its columns, when its rows last changed (``rowsUpdatedAt``)."""
    return f"{source.base_url.rstrip('/')}/api/views/{source.dataset}.json"


def month_bounds(month: str) -> tuple[str, str]:
    """'2024-03' -> ('2024-03-01T00:00:00', '2024-04-01T00:00:00'), floating local times."""
    year, mon = (int(p) for p in month.split("-"))
    start = date(year, mon, 1)
    end = date(year + (mon == 12), mon % 12 + 1, 1)
    return f"{start.isoformat()}T00:00:00", f"{end.isoformat()}T00:00:00"


def month_where(source: Source, month: str) -> str:
    """SoQL window on the creation field for one local month (half-open)."""
    start, end = month_bounds(month)
    created = source.fields["created_at"]
    return f"{created} >= '{start}' AND {created} < '{end}'"


def page_params(source: Source, where: str, number: int, *, select: str,
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


def wanted_fields(source: Source) -> tuple[str, ...]:
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


def mapped_select(source: Source, columns: Sequence[str]) -> str:
    """``$select`` of the wanted fields the dataset has (``columns``: its metadata's). The request id and
    the creation time, which the query's window and every row need, must be among them."""
    have = SYSTEM_FIELDS | set(columns)
    lost = [name for role in ("request_id", "created_at") for name in top_level(source.fields[role])
            if name not in have]
    if lost:
        raise SourceFormatError(f"{source.id}: dataset {source.dataset} has no field {', '.join(lost)} any more "
                                "(its metadata lists the columns it has); review the mapping in config/cities.yaml")
    return ", ".join(name for name in wanted_fields(source) if name in have)


def page_reader(source: Source) -> ArrayPageReader:
    """How one fetch's pages are read: for the fields the mapping reads when a page declares its fields,
    else each with the fields of the pages before it (a page need not infer them again)."""
    return ArrayPageReader(wanted=wanted_fields(source), declared=declared_fields)


def token_headers(app_token: str | None) -> dict[str, str] | None:
    return {"X-App-Token": app_token} if app_token else None


def fetch_pages(client: HttpClient, source: Source, where: str, *, select: str, app_token: str | None = None,
                order: str = SYSTEM_ID) -> Iterator[Page]:
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


def fetch_month(client: HttpClient, source: Source, city_id: str, month: str, *, timezone: str = "",
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
