"""marts.request_month_parts kept current (hotline_eval/evaluation/request_parts.py): a refresh recomputes only the
partitions staged since and those whose repeat test can see them, and always equals computing every
part again; the facts from the kept parts equal the facts from the rows."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import duckdb
import numpy as np
import polars as pl
import pytest

from hotline_eval.evaluation import request_parts
from hotline_eval.evaluation.evidence import Evidence, WarehouseRequests
from hotline_eval.evaluation.framework import load_framework
from hotline_eval.evaluation.indicators import compute_facts
from hotline_eval.evaluation.request_parts import PARTS_TABLE, compute_all_parts, refresh_request_parts
from hotline_eval.publish.warehouse import Replace, apply_ddl, query, replace_many

START = datetime(2024, 1, 1, tzinfo=UTC)
KEY = ["city_id", "partition_month"]
BOOKKEEPING = ["staged_at", "parts_version", "computed_at"]


def _rows(seed: int, n: int = 800) -> pl.DataFrame:
    """Staging rows for two cities over January to April 2024 at a few places, so that repeats are common
    and cross month boundaries."""
    rng = np.random.default_rng(seed)
    created = [START + timedelta(seconds=int(s)) for s in rng.integers(0, 120 * 86_400, n)]
    closed = [c + timedelta(hours=float(h)) if rng.random() < 0.7 else None
              for c, h in zip(created, rng.lognormal(3, 1.5, n), strict=True)]
    return pl.DataFrame({
        "city_id": rng.choice(["new_york", "toronto"], n).tolist(),
        "source_id": "s", "request_id": [f"r{i}" for i in range(n)],
        "partition_month": [c.strftime("%Y-%m") for c in created],
        "created_at": pl.Series(created, dtype=pl.Datetime("us", "UTC")),
        "closed_at": pl.Series(closed, dtype=pl.Datetime("us", "UTC")),
        "status": rng.choice(["closed", "open", "cancelled"], n, p=[0.7, 0.2, 0.1]).tolist(),
        "category": rng.choice(["noise", "street"], n).tolist(),
        "channel": rng.choice(["phone", "web", "unknown"], n).tolist(),
        "agency": rng.choice(["A", "B", None], n).tolist(),
        "latitude": (40.7 + rng.integers(0, 6, n) / 1000).tolist(),
        "longitude": (-74.0 + rng.integers(0, 6, n) / 1000).tolist(),
        "resolution": rng.choice(["done", None], n).tolist(),
        "quality_flags": [["closed_within_minute"] if r < 0.03 else [] for r in rng.random(n)],
        "sha256": [f"page{i // 50}" for i in range(n)], "is_synthetic": True,
    })


def _stage(con: duckdb.DuckDBPyConnection, rows: pl.DataFrame) -> None:
    """Write each partition of ``rows`` and its staging state, as stage_partition does."""
    for (city, month), part in rows.group_by(KEY):
        where = {"city_id": city, "partition_month": month}
        state = pl.DataFrame([{**where, "staging_version": "v", "staged_at": datetime.now(UTC), "mode": "full",
                               "rows_staged": part.height}])
        replace_many(con, [Replace("staging.service_requests", part, where),
                           Replace("staging.staged_partitions", state, where)])


def _kept(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    kept = query(con, f"SELECT * FROM {PARTS_TABLE} ORDER BY city_id, partition_month")  # noqa: S608
    return kept.drop(BOOKKEEPING).with_columns(pl.col("created_min", "created_max").dt.convert_time_zone("UTC"))


def _from_scratch(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return compute_all_parts(con, "staging.service_requests").sort(KEY)


def _computed_at(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], datetime]:
    return {(c, m): t for c, m, t in query(con, f"SELECT city_id, partition_month, computed_at "  # noqa: S608
                                                 f"FROM {PARTS_TABLE}").iter_rows()}


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    apply_ddl(con)
    return con


def test_refresh_recomputes_changed_partitions_and_the_repeats_that_can_see_them(con) -> None:
    rows = _rows(1)
    # a request early in March at a place of its own: nothing earlier repeats it, yet
    march = rows.filter(pl.col("city_id") == "new_york").head(1).with_columns(
        request_id=pl.lit("march"), partition_month=pl.lit("2024-03"),
        created_at=pl.lit(datetime(2024, 3, 3, 9, tzinfo=UTC)), latitude=pl.lit(41.0), longitude=pl.lit(-73.5))
    _stage(con, pl.concat([rows, march]))
    first = refresh_request_parts(con)
    assert first.partitions == first.recomputed == first.changed == 8  # 2 cities x 4 months
    assert _kept(con).equals(_from_scratch(con))
    assert refresh_request_parts(con).recomputed == 0
    before = _computed_at(con)
    march_repeats = query(con, f"SELECT n_repeats FROM {PARTS_TABLE} "  # noqa: S608
                               "WHERE city_id = 'new_york' AND partition_month = '2024-03'").item()

    # a February request at the same place and category, four days earlier: only February is re-staged
    feb = rows.filter((pl.col("city_id") == "new_york") & (pl.col("partition_month") == "2024-02"))
    earlier = march.with_columns(request_id=pl.lit("feb"), partition_month=pl.lit("2024-02"),
                                 created_at=pl.lit(datetime(2024, 2, 28, 9, tzinfo=UTC)))
    _stage(con, pl.concat([feb, earlier]))
    again = refresh_request_parts(con)
    after = _computed_at(con)
    recomputed = {k for k in after if after[k] != before[k]}
    assert ("new_york", "2024-02") in recomputed and ("new_york", "2024-03") in recomputed  # its repeat neighbour
    assert not any(city == "toronto" for city, _ in recomputed)
    assert ("new_york", "2024-01") not in recomputed
    assert again.changed == 1 and again.recomputed == len(recomputed)
    assert _kept(con).equals(_from_scratch(con))
    assert query(con, f"SELECT n_repeats FROM {PARTS_TABLE} "  # noqa: S608
                      "WHERE city_id = 'new_york' AND partition_month = '2024-03'").item() == march_repeats + 1


def test_gone_partitions_unstaged_rows_and_other_sql(con, monkeypatch) -> None:
    rows = _rows(2)
    _stage(con, rows)
    refresh_request_parts(con)
    # a partition re-fetched empty: its rows and state are gone, and so are its parts
    con.execute("DELETE FROM staging.service_requests WHERE city_id = 'toronto' AND partition_month = '2024-04'")
    con.execute("DELETE FROM staging.staged_partitions WHERE city_id = 'toronto' AND partition_month = '2024-04'")
    gone = refresh_request_parts(con)
    assert gone.removed == 1 and gone.partitions == 7
    assert _kept(con).equals(_from_scratch(con))
    # rows written without staging state cannot be known unchanged: their partition is recomputed every run
    extra = rows.filter(pl.col("city_id") == "toronto").head(3).with_columns(
        partition_month=pl.lit("2024-05"), request_id=pl.lit("x") + pl.col("request_id"),
        created_at=pl.col("created_at") + pl.duration(days=120))
    replace_many(con, [Replace("staging.service_requests", extra,
                               {"city_id": "toronto", "partition_month": "2024-05"})])
    assert refresh_request_parts(con).changed == 1
    assert refresh_request_parts(con).changed == 1
    assert _kept(con).equals(_from_scratch(con))
    # parts computed by other SQL or parameters are all computed again
    monkeypatch.setattr(request_parts, "parts_version", lambda: "another version")
    assert refresh_request_parts(con).recomputed == 8


def test_facts_from_kept_parts_equal_facts_from_the_rows(con) -> None:
    rows = _rows(3)
    _stage(con, rows)
    refresh_request_parts(con)
    empty = {t: query(con, f"SELECT * FROM staging.{t}")  # noqa: S608
             for t in ("hotline_stats", "portal_features", "service_catalog", "curated_evidence")}
    every = frozenset({"request_id", "created_at", "closed_at", "status", "category", "channel", "agency",
                       "latitude", "longitude", "resolution"})

    def facts(requests: pl.DataFrame | WarehouseRequests) -> pl.DataFrame:
        ev = Evidence(period="2024", cities=pl.DataFrame({"city_id": ["new_york", "toronto"],
                                                          "population": [8_000_000, 3_000_000],
                                                          "data_level": ["request_level"] * 2,
                                                          "data_evidence_url": ["u", "v"]}),
                      requests=requests, stats=empty["hotline_stats"], features=empty["portal_features"],
                      catalog=empty["service_catalog"], curated=empty["curated_evidence"],
                      published_fields={"new_york": every, "toronto": every})
        return compute_facts(load_framework(), ev)

    kept = facts(WarehouseRequests(con, parts=PARTS_TABLE))
    assert kept.equals(facts(WarehouseRequests(con)))
    assert kept.equals(facts(rows))
    assert kept.filter(pl.col("indicator_id") == "repeat_request_share")["raw_value"].is_not_null().all()


S = request_parts.PLACE_SCALE


def _half_away(value: Fraction) -> int:
    """The integer nearest to ``value``, halves away from zero, exactly."""
    n = math.floor(abs(value) + Fraction(1, 2))
    return -n if value < 0 else n


def _cell(degrees: float) -> int:
    """The project's grid (request_parts.PLACE_SCALE): the integer nearest to the double product
    degrees * S (Python's float multiplication, IEEE 754 like DuckDB's), halves away from zero, exactly."""
    return _half_away(Fraction(degrees * S))


def _place(latitude: float, longitude: float) -> tuple[int, int]:
    """A request's place: its latitude cell and its longitude cell, wrapped at the antimeridian."""
    return _cell(latitude), (_cell(longitude) + 180 * S) % (360 * S)


