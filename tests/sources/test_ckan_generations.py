"""Sources whose files changed shape over the years (issue #19): each CKAN resource read with the field
mapping of its own generation, through the connector over real HTTP, from hand-written files in the
published shapes (tests/fixtures/ckan_generations/README.md); the registry's own configuration of Buenos
Aires and Toronto is what reads them. Also: Toronto's Open311 services list is evidence but not the
catalogue size, and New York's dataset title."""

from __future__ import annotations

import io
import json
import random
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from pydantic import ValidationError
from pytest_httpserver import HTTPServer

from hotline_eval.config.registry import load_registry
from hotline_eval.errors import SourceFormatError
from hotline_eval.evaluation.computations import PARTIAL_DIRECTORY, service_catalogue_size
from hotline_eval.evaluation.evidence import Evidence
from hotline_eval.fetch.archive import Archive
from hotline_eval.fetch.http import HttpClient, HttpPolicy
from hotline_eval.portals.evidence import read_service_directory
from hotline_eval.publish.warehouse import apply_ddl, query
from hotline_eval.sources import ckan, feed_fields
from hotline_eval.sources.ckan import CkanSource
from hotline_eval.sources.demo import DemoFeed, Invented, Vocabulary
from hotline_eval.sources.drift import FIELDS_SCHEMA, field_drift
from hotline_eval.sources.records import RawBatch
from hotline_eval.staging.mappings import load_mappings
from hotline_eval.staging.service_requests import stage_requests
from tests.helpers import FIXTURES, SHARED_SAMPLES, make_client

FILES = FIXTURES / "ckan_generations"
BA_ZONE, TORONTO_ZONE = "America/Argentina/Buenos_Aires", "America/Toronto"
SUACI = "sistema-unico-atencion-ciudadana"
TORONTO_PACKAGE = "311-service-requests-customer-initiated"


def registry_source(source_id: str, server: HTTPServer) -> CkanSource:
    """The registry's own source, its portal moved to the loopback server (its files are served there)."""
    source = dict((s.id, s) for _, s in load_registry().sources())[source_id]
    assert isinstance(source, CkanSource)
    return source.model_copy(update={"base_url": server.url_for("/").rstrip("/"), "extra_hosts": []})


def serve_package(server: HTTPServer, dataset: str, resources: list[dict[str, Any]]) -> None:
    """package_show as CKAN answers it, and each resource's file at its URL."""
    listed = [{k: v for k, v in r.items() if k != "body"} for r in resources]
    server.expect_request("/api/3/action/package_show", query_string={"id": dataset}).respond_with_data(
        json.dumps({"help": "https://x/api/3/action/help_show?name=package_show", "success": True,
                    "result": {"id": f"{dataset}-id", "name": dataset, "num_resources": len(listed),
                               "resources": listed}}), content_type="application/json")
    for resource in resources:
        if "body" in resource:
            path = "/" + resource["url"].split("/", 3)[3]
            # these portals serve their CSVs without a declared charset
            server.expect_request(path).respond_with_data(resource["body"], content_type="text/csv")


def suaci_resources(server: HTTPServer) -> list[dict[str, Any]]:
    """The SUACI package: one resource per file, two per year since 2020 (parte 1 and 2), and a PDF."""
    def resource(file: str, name: str) -> dict[str, Any]:
        return {"id": f"id-{file}", "name": name, "format": "CSV", "datastore_active": False,
                "url": server.url_for(f"/datosabiertos/datasets/atencion-ciudadana/{SUACI}/{file}"),
                "body": (FILES / file).read_bytes()}
    return [
        resource("suaci-2021.csv", "sistema-unico-de-atencion-ciudadana-2021.csv"),
        resource("suaci-2024-parte-1.csv", "sistema-unico-de-atencion-ciudadana-2024-parte-1.csv"),
        resource("suaci-2024-parte-2.csv", "sistema-unico-de-atencion-ciudadana-2024-parte-2.csv"),
        resource("suaci-2025-parte-1.csv", "sistema-unico-de-atencion-ciudadana-2025-parte-1.csv"),
        {"id": "pdf", "name": "aclaraciones-metodologicas-suaci.pdf", "format": "PDF", "datastore_active": False,
         "url": server.url_for("/aclaraciones.pdf")},
    ]


