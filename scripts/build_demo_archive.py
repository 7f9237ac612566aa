"""Build the bundled demo archive (snapshots/demo/) in replay format.

Every response is written in the real format of its source (Socrata SODA JSON with string values,
floating local timestamps, absent keys for nulls and ``:id``/``:updated_at`` system fields; CKAN
Action API envelopes and ';'-separated CSV downloads; Opendatasoft v2.1 record pages; statistics
tables as CSV or HTML) but with invented values, and every archive entry says
``is_synthetic: true``. Requests are built with the connectors' own query builders, so replay
serves exactly what live mode would ask for.

Deterministic: the same registry and seed give the same bytes. Run it after changing the registry
or a connector's queries:  python scripts/build_demo_archive.py
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hotline_eval.config.registry import City, Source, load_registry
from hotline_eval.config.settings import DEMO_ARCHIVE
from hotline_eval.fetch.archive import Archive, make_response
from hotline_eval.sources import ckan, opendatasoft, socrata
from hotline_eval.stats.tables import table_urls

SEED = 2024
DEMO_MONTHS = ("2024-10", "2024-11", "2024-12")
FETCHED_AT = datetime(2025, 1, 15, 6, 0, tzinfo=UTC)
NOTE = "invented demo data in the source's real format (hotline_eval demo archive)"


@dataclass(frozen=True)
class Vocabulary:
    """Published values a source uses (taken from its real data), which the demo draws from."""

    open_statuses: tuple[str, ...]
    closed_status: str | None
    cancelled_status: str | None
    channels: tuple[str, ...]
    categories: tuple[str, ...]
    agencies: tuple[str, ...]
    districts: tuple[str, ...]
    timestamp_format: str = "%Y-%m-%dT%H:%M:%S.000"


VOCABULARIES = {
    "nyc_311_socrata": Vocabulary(
        open_statuses=("Open", "In Progress", "Assigned", "Pending"), closed_status="Closed",
        cancelled_status=None, channels=("PHONE", "ONLINE", "MOBILE", "UNKNOWN"),
        categories=("Noise - Residential", "Illegal Parking", "HEAT/HOT WATER", "Blocked Driveway",
                    "Street Condition", "Noise - Street/Sidewalk", "Water System", "UNSANITARY CONDITION",
                    "Street Light Condition", "Rodent", "Dirty Condition", "Abandoned Vehicle"),
        agencies=("NYPD", "HPD", "DSNY", "DOT", "DEP", "DOHMH"),
        districts=("MANHATTAN", "BROOKLYN", "QUEENS", "BRONX", "STATEN ISLAND")),
    "sf_311_socrata": Vocabulary(
        open_statuses=("Open",), closed_status="Closed", cancelled_status=None,
        channels=("Phone", "Web", "Mobile/Open311", "Integrated Agency", "Twitter"),
        categories=("Street and Sidewalk Cleaning", "Graffiti Public", "Encampments", "Parking Enforcement",
                    "Abandoned Vehicle", "Streetlights", "Sewer", "Tree Maintenance", "Illegal Dumping"),
        agencies=("Recology_Abandoned", "DPW Ops Queue", "PUC Sewer Ops", "SFMTA - Parking Enforcement Queue",
                  "Graffiti Public Queue"),
        districts=tuple(str(n) for n in range(1, 12))),
    "toronto_311_ckan": Vocabulary(
        open_statuses=("Initiated", "In-progress", "New"), closed_status="Completed", cancelled_status="Cancelled",
        channels=(), categories=("Residential: Bin: Repair or Replace Lid", "Road - Pot hole", "Graffiti",
                                 "Noise", "Sewer Service Line-Blocked", "Tree Maintenance"),
        agencies=("Solid Waste Management Services", "Transportation Services", "Toronto Water",
                  "Municipal Licensing & Standards", "Urban Forestry"),
        districts=("Beaches-East York (19)", "Toronto-Danforth (14)", "Davenport (9)", "Spadina-Fort York (10)",
                   "Etobicoke North (1)", "Scarborough-Rouge Park (25)"),
        timestamp_format="%Y-%m-%d %H:%M:%S"),
    "paris_dansmarue_ods": Vocabulary(
        open_statuses=(), closed_status=None, cancelled_status=None, channels=(),
        categories=("Propreté", "Graffitis, tags, affiches et autocollants", "Objets abandonnés",
                    "Voirie et espace public", "Éclairage / Électricité", "Eau"),
        agencies=("Services de la Ville de Paris", "Ramasseur de déchets", "Prestataire"),
        districts=tuple(str(n) for n in range(1, 21)), timestamp_format="%Y-%m-%d"),
    "buenos_aires_suaci_ckan": Vocabulary(
        open_statuses=("Abierto", "En proceso"), closed_status="Cerrado", cancelled_status="Anulado",
        channels=("App BA 147", "Teléfono", "Web", "Redes Sociales", "Presencial"),
        categories=("LIMPIEZA Y RECOLECCIÓN", "ALUMBRADO", "CALLES Y VEREDAS", "ARBOLADO Y ESPACIOS VERDES",
                    "TRÁNSITO", "MEDIO AMBIENTE"),
        agencies=(), districts=tuple(f"COMUNA {n}" for n in range(1, 16)), timestamp_format="%Y-%m-%d %H:%M:%S"),
    "sao_paulo_sp156_ckan": Vocabulary(
        open_statuses=("AGUARDANDO ATENDIMENTO", "EM ANDAMENTO"), closed_status="FINALIZADA",
        cancelled_status="CANCELADA", channels=("Central SP156", "Portal SP156", "Aplicativo SP156",
                                                "Praça de Atendimento"),
        categories=("Remoção de grandes objetos", "Tapa-buraco", "Poda de árvore", "Iluminação pública",
                    "Limpeza de via pública", "Fiscalização de ruído"),
        agencies=("SUBPREFEITURA SÉ", "SMSUB", "SIURB", "SVMA", "SMT"),
        districts=("SÉ", "PINHEIROS", "MOOCA", "LAPA", "BUTANTÃ", "SANTANA/TUCURUVI"),
        timestamp_format="%d/%m/%Y %H:%M:%S"),
}
# CKAN sources whose resources are plain file downloads (DataStore off), as on their real portals
CSV_DOWNLOADS = {"buenos_aires_suaci_ckan", "sao_paulo_sp156_ckan"}
CENTRES = {"new_york": (40.7128, -74.0060), "san_francisco": (37.7749, -122.4194),
           "toronto": (43.6532, -79.3832), "paris": (48.8566, 2.3522), "buenos_aires": (-34.6037, -58.3816),
           "sao_paulo": (-23.5505, -46.6333)}


@dataclass(frozen=True)
class CityProfile:
    """How a demo city behaves: volume, how fast it closes, how much stays open."""

    requests_per_month: int
    median_close_hours: float
    open_share: float


@dataclass
class Invented:
    """One invented request, before it is written in a source's format."""

    number: int
    created: datetime  # local, naive
    closed: datetime | None
    status: str | None
    category: str
    channel: str | None
    agency: str | None
    district: str
    latitude: float | None
    longitude: float | None


