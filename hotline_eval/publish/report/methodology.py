"""The report's methodology: the framework and its routes, normalization, weights, missing data, the
coverage threshold, the rank intervals, the wording rules, the terms, and what is ours versus what the
2024 report published. Numbers come from config (indicators.yaml, evaluation.yaml), never retyped."""

from __future__ import annotations

from hotline_eval.evaluation.explain import RELATIVE_TOLERANCE, SHARE_TOLERANCE, STRONG, WEAK
from hotline_eval.evaluation.framework import Framework, Tertiary
from hotline_eval.publish.report.tables import ReportContext
from hotline_eval.publish.report.text import esc, link, pct

ROUTES = {
    "requests": "request-level open data (each request of the evaluation year, from the city's feed)",
    "statistics": "statistics the hotline publishes (tables, bulletins, performance pages)",
    "pages": "the hotline's own web pages and service directory, read by rules",
    "curated": "a cited fact: a figure or statement from a report, hearing or article, with its URL, title, "
               "publisher, date and the quoted passage (config/evidence/)",
    "registry": "the city registry (config/cities/), with the page that shows it",
}


def _normalization(t: Tertiary) -> str:
    if t.goalposts is not None:
        low, high = t.goalposts
        return f"fixed goalposts {low:g}–{high:g}"
    return "min-max across cities"


