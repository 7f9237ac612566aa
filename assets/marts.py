"""Indicator facts and the scored ranking, computed over everything staged."""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.config import EVALUATION, REGISTRY
from assets.hotline_stats import hotline_stats
from assets.portals import portal_features, service_catalog
from assets.reference import cities, curated_evidence
from assets.requests import staging_service_requests
from assets.warehouse_io import WAREHOUSE_POOL, warehouse
from hotline_eval.evaluation.capabilities import capability_matrix
from hotline_eval.evaluation.explain import explanations
from hotline_eval.evaluation.framework import load_framework
from hotline_eval.evaluation.indicators import EXCLUDED_FLAGS, FACT_SCHEMA, Evidence, WarehouseRequests, compute_facts
from hotline_eval.evaluation.request_parts import PARTS_TABLE, refresh_request_parts
from hotline_eval.evaluation.scoring import score
from hotline_eval.publish.warehouse import Replace, query, replace_many

FACTS = dg.AssetKey(["marts", "indicator_facts"])
RANKING = dg.AssetKey(["marts", "city_ranking"])


def _published_fields() -> dict[str, frozenset[str]]:
    """Staging fields each city's request feeds publish, from their registry mappings."""
    from hotline_eval.sources.open311 import STANDARD_FIELDS

    out: dict[str, frozenset[str]] = {}
    for city in REGISTRY.cities:
        fields: set[str] = set()
        for source in city.sources:
            if source.kind == "open311":
                fields |= set(STANDARD_FIELDS) | set(source.fields)
            elif source.kind != "aggregate_table":
                fields |= set(source.fields)
        out[city.id] = frozenset(fields)
    return out


@dg.asset(
    key=FACTS, group_name="marts", kinds={"polars", "duckdb"},
    deps=[staging_service_requests, hotline_stats, cities, curated_evidence, portal_features, service_catalog],
    pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec("every_indicator_for_every_city", asset=FACTS,
                                   description="Each city has each of the tertiary indicators, as a value or "
                                               "marked missing with a reason.")],
    description="One row per city, tertiary indicator and evaluation period: the value, its normalized score, "
                "coverage and the evidence (table, keys, archive sha256s) it rests on; and the capability matrix "
                "(marts.city_capabilities) saying what each city's data can support.",
)
def indicator_facts(context: dg.AssetExecutionContext, warehouse_db: DuckDBResource):
    framework = load_framework()
    with warehouse(warehouse_db) as con:
        # the additive parts of partitions staged since the last run; the rest are kept
        parts = refresh_request_parts(con)
        ev = Evidence(
            period=str(EVALUATION.evaluation_year),
            cities=query(con, "SELECT * FROM staging.cities ORDER BY city_id"),
            # aggregated inside DuckDB: the request rows never load into Python
            requests=WarehouseRequests(con, parts=PARTS_TABLE),
            stats=query(con, "SELECT * FROM staging.hotline_stats"),
            features=query(con, "SELECT * FROM staging.portal_features"),
            catalog=query(con, "SELECT * FROM staging.service_catalog"),
            curated=query(con, "SELECT * FROM staging.curated_evidence"),
            published_fields=_published_fields(),
        )
        facts = compute_facts(framework, ev)
        # normalized values come from the same scoring the ranking uses
        scored = score(facts, framework, ev.cities.select("city_id"), coverage_threshold=EVALUATION.coverage_threshold,
                       run_id=context.run.run_id, draws=0)
        out = scored.facts.with_columns(run_id=pl.lit(context.run.run_id))
        capabilities = capability_matrix(out, REGISTRY).with_columns(run_id=pl.lit(context.run.run_id))
        replace_many(con, [Replace("marts.indicator_facts", out), Replace("marts.city_capabilities", capabilities)])
        flags = query(con, "SELECT flag, count(*) AS n FROM (SELECT unnest(quality_flags) AS flag "
                           "FROM staging.service_requests) GROUP BY ALL ORDER BY flag")
    missing_without_reason = out.filter(pl.col("raw_value").is_null() & pl.col("missing_reason").is_null()).height
    expected = ev.cities.height * len(framework.tertiary())
    by_kind = out.group_by("evidence_kind").agg(pl.col("raw_value").is_not_null().sum().alias("with_value"),
                                                pl.len().alias("facts")).sort("evidence_kind")
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": out.height,
        "with_value": out.filter(pl.col("raw_value").is_not_null()).height,
        "request_partitions": parts.partitions,
        "request_partitions_recomputed": parts.recomputed,
        "request_partitions_changed": parts.changed,
        "missing": out.filter(pl.col("raw_value").is_null()).height,
        "by_evidence_kind": dg.MetadataValue.json({r["evidence_kind"]: f"{r['with_value']}/{r['facts']}"
                                                   for r in by_kind.iter_rows(named=True)}),
        "excluded_from_close_times": dg.MetadataValue.json(
            {r["flag"]: r["n"] for r in flags.iter_rows(named=True) if r["flag"] in EXCLUDED_FLAGS}),
        "capabilities": dg.MetadataValue.json(dict(capabilities.group_by("capability").len().sort("capability")
                                                   .iter_rows())),
        "top_missing_reasons": dg.MetadataValue.json(dict(
            out.filter(pl.col("raw_value").is_null()).group_by("missing_reason").len()
            .sort("len", descending=True).head(8).iter_rows())),
    })
    yield dg.AssetCheckResult(check_name="every_indicator_for_every_city",
                              passed=out.height == expected and missing_without_reason == 0,
                              metadata={"rows": out.height, "expected": expected,
                                        "missing_without_reason": missing_without_reason})