def profile_for(city: City, rng: random.Random) -> CityProfile:
    scale = max(0.15, min(1.6, city.population.value / 5_000_000))
    return CityProfile(requests_per_month=int(700 * scale) + rng.randint(0, 80),
                       median_close_hours=rng.uniform(10, 140), open_share=rng.uniform(0.03, 0.2))


def invent(city: City, vocab: Vocabulary, month: str, profile: CityProfile, rng: random.Random) -> list[Invented]:
    year, mon = (int(p) for p in month.split("-"))
    start = datetime(year, mon, 1)
    days = (datetime(year + (mon == 12), mon % 12 + 1, 1) - start).days
    centre = CENTRES.get(city.id, (0.0, 0.0))
    out = []
    for i in range(profile.requests_per_month):
        created = start + timedelta(seconds=rng.randrange(days * 86_400))
        closed = created + timedelta(hours=rng.lognormvariate(0, 1.1) * profile.median_close_hours)
        still_open = rng.random() < profile.open_share or closed > datetime(2025, 1, 10)
        if vocab.closed_status is None:
            status, closed = None, None
        elif still_open:
            status, closed = rng.choice(vocab.open_statuses), None
        else:
            cancelled = vocab.cancelled_status is not None and rng.random() < 0.02
            status = vocab.cancelled_status if cancelled else vocab.closed_status
        located = rng.random() > 0.04  # some records carry no location, as real feeds do
        out.append(Invented(
            number=i, created=created, closed=closed, status=status, category=rng.choice(vocab.categories),
            channel=rng.choices(vocab.channels, weights=range(len(vocab.channels), 0, -1))[0]
            if vocab.channels else None,
            agency=rng.choice(vocab.agencies) if vocab.agencies else None, district=rng.choice(vocab.districts),
            latitude=centre[0] + rng.gauss(0, 0.05) if located else None,
            longitude=centre[1] + rng.gauss(0, 0.05) if located else None,
        ))
    # real-world quirks, a few of each, so the demo exercises the same paths live data does
    if len(out) > 20 and vocab.closed_status:
        out[3].closed, out[3].status = datetime(1900, 1, 1), vocab.closed_status  # placeholder date
        out[5].closed, out[5].status = out[5].created - timedelta(hours=2), vocab.closed_status  # before created
    return out


