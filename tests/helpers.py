"""Builders shared by tests: a registry source pointed at the loopback server, Socrata pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from pytest_httpserver import HTTPServer

from hotline_eval.fetch.archive import Archive
from hotline_eval.fetch.http import HttpClient, HttpPolicy
from hotline_eval.publish.warehouse import apply_ddl, replace_rows
from hotline_eval.sources import socrata
from hotline_eval.sources.socrata import SocrataSource

PROJECT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SHARED_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "real_samples"  # absent on a user's clone


def make_client(tmp_path: Path, **policy_overrides) -> HttpClient:
    """A live client allowed to reach the loopback test server, explicitly, and nothing else."""
    settings = dict(
        allowed_hosts=frozenset({"localhost"}),
        private_hosts=frozenset({"localhost"}),
        min_interval_s=0.0,
        backoff_factor=0.01,
        max_attempts=3,
        connect_timeout_s=2.0,
        read_timeout_s=2.0,
    )
    settings.update(policy_overrides)
    return HttpClient(HttpPolicy(**settings), mode="live", archive=Archive(tmp_path / "archive"))


NYC_FIELDS = {
    "request_id": "unique_key", "created_at": "created_date", "closed_at": "closed_date",
    "updated_at": "resolution_action_updated_date", "status": "status", "category": "complaint_type",
    "channel": "open_data_channel_type", "agency": "agency", "district": "borough", "latitude": "latitude",
    "longitude": "longitude", "resolution": "resolution_description",
}

# erm2-nwe9's columns as its metadata lists them (fieldName; the system fields are not columns)
NYC_COLUMNS = [
    "unique_key", "created_date", "closed_date", "agency", "agency_name", "complaint_type", "descriptor",
    "location_type", "incident_zip", "incident_address", "street_name", "cross_street_1", "cross_street_2",
    "intersection_street_1", "intersection_street_2", "address_type", "city", "landmark", "facility_type",
    "status", "due_date", "resolution_description", "resolution_action_updated_date", "community_board", "bbl",
    "borough", "x_coordinate_state_plane", "y_coordinate_state_plane", "open_data_channel_type",
    "park_facility_name", "park_borough", "vehicle_type", "taxi_company_borough", "taxi_pick_up_location",
    "bridge_highway_name", "bridge_highway_direction", "road_ramp", "bridge_highway_segment", "latitude",
    "longitude", "location",
]


def nyc_source(base_url: str, page_size: int = 3, select: str = "mapped") -> SocrataSource:
    return SocrataSource(id="nyc_311_socrata", kind="socrata", base_url=base_url,
                  docs_url="https://data.cityofnewyork.us/d/erm2-nwe9", licence="NYC Open Data terms",
                  dataset="erm2-nwe9", fields=NYC_FIELDS, page_size=page_size, select=select)


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


def serve_socrata_pages(server: HTTPServer, source: SocrataSource, month: str, pages: list[list[dict]],
                        declared: list[str] | None = None, columns: list[str] | None = None,
                        where: str | None = None) -> str:
    """Answer exactly the queries the connector sends for ``month`` (or ``where``), page by page; with
    ``declared``, in SODA's own layout (a record per line) with the X-SODA2-Fields and X-SODA2-Types headers
    it sends. For a source with ``select: mapped``, the dataset's metadata lists ``columns`` (by default
    NYC's) and a record carries the selected fields only, as SODA answers a ``$select``. Returns the
    query's ``$select``."""
    where = where or socrata.month_where(source, month)
    select = socrata.SELECT_ALL
    if source.select == "mapped":
        select = serve_socrata_view(server, source, NYC_COLUMNS if columns is None else columns)
        chosen = set(select.split(", "))
        pages = [[{k: v for k, v in r.items() if k in chosen} if isinstance(r, dict) else r for r in page]
                 for page in pages]
    for number, page in enumerate(pages):
        params = {k: str(v) for k, v in socrata.page_params(source, where, number, select=select).items()}
        headers = {"X-SODA2-Fields": json.dumps(declared), "X-SODA2-Types": json.dumps(
            ["fixed_timestamp" if name == ":updated_at" else "text" for name in declared])} if declared else None
        server.expect_request(f"/resource/{source.dataset}.json", query_string=params).respond_with_data(
            soda_body(page) if declared else json.dumps(page), content_type="application/json;charset=utf-8",
            headers=headers)
    return select


def serve_socrata_view(server: HTTPServer, source: SocrataSource, columns: list[str]) -> str:
    """Answer the dataset's metadata request (``/api/views/<4x4>.json``, shaped as Socrata's) with
    ``columns`` as its fields; returns the ``$select`` the connector then sends."""
    server.expect_request(f"/api/views/{source.dataset}.json").respond_with_json(
        {"id": source.dataset, "name": "311 Service Requests from 2010 to Present", "assetType": "dataset",
         "rowsUpdatedAt": 1732500000, "viewType": "tabular",
         "columns": [{"id": 100 + i, "name": name.replace("_", " ").title(), "dataTypeName": "text",
                      "fieldName": name, "position": i + 1, "renderTypeName": "text"}
                     for i, name in enumerate(columns)]})
    return socrata.mapped_select(source, columns)


def soda_body(records: list[Any]) -> str:
    """A page as SODA writes it: compact, one record per line (soda-fountain's JsonExporter)."""
    return "[" + "\n,".join(json.dumps(r, separators=(",", ":"), ensure_ascii=False) for r in records) + "]\n"


def serve_socrata_query(server: HTTPServer, source: SocrataSource, where: str, records: list[dict] | str) -> None:
    """Serve the metadata and one page answering the connector's first query for ``where``; a string is
    served as an HTML error page (a portal answering in place of the API)."""
    select = serve_socrata_view(server, source, NYC_COLUMNS)
    params = {k: str(v) for k, v in socrata.page_params(source, where, 0, select=select).items()}
    handler = server.expect_oneshot_request(f"/resource/{source.dataset}.json", query_string=params)
    if isinstance(records, str):
        handler.respond_with_data(records, content_type="text/html")
    else:
        handler.respond_with_json(records)


def mappings_rows(values: list[str]) -> pl.DataFrame:
    """staging.value_mappings rows mapping each value to the phone channel."""
    return pl.DataFrame({"mapping": "channel", "source_id": "*", "raw_value": values,
                         "mapped_value": "phone", "mapping_file": "x.csv"})


def work_db_with_mappings(tmp_path: Path, values: list[str]) -> Path:
    """A work database with the schema and one value mapping per value: something to publish."""
    path = tmp_path / "work.duckdb"
    con = duckdb.connect(str(path))
    apply_ddl(con)
    replace_rows(con, "staging.value_mappings", mappings_rows(values))
    con.close()
    return path