def _repeats_by_reference(rows: pl.DataFrame) -> dict[tuple[str, str], int]:
    """Repeat requests per partition, one request at a time: a located request with a category repeats
    when the request before it (by time, ties by partition) at the same city, category and place
    (_place) was created at most REPEAT_WINDOW_DAYS earlier."""
    located = rows.filter(pl.col("category").is_not_null() & pl.col("latitude").is_not_null()
                          & pl.col("longitude").is_not_null())
    previous: dict[tuple, datetime] = {}
    counts = dict.fromkeys(rows.select(KEY).unique().iter_rows(), 0)
    for row in located.sort("created_at", "partition_month").iter_rows(named=True):
        place = (row["city_id"], row["category"], *_place(row["latitude"], row["longitude"]))
        before = previous.get(place)
        if before is not None and row["created_at"] - before <= timedelta(days=request_parts.REPEAT_WINDOW_DAYS):
            counts[(row["city_id"], row["partition_month"])] += 1
        previous[place] = row["created_at"]
    return counts


def test_repeat_counts_equal_a_request_by_request_reference(con) -> None:
    rng = np.random.default_rng(11)
    rows = _rows(5, n=1500)
    n = rows.height
    # places on both sides of the equator and the antimeridian, the grid's corners, and coordinates a
    # hair either side of a rounding boundary; times exactly at the window's edge and ties across months
    latitude = rng.choice([-33.8705, -33.8695, 0.0004, -0.0004, 51.5, 90.0, -90.0, 12.3455001, 12.3454999], n)
    longitude = rng.choice([151.2, -179.9996, 180.0, -180.0, 0.0, 2.3495], n)
    edge = START + timedelta(days=40)
    created = rows["created_at"].to_list()
    for i in range(0, n, 10):
        created[i] = edge + timedelta(days=request_parts.REPEAT_WINDOW_DAYS * int(rng.integers(0, 3)))
    rows = rows.with_columns(latitude=pl.Series(latitude), longitude=pl.Series(longitude),
                             created_at=pl.Series(created, dtype=pl.Datetime("us", "UTC")),
                             category=pl.when(pl.int_range(n) % 17 == 0).then(None).otherwise("category"),
                             # a tenth of the rows sit in the neighbouring month's partition
                             partition_month=pl.when(pl.int_range(n) % 10 == 3).then(pl.lit("2024-02"))
                             .otherwise("partition_month"))
    con.register("request_rows", rows.to_arrow())
    parts = compute_all_parts(con, "request_rows")
    assert dict(zip(zip(parts["city_id"], parts["partition_month"], strict=True), parts["n_repeats"],
                    strict=True)) == _repeats_by_reference(rows)
    assert parts["n_repeats"].sum() > n // 4