def put(record: dict[str, Any], spec: str | None, value: Any) -> None:
    """Write ``value`` under a field spec: plain, ``a.b`` (nested object) or ``a+b`` (date + time)."""
    if spec is None or value is None:
        return
    if "+" in spec:
        date_field, time_field = (p.strip() for p in spec.split("+", 1))
        record[date_field], record[time_field] = value.split(" ", 1)
    elif "." in spec:
        outer, inner = spec.split(".", 1)
        record.setdefault(outer, {})[inner] = value
    else:
        record[spec] = value


def to_record(item: Invented, source: Source, vocab: Vocabulary, request_id: str | None) -> dict[str, Any]:
    fields = source.fields
    record: dict[str, Any] = {}
    put(record, fields.get("request_id"), request_id)
    put(record, fields.get("created_at"), item.created.strftime(vocab.timestamp_format))
    put(record, fields.get("closed_at"), item.closed.strftime(vocab.timestamp_format) if item.closed else None)
    put(record, fields.get("status"), item.status)
    last_change = max(item.created, item.closed or item.created) + timedelta(minutes=7)
    put(record, fields.get("updated_at"), last_change.strftime(vocab.timestamp_format))
    put(record, fields.get("category"), item.category)
    put(record, fields.get("channel"), item.channel)
    put(record, fields.get("agency"), item.agency)
    put(record, fields.get("district"), item.district)
    as_text = source.kind != "opendatasoft"  # SODA and CSV publish text; Opendatasoft publishes numbers
    for name, value in (("latitude", item.latitude), ("longitude", item.longitude)):
        if value is not None:
            put(record, fields.get(name), f"{value:.9f}" if as_text else round(value, 6))
    return record


def store(archive: Archive, url: str, params: dict | None, body: bytes, content_type: str,
          headers: dict[str, str] | None = None) -> None:
    archive.store(make_response("GET", url, params, 200, {"Content-Type": content_type, **(headers or {})}, body,
                                is_synthetic=True, note=NOTE, fetched_at=FETCHED_AT))


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8")


def pages_of(records: list, size: int) -> list[list]:
    pages = [records[i:i + size] for i in range(0, len(records), size)]
    if not pages or len(pages[-1]) == size:
        pages.append([])  # connectors stop at the first short page; an exact multiple needs an empty one
    return pages


