"""Build the bundled demo archive (snapshots/demo/) in replay format.

Every response is written in the real format of its source (Socrata SODA JSON: string values,
floating local timestamps, absent keys for nulls, ``:id``/``:updated_at`` system fields) but with
invented values, and every archive entry says ``is_synthetic: true``. The requests are built with
the connectors' own query builders, so replay serves exactly what live mode would ask for.

Deterministic: the same registry and seed give the same bytes. Run it after changing the registry
or a connector's queries:  python scripts/build_demo_archive.py
"""

from __future__ import annotations

import json
import random
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hotline_eval.archive import Archive, make_response
from hotline_eval.registry import City, Source, load_registry
from hotline_eval.settings import DEMO_ARCHIVE
from hotline_eval.sources import socrata

SEED = 2024
DEMO_MONTHS = ("2024-10", "2024-11", "2024-12")
FETCHED_AT = datetime(2025, 1, 15, 6, 0, tzinfo=UTC)
NOTE = "invented demo data in the source's real format (hotline_eval demo archive)"


@dataclass(frozen=True)
class Vocabulary:
    """Published values a source uses (from its real data), which the demo draws from."""

    open_statuses: tuple[str, ...]
    closed_status: str
    cancelled_status: str | None
    channels: tuple[str, ...]
    categories: tuple[str, ...]
    agencies: tuple[str, ...]
    districts: tuple[str, ...]


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
    "chicago_311_socrata": Vocabulary(
        open_statuses=("Open",), closed_status="Completed", cancelled_status="Canceled",
        channels=("Phone Call", "Internet", "Mobile Device", "spot-open311-Chicago+Works", "Alderman's Office"),
        categories=("311 INFORMATION ONLY CALL", "Street Light Out Complaint", "Pothole in Street",
                    "Graffiti Removal", "Rodent Baiting/Rat Complaint", "Abandoned Vehicle Complaint",
                    "Tree Debris", "Snow Removal"),
        agencies=("311 City Services", "CDOT - Department of Transportation", "Streets and Sanitation",
                  "Department of Buildings"),
        districts=tuple(str(n) for n in range(1, 51))),
}


@dataclass(frozen=True)
class CityProfile:
    """How a demo city behaves: volume, how fast it closes, how much stays open."""

    requests_per_month: int
    median_close_hours: float
    open_share: float


def profile_for(city: City, rng: random.Random) -> CityProfile:
    scale = max(0.15, min(1.6, city.population.value / 5_000_000))
    return CityProfile(
        requests_per_month=int(700 * scale) + rng.randint(0, 80),
        median_close_hours=rng.uniform(10, 140),
        open_share=rng.uniform(0.03, 0.2),
    )