def _hairs(edge: float, steps: int = 4) -> list[float]:
    """``edge`` and the doubles up to ``steps`` apart from it on either side."""
    below, above = [edge], [edge]
    for _ in range(steps):
        below.append(math.nextafter(below[-1], -math.inf))
        above.append(math.nextafter(above[-1], math.inf))
    return sorted({*below, *above})


def _same_place_in_sql(con, pairs: list[tuple[tuple[float, float], tuple[float, float]]]) -> list[bool]:
    """Whether the parts' SQL puts the two (latitude, longitude) of each pair at one place: each pair is
    two requests of one category an hour apart in a city of its own, so its city counts one repeat if
    and only if the SQL gives both the same cells."""
    n = 2 * len(pairs)
    cities = [f"c{i // 2:05d}" for i in range(n)]
    created = [START + timedelta(days=3, hours=i % 2) for i in range(n)]
    rows = _rows(7, n=n).with_columns(
        city_id=pl.Series(cities), partition_month=pl.lit("2024-01"), category=pl.lit("noise"),
        created_at=pl.Series(created, dtype=pl.Datetime("us", "UTC")),
        latitude=pl.Series([pair[i % 2][0] for pair in pairs for i in range(2)]),
        longitude=pl.Series([pair[i % 2][1] for pair in pairs for i in range(2)]))
    con.register("request_rows", rows.to_arrow())
    repeats = dict(compute_all_parts(con, "request_rows").select("city_id", "n_repeats").iter_rows())
    return [repeats[f"c{i:05d}"] == 1 for i in range(len(pairs))]


