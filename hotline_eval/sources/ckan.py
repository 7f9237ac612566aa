"""CKAN (Action API v3): ``package_show`` to find the resources, then ``datastore_search`` paging
when the resource is in the DataStore, else the resource file itself (CSV, or a ZIP holding one).

Docs: https://docs.ckan.org/en/latest/api/ (package_show) and
https://docs.ckan.org/en/latest/maintaining/datastore.html#ckanext.datastore.logic.action.datastore_search
(``resource_id``, ``limit``, ``offset``, ``sort``; the response's ``result.records`` and ``result.total``).

CKAN portals publish 311 data as one resource per year (Toronto, Buenos Aires) or per semester
(São Paulo); a month partition reads the resources matching its year and keeps the records
created in that local month. Each resource is read with the mapping of its own shape: a source whose
files changed shape over the years lists the shapes under ``field_generations``
(``hotline_eval/sources/generations.py``), chosen per resource by its header or its name.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any, Literal

import polars as pl
from pydantic import Field, model_validator

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.fetch.encoding import decode_body
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources import generations
from hotline_eval.sources.base import Connector, SourceBase
from hotline_eval.sources.common import dig
from hotline_eval.sources.demo import DemoFeed, as_json, pages_of, store, to_record
from hotline_eval.sources.generations import FieldGeneration, Reading
from hotline_eval.sources.pages import Page
from hotline_eval.sources.records import RawBatch, records_to_raw
from hotline_eval.staging.timeparse import local_month

MAX_PAGES = 100_000
MAX_UNZIPPED_BYTES = 2 * 1024**3  # refuse zip bombs


class CkanSource(SourceBase):
    """A CKAN package: its resources for a year, read from the DataStore or as files."""

    kind: Literal["ckan"] = "ckan"
    dataset: str = Field(min_length=1)  # the package name or id
    resource: str | None = None  # one resource id, whatever the year
    # regex picking the resource(s) for a year from their name or URL; {year} is filled in
    resource_pattern: str | None = None
    page_size: int = Field(default=1000, ge=1, le=50_000)
    # feeds that publish no request id: the fields whose values identify a record
    derive_id_from: list[str] = Field(default_factory=list)
    # published files whose charset the server does not declare (e.g. cp1252 CSVs)
    encoding: str | None = None
    # the other shapes the source's files had over the years, each read with its own mapping; `fields`,
    # `derive_id_from` and `datetime_formats` above read a resource no generation claims (generations.py).
    # `datetime_formats` also get every generation's, appended at load: staging tries them all.
    field_generations: list[FieldGeneration] = Field(default_factory=list)

    _generation_formats = model_validator(mode="before")(generations.with_generation_formats)

    @model_validator(mode="after")
    def _generations_agree(self) -> CkanSource:
        generations.check_generations(self.field_generations, self.datetime_formats)
        return self

    @property
    def own_reading(self) -> Reading:
        """How a resource no field generation claims is read."""
        return Reading(None, self.fields, tuple(self.derive_id_from))


def action_url(source: CkanSource, action: str) -> str:
    return f"{source.base_url.rstrip('/')}/api/3/action/{action}"


def _result(response: ArchivedResponse) -> Any:
    body = response.json()
    if not isinstance(body, dict) or body.get("success") is not True or "result" not in body:
        error = body.get("error") if isinstance(body, dict) else None
        raise SourceFormatError(f"{response.url}: not a successful CKAN action response ({error or 'no result'})")
    return body["result"]


def package_resources(client: HttpClient, source: CkanSource) -> list[dict[str, Any]]:
    result = _result(client.get(action_url(source, "package_show"), {"id": source.dataset}))
    resources = result.get("resources") if isinstance(result, dict) else None
    if not isinstance(resources, list):
        raise SourceFormatError(f"{source.id}: package_show for {source.dataset!r} has no resources list")
    return resources


def resources_for_year(resources: list[dict[str, Any]], source: CkanSource, year: int) -> list[dict[str, Any]]:
    """Resources whose name or URL matches the source's pattern for ``year`` (default: the year itself)."""
    pattern = re.compile((source.resource_pattern or r"(?<!\d){year}(?!\d)").replace("{year}", str(year)), re.I)
    if source.resource:
        return [r for r in resources if r.get("id") == source.resource]
    return [r for r in resources if pattern.search(f"{r.get('name', '')} {r.get('url', '')}")
            and str(r.get("format", "")).lower() in ("csv", "zip", "")]


