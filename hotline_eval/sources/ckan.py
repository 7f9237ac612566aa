"""CKAN (Action API v3): ``package_show`` to find the resources, then ``datastore_search`` paging
when the resource is in the DataStore, else the resource file itself (CSV, or a ZIP holding one).

Docs: https://docs.ckan.org/en/latest/api/ (package_show) and
https://docs.ckan.org/en/latest/maintaining/datastore.html#ckanext.datastore.logic.action.datastore_search
(``resource_id``, ``limit``, ``offset``, ``sort``; the response's ``result.records`` and ``result.total``).

CKAN portals publish 311 data as one resource per year (Toronto, Buenos Aires) or per semester
(São Paulo); a month partition reads the resources matching its year and keeps the records
created in that local month.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import polars as pl

from hotline_eval.config.registry import Source
from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.fetch.encoding import decode_body
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources.pages import Page
from hotline_eval.sources.records import RawBatch, records_to_raw
from hotline_eval.staging.timeparse import local_month

MAX_PAGES = 100_000
MAX_UNZIPPED_BYTES = 2 * 1024**3  # refuse zip bombs


def action_url(source: Source, action: str) -> str:
    return f"{source.base_url.rstrip('/')}/api/3/action/{action}"


def _result(response: ArchivedResponse) -> Any:
    body = response.json()
    if not isinstance(body, dict) or body.get("success") is not True or "result" not in body:
        error = body.get("error") if isinstance(body, dict) else None
        raise SourceFormatError(f"{response.url}: not a successful CKAN action response ({error or 'no result'})")
    return body["result"]


def package_resources(client: HttpClient, source: Source) -> list[dict[str, Any]]:
    result = _result(client.get(action_url(source, "package_show"), {"id": source.dataset}))
    resources = result.get("resources") if isinstance(result, dict) else None
    if not isinstance(resources, list):
        raise SourceFormatError(f"{source.id}: package_show for {source.dataset!r} has no resources list")
    return resources


def resources_for_year(resources: list[dict[str, Any]], source: Source, year: int) -> list[dict[str, Any]]:
    """Resources whose name or URL matches the source's pattern for ``year`` (default: the year itself)."""
    pattern = re.compile((source.resource_pattern or r"(?<!\d){year}(?!\d)").replace("{year}", str(year)), re.I)
    if source.resource:
        return [r for r in resources if r.get("id") == source.resource]
    return [r for r in resources if pattern.search(f"{r.get('name', '')} {r.get('url', '')}")
            and str(r.get("format", "")).lower() in ("csv", "zip", "")]


def datastore_pages(client: HttpClient, source: Source, resource_id: str, start_number: int = 0) -> Iterator[Page]:
    for index in range(MAX_PAGES):
        params = {"resource_id": resource_id, "limit": source.page_size, "offset": index * source.page_size,
                  "sort": "_id"}
        response = client.get(action_url(source, "datastore_search"), params)
        result = _result(response)
        records = result.get("records") if isinstance(result, dict) else None
        if not isinstance(records, list):
            raise SourceFormatError(f"{response.url}: datastore_search result has no records list")
        yield Page(number=start_number + index, response=response, records=records)
        if len(records) < source.page_size:
            return
    raise SourceFormatError(f"{source.id}: more than {MAX_PAGES} pages in resource {resource_id}")


def csv_records(body: bytes, content_type: str | None, encoding: str | None, name: str) -> list[dict[str, Any]]:
    """Rows of a CSV (or the first CSV inside a ZIP) as dicts of text; ',' or ';' separated."""
    if body[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            members = [m for m in archive.infolist() if m.filename.lower().endswith(".csv")]
            if not members:
                raise SourceFormatError(f"{name}: ZIP holds no CSV file")
            if members[0].file_size > MAX_UNZIPPED_BYTES:
                raise SourceFormatError(f"{name}: {members[0].filename} unzips to {members[0].file_size:,} bytes")
            body = archive.read(members[0])
            content_type = None
    text = body.decode(encoding) if encoding else decode_body(body, content_type)
    header = text.split("\n", 1)[0]
    separator = ";" if header.count(";") > header.count(",") else ","
    try:
        frame = pl.read_csv(io.StringIO(text), separator=separator, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise SourceFormatError(f"{name}: not a readable CSV: {exc}") from None
    frame = frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns})
    return frame.to_dicts()


def fetch_month(client: HttpClient, source: Source, city_id: str, month: str, *, timezone: str,
                app_token: str | None = None) -> RawBatch:
    """Records created in ``month`` (local time) from the resources of its year."""
    del app_token  # CKAN portals need no token to read public data
    year = int(month[:4])
    resources = resources_for_year(package_resources(client, source), source, year)
    if not resources:
        raise SourceFormatError(f"{source.id}: no resource of package {source.dataset!r} matches year {year}")
    pages: list[Page] = []
    for resource in resources:
        if resource.get("datastore_active"):
            pages.extend(datastore_pages(client, source, str(resource["id"]), start_number=len(pages)))
        else:
            response = client.get(str(resource["url"]))
            records = csv_records(response.body, response.content_type, source.encoding, response.url)
            pages.append(Page(number=len(pages), response=response, records=records))
    batch = records_to_raw(pages, source.fields, city_id=city_id, source_id=source.id, partition_month=month,
                           derive_id_from=source.derive_id_from)
    in_month = local_month(batch.rows["created_raw"], timezone, source.datetime_formats)
    batch.rows = batch.rows.filter((in_month == month) | in_month.is_null())
    return batch
