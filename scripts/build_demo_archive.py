"""Build the bundled demo archive (snapshots/demo/) in replay format.

The script invents the requests; each source kind's demo writer (``write_demo`` in its module under
``hotline_eval/sources/``, reached through ``hotline_eval.sources.write_demo``) writes them in the real
format of its source (Socrata SODA JSON with string values, floating local timestamps, absent keys for
nulls and ``:id``/``:updated_at`` system fields; CKAN Action API envelopes and ';'-separated CSV
downloads; Opendatasoft v2.1 record pages; statistics tables as CSV or HTML) but with invented values,
and every archive entry says ``is_synthetic: true``. Requests are built with the connectors' own query
builders, so replay serves exactly what live mode would ask for.

Deterministic: the same registry and seed give the same bytes. Run it after changing the registry
or a connector's queries:  python scripts/build_demo_archive.py
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hotline_eval.config.registry import City, load_registry
from hotline_eval.config.settings import DEMO_ARCHIVE
from hotline_eval.fetch.archive import Archive
from hotline_eval.portals import demo_template
from hotline_eval.sources import is_request_level, write_demo
from hotline_eval.sources.ckan import as_generation
from hotline_eval.sources.demo import NOTE, DemoFeed, Invented, Vocabulary, store

SEED = 2024
DEMO_MONTHS = ("2024-10", "2024-11", "2024-12")


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
        open_statuses=("Initiated", "In Progress"), closed_status="Closed", cancelled_status="Canceled",
        channels=(), categories=("Residential: Bin: Repair or Replace Lid", "Road - Pot hole", "Graffiti",
                                 "Noise", "Sewer Service Line-Blocked", "Tree Maintenance"),
        agencies=("Solid Waste Management Services", "Transportation Services", "Toronto Water",
                  "Municipal Licensing & Standards", "Urban Forestry"),
        districts=("Beaches-East York (19)", "Toronto-Danforth (14)", "Davenport (9)", "Spadina-Fort York (10)",
                   "Etobicoke North (1)", "Scarborough-Rouge Park (25)"),
        # the data dictionary's names ("Service Request Creation Date and Time": 01/Oct/2024 12:10 AM)
        timestamp_format="%d/%b/%Y %I:%M %p", generation="data_dictionary_names"),
    "paris_dansmarue_ods": Vocabulary(
        open_statuses=(), closed_status=None, cancelled_status=None, channels=(),
        categories=("Propreté", "Graffitis, tags, affiches et autocollants", "Objets abandonnés",
                    "Voirie et espace public", "Éclairage / Électricité", "Eau"),
        agencies=("Services de la Ville de Paris", "Ramasseur de déchets", "Prestataire"),
        districts=tuple(str(n) for n in range(1, 21)), timestamp_format="%Y-%m-%d"),
    # the 2024 shape (nro_solicitud ... estado_general, day-first dates, no closing date: docs/sources.md)
    "buenos_aires_suaci_ckan": Vocabulary(
        open_statuses=("Abierto",), closed_status="Cerrado", cancelled_status=None,
        channels=("GCS Web", "Call Center", "App BA 147"),
        categories=("ARBOLADO", "ALUMBRADO", "VEREDAS", "LIMPIEZA Y RECOLECCIÓN", "TRÁNSITO", "MEDIO AMBIENTE"),
        agencies=(), districts=tuple(str(n) for n in range(1, 16)), timestamp_format="%-d/%-m/%Y %H:%M:%S",
        file_downloads=True),
    "cape_town_service_requests_arcgis": Vocabulary(
        # no status field is published: closed_status only makes invent() give closing dates
        open_statuses=("open",), closed_status="closed", cancelled_status=None, channels=(),
        categories=("Street Lights - Single Light Out", "Street Lights - All Lights Out",
                    "Street Lights - High Mast", "WAT: Leak in Road/Pavement/Undergr",
                    "Traffic Controller: No Power", "No Power"),
        agencies=("Electricity - FLR-Gugulethu-Contractor",),
        districts=("062", "099", "115", "077", "019", "045", "000")),
    "london_fixmystreet_open311": Vocabulary(
        open_statuses=("open",), closed_status="closed", cancelled_status=None,
        channels=("Web interface", "iOS", "Android"),
        categories=("Potholes", "Flytipping", "Street lighting", "Rubbish (refuse and recycling)", "Trees",
                    "Flyposting", "Pavements/footpaths", "Street cleaning"),
        agencies=("2482", "2489", "2504", "2507", "2510"),
        districts=("Camden", "Hackney", "Lambeth", "Southwark", "Westminster"),
        timestamp_format="%Y-%m-%dT%H:%M:%S+00:00"),
    "madrid_avisos": Vocabulary(
        open_statuses=("middle_node",), closed_status="final_ok_node", cancelled_status=None, channels=(),
        categories=("Farola apagada", "Desperfecto en acera", "Vaciado de papelera", "Poda de árbol",
                    "Pintadas y grafitis", "Muebles abandonados en vía pública", "Limpieza en vías públicas"),
        agencies=(), districts=("Centro", "Salamanca", "Chamberí", "Retiro", "Tetuán", "Arganzuela"),
        timestamp_format="%Y-%m-%dT%H:%M:%S+00:00"),
    "sao_paulo_sp156_ckan": Vocabulary(
        open_statuses=("AGUARDANDO ATENDIMENTO", "EM ANDAMENTO"), closed_status="FINALIZADA",
        cancelled_status="CANCELADA", channels=("Central SP156", "Portal SP156", "Aplicativo SP156",
                                                "Praça de Atendimento"),
        categories=("Remoção de grandes objetos", "Tapa-buraco", "Poda de árvore", "Iluminação pública",
                    "Limpeza de via pública", "Fiscalização de ruído"),
        agencies=("SUBPREFEITURA SÉ", "SMSUB", "SIURB", "SVMA", "SMT"),
        districts=("SÉ", "PINHEIROS", "MOOCA", "LAPA", "BUTANTÃ", "SANTANA/TUCURUVI"),
        timestamp_format="%d/%m/%Y %H:%M:%S", file_downloads=True),
}
CENTRES = {"new_york": (40.7128, -74.0060), "san_francisco": (37.7749, -122.4194),
           "toronto": (43.6532, -79.3832), "paris": (48.8566, 2.3522), "buenos_aires": (-34.6037, -58.3816),
           "sao_paulo": (-23.5505, -46.6333), "london": (51.5072, -0.1276), "madrid": (40.4168, -3.7038)}


@dataclass(frozen=True)
class CityProfile:
    """How a demo city behaves: volume, how fast it closes, how much stays open."""

    requests_per_month: int
    median_close_hours: float
    open_share: float


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


DEMO_STATS = Path(__file__).resolve().parent / "demo_stats"
PORTAL_PAGES = Path(__file__).resolve().parent / "demo_portal_pages"


def write_portal_pages(archive: Archive, city: City) -> int:
    """The hand-written demo page for each portal URL (scripts/demo_portal_pages/<city>/<n>.html); a
    service directory's data records (<n>.json), or its Open311 list (services.json). A city without a
    folder there gets synthetic pages from the template, filled from its registry file."""
    written = 0
    folder = PORTAL_PAGES / city.id
    if not folder.is_dir():
        pages = demo_template.portal_pages(city)
        for portal, body in pages:
            store(archive, portal.url, None, body, "text/html; charset=utf-8")
        return len(pages)
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
            demo = DemoFeed(archive, city, source, rng, handwritten=DEMO_STATS)
            if is_request_level(source):
                vocab = VOCABULARIES.get(source.id)
                if vocab is None:
                    continue
                months = {month: invent(city, vocab, month, profile, rng) for month in DEMO_MONTHS}
                shaped = as_generation(source, vocab.generation) if vocab.generation else source
                demo = DemoFeed(archive, city, shaped, rng, handwritten=DEMO_STATS, vocabulary=vocab, months=months)
                partitions[city.id] = list(DEMO_MONTHS)
            for line in write_demo(demo):
                print(f"{city.id:15} {source.id:30} {line}")
    manifest = {"is_synthetic": True, "note": NOTE, "months": list(DEMO_MONTHS), "request_partitions": partitions}
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
