"""The report people look at: reports/ranking.html, self-contained, with each city's facts and scores exported
beside it (reports/exports/), and the top of the ranking in the UI."""

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from assets.catalog import OWNERS, PUBLISH_GROUP, top_of_ranking_markdown
from assets.marts import FACTS, SCORE_SPECS
from assets.resources import ProjectSettings
from assets.warehouse_io import WAREHOUSE_POOL, warehouse
from hotline_eval.config.evaluation import load_evaluation
from hotline_eval.config.report_facts import load_report_facts
from hotline_eval.evaluation.framework import load_framework
from hotline_eval.publish.export import EXPORT_DIR, export_rows, write_exports
from hotline_eval.publish.report import ReportContext, read_report_tables, render_report, write_report


@dg.asset(
    name="ranking_report", group_name=PUBLISH_GROUP, owners=OWNERS, kinds={"html"}, pool=WAREHOUSE_POOL,
    deps=[*(spec.key for spec in SCORE_SPECS), FACTS],
    description="reports/ranking.html: the ranked cities with their rank intervals and, apart, the unranked ones "
                "with the reason; primary scores, an indicator grid (missing shown as no data), each city's hotline, "
                "scores, strengths and weaknesses and every value with its route, year and evidence link; the "
                "methodology. A banner and '(demo data)' title when the data is synthetic. Inline CSS and SVG: the "
                "file opens offline. Each city's facts and scores beside it: reports/exports/<city_id>.csv and "
                "reports/exports/facts.parquet.",
)
def ranking_report(context: dg.AssetExecutionContext, warehouse_db: DuckDBResource,
                   settings: ProjectSettings) -> dg.MaterializeResult:
    report_path = Path(settings.report)
    with warehouse(warehouse_db) as con:
        tables = read_report_tables(con)
    framework = load_framework()
    exported = write_exports(export_rows(tables, framework), report_path.parent / EXPORT_DIR)
    page = render_report(tables, framework, ReportContext(
        evaluation=load_evaluation(settings.evaluation_file), report_facts=load_report_facts(), exports=EXPORT_DIR))
    write_report(page, report_path)
    context.log.info(f"report written to {report_path}, exports to {exported.directory}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(report_path.resolve())),
        "top_of_ranking": dg.MetadataValue.md(top_of_ranking_markdown(tables.ranked)),
        "data_mode": tables.ranking["data_mode"][0] if tables.ranking.height else "none",
        "bytes": len(page.encode()),
        "ranked_cities": tables.ranked.height,
        "unranked_cities": tables.unranked.height,
        "exports_dir": dg.MetadataValue.path(str(exported.directory.resolve())),
        "exports_parquet": dg.MetadataValue.path(str(exported.parquet.resolve())),
        "exports_parquet_rows": exported.rows,
        "exports_csv_files": len(exported.city_files),
        "exports_csv_rows": dg.MetadataValue.json(exported.city_rows),
    })
