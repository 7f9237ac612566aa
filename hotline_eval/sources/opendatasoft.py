"""Opendatasoft Explore API v2.1: ``/api/explore/v2.1/catalog/datasets/<id>/records`` paged with
``limit`` (at most 100) and ``offset``, filtered with ODSQL ``where``, ordered with ``order_by``.

Docs: https://help.opendatasoft.com/apis/ods-explore-v2/ . The records endpoint answers
``{"total_count": N, "results": [...]}`` and refuses ``offset + limit`` beyond 10,000; a month
with more records than that is read in one request from ``/exports/json`` (same ``where``), which
has no such limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from pydantic import Field

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources.base import Connector, SourceBase
from hotline_eval.sources.common import dig
from hotline_eval.sources.demo import DemoFeed, as_json, pages_of, store, to_record
from hotline_eval.sources.pages import Page
from hotline_eval.sources.records import RawBatch, records_to_raw
from hotline_eval.sources.socrata import month_bounds

RECORDS_WINDOW = 10_000  # offset + limit may not exceed this on the records endpoint
MAX_LIMIT = 100


class OpendatasoftSource(SourceBase):
    """An Opendatasoft dataset, read through the Explore v2.1 records (or exports) endpoint."""

    kind: Literal["opendatasoft"] = "opendatasoft"
    dataset: str = Field(min_length=1)  # the dataset id
    page_size: int = Field(default=1000, ge=1, le=50_000)  # at most MAX_LIMIT is asked for
    # feeds that publish no request id: the fields whose values identify a record
    derive_id_from: list[str] = Field(default_factory=list)


def dataset_url(source: OpendatasoftSource) -> str:
    return f"{source.base_url.rstrip('/')}/api/explore/v2.1/catalog/datasets/{source.dataset}"


def month_where(source: OpendatasoftSource, month: str) -> str:
    """ODSQL window on the creation field for one month (half-open), as date literals."""
    start, end = (b[:10] for b in month_bounds(month))
    created = source.fields["created_at"]
    return f"{created} >= date'{start}' AND {created} < date'{end}'"


def _order(source: OpendatasoftSource) -> str:
    return source.fields.get("request_id", source.fields["created_at"])


def records_pages(client: HttpClient, source: OpendatasoftSource, where: str) -> Iterator[Page]:
    limit = min(source.page_size, MAX_LIMIT)
    offset = 0
    number = 0
    while True:
        params = {"where": where, "order_by": _order(source), "limit": limit, "offset": offset}
        response = client.get(f"{dataset_url(source)}/records", params)
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            raise SourceFormatError(f"{response.url}: expected {{'total_count', 'results'}} from Opendatasoft")
        total = body.get("total_count")
        if number == 0 and isinstance(total, int) and total > RECORDS_WINDOW:
            yield export_page(client, source, where)
            return
        yield Page(number=number, response=response, records=body["results"])
        offset += limit
        number += 1
        if len(body["results"]) < limit or (isinstance(total, int) and offset >= total):
            return


def export_page(client: HttpClient, source: OpendatasoftSource, where: str) -> Page:
    response = client.get(f"{dataset_url(source)}/exports/json", {"where": where, "order_by": _order(source)})
    records = response.json()
    if not isinstance(records, list):
        raise SourceFormatError(f"{response.url}: expected a JSON array from the export endpoint")
    return Page(number=0, response=response, records=records)


def fetch_month(client: HttpClient, source: OpendatasoftSource, city_id: str, month: str, *, timezone: str = "UTC",
                app_token: str | None = None) -> RawBatch:
    del timezone, app_token
    pages = list(records_pages(client, source, month_where(source, month)))
    return records_to_raw(pages, source.fields, city_id=city_id, source_id=source.id, partition_month=month,
                          derive_id_from=source.derive_id_from)


def read_stamp(client: HttpClient, source: OpendatasoftSource) -> tuple[ArchivedResponse, object]:
    """When the dataset's data was last processed: ``metas.default.data_processed``."""
    response = client.get(dataset_url(source))
    return response, dig(response.json(), "metas", "default", "data_processed")


def write_demo(demo: DemoFeed) -> list[str]:
    """Each month's records as pages of the records endpoint (numbers as JSON numbers)."""
    return [f"{month}: {len(items):5} records, {_write_month(demo, month, items)} pages"
            for month, items in demo.months.items()]


def _write_month(demo: DemoFeed, month: str, items: list) -> int:
    source, vocab = demo.source, demo.vocabulary
    assert isinstance(source, OpendatasoftSource) and vocab is not None
    records = [to_record(item, source, vocab, f"G{month.replace('-', '')}{item.number:05d}", numbers=True)
               for item in items]
    records.sort(key=lambda r: r[source.fields["request_id"]])
    where = month_where(source, month)
    limit = min(source.page_size, MAX_LIMIT)
    pages = pages_of(records, limit)
    for number, page in enumerate(pages):
        params = {"where": where, "order_by": source.fields["request_id"], "limit": limit, "offset": number * limit}
        store(demo.archive, f"{dataset_url(source)}/records", params,
              as_json({"total_count": len(records), "results": page}), "application/json; charset=utf-8")
        if (number + 1) * limit >= len(records):
            return number + 1
    return len(pages)


CONNECTOR = Connector(OpendatasoftSource, write_demo, fetch_month=fetch_month, read_stamp=read_stamp)
