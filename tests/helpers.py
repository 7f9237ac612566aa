"""Builders shared by tests: a registry source pointed at the loopback server, Socrata pages."""

from __future__ import annotations

import json
from typing import Any

from pytest_httpserver import HTTPServer

from hotline_eval.registry import Source
from hotline_eval.sources import socrata

NYC_FIELDS = {
    "request_id": "unique_key", "created_at": "created_date", "closed_at": "closed_date",
    "updated_at": "resolution_action_updated_date", "status": "status", "category": "complaint_type",
    "channel": "open_data_channel_type", "agency": "agency", "district": "borough", "latitude": "latitude",
    "longitude": "longitude", "resolution": "resolution_description",
}


def nyc_source(base_url: str, page_size: int = 3) -> Source:
    return Source(id="nyc_311_socrata", kind="socrata", base_url=base_url,
                  docs_url="https://data.cityofnewyork.us/d/erm2-nwe9", licence="NYC Open Data terms",
                  dataset="erm2-nwe9", fields=NYC_FIELDS, page_size=page_size)


def nyc_record(key: int, created: str, *, closed: str | None = None, status: str = "Closed",
               updated: str = "2024-03-20T10:00:00.000Z", **extra: Any) -> dict[str, Any]:
    """A record as SODA 2.1 JSON sends it: every value a string, absent keys for nulls."""
    record = {
        ":id": f"row-{key:04d}~abcd", ":updated_at": updated, "unique_key": str(key), "created_date": created,
        "agency": "NYPD", "complaint_type": "Noise - Residential", "status": status,
        "open_data_channel_type": "PHONE", "borough": "BROOKLYN", "latitude": "40.6782", "longitude": "-73.9442",
    }
    if closed:
        record["closed_date"] = closed
    record.update(extra)
    return record


def serve_socrata_pages(server: HTTPServer, source: Source, month: str, pages: list[list[dict]],
                        declared: list[str] | None = None) -> None:
    """Answer exactly the queries the connector sends for ``month``, page by page; with ``declared``, in
    SODA's own layout (a record per line) with the X-SODA2-Fields and X-SODA2-Types headers it sends."""
    where = socrata.month_where(source, month)
    for number, page in enumerate(pages):
        params = {k: str(v) for k, v in socrata.page_params(source, where, number).items()}
        headers = {"X-SODA2-Fields": json.dumps(declared), "X-SODA2-Types": json.dumps(
            ["fixed_timestamp" if name == ":updated_at" else "text" for name in declared])} if declared else None
        server.expect_request(f"/resource/{source.dataset}.json", query_string=params).respond_with_data(
            soda_body(page) if declared else json.dumps(page), content_type="application/json;charset=utf-8",
            headers=headers)


def soda_body(records: list[Any]) -> str:
    """A page as SODA writes it: compact, one record per line (soda-fountain's JsonExporter)."""
    return "[" + "\n,".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in records) + "]\n"
