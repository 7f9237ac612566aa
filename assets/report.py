"""The report people look at: reports/ranking.html, self-contained, and the top of the ranking in the UI."""

from pathlib import Path

import dagster as dg
import polars as pl
from dagster_duckdb import DuckDBResource

from assets.marts import FACTS, SCORE_SPECS
from assets.resources import ProjectSettings
from assets.warehouse_io import WAREHOUSE_POOL, warehouse
from hotline_eval.evaluation.framework import load_framework
from hotline_eval.publish.report import read_report_tables, render_report, write_report


@dg.asset(
    name="ranking_report", group_name="publish", kinds={"html"}, pool=WAREHOUSE_POOL,
    deps=[*(spec.key for spec in SCORE_SPECS), FACTS],
    description="reports/ranking.html: the ranking with its uncertainty intervals, the four primary scores, an "
                "indicator heatmap, per-city explanations and evidence dates; a banner when the data is synthetic. "
                "Charts are inline SVG (Altair + vl-convert): the file opens offline.",
)
def ranking_report(context: dg.AssetExecutionContext, warehouse_db: DuckDBResource,
                   settings: ProjectSettings) -> dg.MaterializeResult:
    report_path = Path(settings.report)
    with warehouse(warehouse_db) as con:
        tables = read_report_tables(con)
    page = render_report(tables.ranking, tables.primary, tables.facts, tables.explanations, load_framework())
    write_report(page, report_path)
    ranking = tables.ranking
    top = ranking.filter(pl.col("rank").is_not_null()).head(10)
    table = ["| rank | city | score | 90% rank interval | coverage |", "|---:|---|---:|---|---:|"]
    table += [f"| {r['rank']} | {r['city_name']} | {r['score']:.1f} | {r['rank_p05']}–{r['rank_p95']} | "
              f"{r['coverage']:.0%} |" for r in top.iter_rows(named=True)]
    context.log.info(f"report written to {report_path}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(Path(report_path).resolve())),
        "top_of_ranking": dg.MetadataValue.md("\n".join(table)),
        "data_mode": ranking["data_mode"][0] if ranking.height else "none",
        "bytes": len(page.encode()),
    })
