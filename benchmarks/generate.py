"""Seeded synthetic service requests in the staging.service_requests schema, and the same requests as
raw Socrata-style rows / JSON pages.

Everything is vectorized (numpy + polars); the only Python loops run per city (20), per mapped
value (a few dozen) or per archive page (rows / 1000). Same seed and row count -> same data.

What is realistic about it:
- 20 registry cities with Zipf-skewed sizes (the biggest city has ~25% of the rows);
- creation times over Dec 2023 .. Dec 2024 (so ~8% fall outside the 2024 evaluation year) with a
  business-hours daily profile;
- heavy-tailed close times (per-city log-normal, sigma 1.6, plus a Pareto tail), open cases,
  cases closed after the 2024 cut-off, cancellations, and the data defects the staging transform flags
  (closed before created, closed within a minute, placeholder closing dates, 0/0 coordinates);
- repeats: ~6% of requests copy an earlier request's place and category a few days later, and a third
  of requests come from per-city hotspots, so same place + category within 7 days happens naturally;
- per-city channel, category and agency mixes (Dirichlet / Zipf), missing coordinates and
  resolution texts at per-city rates;
- raw values are drawn from the project's own mapping vocabularies (config/mappings/*.csv), so
  staging the raw rows maps them back to the same common values.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from hotline_eval.config.registry import load_registry
from hotline_eval.config.settings import PROJECT_ROOT
from hotline_eval.sources.common import RAW_SCHEMA

DATA_DIR = Path(__file__).resolve().parent / "data"
YEAR = 2024
START = int(datetime(YEAR - 1, 12, 1, tzinfo=UTC).timestamp())
END = int(datetime(YEAR + 1, 1, 1, tzinfo=UTC).timestamp())
SNAPSHOT = int(datetime(YEAR + 1, 2, 1, tzinfo=UTC).timestamp())  # closings after this are not yet seen
PAGE_SIZE = 1000
STATUSES = ["open", "closed", "cancelled", "other"]
CHANNELS = ["phone", "web", "mobile_app", "sms", "email", "social", "walk_in", "chatbot", "other", "unknown"]
AGENCIES = ["DSNY", "NYPD", "HPD", "DOT", "DEP", "DPR", "DOB", "DOHMH", "DHS", "TLC", "DCA", "EDC", "DOF",
            "FDNY", "DFTA", "DOE", "HRA", "ACS", "DCP", "LPC", "SBS", "DCAS", "DOITT", "OEM", "NYCHA", "CCRB",
            "DSS", "MOPD", "DYCD", "BIC", "DORIS", "OATH", "DVS", "MOCS", "DEP-W", "DOT-S", "PW", "WATER",
            "ROADS", "PARKS"]
RESOLUTIONS = [
    "The Department of Sanitation investigated this complaint and found no violation at the location.",
    "The Police Department responded to the complaint and with the information available observed no "
    "evidence of the violation at that time.",
    "The Department of Transportation inspected the condition and repaired the problem.",
    "The request was forwarded to the responsible agency for action.",
    "Service was provided; the issue has been resolved.",
    "A crew was dispatched and completed the work.",
    "The complaint is a duplicate of an existing service request.",
    "The inspector could not gain access to the location.",
    "Resuelto por la unidad responsable.",
    "已办结：相关部门已处理完毕并回复市民。",
]


def city_table() -> pl.DataFrame:
    reg = load_registry()
    return pl.DataFrame({
        "city_id": [c.id for c in reg.cities],
        "timezone": [c.timezone for c in reg.cities],
        "population": [c.population.value for c in reg.cities],
        "source_id": [c.sources[0].id if c.sources else f"{c.id}_feed" for c in reg.cities],
    })


def _vocab(mapping: str, values: list[str]) -> tuple[pl.Series, np.ndarray, np.ndarray]:
    """Raw spellings per mapped value (from config/mappings): flat strings, offsets, counts."""
    table = pl.read_csv(PROJECT_ROOT / "config" / "mappings" / f"{mapping}.csv", comment_prefix="#",
                        schema={"source_id": pl.String, "raw_value": pl.String, "mapped_value": pl.String})
    table = table.filter(pl.col("source_id") == "*")
    flat: list[str | None] = []
    offsets, counts = [], []
    for v in values:
        raw = sorted(table.filter(pl.col("mapped_value") == v)["raw_value"].to_list())
        if not raw:  # unknown channel: not published; unmapped category: a value the mapping lacks
            raw = [None] if v == "unknown" else [f"{v} (unlisted)"]
        offsets.append(len(flat))
        counts.append(len(raw))
        flat += [r.title() if r else r for r in raw]
    return pl.Series(flat, dtype=pl.String), np.array(offsets), np.array(counts)


def _categories() -> list[str]:
    cats = pl.read_csv(PROJECT_ROOT / "config" / "mappings" / "categories.csv", comment_prefix="#")["category"]
    return sorted(cats.to_list())


def _pick_raw(rng: np.random.Generator, codes: np.ndarray, vocab) -> pl.Series:
    flat, offsets, counts = vocab
    idx = offsets[codes] + (rng.random(codes.size) * counts[codes]).astype(np.int64)
    return flat.gather(idx)


def _per_city_choice(rng: np.random.Generator, city: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Draw one category per row from its city's probability vector (vectorized inverse CDF)."""
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(city.size)
    out = np.empty(city.size, dtype=np.int64)
    for c in range(probs.shape[0]):
        m = city == c
        out[m] = np.searchsorted(cdf[c], u[m], side="right")
    return np.minimum(out, probs.shape[1] - 1)


