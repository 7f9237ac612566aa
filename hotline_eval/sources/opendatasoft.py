"""Opendatasoft Explore API v2.1: ``/api/explore/v2.1/catalog/datasets/<id>/records`` paged with
``limit`` (at most 100) and ``offset``, filtered with ODSQL ``where``, ordered with ``order_by``.

Docs: https://help.opendatasoft.com/apis/ods-explore-v2/ . The records endpoint answers
``{"total_count": N, "results": [...]}`` and refuses ``offset + limit`` beyond 10,000; a month
with more records than that is read in one request from ``/exports/json`` (same ``where``), which
has no such limit.
"""

from __future__ import annotations

from collections.abc import Iterator

from hotline_eval.config.registry import Source
from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources.pages import Page
from hotline_eval.sources.records import RawBatch, records_to_raw
from hotline_eval.sources.socrata import month_bounds

RECORDS_WINDOW = 10_000  # offset + limit may not exceed this on the records endpoint
MAX_LIMIT = 100


def dataset_url(source: Source) -> str:
    return f"{source.base_url.rstrip('/')}/api/explore/v2.1/catalog/datasets/{source.dataset}"


def month_where(source: Source, month: str) -> str:
    """ODSQL window on the creation field for one month (half-open), as date literals."""
    start, end = (b[:10] for b in month_bounds(month))
    created = source.fields["created_at"]
    return f"{created} >= date'{start}' AND {created} < date'{end}'"


def _order(source: Source) -> str:
    return source.fields.get("request_id", source.fields["created_at"])


def records_pages(client: HttpClient, source: Source, where: str) -> Iterator[Page]:
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


def export_page(client: HttpClient, source: Source, where: str) -> Page:
    response = client.get(f"{dataset_url(source)}/exports/json", {"where": where, "order_by": _order(source)})
    records = response.json()
    if not isinstance(records, list):
        raise SourceFormatError(f"{response.url}: expected a JSON array from the export endpoint")
    return Page(number=0, response=response, records=records)


def fetch_month(client: HttpClient, source: Source, city_id: str, month: str, *, timezone: str = "UTC",
                app_token: str | None = None) -> RawBatch:
    del timezone, app_token
    pages = list(records_pages(client, source, month_where(source, month)))
    return records_to_raw(pages, source.fields, city_id=city_id, source_id=source.id, partition_month=month,
                          derive_id_from=source.derive_id_from)
