"""The HTML report: ranking with uncertainty, primary scores, an indicator heatmap, explanations.

Charts are Vega-Lite specs built with Altair and rendered to inline SVG by vl-convert, so the page
is one self-contained file with no script and no CDN: it opens offline in any browser.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import altair as alt
import duckdb
import polars as pl
import vl_convert

from hotline_eval.evaluation.framework import Framework
from hotline_eval.publish.warehouse import query

PRIMARY_NAMES = {"process": "Process", "collaborative": "Collaborative", "smart": "Smart", "responsive": "Responsive"}


@dataclass(frozen=True)
class ReportTables:
    """The marts the report shows."""

    ranking: pl.DataFrame  # best rank first, unranked cities by score
    primary: pl.DataFrame
    facts: pl.DataFrame
    explanations: pl.DataFrame


def read_report_tables(con: duckdb.DuckDBPyConnection) -> ReportTables:
    return ReportTables(
        ranking=query(con, "SELECT * FROM marts.city_ranking ORDER BY rank NULLS LAST, score DESC NULLS LAST"),
        primary=query(con, "SELECT * FROM marts.primary_scores"),
        facts=query(con, "SELECT * FROM marts.indicator_facts"),
        explanations=query(con, "SELECT * FROM marts.city_explanations ORDER BY city_id, kind, position"),
    )


def write_report(page: str, path: Path) -> None:
    """Write the page to ``path`` through a temporary file beside it: a reader never sees half a page."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)


def _svg(chart: alt.TopLevelMixin) -> str:
    return vl_convert.vegalite_to_svg(chart.to_json())


def ranking_chart(ranking: pl.DataFrame) -> str:
    data = ranking.filter(pl.col("score").is_not_null()).select(
        "city_name", "score", pl.col("rank").cast(pl.Float64), pl.col("rank_p05").cast(pl.Float64),
        pl.col("rank_p95").cast(pl.Float64), "coverage", "below_coverage_threshold").to_dicts()
    base = alt.Chart(alt.Data(values=data)).encode(
        y=alt.Y("city_name:N", sort=alt.EncodingSortField("score", order="descending"), title=None))
    bars = base.mark_bar().encode(
        x=alt.X("score:Q", title="Score (0-100)", scale=alt.Scale(domain=[0, 100])),
        color=alt.Color("below_coverage_threshold:N", title="Below coverage threshold",
                        scale=alt.Scale(domain=[False, True], range=["#2b6cb0", "#cbd5e0"])),
        tooltip=["city_name:N", alt.Tooltip("score:Q", format=".1f"), "rank:Q", "rank_p05:Q", "rank_p95:Q",
                 alt.Tooltip("coverage:Q", format=".0%")])
    intervals = alt.Chart(alt.Data(values=[d for d in data if d["rank"] is not None])).mark_rule(
        strokeWidth=3, color="#c05621").encode(
        y=alt.Y("city_name:N", sort=alt.EncodingSortField("rank", order="ascending"), title=None),
        x=alt.X("rank_p05:Q", title="Rank: 5th-95th percentile over the Monte Carlo draws"),
        x2="rank_p95:Q")
    points = intervals.mark_point(filled=True, size=60, color="#7b341e").encode(x="rank:Q")
    return (_svg(bars.properties(width=420, title="Composite score")) +
            _svg((intervals + points).properties(width=300, title="Rank and its 90% interval")))


