"""One section per city: its hotline, its scores with the rank interval (or why it is not ranked), its
strengths and weaknesses, and every indicator's value with its unit, route, year and a link to its evidence."""

from __future__ import annotations

import polars as pl

from hotline_eval.evaluation.explain import format_value, is_missing, place_phrase, standings
from hotline_eval.evaluation.framework import Framework
from hotline_eval.publish.report.tables import ReportContext, ReportTables
from hotline_eval.publish.report.text import (
    age_phrase,
    clip,
    esc,
    interval,
    link,
    pct,
    points,
    rank_phrase,
    sha_note,
    short_url,
)

ROUTE_LABELS = {"requests": "request feed", "statistics": "published statistics", "pages": "hotline pages",
                "curated": "cited fact", "registry": "registry"}
KIND_HEADINGS = {"strongest": "Strengths", "weakest": "Weaknesses", "middling": "Nothing stands out"}


def _hotline(city: dict, context: ReportContext) -> str:
    numbers = ", ".join(city["hotline_numbers"] or []) or "none listed"
    kind = city["hotline_type"]
    if kind:
        cited = {t.city_id: t.citation for t in context.report_facts.hotline_types} if context.report_facts else {}
        source = f" ({link(cited[city['city_id']], 'source', 'citation')})" if city["city_id"] in cited else ""
        typed = f"the 2024 report names it an <strong>{esc(kind)}</strong> hotline{source}"
    else:
        typed = "the 2024 report names no hotline type for it"
    return (f"<p class='hotline'>Hotline: <strong>{esc(city['hotline_brand'] or 'not in the registry')}</strong>"
            f" · numbers: <span class='numbers'>{esc(numbers)}</span> · {typed}.</p>")


def _scores(city: dict, ranks: list[int], primary: dict[str, float | None], framework: Framework,
            context: ReportContext) -> str:
    export = (f" · <a class='export' href='{esc(context.exports)}/{esc(city['city_id'])}.csv'>"
              "facts and scores (CSV)</a>") if context.exports else ""
    standing = (f"rank <strong>{rank_phrase(city['rank'], ranks)}</strong> · 90% rank interval "
                f"{interval(city['rank_p05'], city['rank_p95'])}") if city["rank"] is not None else \
        "<strong>not ranked</strong>"
    parts = " · ".join(f"{esc(p.name)} {points(primary.get(p.id))}" for p in framework.primary)
    return (f"<p class='scores'>Score <strong>{points(city['score'])}</strong> of 100 · {standing} · "
            f"<a href='#def-coverage'>coverage</a> {pct(city['coverage'])} · <a href='#def-real-share'>real share</a> "
            f"{pct(city['real_share'])} · <a href='#def-curated-share'>curated share</a> {pct(city['curated_share'])}"
            f" · newest evidence {esc(city['evidence_date'] or '–')}{export}</p><p class='primaries'>{parts}</p>")


def _unranked(city: dict) -> str:
    if city["rank"] is not None:
        return ""
    score = ("It has no score: no indicator has evidence." if is_missing(city["score"]) else
             f"Its score, {points(city['score'])}, rests on {pct(city['coverage'])} of the weight and is not "
             "comparable with the ranked cities' scores.")
    return f"<p class='unranked'>Not ranked: {esc(city['unranked_reason'] or 'too little evidence')}. {score}</p>"


def _explained(rows: pl.DataFrame) -> str:
    if rows.is_empty():
        return "<p class='explained'>No indicator has evidence: nothing to explain.</p>"
    blocks = []
    for kind, heading in KIND_HEADINGS.items():
        mine = rows.filter(pl.col("kind") == kind).sort("position")
        if mine.is_empty() and kind == "middling":
            continue
        items = "".join(f"<li class='{kind}' data-indicator-id='{esc(r['indicator_id'])}'>{esc(r['explanation'])}</li>"
                        for r in mine.iter_rows(named=True)) or "<li class='none'>none meaningfully so</li>"
        blocks.append(f"<div><h4>{heading}</h4><ul class='{kind}'>{items}</ul></div>")
    return f"<div class='explained'>{''.join(blocks)}</div>"


