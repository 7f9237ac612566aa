"""Indicator facts and the scored ranking, computed over everything staged."""

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.catalog import MARTS_GROUP, OWNERS, table_metadata, top_of_ranking_markdown
from assets.hotline_stats import STATS
from assets.portals import CATALOG, FEATURES
from assets.reference import CITIES, EVIDENCE
from assets.requests import STAGED
from assets.warehouse_io import WAREHOUSE_POOL, warehouse
from hotline_eval.config.evaluation import Evaluation
from hotline_eval.config.registry import Registry
from hotline_eval.config.report_facts import load_report_facts
from hotline_eval.evaluation.evidence import Evidence
from hotline_eval.evaluation.framework import load_framework
from hotline_eval.evaluation.indicators import facts_run
from hotline_eval.evaluation.ranking import rank_cities, ranking_checks, read_ranking_inputs
from hotline_eval.evaluation.request_parts import EXCLUDED_FLAGS, PARTS_TABLE, refresh_request_parts
from hotline_eval.publish.sql_files import run_query
from hotline_eval.publish.warehouse import replace_many

FACTS = dg.AssetKey(["marts", "indicator_facts"])
RANKING = dg.AssetKey(["marts", "city_ranking"])


SCORE_SPECS = [
    dg.AssetSpec(RANKING, group_name=MARTS_GROUP, owners=OWNERS, kinds={"polars", "duckdb"}, deps=[FACTS],
                 description="One row per registered city: rank, score 0-100, the four primary scores, coverage, "
                             "Monte Carlo rank interval, curated share, evidence date, data mode."),
    dg.AssetSpec(["marts", "primary_scores"], group_name=MARTS_GROUP, owners=OWNERS, kinds={"duckdb"}, deps=[FACTS],
                 description="Each city's score on each primary indicator, long form."),
    dg.AssetSpec(["marts", "secondary_scores"], group_name=MARTS_GROUP, owners=OWNERS, kinds={"duckdb"},
                 deps=[FACTS],
                 description="Each city's score on each secondary indicator, long form."),
    dg.AssetSpec(["marts", "city_explanations"], group_name=MARTS_GROUP, owners=OWNERS, kinds={"duckdb"},
                 deps=[FACTS],
                 description="Each city's strengths and weaknesses (up to three each; meaningful differences only), "
                             "in plain words."),
    dg.AssetSpec(["marts", "rank_sensitivity"], group_name=MARTS_GROUP, owners=OWNERS, kinds={"duckdb"},
                 deps=[FACTS],
                 description="Leave-one-indicator-out ranks: which indicators move each city's rank most."),
]

SCORE_CHECKS = [
    dg.AssetCheckSpec("one_row_per_city", asset=RANKING, description="Every registered city has exactly one row."),
    dg.AssetCheckSpec("scores_in_range", asset=RANKING, description="Scores are within [0, 100]."),
    dg.AssetCheckSpec("ranks_are_1_to_n", asset=RANKING,
                      description="Ranks of ranked cities form 1..N, ties sharing the best rank."),
    dg.AssetCheckSpec("rank_interval_contains_rank", asset=RANKING,
                      description="rank_p05 <= rank <= rank_p95 for every ranked city."),
    dg.AssetCheckSpec("scores_and_coverage_in_range", asset=["marts", "primary_scores"],
                      description="Scores within [0, 100], coverage within [0, 1]; a row per city and primary "
                                  "indicator."),
    dg.AssetCheckSpec("scores_and_coverage_in_range", asset=["marts", "secondary_scores"],
                      description="Scores within [0, 100], coverage within [0, 1]; a row per city and secondary "
                                  "indicator."),
    dg.AssetCheckSpec("every_scored_city_explained", asset=["marts", "city_explanations"],
                      description="Every city with a score has its strongest and weakest indicators."),
    dg.AssetCheckSpec("one_row_per_ranked_city_and_indicator", asset=["marts", "rank_sensitivity"],
                      description="Each ranked city has a leave-one-out rank for every tertiary indicator."),
    dg.AssetCheckSpec("report_full_marks", asset=["marts", "secondary_scores"], blocking=True,
                      description="The 2024 report gave Seoul 120 full marks on policy collaboration, function "
                                  "coordination and platform collaboration: Seoul's computed scores on the three "
                                  "must be 100 (config/report_facts.yaml, with the quote)."),
    dg.AssetCheckSpec("report_hotline_types", asset=RANKING,
                      description="Every hotline type the 2024 report names (config/report_facts.yaml) is carried "
                                  "by its city's row."),
]


