"""Open311 GeoReport v2 ``requests.json``: service requests in a date window.

Spec: https://wiki.open311.org/GeoReport_v2 (``start_date``/``end_date`` in ISO 8601 with offset,
servers cap a window at 90 days and return at most 1,000 requests). Paging is not in the spec;
servers that page take ``page`` (1-based) and ``page_size``, which we send. A server may cap
``page_size`` below ours: a first page shorter than asked (and not empty) is then the page size, and
the fetch goes on until a page is empty or shorter than that. A server that ignores ``page`` answers
every page alike: after a first page shorter than asked that is the whole window (one page is kept),
after a full page the rest of the month cannot be read (an error). Some servers wrap the list as
``{"service_requests": [...]}``; both are read. Whatever window the server answers for, only the
requests created in the partition's local month are kept (the others counted in
``RawBatch.dropped_outside_month``).

A server that answers at most N requests per call and does not page (FixMyStreet: 1,000, the newest
first) is read with ``max_per_call: N`` and ``split_window: true``: no ``page``/``page_size`` is sent,
and a window whose call returns N requests is split in halves until every call returns fewer
(``open311_window``). ``jurisdiction_id`` and ``agency_responsible`` (ids joined with ``|``, as
FixMyStreet reads them) are sent with every call when configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse, make_response
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources.base import Connector, SourceBase
from hotline_eval.sources.common import body_shape
from hotline_eval.sources.demo import FETCHED_AT, NOTE, DemoFeed, as_json, pages_of, store, to_record
from hotline_eval.sources.open311_window import split_window_pages
from hotline_eval.sources.pages import Page
from hotline_eval.sources.records import RawBatch, records_to_raw
from hotline_eval.sources.socrata import month_bounds
from hotline_eval.staging.timeparse import local_month

MAX_PAGES = 10_000
# the GeoReport v2 field names; a source may override any of them in its `fields`
STANDARD_FIELDS = {
    "request_id": "service_request_id", "created_at": "requested_datetime", "updated_at": "updated_datetime",
    "status": "status", "category": "service_name", "agency": "agency_responsible", "latitude": "lat",
    "longitude": "long", "resolution": "status_notes", "district": "zipcode",
}


class Open311Source(SourceBase):
    """A GeoReport v2 endpoint (``base_url`` ends before ``/requests.json``); ``fields`` overrides the
    standard names."""

    kind: Literal["open311"] = "open311"
    page_size: int = Field(default=1000, ge=1, le=50_000)
    # sent with every call when set (FixMyStreet refuses a call without one, whatever its value)
    jurisdiction_id: str | None = Field(default=None, min_length=1)
    # the bodies whose requests are asked for, sent joined with "|" (FixMyStreet: body ids)
    agency_responsible: list[str] = Field(default_factory=list)
    # the most requests the server answers per call; with split_window, a window whose call returns
    # that many is split in halves instead of paged (a server that ignores `page`)
    max_per_call: int | None = Field(default=None, ge=2)
    split_window: bool = False

    @model_validator(mode="after")
    def _split_needs_a_cap(self) -> Open311Source:
        if self.split_window and self.max_per_call is None:
            raise ValueError("split_window needs max_per_call: the number of requests that means a call was cut short")
        return self


def requests_url(source: Open311Source) -> str:
    return f"{source.base_url.rstrip('/')}/requests.json"


def base_params(source: Open311Source) -> dict[str, str]:
    """The parameters every call of the source carries besides its window."""
    params = {}
    if source.jurisdiction_id:
        params["jurisdiction_id"] = source.jurisdiction_id
    if source.agency_responsible:
        params["agency_responsible"] = "|".join(source.agency_responsible)
    return params


def window_params(source: Open311Source, start: str, end: str) -> dict[str, str]:
    """One call of a source read by splitting windows: its parameters and the window, no paging."""
    return {**base_params(source), "start_date": start, "end_date": end}


def month_window(month: str, timezone: str) -> tuple[str, str]:
    """The local month as ISO 8601 instants with the city's offset, as the spec asks."""
    zone = ZoneInfo(timezone)
    start, end = (datetime.fromisoformat(b).replace(tzinfo=zone).isoformat() for b in month_bounds(month))
    return start, end


def service_requests(response: ArchivedResponse) -> list[Any]:
    """The requests of a ``requests.json`` response: the list itself, or ``{"service_requests": [...]}``."""
    body = response.json()
    records = body.get("service_requests") if isinstance(body, dict) else body
    if isinstance(records, list):
        return records
    got = body_shape(body)
    if isinstance(body, dict) and "service_requests" in body:
        got += f" (service_requests is {body_shape(records)})"
    raise SourceFormatError(f"{response.url}: expected a list of service requests "
                            f"(or {{\"service_requests\": [...]}}), got {got}")