def staged(batch: RawBatch, source: CkanSource, zone: str, month: str) -> pl.DataFrame:
    """The batch staged as the staging asset stages it (the city's formats: its sources')."""
    result = stage_requests(batch.rows, zone, load_mappings(), source.datetime_formats, month=month)
    assert result.rejects.is_empty(), result.rejects.to_dicts()
    return result.rows.with_columns(pl.col("created_at").dt.convert_time_zone(zone).dt.replace_time_zone(None)
                                    .alias("local")).sort("local")


def local(*parts: int) -> datetime:
    """A wall-clock time in the city's zone (naive)."""
    return datetime(*parts)


# ------------------------------------------------------------------------------------ Buenos Aires --
def test_buenos_aires_2024_two_semicolon_files_with_day_first_dates(server: HTTPServer, client: HttpClient) -> None:
    """2024: two ';' files, dates d/m/yyyy apart from the time; nro_solicitud, estado_general; no closing
    date. 4/10/2024 is the 4th of October, not the 10th of April."""
    source = registry_source("buenos_aires_suaci_ckan", server)
    serve_package(server, source.dataset, suaci_resources(server))
    batch = ckan.fetch_month(client, source, "buenos_aires", "2024-10", timezone=BA_ZONE)
    assert len(batch.pages) == 2 and [p.number for p in batch.pages] == [0, 1]
    assert sorted(batch.rows["created_raw"].to_list()) == ["1/10/2024 00:00:05", "31/10/2024 23:59:00",
                                                           "4/10/2024 17:08:41"]
    rows = staged(batch, source, BA_ZONE, "2024-10")
    assert rows["request_id"].to_list() == ["00987102/24", "00987101/24", "01203344/24"]
    assert rows["local"].to_list() == [local(2024, 10, 1, 0, 0, 5), local(2024, 10, 4, 17, 8, 41),
                                       local(2024, 10, 31, 23, 59)]
    assert rows["created_at"][0] == datetime.fromisoformat("2024-10-01T03:00:05+00:00")  # UTC-3, no DST
    assert rows["status"].to_list() == ["closed", "open", "closed"]
    assert rows["channel"].to_list() == ["phone", "web", "mobile_app"]
    assert rows["category"].to_list() == ["street_lighting", "trees_parks", "streets_sidewalks"]
    assert rows["district"].to_list() == ["1", "14", "6"]
    # what 2024 cannot give: no closing date, so no close times; projected lat/long are not read as degrees
    assert rows["closed_at"].null_count() == rows.height
    assert rows["latitude"].null_count() == rows.height
    assert "closed_at" not in feed_fields(source)


def test_buenos_aires_2025_comma_separated_with_twelve_hour_times(server: HTTPServer, client: HttpClient) -> None:
    source = registry_source("buenos_aires_suaci_ckan", server)
    serve_package(server, source.dataset, suaci_resources(server))
    batch = ckan.fetch_month(client, source, "buenos_aires", "2025-03", timezone=BA_ZONE)
    assert len(batch.pages) == 1
    rows = staged(batch, source, BA_ZONE, "2025-03")
    assert rows["request_id"].to_list() == ["00300590/25", "00300581/25", "00300553/25"]
    # 12:30:00 am is half past midnight; 05:03:21 pm is 17:03:21; a 24-hour time with a suffix reads as written
    assert rows["local"].to_list() == [local(2025, 3, 14, 20, 45), local(2025, 3, 20, 0, 30),
                                       local(2025, 3, 25, 17, 3, 21)]
    assert rows["status"].to_list() == ["closed", "open", "closed"]
    assert rows["channel"].to_list() == ["web", "phone", "web"]
    assert rows["category"].to_list() == ["street_lighting", "streets_sidewalks", "trees_parks"]
    # 2025's generation reads lat/long as degrees again (mostly empty)
    assert rows["latitude"].to_list() == [None, -34.6211, None]
    assert rows["longitude"].to_list() == [None, -58.3732, None]