def indicator_table(framework: Framework) -> str:
    rows = []
    for p in framework.primary:
        for s in p.secondary:
            for t in s.tertiary:
                direction = "higher is better" if t.higher_is_better else "lower is better"
                rows.append(f"<tr><td>{esc(p.name)}</td><td>{esc(s.name)}</td><td title='{esc(t.definition)}'>"
                            f"{esc(t.name)}<small>{esc(t.definition)}</small></td><td>{esc(t.unit)}</td>"
                            f"<td>{direction}</td><td>{esc(' → '.join(t.routes))}</td>"
                            f"<td>{_normalization(t)}</td></tr>")
    return ("<table class='framework'><thead><tr><th>Primary</th><th>Secondary</th><th>Tertiary indicator</th>"
            "<th>Unit</th><th>Direction</th><th>Routes, in precedence</th><th>Normalization</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _published(framework: Framework, context: ReportContext) -> str:
    facts = context.report_facts
    if facts is None:
        return ""
    full = facts.seoul_full_marks
    names = {s.id: s.name.lower() for p in framework.primary for s in p.secondary}
    types = "; ".join(f"{esc(t.city_id.replace('_', ' ').title())}: {esc(t.type)} "
                      f"({link(t.citation, 'source', 'citation')})" for t in facts.hotline_types)
    marks = ", ".join(names.get(s, s) for s in full.secondary)
    return (f"<li>Published facts held as checks: Seoul 120's full marks on {esc(marks)} "
            f"({link(full.citation, 'source', 'citation')}); hotline types {types}.</li>")


def equal_weights(framework: Framework) -> bool:
    """Whether every indicator weighs the same as its siblings, at every level."""
    groups = [[p.weight for p in framework.primary]] + [[s.weight for s in p.secondary] for p in framework.primary]
    groups += [[t.weight for t in s.tertiary] for p in framework.primary for s in p.secondary]
    return all(len(set(g)) == 1 for g in groups)


def _weights(framework: Framework) -> str:
    if equal_weights(framework):
        return ("Weights are <strong>equal</strong> within each level: each primary indicator is an equal share of "
                "the score, split equally over its secondary indicators and those over their tertiary ones.")
    return ("Weights are as <code>config/indicators.yaml</code> sets them (not all equal): each indicator's share "
            "of its parent is its weight over the sum of its siblings' weights.")


def _framework_counts(framework: Framework) -> tuple[int, int, int]:
    return (len(framework.primary), sum(len(p.secondary) for p in framework.primary), len(framework.tertiary()))


def methodology(framework: Framework, context: ReportContext) -> str:
    ev = context.evaluation
    n_p, n_s, n_t = _framework_counts(framework)
    routes = "".join(f"<li><strong>{name}</strong>: {esc(text)}</li>" for name, text in ROUTES.items())
    window = f"{ev.evaluation_year - ev.evidence_years_before}–{ev.evaluation_year + ev.evidence_years_after}"
    threshold = pct(ev.coverage_threshold)
    return f"""
<h3>Framework</h3>
<p>{n_p} primary indicators (process, collaborative, smart and responsive governance), {n_s} secondary and
{n_t} tertiary ones (<code>config/indicators.yaml</code>, version {framework.version}), as in the
<em>Evaluation Report on Worldwide City Hotline Services and Governance Effectiveness (2024)</em>.
The evaluation year is {ev.evaluation_year}.</p>
<h3>What is reconstructed and what the 2024 report published</h3>
<ul><li>From the 2024 report: the four primary indicators, the three secondary ones under collaborative
governance (policy collaboration, function coordination, platform collaboration) and the counts
({n_s} secondary, {n_t} tertiary).</li>{_published(framework, context)}
<li>Ours, a documented reconstruction: the other secondary indicators, all {n_t} tertiary indicators, their
definitions, directions and weights, the normalization, aggregation, missing-data rule and uncertainty
analysis. The scores here are not the 2024 report's scores.</li></ul>
<h3>Routes: where a value comes from</h3>
<p>Each indicator lists the routes it may come by, in precedence order; the first route that measures a
city gives its value, except that <strong>real evidence beats the demo archive's synthetic stand-ins</strong>
(a cited fact wins over an invented record). Published statistics and cited facts count from {window},
the year nearest {ev.evaluation_year} preferred; a value from another year shows its age.</p>
<ul>{routes}</ul>
<h3>Normalization, weights, aggregation</h3>
<p>Each indicator is normalized to 0–1, oriented so that 1 is best: <strong>min-max across the cities
measured</strong> (the best city 1, the worst 0; an indicator both skewed and heavy-tailed is first capped
at its 5th and 95th percentiles), or against <strong>fixed goalposts</strong> where the indicator file sets
them (values beyond are capped). {_weights(framework)} Scores are weighted arithmetic means, shown
0–100.</p>
<h3 id="def-coverage">Missing data and coverage</h3>
<p><strong>Nothing is imputed.</strong> A missing value is shown as <span class='nodata-key'>no data</span>
with its reason, never as zero. A city's score is the weighted mean of the indicators it has, the weights
re-spread over them. <dfn>Coverage</dfn> is the share of the full indicator weight the city has evidence
for. A city with coverage below <strong>{threshold}</strong> (<code>coverage_threshold</code> in
<code>config/evaluation.yaml</code>) keeps its score but is <strong>not ranked</strong>: a score over a
fraction of the framework is not comparable with complete ones. Unranked cities are listed apart, by name,
with the reason.</p>
<h3 id="def-rank-interval">Ranks and their intervals</h3>
<p>Ranks go 1 (best) to the number of ranked cities; equal scores share the best rank and are said as
ties ("tied 3rd of 7"). The <dfn>90% rank interval</dfn> is the 5th to 95th percentile of the city's rank
over {ev.monte_carlo_draws:,} Monte Carlo draws (seed {ev.monte_carlo_seed}): each draw takes weights from a
Dirichlet distribution around the configured ones, one normalization (min-max, z-score or distance to the
best) and one aggregation (arithmetic or geometric).</p>
<h3 id="def-about-the-same">About the same, strengths and weaknesses</h3>
<p>Two values are <dfn>about the same</dfn> when shares differ by at most {SHARE_TOLERANCE * 100:g}
percentage point, yes/no facts are equal, or other values differ by at most {RELATIVE_TOLERANCE:.0%} of the
larger of the two. A city's standing on an indicator is 1 + the number of cities meaningfully better, tied
when another city is about the same. Min-max normalization stretches any difference to the full 0–1 range
(0% and 0.2% repeat requests become 1 and 0); the words in this report do not: a
<strong>strength</strong> is an indicator normalized to at least {STRONG * 100:.0f} of 100 on which more
cities are meaningfully worse than better, a <strong>weakness</strong> one at most {WEAK * 100:.0f} of 100
on which more are meaningfully better than worse. No indicator is both, and values about the same as
every other city's are neither.</p>
<h3>Terms</h3>
<dl>
<dt>Coverage</dt><dd>Share of the full indicator weight a city has evidence for (any route).</dd>
<dt id="def-real-share">Real share</dt><dd>Share of a city's covered weight resting on real evidence (cited
facts, real statistics, live feeds and pages) rather than the demo archive's invented records.</dd>
<dt id="def-curated-share">Curated share</dt><dd>Share of a city's score (of the points it scores) resting
on cited facts and the registry rather than on feeds or pages.</dd>
<dt>Normalized</dt><dd>The value on the 0–100 scale the score adds up (100 best).</dd>
<dt>Route, year</dt><dd>How the value came (above) and the year the evidence describes.</dd>
</dl>
<h3>The indicators</h3>
{indicator_table(framework)}
"""