def datastore_pages(client: HttpClient, source: CkanSource, resource_id: str, start_number: int = 0) -> Iterator[Page]:
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


def csv_table(body: bytes, content_type: str | None, encoding: str | None, name: str
              ) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and the rows of a CSV (or the first CSV inside a ZIP), as text; ',' or ';' separated
    (whichever the header line holds more of: Buenos Aires writes ';' until 2024 and ',' in 2025)."""
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
    return frame.columns, frame.to_dicts()


def csv_records(body: bytes, content_type: str | None, encoding: str | None, name: str) -> list[dict[str, Any]]:
    """Rows of a CSV (or the first CSV inside a ZIP) as dicts of text; ',' or ';' separated."""
    return csv_table(body, content_type, encoding, name)[1]


def _datastore_header(pages: list[Page]) -> list[str]:
    """The columns of a DataStore resource: ``result.fields`` of its first page, else its first record's keys."""
    if not pages:
        return []
    declared = dig(pages[0].response.json(), "result", "fields")
    names = [f.get("id") for f in declared if isinstance(f, dict)] if isinstance(declared, list) else []
    if not names:
        records = pages[0].record_list()
        names = list(records[0]) if records and isinstance(records[0], dict) else []
    return [n for n in names if isinstance(n, str) and n != "_id"]


def resource_pages(client: HttpClient, source: CkanSource, resource: dict[str, Any], start_number: int = 0
                   ) -> tuple[list[Page], list[str]]:
    """A resource's pages (DataStore pages, or its file as one page) and its header."""
    if resource.get("datastore_active"):
        pages = list(datastore_pages(client, source, str(resource["id"]), start_number=start_number))
        return pages, _datastore_header(pages)
    response = client.get(str(resource["url"]))
    header, records = csv_table(response.body, response.content_type, source.encoding, response.url)
    return [Page(number=start_number, response=response, records=records)], header


def _read_month(pages: list[Page], reading: Reading, source: CkanSource, *, city_id: str, month: str,
                timezone: str) -> RawBatch:
    """The records of pages of one shape created in ``month`` (local time), by the shape's mapping."""
    batch = records_to_raw(pages, reading.fields, city_id=city_id, source_id=source.id, partition_month=month,
                           derive_id_from=reading.derive_id_from)
    formats = [*reading.datetime_formats, *(f for f in source.datetime_formats if f not in reading.datetime_formats)]
    in_month = local_month(batch.rows["created_raw"], timezone, formats)
    batch.rows = batch.rows.filter((in_month == month) | in_month.is_null())
    batch.mapped_fields = dict(reading.fields)
    return batch


def fetch_month(client: HttpClient, source: CkanSource, city_id: str, month: str, *, timezone: str,
                app_token: str | None = None) -> RawBatch:
    """Records created in ``month`` (local time) from the resources of its year, each resource read with
    the mapping of its shape (its field generation, else the source's own fields)."""
    del app_token  # CKAN portals need no token to read public data
    year = int(month[:4])
    resources = resources_for_year(package_resources(client, source), source, year)
    if not resources:
        raise SourceFormatError(f"{source.id}: no resource of package {source.dataset!r} matches year {year}")
    pages: list[Page] = []
    shapes: dict[str | None, tuple[Reading, list[Page]]] = {}
    for resource in resources:
        fetched, header = resource_pages(client, source, resource, start_number=len(pages))
        pages.extend(fetched)
        reading = generations.reading_for(source.field_generations, source.own_reading, resource, header)
        if any(page.count for page in fetched):
            name = resource.get("name") or resource.get("id")
            generations.check_header(reading, header, f"{source.id}: resource {name!r} ({fetched[0].response.url})")
        shapes.setdefault(reading.generation, (reading, []))[1].extend(fetched)
    batches = [_read_month(shape_pages, reading, source, city_id=city_id, month=month, timezone=timezone)
               for reading, shape_pages in shapes.values()]
    return generations.combine(batches, pages)