def write_socrata(archive: Archive, city: City, source: Source, month: str, items: list[Invented]) -> int:
    vocab = VOCABULARIES[source.id]
    zone = ZoneInfo(city.timezone)
    year, mon = (int(p) for p in month.split("-"))
    records = []
    for item in items:
        record = to_record(item, source, vocab, str(60_000_000 + (year % 100) * 1_000_000 + mon * 50_000 + item.number))
        last = max(item.created, item.closed or item.created)
        record[":id"] = "row-" + hashlib.sha1(f"{source.id} {month} {item.number}".encode()).hexdigest()[:10]
        record[":created_at"] = (item.created.replace(tzinfo=zone).astimezone(UTC) + timedelta(minutes=5)).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
        record[":updated_at"] = (last.replace(tzinfo=zone).astimezone(UTC) + timedelta(minutes=7)).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
        if item.closed and "resolution" in source.fields:
            record[source.fields["resolution"]] = "The agency responded to the request and closed it."
        records.append(record)
    records.sort(key=lambda r: r[":id"])
    where = socrata.month_where(source, month)
    # the dataset's metadata, which the connector reads first for a source with select: mapped (the same for
    # every month; its columns: every field the mapping reads); the query then asks for what it selects
    columns = [name for name in socrata.wanted_fields(source) if not name.startswith(":")]
    store(archive, socrata.view_url(source), None, _json({
        "id": source.dataset, "name": f"{city.name_en} 311 service requests (demo)", "assetType": "dataset",
        "viewType": "tabular", "rowsUpdatedAt": int(FETCHED_AT.timestamp()),
        "columns": [{"id": 1000 + i, "name": name, "fieldName": name, "position": i + 1,
                     "dataTypeName": column_type(source, name)} for i, name in enumerate(columns)]}),
          "application/json;charset=utf-8")
    if source.select == "mapped":
        select = socrata.mapped_select(source, columns)
        fields = select.split(", ")
        records = [{k: r[k] for k in fields if k in r} for r in records]
    else:
        select, fields = socrata.SELECT_ALL, sorted({k for r in records for k in r})
    pages = pages_of(records, source.page_size)
    # as SODA answers: the query's fields and types in headers, and a compact record per line
    declared = {"X-SODA2-Fields": json.dumps(fields),
                "X-SODA2-Types": json.dumps([soda_type(source, f) for f in fields])}
    for number, page in enumerate(pages):
        body = "[" + "\n,".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in page) + "]\n"
        store(archive, socrata.resource_url(source), socrata.page_params(source, where, number, select=select),
              body.encode("utf-8"), "application/json;charset=utf-8", declared)
    return len(pages)


def soda_type(source: Source, field: str) -> str:
    """The SODA type a demo field stands for (X-SODA2-Types)."""
    system = {":id": "row_identifier", ":created_at": "fixed_timestamp", ":updated_at": "fixed_timestamp"}
    if field in system:
        return system[field]
    role = next((role for role, name in source.fields.items() if name == field), None)
    return {"created_at": "floating_timestamp", "closed_at": "floating_timestamp", "updated_at": "floating_timestamp",
            "latitude": "number", "longitude": "number"}.get(role, "text")


def column_type(source: Source, field: str) -> str:
    """The type the dataset's metadata gives a demo column (``dataTypeName``: a floating timestamp is a
    ``calendar_date`` there)."""
    soda = soda_type(source, field)
    return "calendar_date" if soda == "floating_timestamp" else soda