def generate_staging(rows: int, seed: int = 2024, chunk: int | None = None) -> pl.DataFrame:
    """``rows`` requests with the staging columns and helper columns (``page_number``, ``_zero``,
    ``_placeholder``). ``chunk``: this frame is chunk number ``chunk`` of a larger file (``write_chunked``).
    Then the per-city parameters (size ranking, centres, mixes, close-time medians, rates) come from ``seed``
    alone, the same in every chunk, so the chunks follow one set of distributions; the per-row draws come
    from their own stream per chunk; request ids and page hashes carry the chunk number, so no two chunks
    share one. Without ``chunk`` one stream serves both, as before chunks existed (same output)."""
    if chunk is None:
        rng = city_rng = np.random.default_rng(seed)
    else:
        # city_rng's first draw is the ranking below, as in the single stream: the Zipf sizes fall on the
        # same cities at every row count (Shanghai the largest); each chunk's rows get an independent stream
        city_rng = np.random.default_rng(seed)
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(chunk,)))
    cities = city_table()
    n_c = cities.height
    # Zipf-skewed city sizes over a seeded ranking of the cities
    rank = city_rng.permutation(n_c)
    weights = 1.0 / (rank + 1.0) ** 1.1
    counts = rng.multinomial(rows, weights / weights.sum())
    city = np.repeat(np.arange(n_c), counts)
    n = rows
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])

    # creation time: uniform day, business-hours profile, whole seconds
    n_days = (END - START) // 86400
    hour_w = np.array([1, 1, 1, 1, 1, 2, 4, 7, 10, 12, 12, 11, 10, 11, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2], float)
    hour = rng.choice(24, size=n, p=hour_w / hour_w.sum())
    created = START + rng.integers(0, n_days, n) * 86400 + hour * 3600 + rng.integers(0, 3600, n)

    # place: a third from per-city hotspots on the ~100 m grid, the rest spread over the city
    center_lat = city_rng.uniform(-40, 60, n_c).round(2)
    center_lon = city_rng.uniform(-120, 140, n_c).round(2)
    hotspot = rng.random(n) < 0.35
    spot = np.minimum(rng.zipf(1.3, n), 3000) - 1
    spot_dlat = ((spot * 7919) % 300 - 150) * 0.001 + 0.0003
    spot_dlon = ((spot * 104729) % 300 - 150) * 0.001 + 0.0004
    lat = center_lat[city] + np.where(hotspot, spot_dlat, rng.uniform(-0.15, 0.15, n))
    lon = center_lon[city] + np.where(hotspot, spot_dlon, rng.uniform(-0.15, 0.15, n))
    cats = _categories()
    cat_probs = city_rng.dirichlet(np.full(len(cats), 0.8), n_c)
    category = _per_city_choice(rng, city, cat_probs)
    category = np.where(hotspot & (rng.random(n) < 0.7), spot % len(cats), category)

    # repeats: copy an earlier request's place and category, 0-10 days later
    repeat = rng.random(n) < 0.06
    parent = starts[city] + (rng.random(n) * counts[city]).astype(np.int64)
    child = np.nonzero(repeat)[0]
    par = parent[child]
    lat[child], lon[child], category[child] = lat[par], lon[par], category[par]
    created[child] = np.minimum(created[par] + rng.exponential(2.5 * 86400, child.size).astype(np.int64), END - 1)

    order = np.lexsort((created, city))
    city, created, lat, lon, category = city[order], created[order], lat[order], lon[order], category[order]

    # status and close times
    med_hours = np.exp(city_rng.uniform(np.log(3), np.log(200), n_c))
    dur_h = np.exp(np.log(med_hours[city]) + 1.6 * rng.standard_normal(n))
    tail = rng.random(n) < 0.05
    dur_h = np.where(tail, dur_h * (1 + rng.pareto(1.2, n)), dur_h)
    dur_s = np.maximum(dur_h * 3600, 60).astype(np.int64)
    u = rng.random(n)
    closed_share = city_rng.uniform(0.94, 0.995, n_c)[city]
    never_closed = rng.random(n) > closed_share
    status = np.full(n, 1)  # closed
    status[u < 0.03] = 2  # cancelled
    status[(u >= 0.03) & (u < 0.04)] = 3  # other
    within_minute = rng.random(n) < 0.015
    before_created = rng.random(n) < 0.004
    dur_s = np.where(within_minute, rng.integers(0, 60, n), dur_s)
    dur_s = np.where(before_created, -rng.integers(60, 3 * 86400, n), dur_s)
    closed = created + dur_s
    has_close = ~never_closed & (closed <= SNAPSHOT)
    has_close &= status != 3
    status = np.where((status == 1) & ~has_close, 0, status)
    placeholder = (status == 1) & (rng.random(n) < 0.003)
    has_close &= ~placeholder

    # channel, agency, district, coordinates, resolution
    chan_probs = city_rng.dirichlet(np.array([6, 4, 3, 0.5, 1, 0.5, 0.3, 0.3, 0.5, 1.0]), n_c)
    channel = _per_city_choice(rng, city, chan_probs)
    n_ag = city_rng.integers(3, len(AGENCIES) + 1, n_c)
    ag_rank = (np.minimum(rng.zipf(1.6, n), 1000) - 1) % n_ag[city]
    agency_idx = (ag_rank + city * 7) % len(AGENCIES)
    agency_null = rng.random(n) < 0.015
    n_dist = city_rng.integers(5, 26, n_c)
    district = rng.integers(0, 1000, n) % n_dist[city]
    unlocated = rng.random(n) < city_rng.uniform(0.01, 0.2, n_c)[city]
    zero_coords = ~unlocated & (rng.random(n) < 0.003)
    res_share = city_rng.uniform(0.5, 0.99, n_c)[city]
    resolution_idx = rng.integers(0, len(RESOLUTIONS), n)
    has_resolution = (status == 1) & (rng.random(n) < res_share)

    city_ids = cities["city_id"].gather(city)
    frame = pl.DataFrame({
        "_city": city,
        "city_id": city_ids,
        "source_id": cities["source_id"].gather(city),
        "_seq": np.arange(n) - starts[city] + 1,
        "created_at": created * 1_000_000,
        "closed_at": np.where(has_close, closed, 0) * 1_000_000,
        "_has_close": has_close,
        "status": pl.Series(STATUSES).gather(status),
        "_status_code": status,
        "category": pl.Series(cats).gather(category),
        "_cat_code": category,
        "channel": pl.Series(CHANNELS).gather(channel),
        "_chan_code": channel,
        "agency": pl.Series(AGENCIES).gather(agency_idx),
        "_agency_null": agency_null,
        "district": pl.Series([f"District {i + 1}" for i in range(26)]).gather(district),
        "latitude": lat,
        "longitude": lon,
        "_unlocated": unlocated | zero_coords,
        "_zero": zero_coords,
        "_placeholder": placeholder,
        "resolution": pl.Series(RESOLUTIONS).gather(resolution_idx),
        "_has_resolution": has_resolution,
    })
    status_vocab = _vocab("status", STATUSES)
    frame = frame.with_columns(
        pl.col("created_at").cast(pl.Datetime("us", "UTC")),
        pl.when(pl.col("_has_close")).then(pl.col("closed_at")).otherwise(None).cast(pl.Datetime("us", "UTC")),
        _pick_raw(rng, status, status_vocab).alias("status_raw"),
        _pick_raw(rng, category, _vocab("category", cats)).alias("category_raw"),
        _pick_raw(rng, channel, _vocab("channel", CHANNELS)).alias("channel_raw"),
        pl.when(pl.col("_agency_null")).then(None).otherwise(pl.col("agency")).alias("agency"),
        pl.when(pl.col("_unlocated")).then(None).otherwise(pl.col("latitude")).alias("latitude"),
        pl.when(pl.col("_unlocated")).then(None).otherwise(pl.col("longitude")).alias("longitude"),
        pl.when(pl.col("_has_resolution")).then(pl.col("resolution")).otherwise(None).alias("resolution"),
        (pl.format("{}-{}", pl.col("city_id").str.slice(0, 3).str.to_uppercase(), pl.col("_seq")) if chunk is None
         else pl.format("{}-{}-{}", pl.col("city_id").str.slice(0, 3).str.to_uppercase(), pl.lit(chunk),
                        pl.col("_seq"))).alias("request_id"),
        pl.lit(True).alias("is_synthetic"),
    )
    # partition month in the city's local time
    months = []
    for i, tz in enumerate(cities["timezone"].to_list()):
        part = frame.filter(pl.col("_city") == i).select(
            pl.col("created_at").dt.convert_time_zone(tz).dt.strftime("%Y-%m").alias("partition_month"))
        months.append(part["partition_month"])
    frame = frame.with_columns(pl.concat(months).alias("partition_month"))
    flags = {
        "placeholder_closed_date": pl.col("_placeholder"),
        "closed_before_created": (pl.col("closed_at") < pl.col("created_at")).fill_null(False),
        "closed_within_minute": (pl.col("closed_at") - pl.col("created_at")).dt.total_seconds()
        .is_between(0, 59).fill_null(False),
        "zero_coordinates": pl.col("_zero"),
    }
    frame = frame.with_columns(
        pl.concat_list([pl.when(c).then(pl.lit(name)).otherwise(None) for name, c in flags.items()])
        .list.drop_nulls().alias("quality_flags"),
        # one archived page per PAGE_SIZE rows of a city-month partition
        (pl.int_range(pl.len()).over("city_id", "partition_month") // PAGE_SIZE).cast(pl.Int32).alias("_page"),
    )
    pages = frame.select("city_id", "partition_month", "_page").unique()
    tag = f"{seed}" if chunk is None else f"{seed}|{chunk}"  # a chunk's pages are its own
    pages = pages.with_columns(pl.Series("sha256", [
        hashlib.sha256(f"{tag}|{c}|{m}|{p}".encode()).hexdigest()
        for c, m, p in pages.iter_rows()]))
    frame = frame.join(pages, on=["city_id", "partition_month", "_page"], how="left", maintain_order="left")
    from hotline_eval.staging.service_requests import STAGING_COLUMNS
    return frame.select(*STAGING_COLUMNS, pl.col("_page").alias("page_number"), "_zero", "_placeholder")


def staging_columns(frame: pl.DataFrame) -> pl.DataFrame:
    from hotline_eval.staging.service_requests import STAGING_COLUMNS
    return frame.select(STAGING_COLUMNS)


def to_raw(frame: pl.DataFrame) -> pl.DataFrame:
    """The same requests as raw.service_request_records rows: text as a Socrata feed publishes it
    (floating local times, coordinates as text, 0/0 and 1900-01-01 placeholders)."""
    cities = city_table()
    parts = []
    for city_id, tz in cities.select("city_id", "timezone").iter_rows():
        part = frame.filter(pl.col("city_id") == city_id)
        if part.is_empty():
            continue
        fmt = "%Y-%m-%dT%H:%M:%S.000"
        parts.append(part.select(
            "city_id", "source_id", "partition_month", "request_id",
            pl.col("created_at").dt.convert_time_zone(tz).dt.strftime(fmt).alias("created_raw"),
            pl.when(pl.col("_placeholder")).then(pl.lit("1900-01-01T00:00:00.000"))
            .otherwise(pl.col("closed_at").dt.convert_time_zone(tz).dt.strftime(fmt)).alias("closed_raw"),
            pl.lit(None, pl.String).alias("updated_raw"),
            "status_raw", "category_raw", "channel_raw",
            pl.col("agency").alias("agency_raw"), pl.col("district").alias("district_raw"),
            pl.when(pl.col("_zero")).then(pl.lit("0.0")).otherwise(pl.col("latitude").cast(pl.String))
            .alias("latitude_raw"),
            pl.when(pl.col("_zero")).then(pl.lit("0.0")).otherwise(pl.col("longitude").cast(pl.String))
            .alias("longitude_raw"),
            pl.col("resolution").alias("resolution_raw"),
            pl.coalesce("closed_at", "created_at").dt.strftime("%Y-%m-%dT%H:%M:%S.000Z").alias("source_updated_at"),
            "page_number", "sha256", "is_synthetic",
        ))
    return pl.concat(parts).select(list(RAW_SCHEMA)).cast(RAW_SCHEMA)


# Socrata field names (NYC 311, erm2-nwe9) for the raw columns
SOCRATA_FIELDS = {
    "request_id": "unique_key", "created_at": "created_date", "closed_at": "closed_date",
    "updated_at": "resolution_action_updated_date", "status": "status", "category": "complaint_type",
    "channel": "open_data_channel_type", "agency": "agency", "district": "borough", "latitude": "latitude",
    "longitude": "longitude", "resolution": "resolution_description",
}


# NYC 311's other columns (erm2-nwe9), which the project does not map: (share of records carrying one,
# a value). The shares are assumptions (the real ones need the live dataset); what matters is that some
# are rare, so a page's records differ in their fields as real pages do (Socrata leaves empty columns
# out of a record).
NYC_OPTIONAL_FIELDS = {
    "agency_name": (1.0, "Department of Sanitation"), "descriptor": (0.98, "Loud Music/Party"),
    "location_type": (0.7, "Street/Sidewalk"), "incident_zip": (0.97, "10462"),
    "incident_address": (0.8, "2106 WALLACE AVENUE"), "street_name": (0.8, "WALLACE AVENUE"),
    "cross_street_1": (0.5, "LYDIG AVENUE"), "cross_street_2": (0.5, "BRADY AVENUE"),
    "intersection_street_1": (0.15, "LYDIG AVENUE"), "intersection_street_2": (0.15, "BRADY AVENUE"),
    "address_type": (0.95, "ADDRESS"), "city": (0.95, "BRONX"), "landmark": (0.2, "WALLACE AVENUE"),
    "facility_type": (0.05, "DSNY Garage"), "due_date": (0.03, "2024-05-09T00:21:26.000"),
    "community_board": (1.0, "11 BRONX"), "bbl": (0.75, "2043170041"),
    "x_coordinate_state_plane": (0.97, "1021587"), "y_coordinate_state_plane": (0.97, "251260"),
    "park_facility_name": (0.99, "Unspecified"), "park_borough": (0.99, "BRONX"),
    "vehicle_type": (0.005, "Car Service"), "taxi_company_borough": (0.001, "QUEENS"),
    "taxi_pick_up_location": (0.005, "JFK Airport"), "bridge_highway_name": (0.005, "BQE/Gowanus Expwy"),
    "bridge_highway_direction": (0.005, "Northbound"), "road_ramp": (0.005, "Roadway"),
    "bridge_highway_segment": (0.005, "Exit 27 (Prospect Expwy) - Exit 26 (Hamilton Ave)"),
}


# SODA types of the fields the pages carry, for the X-SODA2-Types header (NYC 311's, erm2-nwe9)
SOCRATA_TYPES = {
    ":id": "row_identifier", ":updated_at": "fixed_timestamp", ":created_at": "fixed_timestamp",
    "created_date": "floating_timestamp", "closed_date": "floating_timestamp",
    "resolution_action_updated_date": "floating_timestamp", "due_date": "floating_timestamp",
    "latitude": "number", "longitude": "number", "x_coordinate_state_plane": "number",
    "y_coordinate_state_plane": "number", "location": "point",
}


# NYC 311's columns (erm2-nwe9) as its metadata lists them: the mapped ones and the others
NYC_COLUMNS = [*SOCRATA_FIELDS.values(), *NYC_OPTIONAL_FIELDS, "location"]

# What a page answers: the connector's query for a source with ``select: mapped`` (the mapped fields the
# dataset has, and :updated_at), or ``select: all`` (``:*, *``: the system fields and every column, NYC's
# unmapped ones among them, some rare, as real pages have them).
PAGE_KINDS = ("select_mapped", "select_all")


def socrata_select(kind: str) -> str:
    """The ``$select`` the connector sends for NYC's dataset (the registry's source, NYC_COLUMNS)."""
    from hotline_eval.sources import socrata
    source = load_registry().city("new_york").sources[0]
    return socrata.mapped_select(source, NYC_COLUMNS) if kind == "select_mapped" else socrata.SELECT_ALL


def socrata_fields(kind: str) -> list[str]:
    """The fields of ``socrata_pages``' records, in the order SODA lists them."""
    if kind == "select_mapped":  # the connector's own query: the pages answer it by construction
        return socrata_select(kind).split(", ")
    return [":id", ":updated_at", ":created_at", *NYC_COLUMNS]


def socrata_headers(kind: str) -> dict[str, str]:
    """The headers SODA sends with such a page: its fields and their types (X-SODA2-Fields, -Types)."""
    fields = socrata_fields(kind)
    return {"Content-Type": "application/json;charset=utf-8",
            "X-SODA2-Fields": json.dumps(fields, separators=(",", ":")),
            "X-SODA2-Types": json.dumps([SOCRATA_TYPES.get(f, "text") for f in fields], separators=(",", ":"))}


def socrata_pages(raw: pl.DataFrame, kind: str, seed: int = 7) -> list[tuple[str, str, int, bytes]]:
    """Raw rows as Socrata JSON page bodies: (city_id, partition_month, page_number, body), laid out as
    SODA writes them (``[`` record ``\n,`` record ... ``]\n``, soda-fountain's JsonExporter), with the
    fields of ``kind`` (``socrata_fields``). Missing values are left out of a record, as Socrata does.
    For ``select_all``, each record also carries the system fields :id and :created_at, NYC's unmapped
    columns at their assumed shares (NYC_OPTIONAL_FIELDS, seeded) and ``location``, a GeoJSON point,
    wherever it has coordinates."""
    from hotline_eval.sources.common import RAW_COLUMNS
    rename = {RAW_COLUMNS[f]: name for f, name in SOCRATA_FIELDS.items()}
    optional_fields = kind == "select_all"
    rng = np.random.default_rng(seed)
    optional = [pl.when(pl.lit(pl.Series(rng.random(raw.height) < share))).then(pl.lit(value)).alias(name)
                for name, (share, value) in NYC_OPTIONAL_FIELDS.items()] if optional_fields else []
    if optional_fields:
        lon, lat = (pl.col(c).cast(pl.Float64, strict=False) for c in ("longitude_raw", "latitude_raw"))
        optional.append(pl.when(lon.is_not_null() & lat.is_not_null())
                        .then(pl.struct(pl.lit("Point").alias("type"), pl.concat_list(lon, lat).alias("coordinates")))
                        .alias("location"))
    columns = {
        ":id": pl.format("row-{}", pl.col("request_id").str.replace("-", "_")),
        ":updated_at": pl.col("source_updated_at"),
        ":created_at": pl.col("created_raw"),
        **{name: pl.col(raw_col) for raw_col, name in rename.items()},
    }
    fields = socrata_fields(kind)
    records = raw.select("city_id", "partition_month", "page_number",
                         *[columns[name].alias(name) for name in fields if name in columns], *optional)
    assert records.columns[3:] == fields
    # one JSON object per record, nulls dropped (encoded as a struct, then the null keys stripped)
    records = records.with_columns(pl.struct(fields).struct.json_encode().str.replace_all(r',?"[^"]+":null', "")
                                   .str.replace(r"^\{,", "{").alias("_json"))
    grouped = records.group_by("city_id", "partition_month", "page_number", maintain_order=True).agg(
        pl.col("_json").str.join("\n,"))
    return [(c, m, int(p), ("[" + j + "]\n").encode()) for c, m, p, j in grouped.iter_rows()]


# Above this many rows the staging file is written in chunks of at most this many: generate_staging holds
# about 6.6 GB at 10M rows, so 30M in one piece would not fit a 23 GB machine. Only the staging file is
# written then (generated_<rows>.parquet, which parsing and incremental read whole, is not).
CHUNK_ROWS = 10_000_000
# rows per row group of a chunked file: polars' own writes of these frames hold 125,000 rows per group at 1M
# (8 groups) and 123,456-123,457 at 10M (81 groups), about 6.2 MB uncompressed each
ROW_GROUP_ROWS = 125_000


def n_chunks(rows: int, chunk_rows: int = CHUNK_ROWS) -> int:
    """How many chunks ``rows`` rows are generated in (1: one piece, with the helper-column file)."""
    return max(1, -(-rows // chunk_rows))


def staging_path(rows: int, chunk_rows: int = CHUNK_ROWS) -> Path:
    """The staging Parquet of ``rows`` rows. A file split otherwise than by CHUNK_ROWS holds other rows,
    so it is named apart (``staging_<rows>_in_<k>_chunks.parquet``)."""
    k = n_chunks(rows, chunk_rows)
    if k == n_chunks(rows):
        return DATA_DIR / f"staging_{rows}.parquet"
    return DATA_DIR / f"staging_{rows}_in_{k}_chunks.parquet"


def generated_path(rows: int) -> Path:
    return DATA_DIR / f"generated_{rows}.parquet"


def has_generated(rows: int) -> bool:
    """Whether ``generated_<rows>.parquet`` (the helper columns parsing and incremental read) is written
    for this row count: only when the rows are generated in one piece."""
    return n_chunks(rows) == 1


def require_generated(rows: int) -> None:
    """Refuse, with a message and no traceback, a benchmark that needs ``generated_<rows>.parquet``
    beyond what is generated in one piece."""
    if not has_generated(rows):
        raise SystemExit(
            f"parsing and incremental read generated_<rows>.parquet whole (the requests with helper columns), "
            f"which is written only up to {CHUNK_ROWS:,} rows (above, the staging file is written in chunks and "
            f"the incremental worker alone would need about 10 GB per 10M rows); {rows:,} rows: run them at "
            f"--rows {CHUNK_ROWS} or less, or measure the indicators alone (--only indicators)")


def _write_atomically(path: Path, write) -> None:
    """``write(tmp)`` then rename: an interrupted write leaves no file that a later run would take as done."""
    tmp = path.with_name(path.name + ".partial")
    try:
        write(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def write_chunked(path: Path, rows: int, chunks: int, seed: int = 2024) -> None:
    """The staging columns of ``rows`` requests as ``chunks`` chunks of ``generate_staging(size, seed,
    chunk=i)`` (sizes differing by at most one row), streamed into one Parquet file with pyarrow's
    ParquetWriter (zstd, dictionaries where polars writes them, row groups of at most ROW_GROUP_ROWS rows, as
    polars' own writes): one chunk in memory at a time, converted to Arrow one row group at a time. Same
    rows, chunks and seed -> same file. The rows are sorted by city and creation time within each chunk."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sizes = [rows // chunks + (i < rows % chunks) for i in range(chunks)]

    def write(tmp: Path) -> None:
        writer = None
        try:
            for chunk, size in enumerate(sizes):
                frame = staging_columns(generate_staging(size, seed, chunk=chunk))  # the helper columns go
                step = -(-size // -(-size // ROW_GROUP_ROWS))  # equal row groups, as polars splits them
                for offset in range(0, size, step):
                    table = frame.slice(offset, step).to_arrow()
                    if writer is None:
                        # encoded as polars encodes these columns: dictionaries for the repetitive text
                        # columns only (pyarrow's default, a dictionary for every column, makes times,
                        # coordinates and ids 30-60% larger, so the file would read differently)
                        dictionary = [f.name for f in table.schema
                                      if pa.types.is_large_string(f.type) and f.name != "request_id"]
                        writer = pq.ParquetWriter(tmp, table.schema, compression="zstd", compression_level=3,
                                                  use_dictionary=dictionary)
                    writer.write_table(table, row_group_size=step)
                del frame
        finally:
            if writer is not None:
                writer.close()

    _write_atomically(path, write)


def ensure_staging(rows: int, seed: int = 2024, chunk_rows: int = CHUNK_ROWS) -> Path:
    """Generate (once) the staging Parquet for ``rows`` rows; returns its path. Up to ``chunk_rows`` rows in
    one piece, with ``generated_<rows>.parquet`` beside it; above, in chunks (``write_chunked``), the
    staging file alone. ``chunk_rows`` other than CHUNK_ROWS is for testing the chunking at small sizes."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = staging_path(rows, chunk_rows)
    chunks = n_chunks(rows, chunk_rows)
    if chunks > 1:
        if not path.exists():
            write_chunked(path, rows, chunks, seed)
        return path
    full = generated_path(rows)
    if not path.exists() or not full.exists():
        frame = generate_staging(rows, seed)
        _write_atomically(full, frame.write_parquet)
        _write_atomically(path, staging_columns(frame).write_parquet)
    return path