# cell edges (halves of the product x * S) on both sides of the equator, the prime meridian and the
# antimeridian, and at the poles' last cells
LATITUDE_EDGES = [-89.9995, -33.8705, -33.8695, -0.0015, -0.0005, 0.0005, 0.0025, 12.3455, 40.7005, 89.9995]
LONGITUDE_EDGES = [-179.9995, -74.0005, -2.3495, -0.0005, 0.0005, 2.3495, 151.2005, 179.9995]


def test_place_cells_a_hair_either_side_of_an_edge_are_the_reference_cells(con) -> None:
    """Every double within a few steps of a cell edge is at the place of its reference cell's centre and
    not at the place of the cell across the edge; and the poles, the equator, the antimeridian."""
    pairs = []
    for edges, at in ((LATITUDE_EDGES, lambda v: (v, 151.2)), (LONGITUDE_EDGES, lambda v: (-33.87, v))):
        for edge in edges:
            hairs = _hairs(edge)
            cells = sorted({_cell(v) for v in hairs})
            assert len(cells) == 2 and cells[1] == cells[0] + 1, (edge, cells)  # the hairs straddle the edge
            pairs += [(at(v), at(k / S)) for v in hairs for k in cells]
    # exact values: poles, zero of either sign, the antimeridian from both sides (one meridian)
    pairs += [((90.0, 0.0), (89.9996, 0.0)), ((-90.0, 0.0), (-89.9996, 0.0)), ((90.0, 0.0), (89.9994, 0.0)),
              ((0.0, 0.0), (-0.0, -0.0)), ((0.0004, -0.0004), (-0.0004, 0.0004)),
              ((10.0, 180.0), (10.0, -180.0)), ((10.0, 179.9996), (10.0, -179.9996)),
              ((10.0, math.nextafter(180.0, 0)), (10.0, math.nextafter(-180.0, 0))),
              ((10.0, 179.9994), (10.0, -179.9994)), ((10.0, 179.9994), (10.0, 180.0)),
              ((-10.0, -179.9995), (-10.0, 179.9995)), ((-10.0, -179.9994), (-10.0, 179.9995))]
    expected = [_place(*a) == _place(*b) for a, b in pairs]
    assert any(expected) and not all(expected)
    assert _same_place_in_sql(con, pairs) == expected


def test_the_grid_is_the_projects_rule_not_an_engines_rounding(con) -> None:
    """Pairs where the project's rule and a rounding an engine might use disagree (DuckDB 2.0.0 rounded
    the product halves away from zero, as the rule does, but 2.0.1 rounds the double's exact value):
    the SQL follows the rule, so it fails should the grid be left to round() again."""
    def product_half_even(x: float) -> int:
        return round(x * S)  # Python's round: the double, halves to even

    def product_half_up(x: float) -> int:
        return math.floor(Fraction(x * S) + Fraction(1, 2))

    def exact_value(x: float) -> int:  # the double's own value (12.3455 is 12.34549999...)
        return _half_away(Fraction(x) * S)

    cases = [  # (a, b, a rounding under which a and b are at the same place exactly when the rule says not)
        ((0.0025, 0.0), (0.0021, 0.0), product_half_even),
        ((-0.0025, 0.0), (-0.0021, 0.0), product_half_even),
        ((-0.0005, 0.0), (-0.0009, 0.0), product_half_up),
        ((-33.8705, 151.2), (-33.8708, 151.2), product_half_up),
        ((12.3455, 0.0), (12.3458, 0.0), exact_value),
        ((-33.8705, 151.2), (-33.8708, 151.2), exact_value),
        ((40.7005, -74.0), (40.7002, -74.0), exact_value),
        ((0.0, 1.0005), (0.0, 1.0008), exact_value),
    ]
    for a, b, rounding in cases:
        rule, other = _place(*a) == _place(*b), all(rounding(x) == rounding(y) for x, y in zip(a, b, strict=True))
        assert rule != other, (a, b, rounding.__name__)
    # and without the wrap, 179.9996 and -179.9996 (about 40 m apart) would be different places
    cases.append(((10.0, 179.9996), (10.0, -179.9996), None))
    assert _same_place_in_sql(con, [(a, b) for a, b, _ in cases]) == [_place(*a) == _place(*b) for a, b, _ in cases]
    assert "round(" not in request_parts.PARTS_SQL.read_text(encoding="utf-8").lower()


def test_coordinates_out_of_range_are_a_clear_error(con) -> None:
    rows = _rows(6, n=20).with_columns(latitude=pl.when(pl.int_range(20) == 7).then(91.0).otherwise("latitude"))
    con.register("request_rows", rows.to_arrow())
    with pytest.raises(duckdb.Error, match=r"coordinates out of range: 91\.0"):
        compute_all_parts(con, "request_rows")
