"""The report's two grids as HTML tables with CSS colour: the four primary scores and the 24 tertiary
indicators of every city. Ranked cities come first in rank order, the unranked after a row of their own;
a missing value is a hatched "no data" cell with the reason as its tooltip, never an empty or zero one."""

from __future__ import annotations

import polars as pl

from hotline_eval.evaluation.explain import format_value, is_missing
from hotline_eval.evaluation.framework import Framework
from hotline_eval.evaluation.units import COUNT_UNITS
from hotline_eval.publish.report.text import NO_DATA, esc, pct, points

LOW_RGB, HIGH_RGB = (239, 244, 252), (30, 78, 150)


def colour(normalized: float) -> str:
    """Background and text colour of a normalized value (0 pale blue, 1 dark blue)."""
    rgb = [round(lo + (hi - lo) * normalized) for lo, hi in zip(LOW_RGB, HIGH_RGB, strict=True)]
    text = "#fff" if normalized > 0.55 else "#1a202c"
    return f"background:rgb({rgb[0]},{rgb[1]},{rgb[2]});color:{text}"


def short_value(value: float | None, unit: str) -> str:
    """A value as a grid cell shows it: no unit, counts as integers, shares as percentages."""
    if is_missing(value):
        return NO_DATA
    if unit in ("share", "yes/no"):
        return format_value(value, unit)
    if unit in COUNT_UNITS:
        return f"{round(value):,}"
    if unit in ("score", "index"):
        return f"{value:.2f}".rstrip("0").rstrip(".") or "0"
    return f"{value:,.0f}" if abs(value) >= 10 else f"{value:.1f}"


def nodata_cell(reason: str | None) -> str:
    return f"<td class='nodata' title='{esc(reason or 'no evidence')}'>{NO_DATA}</td>"


def _city_rows(ranking: pl.DataFrame, width: int, row) -> list[str]:
    """Rows for ranked cities, then a separator, then the unranked; ``row(city)`` renders one."""
    rows, separated = [], False
    for city in ranking.iter_rows(named=True):
        if city["rank"] is None and not separated:
            rows.append(f"<tr class='separator'><th colspan='{width}'>Not ranked: too little evidence</th></tr>")
            separated = True
        label = f"{city['rank']}. {city['city_name']}" if city["rank"] is not None else city["city_name"]
        ranked = "true" if city["rank"] is not None else "false"
        rows.append(f"<tr data-city-id='{esc(city['city_id'])}' data-ranked='{ranked}'>"
                    f"<th scope='row'><a href='#city-{esc(city['city_id'])}'>{esc(label)}</a></th>{row(city)}</tr>")
    return rows


def _primary_cell(score: float | None, coverage: float) -> str:
    if is_missing(score):
        return nodata_cell("no evidence under this indicator (coverage 0%)")
    return (f"<td class='barcell' title='coverage {pct(coverage)}'><span class='cellbar' "
            f"style='width:{score:.0f}%'></span><span class='num'>{points(score)}</span></td>")


def primary_table(ranking: pl.DataFrame, primary: pl.DataFrame, framework: Framework) -> str:
    """The four primary scores (0-100) of every city; the cell's tooltip gives its coverage."""
    scores = {(r["city_id"], r["primary_id"]): (r["score"], r["coverage"]) for r in primary.iter_rows(named=True)}
    ids = [p.id for p in framework.primary]

    def row(city: dict) -> str:
        return "".join(_primary_cell(*scores.get((city["city_id"], p), (None, 0.0))) for p in ids)

    head = "".join(f"<th scope='col'>{esc(p.name)}</th>" for p in framework.primary)
    return (f"<table class='grid primary'><thead><tr><th>City</th>{head}</tr></thead><tbody>"
            + "".join(_city_rows(ranking, len(ids) + 1, row)) + "</tbody></table>")


def _fact_cell(fact: dict | None, unit: str, name: str) -> str:
    if fact is None or is_missing(fact["raw_value"]):
        return nodata_cell(f"{name}: {(fact or {}).get('missing_reason') or 'no evidence'}")
    normalized = fact["normalized_value"]
    style = colour(normalized) if not is_missing(normalized) else ""
    tip = (f"{name}: {format_value(fact['raw_value'], unit)}; normalized "
           f"{'–' if is_missing(normalized) else round(normalized * 100)} of 100; route {fact['evidence_route']}, "
           f"{fact['evidence_year']}")
    return f"<td class='value' style='{style}' title='{esc(tip)}'>{esc(short_value(fact['raw_value'], unit))}</td>"


def _unit_note(unit: str) -> str:
    return f"<small>{esc(unit)}</small>" if len(unit) <= 12 else ""


def heatmap(ranking: pl.DataFrame, facts: pl.DataFrame, framework: Framework) -> str:
    """Every city's raw value on every tertiary indicator, coloured by its normalized score (darker is
    better); hatched cells have no data."""
    by_key = {(r["city_id"], r["indicator_id"]): r for r in facts.iter_rows(named=True)}
    tertiary = framework.tertiary()

    def row(city: dict) -> str:
        return "".join(_fact_cell(by_key.get((city["city_id"], t.id)), t.unit, t.name) for t in tertiary)

    groups = "".join(f"<th colspan='{sum(len(s.tertiary) for s in p.secondary)}' class='group'>{esc(p.name)}</th>"
                     for p in framework.primary)
    head = "".join(f"<th scope='col' class='vertical' title='{esc(t.unit)}: {esc(t.definition)}'><span>"
                   f"{esc(t.name)}</span>{_unit_note(t.unit)}</th>" for t in tertiary)
    return (f"<table class='grid heat'><thead><tr><th></th>{groups}</tr><tr><th>City</th>{head}</tr></thead>"
            "<tbody>" + "".join(_city_rows(ranking, len(tertiary) + 1, row)) + "</tbody></table>")