def test_each_resource_year_is_read_with_its_own_generation(server: HTTPServer, client: HttpClient) -> None:
    """One source, files of two generations: 2021 (contacto ... fecha_cierre_contacto) with closing dates
    and coordinates, 2024 (nro_solicitud ... estado_general) without."""
    source = registry_source("buenos_aires_suaci_ckan", server)
    serve_package(server, source.dataset, suaci_resources(server))
    old_batch = ckan.fetch_month(client, source, "buenos_aires", "2021-06", timezone=BA_ZONE)
    assert "contacto" in old_batch.fields_seen and "nro_solicitud" not in old_batch.fields_seen
    old = staged(old_batch, source, BA_ZONE, "2021-06")
    assert old["request_id"].to_list() == ["00123456/21", "00123457/21"]
    assert old["local"].to_list() == [local(2021, 6, 2, 8, 14), local(2021, 6, 30, 21, 30)]
    assert old["closed_at"][0] == datetime.fromisoformat("2021-06-05T03:00:00+00:00") and old["closed_at"][1] is None
    assert old["status"].to_list() == ["closed", "open"]
    assert old["channel"].to_list() == ["mobile_app", "phone"]
    assert old["district"].to_list() == ["COMUNA 1", "COMUNA 14"] and old["latitude"][0] == -34.6037
    new = ckan.fetch_month(client, source, "buenos_aires", "2024-10", timezone=BA_ZONE)
    assert "nro_solicitud" in new.fields_seen and "contacto" not in new.fields_seen
    assert new.rows["request_id"].str.ends_with("/24").all() and new.rows["closed_raw"].null_count() == new.rows.height


def test_a_file_of_an_unknown_shape_fails_naming_it(server: HTTPServer, client: HttpClient) -> None:
    """A resource no generation claims and whose header lacks the columns the source's own fields read
    the id and the creation time from fails loudly, naming the resource and its header (rather than
    landing rows without an id or a creation time)."""
    source = registry_source("buenos_aires_suaci_ckan", server)
    body = b"numero;fecha;estado\n1/24;2024-10-02;Abierto\n"
    serve_package(server, source.dataset, [{
        "id": "x", "name": "sistema-unico-de-atencion-ciudadana-2024.csv", "format": "CSV", "datastore_active": False,
        "url": server.url_for("/files/suaci-2024.csv"), "body": body}])
    with pytest.raises(SourceFormatError) as raised:
        ckan.fetch_month(client, source, "buenos_aires", "2024-10", timezone=BA_ZONE)
    message = str(raised.value)
    assert "/files/suaci-2024.csv" in message and "[numero, fecha, estado]" in message
    assert "'nro_solicitud' (request_id)" in message and "'fecha_ingreso' (created_at)" in message


# ----------------------------------------------------------------------------------------- Toronto --
def zipped(name: str) -> bytes:
    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w") as archive:
        archive.writestr(name, (FILES / name).read_bytes())
    return payload.getvalue()


def toronto_resource(server: HTTPServer, file: str, name: str) -> dict[str, Any]:
    return {"id": f"id-{name}", "name": name, "format": "ZIP", "datastore_active": False,
            "url": server.url_for(f"/dataset/{TORONTO_PACKAGE}/resource/id-{name}/download/{name}.zip"),
            "body": zipped(file)}


def test_toronto_older_header(server: HTTPServer, client: HttpClient) -> None:
    source = registry_source("toronto_311_ckan", server)
    serve_package(server, source.dataset, [toronto_resource(server, "toronto-SR2024.csv", "SR2024")])
    batch = ckan.fetch_month(client, source, "toronto", "2024-10", timezone=TORONTO_ZONE)
    rows = staged(batch, source, TORONTO_ZONE, "2024-10")
    assert rows["local"].to_list() == [local(2024, 10, 1, 0, 1, 5), local(2024, 10, 15, 13, 5)]
    assert rows["created_at"][0] == datetime.fromisoformat("2024-10-01T04:01:05+00:00")  # EDT
    assert rows["status"].to_list() == ["closed", "open"]
    assert rows["category"].to_list() == ["streets_sidewalks", "sanitation_waste"]
    assert rows["agency"].to_list() == ["Transportation Services", "Solid Waste Management Services"]
    assert rows["district"].to_list() == ["Davenport (09)", "Davenport (09)"]
    assert rows["request_id"].str.starts_with("h").all()