SCORE_SPECS = [
    dg.AssetSpec(RANKING, group_name="marts", kinds={"polars", "duckdb"}, deps=[FACTS],
                 description="One row per registered city: rank, score 0-100, the four primary scores, coverage, "
                             "Monte Carlo rank interval, curated share, evidence date, data mode."),
    dg.AssetSpec(["marts", "primary_scores"], group_name="marts", kinds={"duckdb"}, deps=[FACTS],
                 description="Each city's score on each primary indicator, long form."),
    dg.AssetSpec(["marts", "secondary_scores"], group_name="marts", kinds={"duckdb"}, deps=[FACTS],
                 description="Each city's score on each secondary indicator, long form."),
    dg.AssetSpec(["marts", "city_explanations"], group_name="marts", kinds={"duckdb"}, deps=[FACTS],
                 description="Each city's three strongest and three weakest indicators, in plain words."),
    dg.AssetSpec(["marts", "rank_sensitivity"], group_name="marts", kinds={"duckdb"}, deps=[FACTS],
                 description="Leave-one-indicator-out ranks: which indicators move each city's rank most."),
]


@dg.multi_asset(
    specs=SCORE_SPECS, pool=WAREHOUSE_POOL,
    check_specs=[
        dg.AssetCheckSpec("one_row_per_city", asset=RANKING, description="Every registered city has exactly one row."),
        dg.AssetCheckSpec("scores_in_range", asset=RANKING, description="Scores are within [0, 100]."),
        dg.AssetCheckSpec("ranks_are_1_to_n", asset=RANKING,
                          description="Ranks of ranked cities form 1..N, ties sharing the best rank."),
        dg.AssetCheckSpec("rank_interval_contains_rank", asset=RANKING,
                          description="rank_p05 <= rank <= rank_p95 for every ranked city."),
        dg.AssetCheckSpec("scores_and_coverage_in_range", asset=["marts", "primary_scores"],
                          description="Scores within [0, 100], coverage within [0, 1]; 20 cities x 4 primaries."),
        dg.AssetCheckSpec("scores_and_coverage_in_range", asset=["marts", "secondary_scores"],
                          description="Scores within [0, 100], coverage within [0, 1]; 20 cities x 10 secondaries."),
        dg.AssetCheckSpec("every_scored_city_explained", asset=["marts", "city_explanations"],
                          description="Every city with a score has its strongest and weakest indicators."),
        dg.AssetCheckSpec("one_row_per_ranked_city_and_indicator", asset=["marts", "rank_sensitivity"],
                          description="Each ranked city has a leave-one-out rank for every tertiary indicator."),
    ],
)
def scores(context: dg.AssetExecutionContext, warehouse_db: DuckDBResource):
    framework = load_framework()
    run_id = context.run.run_id
    with warehouse(warehouse_db) as con:
        facts = query(con, "SELECT * EXCLUDE (run_id) FROM marts.indicator_facts").cast(FACT_SCHEMA)
        city_rows = query(con, "SELECT city_id, name_en FROM staging.cities ORDER BY city_id")
        evidence_dates = query(con, """
            WITH hashes AS (SELECT DISTINCT city_id, unnest(evidence_sha256s) AS sha256 FROM marts.indicator_facts
                            WHERE raw_value IS NOT NULL)
            SELECT h.city_id, max(a.fetched_at)::DATE AS evidence_date FROM hashes h
            JOIN raw.http_archive a USING (sha256) GROUP BY ALL
            UNION ALL
            SELECT city_id, max(citation_date) FROM staging.curated_evidence GROUP BY ALL""")
        scored = score(facts, framework, city_rows.select("city_id"), coverage_threshold=EVALUATION.coverage_threshold,
                       run_id=run_id, draws=EVALUATION.monte_carlo_draws, seed=EVALUATION.monte_carlo_seed)
        kinds = facts.select("city_id", "indicator_id", "evidence_kind", "is_synthetic")
        shares = scored.contributions.join(kinds, on=["city_id", "indicator_id"]).group_by("city_id").agg(
            (pl.when(pl.col("evidence_kind") == "curated").then(pl.col("contribution")).otherwise(0.0).sum()
             / pl.col("contribution").sum()).alias("curated_share"))
        synthetic = facts.filter(pl.col("raw_value").is_not_null()).group_by("city_id").agg(
            pl.col("is_synthetic").any())
        any_synthetic = bool(synthetic["is_synthetic"].any()) if synthetic.height else False
        ranking = (
            city_rows.rename({"name_en": "city_name"})
            .join(scored.ranking, on="city_id", how="left")
            .join(shares, on="city_id", how="left")
            .join(evidence_dates.group_by("city_id").agg(pl.col("evidence_date").max()), on="city_id", how="left")
            .join(synthetic, on="city_id", how="left")
            .with_columns(pl.col("is_synthetic").fill_null(False),
                          pl.col("curated_share").fill_nan(None),
                          pl.lit("demo" if any_synthetic else "live").alias("data_mode"))
            .sort("rank", "city_id", nulls_last=True)
        )
        scored_cities = ranking.filter(pl.col("score").is_not_null())["city_id"].to_list()
        explained = explanations(scored.contributions, scored.facts, framework, scored_cities)
        with_run = pl.lit(run_id).alias("run_id")
        replace_many(con, [
            Replace("marts.city_ranking", ranking),
            Replace("marts.primary_scores", scored.primary.with_columns(with_run)),
            Replace("marts.secondary_scores", scored.secondary.with_columns(with_run)),
            Replace("marts.city_explanations", explained.with_columns(with_run)),
            Replace("marts.rank_sensitivity", scored.sensitivity.with_columns(with_run)),
        ])
    ranked = ranking.filter(pl.col("rank").is_not_null())
    ranks = sorted(ranked["rank"].to_list())
    expected_ranks = [1 + sum(1 for other in ranks if other < r) for r in ranks]
    score_values = ranking["score"].drop_nulls()
    top = ranked.head(10)
    yield dg.MaterializeResult(asset_key=RANKING, metadata={
        "dagster/row_count": ranking.height,
        "ranked": ranked.height,
        "below_coverage_threshold": ranking.filter(pl.col("below_coverage_threshold")).height,
        "data_mode": "demo" if any_synthetic else "live",
        "monte_carlo_draws": EVALUATION.monte_carlo_draws,
        "top": dg.MetadataValue.md(_markdown(top)),
        "dagster/column_lineage": _column_lineage(),
    })
    for key, frame in (("primary_scores", scored.primary), ("secondary_scores", scored.secondary),
                       ("city_explanations", explained), ("rank_sensitivity", scored.sensitivity)):
        yield dg.MaterializeResult(asset_key=["marts", key], metadata={"dagster/row_count": frame.height})
    yield dg.AssetCheckResult(asset_key=RANKING, check_name="one_row_per_city",
                              passed=sorted(ranking["city_id"].to_list()) == sorted(c.id for c in REGISTRY.cities))
    yield dg.AssetCheckResult(asset_key=RANKING, check_name="scores_in_range",
                              passed=bool(score_values.is_empty()
                                          or (score_values.min() >= 0 and score_values.max() <= 100)))
    yield dg.AssetCheckResult(asset_key=RANKING, check_name="ranks_are_1_to_n", passed=ranks == expected_ranks,
                              metadata={"ranked": len(ranks)})
    for key, frame, parts in (("primary_scores", scored.primary, len(framework.primary)),
                              ("secondary_scores", scored.secondary, sum(len(p.secondary) for p in framework.primary))):
        bad = frame.filter(~pl.col("score").is_between(0, 100) | ~pl.col("coverage").is_between(0, 1)).height
        yield dg.AssetCheckResult(asset_key=["marts", key], check_name="scores_and_coverage_in_range",
                                  passed=bad == 0 and frame.height == ranking.height * parts,
                                  metadata={"out_of_range": bad, "rows": frame.height})
    unexplained = set(scored_cities) - set(explained["city_id"].to_list())
    yield dg.AssetCheckResult(asset_key=["marts", "city_explanations"], check_name="every_scored_city_explained",
                              passed=not unexplained, metadata={"unexplained": ", ".join(sorted(unexplained))})
    yield dg.AssetCheckResult(asset_key=["marts", "rank_sensitivity"],
                              check_name="one_row_per_ranked_city_and_indicator",
                              passed=scored.sensitivity.height == ranked.height * len(framework.tertiary()),
                              metadata={"rows": scored.sensitivity.height})
    outside = ranked.filter((pl.col("rank_p05") > pl.col("rank")) | (pl.col("rank_p95") < pl.col("rank")))
    yield dg.AssetCheckResult(asset_key=RANKING, check_name="rank_interval_contains_rank", passed=outside.is_empty(),
                              metadata={"outside": ", ".join(outside["city_id"].to_list()) or "none"})


def _column_lineage() -> dg.TableColumnLineage:
    facts_value = [dg.TableColumnDep(asset_key=FACTS, column_name="normalized_value")]
    return dg.TableColumnLineage(deps_by_column={
        "score": facts_value,
        **{f"{p}_score": facts_value for p in ("process", "collaborative", "smart", "responsive")},
        "coverage": [dg.TableColumnDep(asset_key=FACTS, column_name="raw_value")],
        "curated_share": [dg.TableColumnDep(asset_key=FACTS, column_name="evidence_kind"), *facts_value],
        "evidence_date": [dg.TableColumnDep(asset_key=FACTS, column_name="evidence_sha256s")],
        "is_synthetic": [dg.TableColumnDep(asset_key=FACTS, column_name="is_synthetic")],
    })


def _markdown(frame: pl.DataFrame) -> str:
    lines = ["| rank | city | score | 90% rank interval | coverage |", "|---:|---|---:|---|---:|"]
    lines += [f"| {r['rank']} | {r['city_name']} | {r['score']:.1f} | {r['rank_p05']:.0f}-{r['rank_p95']:.0f} "
              f"| {r['coverage']:.2f} |" for r in frame.iter_rows(named=True)]
    return "\n".join(lines)