def primary_chart(primary: pl.DataFrame, names: dict[str, str]) -> str:
    data = primary.filter(pl.col("score").is_not_null()).with_columns(
        pl.col("city_id").replace_strict(names, default=pl.col("city_id")).alias("city"),
        pl.col("primary_id").replace_strict(PRIMARY_NAMES, default=pl.col("primary_id")).alias("primary"),
    ).select("city", "primary", "score").to_dicts()
    chart = alt.Chart(alt.Data(values=data)).mark_bar().encode(
        x=alt.X("score:Q", title="Score (0-100)", scale=alt.Scale(domain=[0, 100])),
        y=alt.Y("primary:N", title=None), color=alt.Color("primary:N", legend=None),
        row=alt.Row("city:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
    ).properties(width=300, height=60, title="The four primary indicators")
    return _svg(chart)


def heatmap(facts: pl.DataFrame, framework: Framework, names: dict[str, str]) -> str:
    labels = {t.id: t.name for t in framework.tertiary()}
    data = facts.with_columns(
        pl.col("city_id").replace_strict(names, default=pl.col("city_id")).alias("city"),
        pl.col("indicator_id").replace_strict(labels, default=pl.col("indicator_id")).alias("indicator"),
        pl.col("missing_reason").fill_null("").alias("why_missing"),
    ).select("city", "indicator", "normalized_value", "raw_value", "unit", "why_missing").to_dicts()
    chart = alt.Chart(alt.Data(values=data)).mark_rect().encode(
        x=alt.X("indicator:N", title=None, sort=list(labels.values()), axis=alt.Axis(labelAngle=-50)),
        y=alt.Y("city:N", title=None),
        color=alt.Color("normalized_value:Q", title="Normalized (1 best)", scale=alt.Scale(scheme="blues")),
        tooltip=["city:N", "indicator:N", "raw_value:Q", "unit:N", "why_missing:N"],
    ).properties(title="Tertiary indicators (blank: missing, with the reason in marts.indicator_facts)")
    return _svg(chart)


def render_report(ranking: pl.DataFrame, primary: pl.DataFrame, facts: pl.DataFrame,
                  explanations: pl.DataFrame, framework: Framework) -> str:
    names = dict(zip(ranking["city_id"].to_list(), ranking["city_name"].to_list(), strict=True))
    synthetic = bool(ranking["is_synthetic"].any()) or (ranking["data_mode"] == "demo").any()
    banner = ("<div class='banner'>DEMO DATA: scores below rest on invented records in the sources' real formats "
              "(<code>is_synthetic = true</code>). They show how the evaluation works, not how the cities "
              "perform.</div>") if synthetic else ""
    rows = []
    for r in ranking.iter_rows(named=True):
        interval = f"{r['rank_p05']}–{r['rank_p95']}" if r["rank"] is not None else "not ranked"
        score = f"{r['score']:.1f}" if r["score"] is not None else "–"
        rows.append(f"<tr><td>{r['rank'] or '–'}</td><td>{html.escape(r['city_name'])}</td><td>{score}</td>"
                    f"<td>{interval}</td><td>{r['coverage']:.0%}</td>"
                    f"<td>{'' if r['curated_share'] is None else format(r['curated_share'], '.0%')}</td>"
                    f"<td>{r['evidence_date'] or '–'}</td></tr>")
    explained = []
    for city_id, group in explanations.group_by("city_id", maintain_order=True):
        city = html.escape(names.get(city_id[0], city_id[0]))
        items = "".join(f"<li class='{r['kind']}'>{html.escape(r['explanation'])}</li>"
                        for r in group.sort("kind", "position", descending=[False, False]).iter_rows(named=True))
        explained.append(f"<section class='city'><h3>{city}</h3><ul>{items}</ul></section>")
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>City hotline evaluation</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #1a202c; }}
.banner {{ background: #fefcbf; border: 2px solid #d69e2e; padding: .8rem 1rem; font-weight: 600; }}
table {{ border-collapse: collapse; }} td, th {{ padding: .25rem .6rem; border-bottom: 1px solid #e2e8f0; }}
.chart svg {{ max-width: 100%; height: auto; }} .city {{ display: inline-block; width: 48%; vertical-align: top; }}
li.weakest {{ color: #9b2c2c; }} li.strongest {{ color: #22543d; }}
</style></head><body>
{banner}
<h1>City hotline evaluation</h1>
<p>Generated {generated}. Four primary indicators (process, collaborative, smart, responsive governance),
10 secondary and 24 tertiary ones, computed from public evidence; every value traces to the archived
response it came from (tables <code>marts.indicator_facts</code> and <code>raw.http_archive</code>).
Cities with evidence for less than the coverage threshold keep a score but get no rank.</p>
<h2>Ranking</h2>
<table><thead><tr><th>Rank</th><th>City</th><th>Score</th><th>90% rank interval</th><th>Coverage</th>
<th>Curated share</th><th>Evidence date</th></tr></thead><tbody>{''.join(rows)}</tbody></table>
<div class="chart" id="ranking-chart">{ranking_chart(ranking)}</div>
<h2>Primary scores</h2><div class="chart" id="primary-chart">{primary_chart(primary, names)}</div>
<h2>Indicator heatmap</h2><div class="chart" id="heatmap">{heatmap(facts, framework, names)}</div>
<h2>Why each city scores as it does</h2>{''.join(explained)}
</body></html>
"""