def test_toronto_data_dictionary_header(server: HTTPServer, client: HttpClient) -> None:
    """The names of the published data dictionary, times as 01/Oct/2024 12:10 AM."""
    source = registry_source("toronto_311_ckan", server)
    serve_package(server, source.dataset, [toronto_resource(server, "toronto-dictionary-header.csv", "SR2024")])
    batch = ckan.fetch_month(client, source, "toronto", "2024-10", timezone=TORONTO_ZONE)
    rows = staged(batch, source, TORONTO_ZONE, "2024-10")
    assert rows["local"].to_list() == [local(2024, 10, 1, 0, 10), local(2024, 10, 15, 13, 5),
                                       local(2024, 10, 31, 23, 59)]
    assert rows["status"].to_list() == ["open", "cancelled", "closed"]
    assert rows["category"].to_list() == ["streets_sidewalks", "water_sewer", "trees_parks"]
    assert rows["agency"].to_list() == ["Transportation Services", "Toronto Water", "Urban Forestry"]
    assert rows["district"].to_list() == ["Etobicoke Centre (02)", "Davenport (09)", "Beaches-East York (19)"]
    assert rows["request_id"].n_unique() == 3
    # drift holds the batch to the mapping it was read with: none of its mapped fields is missing
    generation = next(g for g in source.field_generations if g.name == "data_dictionary_names")
    assert batch.mapped_fields == dict(generation.fields)
    drift = field_drift(pl.DataFrame(schema=FIELDS_SCHEMA), source.id, "2024-10", batch.fields_seen,
                        batch.mapped_fields, had_records=True)
    assert drift.missing_mapped == []


def test_toronto_one_year_with_both_headers(server: HTTPServer, client: HttpClient) -> None:
    """Resources of one year in different generations (the newer header, the older, the newer again):
    each read with its mapping, one batch with its rows in page order, pages numbered in fetch order."""
    source = registry_source("toronto_311_ckan", server)
    serve_package(server, source.dataset, [
        toronto_resource(server, "toronto-dictionary-header.csv", "SR2024-a"),
        toronto_resource(server, "toronto-SR2024.csv", "SR2024"),
        toronto_resource(server, "toronto-dictionary-header.csv", "SR2024-c")])
    batch = ckan.fetch_month(client, source, "toronto", "2024-10", timezone=TORONTO_ZONE)
    assert [p.number for p in batch.pages] == [0, 1, 2]
    assert batch.rows["page_number"].to_list() == [0, 0, 0, 1, 1, 2, 2, 2]
    # the same rows published in two files of one shape are kept once each, as the connector keeps them
    ids = batch.rows["request_id"].to_list()
    assert len(set(ids)) == 8 and ids[5] == ids[0] + "#2"
    rows = staged(batch, source, TORONTO_ZONE, "2024-10")
    older = set(batch.rows.filter(pl.col("page_number") == 1)["request_id"].to_list())
    assert rows.filter(pl.col("request_id").is_in(older))["status"].to_list() == ["closed", "open"]
    assert rows.filter(~pl.col("request_id").is_in(older))["status"].to_list() == [
        "open", "open", "cancelled", "cancelled", "closed", "closed"]
    assert {"Creation Date", "Service Request Creation Date and Time"} <= batch.fields_seen
    # two shapes in one batch: drift expects only what both mappings read
    assert "created_at" not in (batch.mapped_fields or {})


# ------------------------------------------------------------------------------- the configuration --
BASE = {"id": "s", "kind": "ckan", "base_url": "https://x.example", "docs_url": "https://x.example/d",
        "licence": "CC BY", "dataset": "d", "fields": {"request_id": "id", "created_at": "created"}}
GENERATION = {"name": "newer", "columns": ["nro"], "fields": {"request_id": "nro", "created_at": "fecha"}}


