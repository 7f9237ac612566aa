"""The report's two ranking charts as inline SVG written by hand (no script, no CDN: the page opens offline).

The ranked chart draws only ranked cities, in rank order: the composite score and the rank with its 90%
Monte Carlo interval on an axis of whole ranks. Unranked cities have a chart of their own, drawn
differently (their coverage against the threshold), under its own heading: never among the ranked.
"""

from __future__ import annotations

import math

import polars as pl

from hotline_eval.publish.report.text import esc, interval, pct, points

ROW = 28  # pixels per city
TOP = 46  # room for the panels' titles and axes
LABEL = 200  # the city labels' width
SCORE_X, SCORE_W = 210, 330  # the score panel
RANK_X, RANK_W = 600, 300  # the rank panel
WIDTH = 930


def _text(x: float, y: float, text: str, anchor: str = "start", css: str = "") -> str:
    cls = f" class='{css}'" if css else ""
    return f"<text x='{x:.1f}' y='{y:.1f}' text-anchor='{anchor}'{cls}>{esc(text)}</text>"


def _line(x1: float, y1: float, x2: float, y2: float, css: str) -> str:
    return f"<line x1='{x1:.1f}' y1='{y1:.1f}' x2='{x2:.1f}' y2='{y2:.1f}' class='{css}'/>"


def rank_ticks(n: int) -> list[int]:
    """Whole ranks to label on an axis from 1 to ``n``: every rank up to 20, fewer beyond."""
    step = 1 if n <= 20 else math.ceil(n / 10)
    ticks = list(range(1, n + 1, step))
    return ticks if ticks[-1] == n else [*ticks, n]


def _score_axis(height: float) -> list[str]:
    parts = [_text(SCORE_X, 14, "Composite score (0–100)", css="axis-title")]
    for tick in range(0, 101, 20):
        x = SCORE_X + SCORE_W * tick / 100
        parts += [_line(x, TOP - 6, x, height, "grid"), _text(x, TOP - 10, str(tick), "middle", "tick")]
    return parts


def _rank_x(rank: float, n: int) -> float:
    return RANK_X + (RANK_W * (rank - 1) / (n - 1) if n > 1 else RANK_W / 2)


def _rank_axis(n: int, height: float) -> list[str]:
    parts = [_text(RANK_X, 14, "Rank (1 = best) and its 90% Monte Carlo interval",
                   css="axis-title")]
    for tick in rank_ticks(n):
        x = _rank_x(tick, n)
        parts += [_line(x, TOP - 6, x, height, "grid"), _text(x, TOP - 10, str(tick), "middle", "tick")]
    return parts


def _ranked_row(r: dict, i: int, n: int) -> str:
    y = TOP + i * ROW
    mid = y + ROW / 2
    width = SCORE_W * (r["score"] or 0) / 100
    low, high = r["rank_p05"] or r["rank"], r["rank_p95"] or r["rank"]
    tip = (f"{r['city_name']}: rank {r['rank']}, score {points(r['score'])}, 90% rank interval "
           f"{interval(r['rank_p05'], r['rank_p95'])}, coverage {pct(r['coverage'])}")
    return (f"<g class='city-row' data-city-id='{esc(r['city_id'])}' data-rank='{r['rank']}'><title>{esc(tip)}</title>"
            + _text(LABEL - 8, mid + 4, f"{r['rank']}. {r['city_name']}", "end", "label")
            + f"<rect x='{SCORE_X}' y='{y + 5}' width='{width:.1f}' height='{ROW - 10}' class='bar'/>"
            + _text(SCORE_X + width + 4, mid + 4, points(r["score"]), css="value")
            + _line(_rank_x(low, n), mid, _rank_x(high, n), mid, "interval")
            + f"<circle cx='{_rank_x(r['rank'], n):.1f}' cy='{mid:.1f}' r='5' class='rank-dot'/></g>")


def ranking_chart(ranked: pl.DataFrame) -> str:
    """Ranked cities only, in rank order: score bars and rank intervals on whole-rank ticks."""
    if ranked.is_empty():
        return "<p class='empty'>No city has enough evidence to be ranked.</p>"
    n = ranked.height
    height = TOP + n * ROW + 6
    rows = [_ranked_row(r, i, n) for i, r in enumerate(ranked.iter_rows(named=True))]
    return (f"<svg xmlns='http://www.w3.org/2000/svg' class='chart-svg' viewBox='0 0 {WIDTH} {height}' "
            f"width='{WIDTH}' height='{height}' role='img' aria-label='Ranked cities by rank'>"
            + "".join(_score_axis(height) + _rank_axis(n, height) + rows) + "</svg>")


def _unranked_row(r: dict, i: int, threshold: float) -> str:
    y = TOP + i * ROW
    mid = y + ROW / 2
    width = SCORE_W * (r["coverage"] or 0)
    tip = f"{r['city_name']}: not ranked; {r['unranked_reason'] or ''}"
    return (f"<g class='city-row' data-city-id='{esc(r['city_id'])}'><title>{esc(tip)}</title>"
            + _text(LABEL - 8, mid + 4, r["city_name"], "end", "label")
            + f"<rect x='{SCORE_X}' y='{y + 5}' width='{width:.1f}' height='{ROW - 10}' class='bar-unranked'/>"
            + _text(SCORE_X + SCORE_W + 12, mid + 4, f"coverage {pct(r['coverage'])} "
                    f"(needs {pct(threshold)})", css="value") + "</g>")


def unranked_chart(unranked: pl.DataFrame, threshold: float) -> str:
    """Unranked cities by name: the share of the weight their evidence covers, against the threshold."""
    if unranked.is_empty():
        return "<p class='empty'>Every city has enough evidence to be ranked.</p>"
    height = TOP + unranked.height * ROW + 6
    parts = [_text(SCORE_X, 14, "Coverage: share of the indicator weight with evidence", css="axis-title")]
    for tick in range(0, 101, 25):
        x = SCORE_X + SCORE_W * tick / 100
        parts += [_line(x, TOP - 6, x, height, "grid"), _text(x, TOP - 10, f"{tick}%", "middle", "tick")]
    x = SCORE_X + SCORE_W * threshold
    parts += [_line(x, TOP - 6, x, height, "threshold"), _text(x + 4, 28, f"threshold {pct(threshold)}",
                                                                 css="threshold-label")]
    parts += [_unranked_row(r, i, threshold) for i, r in enumerate(unranked.iter_rows(named=True))]
    return (f"<svg xmlns='http://www.w3.org/2000/svg' class='chart-svg' viewBox='0 0 {WIDTH} {height}' "
            f"width='{WIDTH}' height='{height}' role='img' aria-label='Unranked cities and their coverage'>"
            + "".join(parts) + "</svg>")