def mart_assets(registry: Registry, evaluation: Evaluation) -> list[dg.AssetsDefinition]:
    """marts/indicator_facts and the scored ranking (marts/city_ranking and its companions)."""

    @dg.asset(
        key=FACTS, group_name=MARTS_GROUP, owners=OWNERS, kinds={"polars", "duckdb"},
        deps=[STAGED, STATS, CITIES, EVIDENCE, FEATURES, CATALOG],
        pool=WAREHOUSE_POOL,
        check_specs=[dg.AssetCheckSpec("every_indicator_for_every_city", asset=FACTS,
                                       description="Each city has each of the tertiary indicators, as a value or "
                                                   "marked missing with a reason.")],
        description="One row per city, tertiary indicator and evaluation period: the value, its normalized score, "
                    "coverage and the evidence (route, year, citation, table, keys, archive sha256s) it rests on; the "
                    "capability matrix (marts.city_capabilities) saying what each city's data can support; and "
                    "monthly close times, Kaplan-Meier beside naive (marts.close_times_monthly).",
    )
    def indicator_facts(context: dg.AssetExecutionContext, warehouse_db: DuckDBResource):
        framework = load_framework()
        with warehouse(warehouse_db) as con:
            # the additive parts of partitions staged since the last run; the rest are kept
            parts = refresh_request_parts(con)
            # aggregated inside DuckDB: the request rows never load into Python
            ev = Evidence.from_warehouse(con, str(evaluation.evaluation_year), registry, parts=PARTS_TABLE,
                                         **evaluation.evidence_window())
            result = facts_run(ev, framework, registry, coverage_threshold=evaluation.coverage_threshold,
                               run_id=context.run.run_id)
            replace_many(con, result.writes())
            flags = run_query(con, "quality_flag_counts")
            table = table_metadata(con, FACTS)
        summary = result.summary()
        yield dg.MaterializeResult(metadata={
            **table,
            "dagster/row_count": result.facts.height,
            "with_value": summary["with_value"],
            "request_partitions": parts.partitions,
            "request_partitions_recomputed": parts.recomputed,
            "request_partitions_changed": parts.changed,
            "missing": summary["missing"],
            "by_evidence_kind": dg.MetadataValue.json(summary["by_evidence_kind"]),
            "excluded_from_close_times": dg.MetadataValue.json(
                {r["flag"]: r["n"] for r in flags.iter_rows(named=True) if r["flag"] in EXCLUDED_FLAGS}),
            "capabilities": dg.MetadataValue.json(summary["capabilities"]),
            "top_missing_reasons": dg.MetadataValue.json(summary["top_missing_reasons"]),
        })
        yield dg.AssetCheckResult(check_name="every_indicator_for_every_city",
                                  passed=result.facts.height == result.expected and result.missing_without_reason == 0,
                                  metadata={"rows": result.facts.height, "expected": result.expected,
                                            "missing_without_reason": result.missing_without_reason})

    @dg.multi_asset(
        specs=SCORE_SPECS, pool=WAREHOUSE_POOL,
        check_specs=SCORE_CHECKS,
    )
    def scores(context: dg.AssetExecutionContext, warehouse_db: DuckDBResource):
        framework = load_framework()
        run_id = context.run.run_id
        with warehouse(warehouse_db) as con:
            result = rank_cities(read_ranking_inputs(con), framework, coverage_threshold=evaluation.coverage_threshold,
                                 run_id=run_id, draws=evaluation.monte_carlo_draws, seed=evaluation.monte_carlo_seed)
            replace_many(con, result.writes(run_id))
            tables = {spec.key: table_metadata(con, spec.key) for spec in SCORE_SPECS}
        ranking = result.ranking
        yield dg.MaterializeResult(asset_key=RANKING, metadata={
            **tables[RANKING],
            "dagster/row_count": ranking.height,
            "ranked": result.ranked.height,
            "below_coverage_threshold": ranking.filter(pl.col("below_coverage_threshold")).height,
            "data_mode": result.data_mode,
            "monte_carlo_draws": evaluation.monte_carlo_draws,
            "top": dg.MetadataValue.md(top_of_ranking_markdown(result.ranked)),
        })
        for key, frame in result.companions.items():
            yield dg.MaterializeResult(asset_key=["marts", key], metadata={
                **tables[dg.AssetKey(["marts", key])], "dagster/row_count": frame.height})
        for check in ranking_checks(result, framework, [c.id for c in registry.cities], load_report_facts()):
            yield dg.AssetCheckResult(asset_key=["marts", check.table], check_name=check.name, passed=check.passed,
                                      metadata=check.metadata)

    return [indicator_facts, scores]