def write_ckan(archive: Archive, city: City, source: Source, items: list[Invented]) -> int:
    """One 2024 resource holding every demo month: in the DataStore (paged) or as a CSV download."""
    vocab = VOCABULARIES[source.id]
    records = [to_record(item, source, vocab, None if "request_id" not in source.fields
                         else f"{1_000_000 + i}/24") for i, item in enumerate(items)]
    if source.derive_id_from:  # id-less feeds publish the identifying columns too
        for record in records:
            for name in source.derive_id_from:
                record.setdefault(name, "")
    datastore = source.id not in CSV_DOWNLOADS
    resource = {"id": f"{source.id}-2024", "name": f"{source.dataset}-2024", "format": "CSV",
                "datastore_active": datastore, "last_modified": "2025-01-10T04:00:00.000000",
                "url": f"https://{(source.extra_hosts or [source.host])[0]}/dataset/{source.dataset}/2024.csv"}
    package = {"id": f"{source.dataset}-id", "name": source.dataset, "title": source.dataset,
               "metadata_modified": "2025-01-10T04:00:00.000000", "num_resources": 1, "resources": [resource]}
    envelope = {"help": f"{ckan.action_url(source, 'help_show')}?name=package_show", "success": True}
    store(archive, ckan.action_url(source, "package_show"), {"id": source.dataset},
          _json({**envelope, "result": package}), "application/json;charset=utf-8")
    if not datastore:
        columns = sorted({k for r in records for k in r})
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, delimiter=";", lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        # the declared charset is left out, as these portals serve CSVs (the source names its encoding)
        store(archive, resource["url"], None, text.getvalue().encode(source.encoding or "utf-8"), "text/csv")
        return 1
    numbered = [{"_id": i + 1, **r} for i, r in enumerate(records)]
    pages = pages_of(numbered, source.page_size)
    for index, page in enumerate(pages):
        params = {"resource_id": resource["id"], "limit": source.page_size, "offset": index * source.page_size,
                  "sort": "_id"}
        result = {"resource_id": resource["id"], "records": page, "total": len(numbered),
                  "fields": [{"id": c, "type": "text"} for c in page[0]] if page else [],
                  "_links": {"start": f"/api/3/action/datastore_search?resource_id={resource['id']}"}}
        store(archive, ckan.action_url(source, "datastore_search"), params, _json({**envelope, "result": result}),
              "application/json;charset=utf-8")
    return len(pages)


def write_opendatasoft(archive: Archive, source: Source, month: str, items: list[Invented]) -> int:
    vocab = VOCABULARIES[source.id]
    records = [to_record(item, source, vocab, f"G{month.replace('-', '')}{item.number:05d}") for item in items]
    records.sort(key=lambda r: r[source.fields["request_id"]])
    where = opendatasoft.month_where(source, month)
    limit = min(source.page_size, opendatasoft.MAX_LIMIT)
    pages = pages_of(records, limit)
    for number, page in enumerate(pages):
        params = {"where": where, "order_by": source.fields["request_id"], "limit": limit, "offset": number * limit}
        store(archive, f"{opendatasoft.dataset_url(source)}/records", params,
              _json({"total_count": len(records), "results": page}), "application/json; charset=utf-8")
        if (number + 1) * limit >= len(records):
            return number + 1
    return len(pages)


DEMO_STATS = Path(__file__).resolve().parent / "demo_stats"


def write_aggregate(archive: Archive, source: Source, rng: random.Random) -> int:
    """A statistics table in the source's published layout: its period column and metric columns; or,
    for layouts a generator cannot mimic (bulletin series), the hand-written pages in
    scripts/demo_stats/<source id>/<n>.html (or .txt), one per path."""
    table = source.table
    assert table is not None
    urls = table_urls(source)
    written = sorted((DEMO_STATS / source.id).glob("*.*"), key=lambda p: int(p.stem))
    if written:
        if len(written) != len(urls):
            raise SystemExit(f"{source.id}: {len(written)} demo pages for {len(urls)} paths")
        for url, page in zip(urls, written, strict=True):
            kind = "text/plain; charset=utf-8" if page.suffix == ".txt" else "text/html; charset=utf-8"
            store(archive, url, None, page.read_bytes(), kind)
        return len(urls)
    periods = [datetime(2024, m, 1) for m in range(1, 13)] if "%m" in table.period_format else \
        [datetime(y, 1, 1) for y in (2022, 2023, 2024)]
    base = rng.uniform(0.3, 3.0)
    rows = []
    for period in periods:
        row = {table.period_column: period.strftime(table.period_format)}
        for metric in table.metrics:
            if metric.metric.endswith("_rate"):
                value = f"{rng.uniform(82, 99.5):.1f}"
            elif metric.metric.endswith("_seconds"):
                value = str(rng.randint(8, 90))
            else:
                scale = 150_000 if "%m" in table.period_format else 1_800_000
                # JSON APIs publish plain numbers (as SODA strings); tables for people group thousands
                count = int(base * rng.uniform(0.9, 1.1) * scale)
                value = str(count) if table.format == "json" else f"{count:,}"
            row[metric.column] = value
        rows.append(row)
    if table.format == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        body, content_type = text.getvalue().encode(source.encoding or "utf-8"), "text/csv"
    elif table.format == "json":
        data: Any = rows
        for key in reversed(table.json_records_path):
            data = {key: data}
        body, content_type = _json(data), "application/json; charset=utf-8"
    else:
        header = "".join(f"<th>{c}</th>" for c in rows[0])
        cells = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in r.values()) + "</tr>" for r in rows)
        filler = "<table class='layout'><tr><td>menu</td></tr></table>" * table.html_table_index
        html = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{source.id}</title></head><body>"
                f"{filler}<table><thead><tr>{header}</tr></thead><tbody>{cells}</tbody></table></body></html>")
        body, content_type = html.encode("utf-8"), "text/html; charset=utf-8"
    store(archive, urls[0], None, body, content_type)
    return 1