def _local(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000")


def socrata_records(city: City, source: Source, month: str, profile: CityProfile,
                    rng: random.Random) -> list[dict[str, object]]:
    vocab = VOCABULARIES[source.id]
    fields = source.fields
    zone = ZoneInfo(city.timezone)
    year, mon = (int(p) for p in month.split("-"))
    start = datetime(year, mon, 1)
    days = ((datetime(year + (mon == 12), mon % 12 + 1, 1)) - start).days
    records = []
    base_id = 60_000_000 + year * 10_000 + mon * 500
    for i in range(profile.requests_per_month):
        created = start + timedelta(seconds=rng.randrange(days * 86_400))
        record: dict[str, object] = {
            ":id": f"row-{rng.getrandbits(40):010x}",
            ":created_at": (created.replace(tzinfo=zone).astimezone(UTC) + timedelta(minutes=5)).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            fields["request_id"]: str(base_id * 10 + i) if source.id != "chicago_311_socrata"
            else f"SR{year % 100:02d}-{base_id + i:08d}",
            fields["created_at"]: _local(created),
            fields["category"]: rng.choice(vocab.categories),
            fields["channel"]: rng.choices(vocab.channels, weights=range(len(vocab.channels), 0, -1))[0],
            fields["agency"]: rng.choice(vocab.agencies),
        }
        if "district" in fields:
            record[fields["district"]] = rng.choice(vocab.districts)
        if rng.random() > 0.04:  # some records carry no location, as real feeds do
            record[fields["latitude"]] = f"{city_lat(city) + rng.gauss(0, 0.05):.9f}"
            record[fields["longitude"]] = f"{city_lon(city) + rng.gauss(0, 0.05):.9f}"
        is_open = rng.random() < profile.open_share
        hours = rng.lognormvariate(0, 1.1) * profile.median_close_hours
        closed = created + timedelta(hours=hours)
        if is_open or closed > datetime(2025, 1, 10):
            record[fields["status"]] = rng.choice(vocab.open_statuses)
        else:
            cancelled = vocab.cancelled_status and rng.random() < 0.02
            record[fields["status"]] = vocab.cancelled_status if cancelled else vocab.closed_status
            record[fields["closed_at"]] = _local(closed)
            if "resolution" in fields and rng.random() < 0.8:
                record[fields["resolution"]] = "The agency responded to the request and closed it."
        updated = max(created, closed if fields["closed_at"] in record else created)
        record[":updated_at"] = (updated.replace(tzinfo=zone).astimezone(UTC) + timedelta(minutes=7)).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
        records.append(record)
    # real-world quirks, a few of each, so the demo exercises the same paths live data does
    if len(records) > 20:
        records[3][fields["closed_at"]] = "1900-01-01T00:00:00.000"
        records[3][fields["status"]] = vocab.closed_status
        created5 = datetime.strptime(str(records[5][fields["created_at"]]), "%Y-%m-%dT%H:%M:%S.000")
        records[5][fields["closed_at"]] = _local(created5 - timedelta(hours=2))
        records[5][fields["status"]] = vocab.closed_status
    records.sort(key=lambda r: str(r[":id"]))
    return records


CENTRES = {"new_york": (40.7128, -74.0060), "san_francisco": (37.7749, -122.4194), "chicago": (41.8781, -87.6298)}


def city_lat(city: City) -> float:
    return CENTRES.get(city.id, (0.0, 0.0))[0]


def city_lon(city: City) -> float:
    return CENTRES.get(city.id, (0.0, 0.0))[1]


def write_socrata(archive: Archive, city: City, source: Source, month: str, records: list[dict]) -> int:
    where = socrata.month_where(source, month)
    pages = [records[i:i + source.page_size] for i in range(0, len(records), source.page_size)]
    if not pages or len(pages[-1]) == source.page_size:
        pages.append([])  # the connector stops at the first short page, so an exact multiple needs an empty one
    for number, page in enumerate(pages):
        body = json.dumps(page, ensure_ascii=False, indent=1).encode("utf-8")
        fields = sorted({k for r in page for k in r})
        archive.store(make_response(
            "GET", socrata.resource_url(source), socrata.page_params(source, where, number), 200,
            {"Content-Type": "application/json;charset=utf-8", "X-SODA2-Fields": json.dumps(fields)},
            body, is_synthetic=True, note=NOTE, fetched_at=FETCHED_AT,
        ))
    return len(pages)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Build the demo archive in replay format.")
    parser.add_argument("--out", type=Path, default=DEMO_ARCHIVE, help=f"target directory (default {DEMO_ARCHIVE})")
    target = parser.parse_args().out
    registry = load_registry()
    if target.exists():
        shutil.rmtree(target)
    archive = Archive(target)
    rng = random.Random(SEED)
    manifest: dict[str, object] = {"is_synthetic": True, "note": NOTE, "months": list(DEMO_MONTHS),
                                   "request_partitions": {}}
    for city in registry.cities:
        profile = profile_for(city, rng)
        for source in city.sources:
            if source.kind != "socrata" or source.id not in VOCABULARIES:
                continue
            for month in DEMO_MONTHS:
                records = socrata_records(city, source, month, profile, rng)
                pages = write_socrata(archive, city, source, month, records)
                print(f"{city.id:15} {source.id:22} {month}: {len(records):5} records, {pages} pages")
            manifest["request_partitions"].setdefault(city.id, list(DEMO_MONTHS))
    (target / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
