"""Indicator facts and the ranking, computed over everything staged."""


import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.config import EVALUATION, REGISTRY
from assets.reference import cities
from assets.requests import staging_service_requests
from assets.warehouse_io import WAREHOUSE_POOL, warehouse
from hotline_eval.framework import load_framework
from hotline_eval.indicators import FACT_SCHEMA, median_hours_to_close
from hotline_eval.scoring import RANKING_SCHEMA, city_ranking, normalize_facts
from hotline_eval.warehouse import query, replace_rows


@dg.asset(
    key_prefix=["marts"], name="indicator_facts", group_name="marts", kinds={"polars", "duckdb"},
    deps=[staging_service_requests, cities], pool=WAREHOUSE_POOL,
    check_specs=[dg.AssetCheckSpec("every_indicator_for_every_city", asset=["marts", "indicator_facts"],
                                   description="Each city has each tertiary indicator, as a value or "
                                               "marked missing with a reason.")],
    description="One row per city, tertiary indicator and period, with the evidence it rests on.",
)
def indicator_facts(context: dg.AssetExecutionContext, warehouse_db: DuckDBResource):
    framework = load_framework()
    period = str(EVALUATION.evaluation_year)
    with warehouse(warehouse_db) as con:
        requests = query(con, "SELECT city_id, partition_month, created_at, closed_at, quality_flags, sha256, "
                              "is_synthetic FROM staging.service_requests")
        facts = median_hours_to_close(requests, [c.id for c in REGISTRY.cities], period)
        normalized = normalize_facts(facts, framework)
        out = normalized.select(list(FACT_SCHEMA)).cast(FACT_SCHEMA).with_columns(run_id=pl.lit(context.run.run_id))
        replace_rows(con, "marts.indicator_facts", out)
    expected = {(c.id, t.id) for c in REGISTRY.cities for t in framework.tertiary()}
    present = {(r["city_id"], r["indicator_id"]) for r in out.iter_rows(named=True)
               if r["raw_value"] is not None or r["missing_reason"]}
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": out.height,
        "with_value": out.filter(pl.col("raw_value").is_not_null()).height,
        "missing": out.filter(pl.col("raw_value").is_null()).height,
    })
    yield dg.AssetCheckResult(check_name="every_indicator_for_every_city", passed=expected <= present,
                              metadata={"absent": len(expected - present)})


@dg.asset(
    key_prefix=["marts"], name="city_ranking", group_name="marts", kinds={"polars", "duckdb"},
    deps=[indicator_facts, cities], pool=WAREHOUSE_POOL,
    check_specs=[
        dg.AssetCheckSpec("one_row_per_city", asset=["marts", "city_ranking"],
                          description="Every registered city has exactly one row."),
        dg.AssetCheckSpec("scores_in_range", asset=["marts", "city_ranking"],
                          description="Scores are within [0, 100]."),
        dg.AssetCheckSpec("ranks_are_1_to_n", asset=["marts", "city_ranking"],
                          description="Ranks of ranked cities form 1..N, ties sharing the best rank."),
    ],
    description="One row per registered city: rank, score 0-100, primary scores, coverage, data mode.",
)
def city_ranking_asset(context: dg.AssetExecutionContext, warehouse_db: DuckDBResource):
    framework = load_framework()
    with warehouse(warehouse_db) as con:
        facts = query(con, "SELECT * EXCLUDE (run_id) FROM marts.indicator_facts").cast(FACT_SCHEMA)
        city_rows = query(con, "SELECT city_id, name_en FROM staging.cities")
        _, ranking = city_ranking(facts, framework, city_rows, coverage_threshold=EVALUATION.coverage_threshold,
                                  run_id=context.run.run_id)
        replace_rows(con, "marts.city_ranking", ranking)
    ranks = sorted(r for r in ranking["rank"].to_list() if r is not None)
    expected_ranks = [1 + sum(1 for other in ranks if other < r) for r in ranks]
    scores = ranking["score"].drop_nulls()
    top = ranking.filter(pl.col("rank").is_not_null()).head(10)
    yield dg.MaterializeResult(metadata={
        "dagster/row_count": ranking.height,
        "ranked": len(ranks),
        "data_mode": ranking["data_mode"][0] if ranking.height else "none",
        "top": dg.MetadataValue.md(_markdown(top)),
        "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(n, str(t)) for n, t in
                                                         RANKING_SCHEMA.items()]),
    })
    yield dg.AssetCheckResult(check_name="one_row_per_city",
                              passed=sorted(ranking["city_id"].to_list()) == sorted(c.id for c in REGISTRY.cities))
    yield dg.AssetCheckResult(check_name="scores_in_range",
                              passed=bool(scores.is_empty() or (scores.min() >= 0 and scores.max() <= 100)))
    yield dg.AssetCheckResult(check_name="ranks_are_1_to_n", passed=ranks == expected_ranks,
                              metadata={"ranked": len(ranks)})


def _markdown(frame: pl.DataFrame) -> str:
    lines = ["| rank | city | score | coverage |", "|---:|---|---:|---:|"]
    lines += [f"| {r['rank']} | {r['city_name']} | {r['score']:.1f} | {r['coverage']:.2f} |"
              for r in frame.iter_rows(named=True)]
    return "\n".join(lines)