PORTAL_PAGES = Path(__file__).resolve().parent / "demo_portal_pages"


def write_portal_pages(archive: Archive, city: City) -> int:
    """The hand-written demo page for each portal URL (scripts/demo_portal_pages/<city>/<n>.html); a
    service directory's data records (<n>.json), or its Open311 list (services.json)."""
    written = 0
    folder = PORTAL_PAGES / city.id
    for index, portal in enumerate(city.portals):
        page = folder / f"{index}.html"
        records = folder / f"{index}.json"
        if portal.kind == "services" and records.exists():
            store(archive, portal.url, None, records.read_bytes(), "application/json")
            written += 1
        elif portal.kind == "services" and portal.url.endswith(".json") and (folder / "services.json").exists():
            store(archive, portal.url, None, (folder / "services.json").read_bytes(), "application/json")
            written += 1
        elif page.exists() and not portal.url.endswith((".json", ".xml")):
            # the bytes as written (GBK and EUC-KR pages declare their charset in <meta>)
            store(archive, portal.url, None, page.read_bytes(), "text/html")
            written += 1
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the demo archive in replay format.")
    parser.add_argument("--out", type=Path, default=DEMO_ARCHIVE, help=f"target directory (default {DEMO_ARCHIVE})")
    target = parser.parse_args().out
    registry = load_registry()
    if target.exists():
        shutil.rmtree(target)
    archive = Archive(target)
    rng = random.Random(SEED)
    partitions: dict[str, list[str]] = {}
    for city in registry.cities:
        print(f"{city.id:15} {'portal pages':30} {write_portal_pages(archive, city)} pages")
        profile = profile_for(city, rng)
        for source in city.sources:
            if source.kind == "aggregate_table":
                write_aggregate(archive, source, rng)
                print(f"{city.id:15} {source.id:30} statistics table ({source.table.format})")
                continue
            if source.id not in VOCABULARIES:
                continue
            by_month = {month: invent(city, VOCABULARIES[source.id], month, profile, rng) for month in DEMO_MONTHS}
            if source.kind == "ckan":
                pages = write_ckan(archive, city, source, [i for items in by_month.values() for i in items])
                print(f"{city.id:15} {source.id:30} {sum(map(len, by_month.values())):5} records, {pages} pages")
            for month, items in by_month.items():
                if source.kind == "socrata":
                    pages = write_socrata(archive, city, source, month, items)
                elif source.kind == "opendatasoft":
                    pages = write_opendatasoft(archive, source, month, items)
                else:
                    continue
                print(f"{city.id:15} {source.id:30} {month}: {len(items):5} records, {pages} pages")
            partitions[city.id] = list(DEMO_MONTHS)
    manifest = {"is_synthetic": True, "note": NOTE, "months": list(DEMO_MONTHS), "request_partitions": partitions}
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
