"""raw -> staging: time zones, DST, placeholder and impossible dates, mappings, rejects."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from hotline_eval.errors import ConfigError
from hotline_eval.sources.common import RAW_SCHEMA
from hotline_eval.staging.mappings import load_mappings
from hotline_eval.staging.service_requests import stage_requests, unmapped_share
from hotline_eval.staging.timeparse import (
    AWARE_FORMATS,
    NAIVE_FORMATS,
    blank_to_null,
    parse_timestamp_columns,
    parse_timestamps,
)


def raw_rows(*rows: dict) -> pl.DataFrame:
    base = {c: None for c in RAW_SCHEMA}
    base.update(city_id="new_york", source_id="nyc_311_socrata", partition_month="2024-03", page_number=0,
                sha256="ab" * 32, is_synthetic=False)
    return pl.DataFrame([{**base, **r} for r in rows], schema=RAW_SCHEMA)


@pytest.fixture(scope="module")
def mappings() -> pl.DataFrame:
    return load_mappings()


def staged_row(mappings: pl.DataFrame, **values) -> dict:
    batch = stage_requests(raw_rows({"request_id": "1", **values}), "America/New_York", mappings)
    assert batch.rows.height == 1, batch.rejects
    return batch.rows.row(0, named=True)


def test_floating_times_are_local_and_become_utc_across_dst(mappings) -> None:
    winter = staged_row(mappings, created_raw="2024-01-15T08:30:00.000")
    summer = staged_row(mappings, created_raw="2024-07-15T08:30:00.000")
    assert winter["created_at"] == datetime(2024, 1, 15, 13, 30, tzinfo=UTC)  # EST, UTC-5
    assert summer["created_at"] == datetime(2024, 7, 15, 12, 30, tzinfo=UTC)  # EDT, UTC-4


def test_fall_back_ambiguous_hour_takes_the_first(mappings) -> None:
    row = staged_row(mappings, created_raw="2024-11-03T01:30:00.000")
    assert row["created_at"] == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)


def test_spring_forward_gap_is_read_as_the_jump_and_flagged(mappings) -> None:
    row = staged_row(mappings, created_raw="2024-03-10T02:30:00.000")
    assert row["created_at"] == datetime(2024, 3, 10, 6, 30, tzinfo=UTC)
    assert "dst_gap_time" in row["quality_flags"]


def test_offsets_and_other_published_formats(mappings) -> None:
    assert staged_row(mappings, created_raw="2018-10-28T17:00:00-04:00")["created_at"] == datetime(
        2018, 10, 28, 21, 0, tzinfo=UTC)
    assert staged_row(mappings, created_raw="02/28/2023 11:58:01 PM")["created_at"] == datetime(
        2023, 3, 1, 4, 58, 1, tzinfo=UTC)
    assert staged_row(mappings, created_raw="2022-01-04 14:19:18.623")["created_at"] == datetime(
        2022, 1, 4, 19, 19, 18, 623000, tzinfo=UTC)


def test_placeholder_closing_date_is_nulled_and_flagged(mappings) -> None:
    row = staged_row(mappings, created_raw="2024-03-01T08:00:00.000", closed_raw="1900-01-01T00:00:00.000",
                     status_raw="Closed")
    assert row["closed_at"] is None and row["status"] == "closed"
    assert "placeholder_closed_date" in row["quality_flags"]


def test_closed_before_created_is_kept_and_flagged(mappings) -> None:
    row = staged_row(mappings, created_raw="2024-03-01T08:00:00.000", closed_raw="2024-03-01T06:00:00.000")
    assert row["closed_at"] < row["created_at"]
    assert "closed_before_created" in row["quality_flags"]


def test_zero_coordinates_are_unknown_location(mappings) -> None:
    row = staged_row(mappings, created_raw="2024-03-01T08:00:00.000", latitude_raw="0.000000000000",
                     longitude_raw="0.000000000000")
    assert row["latitude"] is None and "zero_coordinates" in row["quality_flags"]


def test_missing_fields_do_not_fail_and_status_is_inferred(mappings) -> None:
    row = staged_row(mappings, created_raw="2024-03-01T08:00:00.000", closed_raw="2024-03-02T08:00:00.000")
    assert row["status"] == "closed" and "status_inferred" in row["quality_flags"]
    assert row["channel"] == "unknown" and row["category"] == "unmapped"


def test_bad_creation_times_go_to_rejects_with_reason(mappings) -> None:
    batch = stage_requests(raw_rows(
        {"request_id": "1", "created_raw": "2024-03-01T08:00:00.000"},
        {"request_id": "2", "created_raw": None},
        {"request_id": "3", "created_raw": "not a date"},
        {"request_id": "4", "created_raw": "1900-01-01T00:00:00.000"},
        {"request_id": "5", "created_raw": "2024-03-01T08:00:00.000", "closed_raw": "soon"},
    ), "America/New_York", mappings)
    assert batch.rows["request_id"].to_list() == ["1"]
    reasons = dict(zip(batch.rejects["request_id"], batch.rejects["reason"], strict=True))
    assert reasons == {"2": "missing creation time", "3": "unparseable creation time: not a date",
                       "4": "placeholder creation date: 1900-01-01T00:00:00.000",
                       "5": "unparseable closing time: soon"}
    assert batch.stats["rejected"] == 4


def test_mappings_are_case_insensitive_and_unmapped_values_counted(mappings) -> None:
    batch = stage_requests(raw_rows(
        {"request_id": "1", "created_raw": "2024-03-01T08:00:00.000", "status_raw": " IN PROGRESS ",
         "channel_raw": "ONLINE", "category_raw": "Noise - Residential"},
        {"request_id": "2", "created_raw": "2024-03-01T08:00:00.000", "status_raw": "Closed",
         "channel_raw": "Carrier pigeon", "category_raw": "Dragons"},
    ), "America/New_York", mappings)
    first, second = batch.rows.iter_rows(named=True)
    assert (first["status"], first["channel"], first["category"]) == ("open", "web", "noise")
    assert (second["channel"], second["category"]) == ("unknown", "unmapped")
    assert batch.stats["unmapped_channel"] == 1 and batch.stats["unmapped_category"] == 1
    assert batch.stats["unmapped_values"]["category"] == {"Dragons": 1}
    assert unmapped_share(batch.stats) == 0.5


def test_a_sources_own_mapping_wins_over_the_generic_one_row_by_row(mappings) -> None:
    from hotline_eval.staging.mappings import UNMAPPED, apply_mappings
    category = mappings.filter(pl.col("mapping") == "category")
    generic = dict(category.filter(pl.col("source_id") == "*").select("raw_value", "mapped_value").iter_rows())
    toronto = dict(category.filter(pl.col("source_id") == "toronto_311_ckan").select("raw_value", "mapped_value")
                   .iter_rows())
    # values mapped by Toronto's own rows, generic ones, unknown ones, blanks and nulls, in mixed case
    values = [*toronto, *list(generic)[:20], "Dragons", "  ", None, " ROAD - POT HOLE "]
    frame = pl.DataFrame({"source_id": ["toronto_311_ckan", "nyc_311_socrata"] * len(values),
                          "category_raw": [v for v in values for _ in range(2)]})
    mapped = apply_mappings(frame, mappings, [("category", "category_raw", "category")])

    def expected(source: str, raw: str | None) -> tuple[str, bool]:
        key = raw.strip().lower() if raw is not None else None
        value = (toronto.get(key) if source == "toronto_311_ckan" else None) or generic.get(key)
        return value or UNMAPPED["category"], bool(key) and value is None

    assert [(r["category"], r["category_unmapped"]) for r in mapped.iter_rows(named=True)] == [
        expected(source, raw) for source, raw in frame.iter_rows()]
    assert mapped.filter(pl.col("source_id") == "toronto_311_ckan")["category"].to_list()[0] == \
        toronto[next(iter(toronto))]


def test_a_partition_maps_each_distinct_value_once_with_the_results_of_mapping_every_row() -> None:
    """One source's rows take their distinct values' results, found once per mappings frame and kept
    for later partitions: the same as trimming, lowercasing and looking up every row."""
    from hotline_eval.staging.mappings import _apply_to_rows, apply_mappings
    mappings = load_mappings()  # its own frame: what this test finds is kept for it alone
    category = mappings.filter(pl.col("mapping") == "category")
    toronto = category.filter(pl.col("source_id") == "toronto_311_ckan")["raw_value"].to_list()
    generic = category.filter(pl.col("source_id") == "*")["raw_value"].to_list()[:20]
    values = [*toronto, *generic, *(v.upper() for v in generic[:5]), "Dragons", " dragons ", "", "  ", None,
              " ROAD - POT HOLE ", "Closed", " in progress ", "ONLINE", "Carrier pigeon"]
    columns = [("status", "status_raw", "status"), ("channel", "channel_raw", "channel"),
               ("category", "category_raw", "category")]
    for source, extra in [("toronto_311_ckan", []), ("nyc_311_socrata", []), ("toronto_311_ckan", ["Griffins"])]:
        rows = [*values, *extra] * 3
        frame = pl.DataFrame({"source_id": source, "status_raw": rows, "channel_raw": rows[::-1],
                              "category_raw": rows})
        assert apply_mappings(frame, mappings, columns).equals(_apply_to_rows(frame, mappings, columns, [source]))
    assert apply_mappings(frame.head(0), mappings, columns).height == 0


def test_a_bad_mapping_file_names_file_and_line(tmp_path) -> None:
    for name in ("status", "channel", "category", "categories"):
        src = load_mappings.__globals__["MAPPINGS_DIR"] / f"{name}.csv"
        (tmp_path / f"{name}.csv").write_text(src.read_text())
    with (tmp_path / "channel.csv").open("a") as handle:
        handle.write("*,fax,telefax\n")
    with pytest.raises(ConfigError, match=r"channel.csv, line \d+: mapped_value 'telefax' is not one of"):
        load_mappings(tmp_path)


MIXED_STAMPS = ["2024-03-10T02:30:00.000", "2024-03-10T01:59:59", "2024-11-03 01:30:00.623", "2024-11-03 01:30:00",
                "2024-01-15T08:30", "02/28/2023 11:58:01 PM", "2024-01-15", "2024-01-15T08:30:00.000-05:00",
                "2024-01-15T08:30:00+01:00", "2024-01-15T13:30:00.250Z", "2024-01-15T13:30:00Z", "03/04/2024",
                "  2024-02-01T00:00:00 ", "", None, "yesterday", "2024-13-45T99:00:00"]


def _every_format_on_every_value(column: str, timezone: str, formats: tuple[str, ...] = ()) -> tuple[pl.Expr, pl.Expr]:
    """The reference the parsers are checked against: every format tried on every value, as expressions
    (what staging did before it parsed format by format)."""
    text = blank_to_null(column)
    aware_formats, naive_formats = list(AWARE_FORMATS), [*formats, *NAIVE_FORMATS]
    never = pl.lit(None, pl.Datetime("us", "UTC"))
    aware = pl.coalesce([text.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC")
                         for f in aware_formats] or [never])
    naive = pl.coalesce([text.str.to_datetime(f, strict=False, time_unit="us") for f in naive_formats]
                        or [pl.lit(None, pl.Datetime("us"))])
    local = naive.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
    # a local time inside the spring-forward gap: read it one hour later, then step back an hour in UTC
    in_gap = (
        naive.dt.offset_by("1h").dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        - pl.duration(hours=1)
    )
    gap = naive.is_not_null() & local.is_null()
    utc = pl.coalesce(aware, local.dt.convert_time_zone("UTC"), in_gap.dt.convert_time_zone("UTC"))
    return utc, gap


@pytest.mark.parametrize("day_first", [(), ("%d/%m/%Y",)])
def test_trying_formats_only_on_what_earlier_ones_could_not_read_gives_the_same_times(
        day_first: tuple[str, ...]) -> None:
    """Parsing eagerly (each value tried with a format only when the ones before could not read it)
    equals trying every format on every value."""
    frame = pl.DataFrame({"t": MIXED_STAMPS * 3})
    utc_every, gap_every = _every_format_on_every_value("t", "America/New_York", day_first)
    every = frame.select(utc_every.alias("utc"), gap_every.alias("gap"))
    utc, gap = parse_timestamps(frame["t"], "America/New_York", day_first)
    assert every.equals(pl.DataFrame({"utc": utc, "gap": gap}))
    # several columns at once: a column in one format takes the one-pass route, a mixed one the general
    one_format = pl.Series(["2024-03-10T02:30:00.000", "2024-11-03T01:30:00.623", None, " ", "2024-01-15T08:30:00"]
                           * 10)
    both = pl.DataFrame({"t": frame["t"].head(len(one_format)), "u": one_format})
    together = parse_timestamp_columns(both, ["t", "u"], "America/New_York", day_first)
    for name in ("t", "u"):
        alone = parse_timestamps(both[name], "America/New_York", day_first)
        assert together[name][0].equals(alone[0]) and together[name][1].equals(alone[1])
    assert together["u"][1].sum() == 10  # the spring-forward gap, read on the one-pass route too
    if not day_first:  # with the day-first format named first, "u" needs the general route
        import hotline_eval.staging.timeparse as timeparse
        general = []
        original = timeparse._format_by_format
        timeparse._format_by_format = lambda values, *a: general.append(values.name) or original(values, *a)
        try:
            parse_timestamp_columns(both, ["t", "u"], "America/New_York", day_first)
        finally:
            timeparse._format_by_format = original
        assert general == ["t"]
    # blank, None, two unparseable; and "03/04/2024" unless the source names its day-first format
    assert every["utc"].null_count() == 3 * (4 if day_first else 5)
    assert every["gap"].sum() == 3  # 02:30 on the spring-forward night does not exist in New York
    # offsets without a colon are offsets too
    compact = pl.Series(["2024-01-15T08:30:00-0500", "2024-01-15T08:30:00.120+0100"])
    utc, _ = parse_timestamps(compact, "America/New_York")
    assert utc.dt.strftime("%H:%M:%S%.3f").to_list() == ["13:30:00.000", "07:30:00.120"]


@pytest.mark.parametrize("impossible", [False, True])
def test_iso_stamps_read_by_arrows_cast_give_the_times_the_formats_give(impossible: bool, monkeypatch) -> None:
    """Socrata's floating stamps go through Arrow's ISO-8601 cast: the same times, gaps and nulls as trying
    every format on every value; a stamp of that shape that is no real time sends the column to the formats."""
    import hotline_eval.staging.timeparse as timeparse
    stamps = ["2024-03-10T02:30:00.000", "2024-11-03T01:30:00.623", "2024-01-15T08:30:00", None,
              "2024-02-29T23:59:59.999999", "2024-07-01T12:00:00.5", "2024-07-01T12:00:00.05", "1900-01-01T00:00:00"]
    if impossible:
        stamps.append("2024-02-30T08:00:00.000")
    frame = pl.DataFrame({"t": stamps * 3, "u": ["2024-06-01T00:00:00.000"] * (len(stamps) * 3)})
    cast = []
    original = timeparse._iso_cast
    monkeypatch.setattr(timeparse, "_iso_cast", lambda values: cast.append(values.name) or original(values))
    parsed = parse_timestamp_columns(frame, ["t", "u"], "America/New_York")
    for name in ("t", "u"):
        utc_every, gap_every = _every_format_on_every_value(name, "America/New_York")
        every = frame.select(utc_every.alias("utc"), gap_every.alias("gap"))
        assert every.equals(pl.DataFrame({"utc": parsed[name][0], "gap": parsed[name][1]}))
    assert cast == ["t", "u"]  # both columns have the shape; with an impossible date "t" falls back
    assert parsed["t"][0].null_count() == 3 * (2 if impossible else 1)
    assert parsed["t"][1].sum() == 3
    # a source naming its own formats is read by them, not by the cast
    cast.clear()
    parse_timestamp_columns(frame, ["t"], "America/New_York", ("%Y-%d-%mT%H:%M:%S%.f",))
    assert cast == []