def _cited(fact: dict) -> str:
    quote, url = fact.get("quote_en"), fact["citation_url"] or ""
    text = link(url, fact.get("citation_title") or short_url(url), title=quote)
    source = ", ".join(str(v) for v in (fact.get("publisher"), fact.get("publication_date")) if v)
    small = f"<small>{esc(source)}</small>" if source else ""
    return text + small + (f"<small class='quote'>“{esc(clip(quote))}”</small>" if quote else "")


def evidence_cell(fact: dict) -> str:
    """The link to a value's evidence: a cited source's title (its English quote as tooltip and small
    text), or the feed's, table's or page's URL with the archived response's sha256 prefix."""
    if fact["evidence_route"] == "curated":
        return _cited(fact)
    registry = "config/cities/ (registry)" if fact["evidence_route"] == "registry" else ""
    note = sha_note(fact["evidence_sha256s"]) or registry
    url = fact["citation_url"] or ""
    return link(url, short_url(url)) + (f"<small>{note}</small>" if note else "")


def _fact_row(t, fact: dict | None, standing: dict | None, evaluation_year: int) -> str:
    name = f"<td title='{esc(t.definition)}'>{esc(t.name)}</td>"
    if fact is None or is_missing(fact["raw_value"]):
        reason = (fact or {}).get("missing_reason") or "no evidence"
        return (f"<tr class='missing' data-indicator-id='{esc(t.id)}'>{name}<td class='nodata'>no data</td>"
                f"<td colspan='5' class='reason'>{esc(reason)}</td></tr>")
    normalized = fact["normalized_value"]
    place = place_phrase(standing["place"], standing["of"], standing["tied"]) if standing else "–"
    route = ROUTE_LABELS.get(fact["evidence_route"], fact["evidence_route"] or "–")
    demo = " <span class='demo'>demo stand-in</span>" if fact["is_synthetic"] else ""
    return (f"<tr data-indicator-id='{esc(t.id)}'>{name}<td class='num'>{esc(format_value(fact['raw_value'], t.unit))}"
            f"</td><td class='num'>{'–' if is_missing(normalized) else round(normalized * 100)}</td>"
            f"<td>{esc(place)}</td><td>{esc(route)}{demo}</td>"
            f"<td>{age_phrase(fact['evidence_year'], fact['evidence_age_years'], evaluation_year)}</td>"
            f"<td class='evidence-cell'>{evidence_cell(fact)}</td></tr>")


def _facts_table(city_id: str, tables: ReportTables, framework: Framework, placed: dict, year: int) -> str:
    facts = {r["indicator_id"]: r for r in tables.facts.filter(pl.col("city_id") == city_id).iter_rows(named=True)}
    rows = "".join(_fact_row(t, facts.get(t.id), placed.get((city_id, t.id)), year) for t in framework.tertiary())
    return ("<table class='facts'><colgroup><col class='c-name'><col class='c-value'><col class='c-norm'>"
            "<col class='c-standing'><col class='c-route'><col class='c-year'><col></colgroup>"
            "<thead><tr><th>Indicator</th><th>Value</th><th>Normalized (0–100)</th>"
            "<th>Standing among cities measured</th><th>Route</th><th>Year</th><th>Evidence</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def city_sections(tables: ReportTables, framework: Framework, context: ReportContext) -> str:
    """Every city's section: ranked cities in rank order, then the unranked ones by name."""
    placed = {(r["city_id"], r["indicator_id"]): r for r in standings(tables.facts, framework).iter_rows(named=True)}
    ranks = tables.ranked["rank"].to_list()
    sections = []
    for city in tables.ranking.iter_rows(named=True):
        city_id = city["city_id"]
        primary = {r["primary_id"]: r["score"] for r in tables.primary.filter(pl.col("city_id") == city_id)
                   .iter_rows(named=True)}
        ranked = city["rank"] is not None
        title = f"{city['rank']}. {city['city_name']}" if ranked else f"{city['city_name']} (not ranked)"
        sections.append(
            f"<section class='city' id='city-{esc(city_id)}' data-city-id='{esc(city_id)}' "
            f"data-ranked='{'true' if ranked else 'false'}'><h3>{esc(title)}</h3>{_hotline(city, context)}"
            f"{_scores(city, ranks, primary, framework, context)}{_unranked(city)}"
            f"{_explained(tables.explanations.filter(pl.col('city_id') == city_id))}"
            f"{_facts_table(city_id, tables, framework, placed, context.evaluation.evaluation_year)}</section>")
    return "".join(sections)
