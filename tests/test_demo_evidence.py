"""Issue #18 on the whole graph, as the quick start runs it from the demo archive: the cities ranked, the
facts' evidence columns, Seoul's full marks held by the blocking check, the KPIs' cities, and the quick
start's listing of all 20."""

from __future__ import annotations

import duckdb
import pytest

KPIS = ("service_level", "abandonment_rate", "first_contact_resolution", "satisfaction", "on_time_share",
        "accessibility")
REPORT_CITIES = {"seoul", "beijing", "shanghai", "guangzhou", "hong_kong", "singapore", "tokyo"}


@pytest.fixture(scope="module")
def con(demo_run) -> duckdb.DuckDBPyConnection:
    out, env = demo_run
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    connection = duckdb.connect(env["HOTLINE_EVAL_DUCKDB"], read_only=True)
    yield connection
    connection.close()


def test_most_cities_are_ranked_on_honest_coverage(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT city_id, rank, coverage, real_share, unranked_reason FROM marts.city_ranking").fetchall()
    ranked = {r[0] for r in rows if r[1] is not None}
    assert len(ranked) >= 18, sorted({r[0] for r in rows} - ranked)
    # the highlighted cities ranked (Tokyo's evidence covers 49% of the weight: see the closing note of #18)
    assert REPORT_CITIES - {"tokyo"} <= ranked
    # the rule stays: ranked means covered at least half the weight; unranked says why
    assert all(r[2] >= 0.5 for r in rows if r[1] is not None)
    assert all(r[2] < 0.5 and "below the 50% threshold" in r[4] for r in rows if r[1] is None)
    # real_share: a share, and some ranked cities rest mostly on cited facts rather than the demo archive
    assert all(0 <= r[3] <= 1 for r in rows if r[3] is not None)
    assert any(r[3] > 0.4 for r in rows if r[1] is not None)


def test_every_fact_says_its_route_year_and_where_to_read_it(con: duckdb.DuckDBPyConnection) -> None:
    unsaid = con.execute("SELECT count(*) FROM marts.indicator_facts WHERE raw_value IS NOT NULL AND "
                         "(evidence_route IS NULL OR evidence_year IS NULL OR citation_url IS NULL)").fetchone()[0]
    assert unsaid == 0
    routes = {r[0] for r in con.execute("SELECT DISTINCT evidence_route FROM marts.indicator_facts "
                                         "WHERE raw_value IS NOT NULL").fetchall()}
    assert routes == {"requests", "statistics", "pages", "curated", "registry"}
    # a cited fact's URL is the row's in config/evidence/, and real (not synthetic)
    orphans = con.execute("SELECT count(*) FROM marts.indicator_facts f WHERE evidence_route = 'curated' AND "
                          "(is_synthetic OR NOT EXISTS (SELECT 1 FROM staging.curated_evidence c WHERE "
                          "c.city_id = f.city_id AND c.citation_url = f.citation_url))").fetchone()[0]
    assert orphans == 0


def test_seoul_has_full_marks_on_the_three_collaborative_secondaries(con: duckdb.DuckDBPyConnection) -> None:
    scores = dict(con.execute("SELECT secondary_id, score FROM marts.secondary_scores WHERE city_id = 'seoul' "
                              "AND primary_id = 'collaborative'").fetchall())
    assert scores == {"policy_collaboration": 100.0, "function_coordination": 100.0, "platform_collaboration": 100.0}
    types = dict(con.execute("SELECT city_id, hotline_type FROM marts.city_ranking "
                             "WHERE hotline_type IS NOT NULL").fetchall())
    assert types == {"beijing": "integrative", "tokyo": "inclusive", "toronto": "innovative"}


def test_the_hotline_kpis_have_values_and_real_ones(con: duckdb.DuckDBPyConnection) -> None:
    counts = {r[0]: (r[1], r[2]) for r in con.execute(
        "SELECT indicator_id, count(raw_value), count(raw_value) FILTER (WHERE NOT is_synthetic) "
        "FROM marts.indicator_facts GROUP BY 1").fetchall()}
    assert set(KPIS) <= set(counts)
    # what the stored public material gave (closing note of #18): service level, satisfaction and
    # accessibility for 5+ cities with 3+ real; on-time handling and abandonment for fewer
    for kpi in ("service_level", "satisfaction", "accessibility"):
        assert counts[kpi][0] >= 5 and counts[kpi][1] >= 3, (kpi, counts[kpi])
    for kpi in ("on_time_share", "abandonment_rate", "first_contact_resolution"):
        assert counts[kpi][1] >= 1, (kpi, counts[kpi])


def test_the_quick_start_lists_all_20_ranked_first_then_why_the_others_are_not(demo_run) -> None:
    out = demo_run[0].stdout
    listing = out[out.index("ranking:"):out.index("report:")].splitlines()[1:]
    assert len(listing) == 20, listing
    ranked = [line for line in listing if not line.lstrip().startswith("-")]
    assert listing[:len(ranked)] == ranked  # ranked first
    assert all("below the 50% threshold" in line for line in listing[len(ranked):])
