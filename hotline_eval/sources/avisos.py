"""Avisos Madrid (the city's open010 request system, on the "Mejora tu ciudad" platform): its public
``GET {base_url}/requests?jurisdiction_ids=es.madrid&limit=100`` answers the latest ``limit`` requests,
newest first, as a bare JSON array, with no date window and no history. So a month cannot be fetched; it
can only be polled, and with ``accumulate: true`` (``hotline_eval.sources.ingest``) each poll's requests are
merged into what earlier polls of the partition landed (one row per request id, the newer update stamp
winning), and the partition holds what the polls captured, no more.

The record shape (confirmed on the poll history of javierarce/avisos-madrid, which saved this URL's answer
every few minutes from 2021-06 to 2024-06): ``service_request_id`` (text), ``requested_datetime`` (ISO 8601
with offset, ``+0000`` until 2022 and ``+00:00`` since), ``service_id``/``service_name``, ``typology``
(``visible_name`` "Aviso" or "Petición"), ``status_node_type`` (``middle_node``, ``final_ok_node``,
``final_not_ok_node``), ``status_node`` (its ``visible_name`` since 2024: "En estudio", "Asignado", "En
ejecución", "Fin de trámite", "Cancelado"), ``lat``/``long`` (numbers), ``address``, counts of comments,
and ``current_node_estimated_start_datetime``: when the request entered its current status, the stamp
that moves when the status changes (there is no ``updated_datetime``). The same host sometimes answers
with an HTML "Request Rejected" page instead of JSON (seen in that history): the poll then fails.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal

from pydantic import Field

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources.base import Connector, SourceBase
from hotline_eval.sources.demo import DemoFeed, as_json, store, to_record
from hotline_eval.sources.open311 import keep_local_month
from hotline_eval.sources.pages import Page
from hotline_eval.sources.records import RawBatch, records_to_raw

# staging field -> the feed's field; a source may override any of them in its `fields`
STANDARD_FIELDS = {
    "request_id": "service_request_id", "created_at": "requested_datetime",
    "updated_at": "current_node_estimated_start_datetime", "status": "status_node_type",
    "category": "service_name", "latitude": "lat", "longitude": "long",
}
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class AvisosSource(SourceBase):
    """A latest-requests feed (``base_url`` ends before ``/requests``): ``limit`` requests per poll of
    ``jurisdiction_ids``; ``accumulate: true`` keeps what earlier polls landed (see the module docstring)."""

    kind: Literal["avisos"] = "avisos"
    jurisdiction_ids: str = Field(default="es.madrid", min_length=1)
    limit: int = Field(default=100, ge=1, le=1000)
    # merge each poll into the partition's rows instead of replacing them (hotline_eval.sources.ingest)
    accumulate: bool = False


def requests_url(source: AvisosSource) -> str:
    return f"{source.base_url.rstrip('/')}/requests"


def poll_params(source: AvisosSource) -> dict[str, Any]:
    return {"jurisdiction_ids": source.jurisdiction_ids, "limit": source.limit}


def latest_requests(response: ArchivedResponse) -> list[Any]:
    """The requests of a poll: the body's JSON array. An HTML page (the host's firewall answers some polls
    with "Request Rejected") or any other JSON is an error naming the URL and what came back."""
    head = response.body.lstrip()[:1]
    if head == b"<" or "html" in (response.content_type or "").lower():
        title = _TITLE.search(response.body[:4096])
        shown = title.group(1).decode("utf-8", "replace").strip() if title else response.body[:80].decode(
            "utf-8", "replace")
        raise SourceFormatError(f"{response.url}: expected a JSON array of requests, got an HTML page "
                                f"({shown!r}); nothing from this poll was kept")
    body = response.json()
    if not isinstance(body, list):
        got = f"an object with keys {', '.join(list(map(str, body))[:6])}" if isinstance(body, dict) else (
            f"a JSON {type(body).__name__}")
        raise SourceFormatError(f"{response.url}: expected a JSON array of requests, got {got}")
    return body


def fetch_month(client: HttpClient, source: AvisosSource, city_id: str, month: str, *, timezone: str,
                app_token: str | None = None) -> RawBatch:
    """One poll: the latest requests that were created in ``month`` (local time); the others are counted
    in ``dropped_outside_month``. What the partition keeps of earlier polls is the ingest's to merge."""
    del app_token
    response = client.get(requests_url(source), poll_params(source))
    page = Page(number=0, response=response, records=latest_requests(response))
    fields = {**STANDARD_FIELDS, **source.fields}
    batch = records_to_raw([page], fields, city_id=city_id, source_id=source.id, partition_month=month,
                           updated_system_field=fields["updated_at"])
    return keep_local_month(batch, month, timezone, source.datetime_formats)


def _service_id(name: str) -> str:
    """A 24-hex id for a service name, shaped as the feed's (MongoDB object ids)."""
    return hashlib.sha1(name.encode("utf-8")).hexdigest()[:24]


def write_demo(demo: DemoFeed) -> list[str]:
    """One poll: the ``limit`` newest invented requests, newest first, in the feed's shape (the services
    directory reads ``service_id`` and ``typology.visible_name`` from the same URL)."""
    source, vocab = demo.source, demo.vocabulary
    assert isinstance(source, AvisosSource) and vocab is not None
    mapped = source.model_copy(update={"fields": {**STANDARD_FIELDS, **source.fields}})
    latest = sorted(((month, item) for month, items in demo.months.items() for item in items),
                    key=lambda pair: pair[1].created, reverse=True)[:source.limit]
    records = []
    for month, item in latest:
        record = to_record(item, mapped, vocab, f"{month.replace('-', '')}{item.number:05d}", numbers=True)
        record.update(jurisdiction_id=source.jurisdiction_ids, service_id=_service_id(item.category),
                      typology={"visible_name": "Aviso"}, address=item.district, comments_count=0)
        records.append(record)
    store(demo.archive, requests_url(source), poll_params(source), as_json(records), "application/json")
    return [f"one poll: the latest {len(records)} requests"]


CONNECTOR = Connector(AvisosSource, write_demo, fetch_month=fetch_month, standard_fields=STANDARD_FIELDS)
