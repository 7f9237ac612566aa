"""The page: banner, ranked cities (table and chart), the unranked apart, primary scores, the indicator
grid, every city's section and the methodology, in one self-contained HTML file (inline CSS and SVG, no
script, no external file: it opens offline)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hotline_eval.evaluation.framework import Framework
from hotline_eval.publish.report.charts import ranking_chart, unranked_chart
from hotline_eval.publish.report.cities import city_sections
from hotline_eval.publish.report.grids import heatmap, primary_table
from hotline_eval.publish.report.methodology import methodology
from hotline_eval.publish.report.style import CSS
from hotline_eval.publish.report.tables import ReportContext, ReportTables
from hotline_eval.publish.report.text import esc, interval, pct, points, rank_phrase

TITLE = "City hotline evaluation"


def _ranked_table(tables: ReportTables, context: ReportContext) -> str:
    ranks = tables.ranked["rank"].to_list()
    rows = "".join(
        f"<tr data-city-id='{esc(r['city_id'])}'><td>{rank_phrase(r['rank'], ranks)}</td>"
        f"<td><a href='#city-{esc(r['city_id'])}'>{esc(r['city_name'])}</a></td>"
        f"<td>{esc(r['hotline_brand'] or '')}</td>"
        f"<td class='num'>{points(r['score'])}</td><td class='num'>{interval(r['rank_p05'], r['rank_p95'])}</td>"
        f"<td class='num'>{pct(r['coverage'])}</td><td class='num'>{pct(r['real_share'])}</td>"
        f"<td class='num'>{pct(r['curated_share'])}</td><td>{esc(r['evidence_date'] or '–')}</td>"
        f"{_export_cell(r['city_id'], context)}</tr>" for r in tables.ranked.iter_rows(named=True))
    return ("<table class='ranking'><thead><tr><th>Rank</th><th>City</th><th>Hotline</th><th>Score (0–100)</th>"
            "<th><a href='#def-rank-interval'>90% rank interval</a></th><th><a href='#def-coverage'>Coverage</a></th>"
            "<th><a href='#def-real-share'>Real share</a></th><th><a href='#def-curated-share'>Curated share</a></th>"
            f"<th>Newest evidence</th>{_export_head(context)}</tr></thead><tbody>{rows}</tbody></table>")


def _unranked_table(tables: ReportTables, context: ReportContext) -> str:
    rows = "".join(
        f"<tr data-city-id='{esc(r['city_id'])}'><td><a href='#city-{esc(r['city_id'])}'>{esc(r['city_name'])}</a></td>"
        f"<td>{esc(r['hotline_brand'] or '')}</td><td class='num'>{pct(r['coverage'])}</td>"
        f"<td class='num'>{pct(r['real_share'])}</td><td>{esc(r['unranked_reason'] or '')}</td>"
        f"{_export_cell(r['city_id'], context)}</tr>" for r in tables.unranked.iter_rows(named=True))
    return ("<table class='unranked-table'><thead><tr><th>City</th><th>Hotline</th><th><a href='#def-coverage'>"
            "Coverage</a></th><th><a href='#def-real-share'>Real share</a></th><th>Why not ranked</th>"
            f"{_export_head(context)}</tr></thead><tbody>{rows}</tbody></table>")


def _export_head(context: ReportContext) -> str:
    return "<th>Export</th>" if context.exports else ""


def _export_cell(city_id: str, context: ReportContext) -> str:
    if not context.exports:
        return ""
    return f"<td><a class='export' href='{esc(context.exports)}/{esc(city_id)}.csv'>CSV</a></td>"


def _intro(tables: ReportTables, framework: Framework, context: ReportContext) -> str:
    n_t = len(framework.tertiary())
    exports = (f" Every city's facts and scores: one CSV per city (links below) and all of them in "
               f"<a class='export' href='{esc(context.exports)}/facts.parquet'>facts.parquet</a>."
               if context.exports else "")
    return (f"<p>Generated {esc(context.generated)}. {tables.ranked.height} cities ranked, {tables.unranked.height} "
            f"not ranked for too little evidence (<a href='#def-coverage'>coverage</a> below "
            f"{pct(context.evaluation.coverage_threshold)}). Each city is scored on {n_t} indicators from public "
            "evidence; every value links to where it can be read and traces to the archived response it came from "
            f"(<code>marts.indicator_facts</code>, <code>raw.http_archive</code>). How: "
            f"<a href='#methodology'>methodology</a>.{exports}</p>")


def _banner(tables: ReportTables) -> str:
    if not tables.is_demo:
        return ""
    return ("<div class='banner'>DEMO DATA: scores below rest partly on invented records in the sources' real "
            "formats (<code>is_synthetic = true</code>). They show how the evaluation works, not how the cities "
            "perform. Each city's <a href='#def-real-share'>real share</a> says how much rests on real evidence."
            "</div>")


def render_report(tables: ReportTables, framework: Framework, context: ReportContext) -> str:
    title = f"{TITLE} (demo data)" if tables.is_demo else TITLE
    context = context if context.generated else _stamped(context)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>{CSS}</style></head><body>
{_banner(tables)}
<h1>{esc(title)}</h1>
{_intro(tables, framework, context)}
<nav><a href="#ranking">Ranking</a><a href="#not-ranked">Not ranked</a><a href="#primary">Primary scores</a>
<a href="#indicators">Indicators</a><a href="#cities">Cities</a><a href="#methodology">Methodology</a></nav>
<h2 id="ranking">Ranking</h2>
{_ranked_table(tables, context)}
<div class="chart" id="ranking-chart">{ranking_chart(tables.ranked)}</div>
<h2 id="not-ranked">Not ranked: too little evidence</h2>
<p>These cities have evidence for less than {pct(context.evaluation.coverage_threshold)} of the indicator weight.
Their scores are not comparable with the ranked cities' and are not ranked; they are listed by name.</p>
{_unranked_table(tables, context)}
<div class="chart" id="unranked-chart">{unranked_chart(tables.unranked, context.evaluation.coverage_threshold)}</div>
<h2 id="primary">Primary scores</h2>
<p>Scores 0–100 on the four primary indicators; a cell's tooltip gives its coverage.
<span class="nodata-key">no data</span>: no evidence under the indicator.</p>
<div class="chart" id="primary-chart">{primary_table(tables.ranking, tables.primary, framework)}</div>
<h2 id="indicators">Indicators</h2>
<p>Each city's value on each tertiary indicator, coloured by its normalized score (darker is better);
<span class="nodata-key">no data</span>: missing, the reason in the tooltip. Not imputed, never zero.</p>
<div class="chart" id="heatmap">{heatmap(tables.ranking, tables.facts, framework)}</div>
<h2 id="cities">Cities</h2>
{city_sections(tables, framework, context)}
<h2 id="methodology">Methodology</h2>
{methodology(framework, context)}
</body></html>
"""


def _stamped(context: ReportContext) -> ReportContext:
    return replace(context, generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))