def as_generation(source: CkanSource, name: str) -> CkanSource:
    """The source with one of its field generations' mapping as its own (``fields``, ``derive_id_from``):
    what ``write_demo`` needs to publish the demo's resource in that shape."""
    chosen = [g for g in source.field_generations if g.name == name]
    if not chosen:
        raise KeyError(f"{source.id}: no field generation {name!r}; it has "
                       f"{[g.name for g in source.field_generations]}")
    return source.model_copy(update={"fields": dict(chosen[0].fields),
                                     "derive_id_from": list(chosen[0].derive_id_from)})


def read_stamp(client: HttpClient, source: CkanSource) -> tuple[ArchivedResponse, object]:
    """When the package last changed: ``metadata_modified`` in ``package_show``."""
    response = client.get(action_url(source, "package_show"), {"id": source.dataset})
    return response, dig(response.json(), "result", "metadata_modified")


def write_demo(demo: DemoFeed) -> list[str]:
    """One 2024 resource holding every demo month: in the DataStore (paged) or as a CSV download."""
    source, vocab, items = demo.source, demo.vocabulary, demo.items
    assert isinstance(source, CkanSource) and vocab is not None
    records = [to_record(item, source, vocab, None if "request_id" not in source.fields
                         else f"{1_000_000 + i}/24") for i, item in enumerate(items)]
    if source.derive_id_from:  # id-less feeds publish the identifying columns too
        for record in records:
            for name in source.derive_id_from:
                record.setdefault(name, "")
    datastore = not vocab.file_downloads
    resource = {"id": f"{source.id}-2024", "name": f"{source.dataset}-2024", "format": "CSV",
                "datastore_active": datastore, "last_modified": "2025-01-10T04:00:00.000000",
                "url": f"https://{(source.extra_hosts or [source.host])[0]}/dataset/{source.dataset}/2024.csv"}
    package = {"id": f"{source.dataset}-id", "name": source.dataset, "title": source.dataset,
               "metadata_modified": "2025-01-10T04:00:00.000000", "num_resources": 1, "resources": [resource]}
    envelope = {"help": f"{action_url(source, 'help_show')}?name=package_show", "success": True}
    store(demo.archive, action_url(source, "package_show"), {"id": source.dataset},
          as_json({**envelope, "result": package}), "application/json;charset=utf-8")
    if datastore:
        pages = _write_datastore(demo, source, records, resource["id"], envelope)
    else:
        columns = sorted({k for r in records for k in r})
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, delimiter=";", lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        # the declared charset is left out, as these portals serve CSVs (the source names its encoding)
        store(demo.archive, resource["url"], None, text.getvalue().encode(source.encoding or "utf-8"), "text/csv")
        pages = 1
    return [f"{len(items):5} records, {pages} pages"]


def _write_datastore(demo: DemoFeed, source: CkanSource, records: list[dict[str, Any]], resource_id: str,
                     envelope: dict[str, Any]) -> int:
    numbered = [{"_id": i + 1, **r} for i, r in enumerate(records)]
    pages = pages_of(numbered, source.page_size)
    for index, page in enumerate(pages):
        params = {"resource_id": resource_id, "limit": source.page_size, "offset": index * source.page_size,
                  "sort": "_id"}
        result = {"resource_id": resource_id, "records": page, "total": len(numbered),
                  "fields": [{"id": c, "type": "text"} for c in page[0]] if page else [],
                  "_links": {"start": f"/api/3/action/datastore_search?resource_id={resource_id}"}}
        store(demo.archive, action_url(source, "datastore_search"), params, as_json({**envelope, "result": result}),
              "application/json;charset=utf-8")
    return len(pages)


CONNECTOR = Connector(CkanSource, write_demo, fetch_month=fetch_month, read_stamp=read_stamp)