@pytest.mark.parametrize(("change", "message"), [
    ({"columns": [], "resources": None}, "names neither `columns` nor `resources`"),
    ({"fields": {"request_id": "nro", "created_at": "fecha", "closed": "x"}}, "unknown staging fields"),
    ({"fields": {"request_id": "nro"}}, "maps no created_at"),
    ({"fields": {"created_at": "fecha"}}, "no request_id field and no derive_id_from"),
    ({"resources": "(2024"}, "is not a regular expression"),
    ({"datetime_formats": ["%Y-%m-%d %H:%M:%S %p"]}, "is not one polars reads"),
    ({"datetime_formats": ["fecha"]}, "has no % directive"),
    ({"name": "Newer Files"}, r"field_generations\.0\.name\n  String should match pattern"),
    ({"colums": ["nro"]}, r"field_generations\.0\.colums\n  Extra inputs are not permitted"),
])
def test_a_bad_generation_fails_at_load(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CkanSource(**{**BASE, "field_generations": [{**GENERATION, **change}]})


def test_generations_must_agree_with_the_source() -> None:
    with pytest.raises(ValidationError, match="named twice"):
        CkanSource(**{**BASE, "field_generations": [GENERATION, GENERATION]})
    with pytest.raises(ValidationError, match="read 03/04/2024 as two different days"):
        CkanSource(**{**BASE, "datetime_formats": ["%m/%d/%Y %H:%M"],
                      "field_generations": [{**GENERATION, "datetime_formats": ["%d/%m/%Y %H:%M"]}]})


def test_generation_formats_reach_staging() -> None:
    """Staging parses a city's times with its sources' ``datetime_formats``: a generation's are appended."""
    source = CkanSource(**{**BASE, "datetime_formats": ["%d/%m/%Y %H:%M:%S"], "field_generations": [
        {**GENERATION, "datetime_formats": ["%d/%b/%Y %I:%M %p", "%d/%m/%Y %H:%M:%S"]}]})
    assert source.datetime_formats == ["%d/%m/%Y %H:%M:%S", "%d/%b/%Y %I:%M %p"]
    assert CkanSource.model_validate(source.model_dump()).datetime_formats == source.datetime_formats
    registry = dict((s.id, s) for _, s in load_registry().sources())
    assert "%d/%b/%Y %I:%M %p" in registry["toronto_311_ckan"].datetime_formats
    assert registry["buenos_aires_suaci_ckan"].datetime_formats[0] == "%d/%m/%Y %H:%M:%S"


def test_new_york_dataset_title() -> None:
    """erm2-nwe9 is now titled "311 Service Requests from 2020 to Present"."""
    city = load_registry().city("new_york")
    (source,) = [s for s in city.sources if s.id == "nyc_311_socrata"]
    assert "/311-Service-Requests-from-2020-to-Present/erm2-nwe9" in source.docs_url
    assert "2020 to Present" in city.data_availability.note and "2010" not in city.data_availability.note


# ------------------------------------------------------------------------ Toronto's Open311 services --
def evidence_with(catalog: pl.DataFrame) -> Evidence:
    con = duckdb.connect()
    apply_ddl(con)
    empty = {t: query(con, f"SELECT * FROM staging.{t}")  # noqa: S608
             for t in ("service_requests", "hotline_stats", "portal_features", "curated_evidence")}
    return Evidence(period="2024", cities=pl.DataFrame({"city_id": ["toronto"], "population": [2_794_356],
                                                        "data_level": ["request_level"], "data_evidence_url": ["u"]}),
                    requests=empty["service_requests"], stats=empty["hotline_stats"],
                    features=empty["portal_features"], catalog=catalog, curated=empty["curated_evidence"])


def read_toronto_services(server: HTTPServer, tmp_path: Path, body: bytes) -> pl.DataFrame:
    city = load_registry().city("toronto")
    (portal,) = [p for p in city.portals if p.kind == "services"]
    server.expect_request("/webwizard/ws/services.json").respond_with_data(body, content_type="application/json")
    url = server.url_for("/webwizard/ws/services.json")
    return read_service_directory(make_client(tmp_path), city, url, None, portal.records).with_columns(
        pl.lit(url).alias("directory_url"))


def test_toronto_open311_services_are_not_the_catalogue_size(server: HTTPServer, tmp_path: Path) -> None:
    """Toronto's Open311 list holds a handful of services against ~600 offered online: kept as
    evidence, never counted as the city's catalogue size."""
    catalog = read_toronto_services(server, tmp_path, (FILES / "toronto-services.json").read_bytes())
    assert catalog["service_code"].to_list() == ["CSROWC-05", "CSROWR-12", "30102"]
    assert catalog["name"][2] == "Graffiti on private property" and catalog["group"][0] == "Graffiti"
    assert not catalog["is_complete_directory"].any()
    (measured,) = service_catalogue_size(evidence_with(catalog), None).iter_rows(named=True)
    assert measured["city_id"] == "toronto" and measured["raw_value"] is None
    assert measured["missing_reason"] == PARTIAL_DIRECTORY


@pytest.mark.skipif(not (SHARED_SAMPLES / "open311_toronto").is_dir(), reason="../shared/real_samples is absent")
def test_toronto_real_services_list_is_read_as_a_partial_directory(server: HTTPServer, tmp_path: Path) -> None:
    body = (SHARED_SAMPLES / "open311_toronto" / "services_2018-10.json").read_bytes()
    catalog = read_toronto_services(server, tmp_path, body)
    assert catalog.height == 6 and "30102" in catalog["service_code"].to_list()
    assert not catalog["is_complete_directory"].any()


# ------------------------------------------------------------------------------- the demo archive --
def invented(i: int, created: datetime, status: str, category: str, channel: str | None, agency: str | None,
             district: str) -> Invented:
    return Invented(number=i, created=created, closed=None, status=status, category=category, channel=channel,
                    agency=agency, district=district, latitude=None, longitude=None)


def test_the_demo_writer_publishes_each_shape_and_the_connector_reads_it(tmp_path: Path) -> None:
    """What the demo archive's writer does for these shapes: Buenos Aires in its own fields (the 2024
    shape, day-first dates, a CSV download), Toronto as its data-dictionary generation (``as_generation``,
    DataStore pages); replayed, the registry's sources read each with the right mapping."""
    archive = Archive(tmp_path / "demo")
    registry = load_registry()
    ba_city, to_city = registry.city("buenos_aires"), registry.city("toronto")
    (ba,), (to,) = ([s for s in c.sources if isinstance(s, CkanSource)] for c in (ba_city, to_city))
    ba_vocab = Vocabulary(open_statuses=("Abierto",), closed_status="Cerrado", cancelled_status=None,
                          channels=("GCS Web",), categories=("ARBOLADO",), agencies=(), districts=("14",),
                          timestamp_format="%-d/%-m/%Y %H:%M:%S", file_downloads=True)
    to_vocab = Vocabulary(open_statuses=("Initiated",), closed_status="Closed", cancelled_status="Canceled",
                          channels=(), categories=("Road - Pot hole",), agencies=("Transportation Services",),
                          districts=("Etobicoke Centre (02)",), timestamp_format="%d/%b/%Y %I:%M %p")
    ba_items = {"2024-10": [invented(0, datetime(2024, 10, 4, 17, 8, 41), "Abierto", "ARBOLADO", "GCS Web", None,
                                     "14")]}
    to_items = {"2024-10": [invented(0, datetime(2024, 10, 1, 0, 10), "Initiated", "Road - Pot hole", None,
                                     "Transportation Services", "Etobicoke Centre (02)")]}
    ckan.write_demo(DemoFeed(archive, ba_city, ba, random.Random(1), tmp_path, vocabulary=ba_vocab, months=ba_items))
    ckan.write_demo(DemoFeed(archive, to_city, ckan.as_generation(to, "data_dictionary_names"), random.Random(1),
                             tmp_path, vocabulary=to_vocab, months=to_items))
    with pytest.raises(KeyError, match="no field generation 'nope'"):
        ckan.as_generation(to, "nope")
    replay = HttpClient(HttpPolicy(allowed_hosts=ba_city.hosts | to_city.hosts), mode="replay", replay=archive)
    ba_batch = ckan.fetch_month(replay, ba, "buenos_aires", "2024-10", timezone=BA_ZONE)
    assert ba_batch.rows["created_raw"].to_list() == ["4/10/2024 17:08:41"] and ba_batch.is_synthetic
    assert staged(ba_batch, ba, BA_ZONE, "2024-10")["local"].to_list() == [local(2024, 10, 4, 17, 8, 41)]
    to_batch = ckan.fetch_month(replay, to, "toronto", "2024-10", timezone=TORONTO_ZONE)
    assert "Service Request Creation Date and Time" in to_batch.fields_seen
    rows = staged(to_batch, to, TORONTO_ZONE, "2024-10")
    assert rows["local"].to_list() == [local(2024, 10, 1, 0, 10)] and rows["status"].to_list() == ["open"]