def request_pages(client: HttpClient, source: Open311Source, month: str, timezone: str) -> Iterator[Page]:
    """The month's pages, in turn, until an empty page or one shorter than the server's page size (ours,
    or its cap, as a first page shorter than asked shows); see the module docstring for a server that
    ignores ``page``."""
    start, end = month_window(month, timezone)
    size, previous = source.page_size, None
    for number in range(MAX_PAGES):
        params = {**base_params(source), "start_date": start, "end_date": end, "page": number + 1,
                  "page_size": source.page_size}
        response = client.get(requests_url(source), params)
        records = service_requests(response)
        if records and records == previous:
            if size < source.page_size:  # the server does not page; it gave fewer than asked: all it has
                return
            raise SourceFormatError(
                f"{response.url}: page {number + 1} repeats page {number} (the server ignores 'page'); "
                f"{source.id} has more than {size} requests in {month} and they cannot be paged")
        yield Page(number=number, response=response, records=records)
        if number == 0 and 0 < len(records) < size:
            size = len(records)  # a short first page: the whole month, or the server's cap on page_size
        elif len(records) < size:
            return
        previous = records
    raise SourceFormatError(f"{source.id}: more than {MAX_PAGES} pages for {month}")


def window_pages(client: HttpClient, source: Open311Source, month: str, timezone: str
                 ) -> tuple[list[Page], list[ArchivedResponse]]:
    """The month read in windows of fewer than ``max_per_call`` requests (``open311_window``): the pages,
    and the calls that were cut short."""
    assert source.max_per_call is not None  # the model requires it with split_window

    def call(start: str, end: str) -> tuple[ArchivedResponse, list]:
        response = client.get(requests_url(source), window_params(source, start, end))
        return response, service_requests(response)

    start, end = month_window(month, timezone)
    return split_window_pages(call, start, end, cap=source.max_per_call, timezone=timezone,
                              what=f"{source.id} {month}")


def keep_local_month(batch: RawBatch, month: str, timezone: str, formats: list[str]) -> RawBatch:
    """Only the rows created in ``month`` (local time; an unreadable date stays, for staging to reject),
    the others counted in ``dropped_outside_month``."""
    in_month = local_month(batch.rows["created_raw"], timezone, formats)
    kept = batch.rows.filter((in_month == month) | in_month.is_null())
    batch.dropped_outside_month = batch.rows.height - kept.height
    batch.rows = kept
    return batch


def fetch_month(client: HttpClient, source: Open311Source, city_id: str, month: str, *, timezone: str,
                app_token: str | None = None) -> RawBatch:
    """The requests created in ``month`` (local time), whatever window the server answered for."""
    del app_token
    fields = {**STANDARD_FIELDS, **source.fields}
    capped: list[ArchivedResponse] = []
    if source.split_window:
        pages, capped = window_pages(client, source, month, timezone)
    else:
        pages = list(request_pages(client, source, month, timezone))
    batch = records_to_raw(pages, fields, city_id=city_id, source_id=source.id, partition_month=month,
                           updated_system_field=fields["updated_at"])
    batch.responses = capped  # the calls cut short: archived with the pages, as what was asked
    return keep_local_month(batch, month, timezone, source.datetime_formats)


def write_demo(demo: DemoFeed) -> list[str]:
    """Each month's requests as ``requests.json`` pages, in the standard fields (or the source's own)."""
    source, vocab = demo.source, demo.vocabulary
    assert isinstance(source, Open311Source) and vocab is not None
    mapped = source.model_copy(update={"fields": {**STANDARD_FIELDS, **source.fields}})
    lines = []
    for month, items in demo.months.items():
        records = [to_record(item, mapped, vocab, f"{month.replace('-', '')}-{item.number:05d}") for item in items]
        if source.split_window:
            lines.append(_write_demo_windows(demo, month, records))
            continue
        start, end = month_window(month, demo.city.timezone)
        pages = pages_of(records, source.page_size)
        if len(pages) == 1 and pages[0]:
            pages.append([])  # a short first page may be the server's cap: the connector asks for the next
        for number, page in enumerate(pages):
            params = {**base_params(source), "start_date": start, "end_date": end, "page": number + 1,
                      "page_size": source.page_size}
            store(demo.archive, requests_url(source), params, as_json(page), "application/json; charset=utf-8")
        lines.append(f"{month}: {len(items):5} records, {len(pages)} pages")
    return lines


def _write_demo_windows(demo: DemoFeed, month: str, records: list[dict]) -> str:
    """The month as a server capping each call answers the windows the connector asks for: the requests
    of each window, newest first, at most ``max_per_call`` of them."""
    source = demo.source
    assert isinstance(source, Open311Source) and source.max_per_call is not None
    zone = ZoneInfo(demo.city.timezone)
    created = [item.created.replace(tzinfo=zone) for item in demo.months[month]]

    def call(start: str, end: str) -> tuple[ArchivedResponse, list]:
        first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
        newest_first = sorted(zip(created, range(len(records)), strict=True), reverse=True)
        inside = [records[i] for at, i in newest_first if first <= at < last][:source.max_per_call]
        response = make_response("GET", requests_url(source), window_params(source, start, end), 200,
                                 {"Content-Type": "application/json; charset=utf-8"},
                                 as_json({"service_requests": inside}), is_synthetic=True, note=NOTE,
                                 fetched_at=FETCHED_AT)
        demo.archive.store(response)
        return response, inside

    start, end = month_window(month, demo.city.timezone)
    pages, capped = split_window_pages(call, start, end, cap=source.max_per_call, timezone=demo.city.timezone,
                                       what=f"{source.id} {month} (demo)")
    return f"{month}: {len(records):5} records, {len(pages)} windows ({len(capped)} split)"


CONNECTOR = Connector(Open311Source, write_demo, fetch_month=fetch_month, standard_fields=STANDARD_FIELDS)
