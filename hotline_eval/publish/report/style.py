"""The report's stylesheet, inline in the page (no external file)."""

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1180px; color: #1a202c; padding: 0 1rem; }
.banner { background: #fefcbf; border: 2px solid #d69e2e; padding: .8rem 1rem; font-weight: 600; }
nav a { margin-right: .8rem; }
h2 { border-bottom: 2px solid #e2e8f0; margin-top: 2.2rem; }
table { border-collapse: collapse; font-size: .9rem; }
td, th { padding: .2rem .5rem; border-bottom: 1px solid #e2e8f0; text-align: left; vertical-align: top; }
td.num { text-align: right; }
.chart { overflow-x: auto; }
.chart svg { max-width: 100%; height: auto; }
svg text { font: 12px system-ui, sans-serif; fill: #1a202c; }
svg .axis-title { font-weight: 600; }
svg .tick { fill: #4a5568; font-size: 11px; }
svg .grid { stroke: #e2e8f0; }
svg .bar { fill: #2b6cb0; }
svg .bar-unranked { fill: #a0aec0; }
svg .interval { stroke: #c05621; stroke-width: 3; }
svg .rank-dot { fill: #7b341e; }
svg .threshold { stroke: #c53030; stroke-dasharray: 4 3; stroke-width: 2; }
svg .threshold-label { fill: #c53030; font-size: 11px; }
.nodata, .nodata-key { background: repeating-linear-gradient(45deg, #edf2f7, #edf2f7 4px, #cbd5e0 4px, #cbd5e0 6px);
  color: #4a5568; font-style: italic; font-size: .75rem; text-align: center; }
.nodata-key { padding: 0 .3rem; }
.grid.heat td { width: 2.3rem; min-width: 2.3rem; text-align: center; font-size: .72rem; padding: .15rem;
  border: 1px solid #fff; }
.grid.heat th.vertical { writing-mode: vertical-rl; transform: rotate(180deg); font-size: .72rem; font-weight: 500;
  max-height: 12rem; white-space: nowrap; }
.grid.heat th.vertical small { color: #718096; margin-top: .3rem; }
.grid.heat th.group { text-align: center; font-size: .8rem; border-left: 2px solid #fff; background: #f7fafc; }
.grid th[scope=row] { white-space: nowrap; }
.grid a { color: inherit; text-decoration: none; }
tr.separator th { background: #edf2f7; font-style: italic; padding-top: .5rem; }
.barcell { position: relative; min-width: 9rem; }
.cellbar { position: absolute; left: 0; top: 3px; bottom: 3px; background: #bee3f8; }
.barcell .num { position: relative; padding-left: .3rem; }
section.city { border-top: 1px solid #cbd5e0; padding-top: .4rem; margin-top: 1.4rem; }
section.city[data-ranked=false] h3 { color: #4a5568; }
.unranked { background: #f7fafc; border-left: 4px solid #a0aec0; padding: .4rem .7rem; }
.explained { display: flex; gap: 2rem; flex-wrap: wrap; }
.explained > div { flex: 1 1 20rem; }
.explained h4 { margin: .4rem 0 .2rem; }
li.strongest { color: #22543d; }
li.weakest { color: #9b2c2c; }
li.none { color: #718096; font-style: italic; }
table.facts { width: 100%; margin-top: .5rem; table-layout: fixed; font-size: .82rem; }
table.facts td { overflow-wrap: anywhere; }
col.c-name { width: 11rem; }
col.c-value { width: 8.5rem; }
col.c-norm { width: 5.5rem; }
col.c-standing { width: 6.5rem; }
col.c-route { width: 7rem; }
col.c-year { width: 6.5rem; }
table.ranking td:first-child { white-space: nowrap; }
table.facts td small, table.framework td small, small.age { display: block; color: #4a5568; font-size: .75rem; }
small.quote { font-style: italic; }
tr.missing td.reason { color: #718096; font-size: .78rem; }
.demo { background: #fefcbf; font-size: .7rem; padding: 0 .25rem; border-radius: 3px; white-space: nowrap; }
code { font-size: .85em; }
dt { font-weight: 600; margin-top: .4rem; }
dd { margin-left: 1.2rem; }
"""
