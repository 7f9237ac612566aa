"""Run the benchmarks: ``.venv/bin/python -m benchmarks.run --rows 1000000 [--only indicators|parsing|incremental]``.

Generated data goes to benchmarks/data/, results to benchmarks/results/latest.json (and
results/rows_<n>.json). Every measured job runs in a fresh interpreter (benchmarks.worker); peak
memory is that process's peak RSS (VmHWM, see benchmarks/worker.py) minus that of an idle interpreter.
Data generation also runs in a subprocess, so this process stays small.

- ``--repeat N`` measures every timed figure N times. Each figure keeps its name in the results for the
  median of the N runs (``project_s``, ``parse_rows_per_s``, ``incremental_s``, ...) and adds the runs
  (``project_s_runs``) and their spread (``project_s_min``, ``project_s_max``). Ratios are ratios of the
  medians (``ratio_vs_duckdb`` = median project / median duckdb), with the ratio of each round in
  ``*_runs`` and its spread in ``*_min``/``*_max``. Peak memory is the largest of the runs. The indicator
  implementations alternate by round (project, duckdb, pandas, project, ...), so that a slow spell of the
  machine falls on all three.
- Every measured worker run records the 1-minute load average before and after it (``*_load_1min_runs``:
  [before, after] per run), printed beside each figure, and the results hold the library versions.
- ``--project-only``: the project's indicators alone (no baselines, so no agreement check).
- ``--growth 1000000,3000000,10000000,30000000``: the project's indicators at each size (project alone),
  a table of the growth, results/growth.json.
- Above generate.CHUNK_ROWS (10M) rows the staging file is generated in chunks and only the indicators can
  be measured (parsing and incremental read the helper-column file, written only up to 10M rows).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
TOLERANCE = 1e-6  # relative (absolute below 1)
# issue #22's targets; all stated at 10M rows, except those named _30m (30M rows) and the demo graph's
TARGETS = {"ratio_vs_duckdb_max": 0.5, "speedup_vs_pandas_min": 5.0, "peak_mb_max": 1536,
           "parse_rows_per_s_min": 300_000, "incremental_ratio_max": 0.10, "full_rebuild_s_max": 60,
           "growth_ratio_30m_max": 3.2, "peak_mb_max_30m": 2048, "demo_graph_s_max": 15}
TARGET_ROWS = 10_000_000
TARGET_ROWS_30M = 30_000_000
IMPLS = ("project", "duckdb", "pandas")
VERSIONED = ("polars", "duckdb", "pandas", "pyarrow", "dagster", "numpy")
# the result keys each part writes: a part measured again replaces all of its own in rows_<n>.json
PART_KEYS = {"indicators": ("project_", "duckdb_", "pandas_", "ratio_vs_", "speedup_vs_", "agree", "disagreements",
                            "values_compared", "indicators_", "staging_file"),
             "parsing": ("parse_",), "incremental": ("incremental_", "full_rebuild_")}


def load_1min() -> float:
    return round(os.getloadavg()[0], 2)


def cpu_ticks() -> tuple[int, int]:
    """(all, steal) CPU time of the machine so far, in ticks (/proc/stat; zeros elsewhere)."""
    try:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except OSError:
        return 0, 0
    return sum(fields[:8]), (fields[7] if len(fields) > 7 else 0)


def steal_pct(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU time the hypervisor gave to other guests between two readings: on a
    shared virtual machine the same code ran 2x slower while a third of the CPU time was stolen."""
    total = after[0] - before[0]
    return round(100 * (after[1] - before[1]) / total, 1) if total > 0 else 0.0


def worker(job: str, args: dict) -> dict:
    """Run one job in a fresh interpreter; its result, with the 1-minute load average before and after and the
    CPU time stolen meanwhile (``load_1min``: [before, after, steal %])."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = tmp.name
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    load_before, ticks_before = load_1min(), cpu_ticks()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.worker", job, json.dumps(args), out], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    load_after, ticks_after = load_1min(), cpu_ticks()
    if proc.returncode:
        os.unlink(out)
        raise SystemExit(f"worker {job} {args} failed:\n{proc.stderr[-4000:]}")
    result = json.loads(Path(out).read_text())
    os.unlink(out)
    return {**result, "load_1min": [load_before, load_after, steal_pct(ticks_before, ticks_after)]}


def versions() -> dict[str, str]:
    """The Python and library versions of this interpreter (read from package metadata: nothing imported)."""
    from importlib.metadata import PackageNotFoundError, version
    out = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str | None:
    """HEAD's short hash, with "+changes" when the work tree differs from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT, capture_output=True).returncode
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+changes" if dirty else "")


# --- medians and spreads ---------------------------------------------------------------------------
def figure(name: str, runs: Sequence[float], digits: int = 3) -> dict:
    """``name``: the median of the runs; ``name_runs``, ``name_min``, ``name_max``."""
    def r(value: float) -> float:
        return round(value, digits) if digits else round(value)  # rates in whole rows/s, as ints
    return {name: r(statistics.median(runs)), f"{name}_runs": [r(v) for v in runs],
            f"{name}_min": r(min(runs)), f"{name}_max": r(max(runs))}


def ratio_figure(name: str, numerators: Sequence[float], denominators: Sequence[float], digits: int = 3) -> dict:
    """``name``: the ratio of the medians; the ratio of each run (round) and their spread beside it."""
    per_run = [a / b for a, b in zip(numerators, denominators, strict=True)]
    return {**figure(name, per_run, digits),
            name: round(statistics.median(numerators) / statistics.median(denominators), digits)}


def median_run(runs: Sequence[dict], key: Callable[[dict], float]) -> dict:
    """The run whose figure is the median (of an even number, the lower of the middle two)."""
    return sorted(runs, key=key)[(len(runs) - 1) // 2]


def spread(runs: Sequence[float], fmt: str = "{:.2f}") -> str:
    """"median [min-max]", or the one value."""
    med = fmt.format(statistics.median(runs))
    return med if len(runs) == 1 else f"{med} [{fmt.format(min(runs))}-{fmt.format(max(runs))}]"


def load_text(loads: Sequence[Sequence[float]]) -> str:
    """The 1-minute load average over runs (before -> after for one run, the range over several) and the CPU
    time stolen by the hypervisor (each run's [before, after, steal %])."""
    steals = [run[2] for run in loads if len(run) > 2]
    steal = "" if not steals else (f", steal {steals[0]:.0f}%" if len(steals) == 1
                                   else f", steal {min(steals):.0f}-{max(steals):.0f}%")
    if len(loads) == 1:
        return f"load {loads[0][0]:.2f}->{loads[0][1]:.2f}{steal}"
    values = [v for run in loads for v in run[:2]]
    return f"load {min(values):.2f}-{max(values):.2f}{steal}"


# --- targets ---------------------------------------------------------------------------------------
def verdict(value: float, target: float, at_most: bool, fmt: str) -> str:
    if (value <= target) if at_most else (value >= target):
        return "met"
    gap = abs(value - target)
    return f"NOT met (gap {fmt.format(gap)}, {gap / target:.0%} {'over' if at_most else 'short'})"


def target_checks(result: dict, rows: int) -> list[dict]:
    """The targets the figures in ``result`` can be held against (figures at ``rows`` rows)."""
    peak_target = "peak_mb_max_30m" if rows == TARGET_ROWS_30M else "peak_mb_max"
    checks = [  # (figure, target, at most?, format, label)
        ("ratio_vs_duckdb", "ratio_vs_duckdb_max", True, "{:.3f}x", "project / duckdb"),
        ("speedup_vs_pandas", "speedup_vs_pandas_min", False, "{:.2f}x", "pandas / project"),
        ("project_peak_mb", peak_target, True, "{:,.0f} MB", "project peak memory"),
        ("parse_rows_per_s", "parse_rows_per_s_min", False, "{:,.0f} rows/s", "parsing, select: mapped pages"),
        ("incremental_ratio", "incremental_ratio_max", True, "{:.3f}", "incremental / full rebuild"),
        ("full_rebuild_s", "full_rebuild_s_max", True, "{:.1f} s", "full rebuild"),
    ]
    out = []
    for key, target, at_most, fmt, label in checks:
        if result.get(key) is None:
            continue
        stated = TARGET_ROWS_30M if target.endswith("_30m") else TARGET_ROWS
        out.append({"figure": key, "label": label, "value": result[key], "target_name": target,
                    "target": TARGETS[target], "at_most": at_most, "fmt": fmt, "stated_at_rows": stated,
                    "measured_at_rows": rows,
                    "verdict": verdict(result[key], TARGETS[target], at_most, fmt)})
    return out


def print_targets(checks: list[dict]) -> None:
    for c in checks:
        sign = "<=" if c["at_most"] else ">="
        note = "" if c["measured_at_rows"] == c["stated_at_rows"] else \
            f"  (the target is stated at {c['stated_at_rows']:,} rows)"
        print(f"  {c['label']:34s} {c['fmt'].format(c['value']):>16s}  target {sign} "
              f"{c['fmt'].format(c['target'])}: {c['verdict']}{note}")


# --- the parts -------------------------------------------------------------------------------------
def compare(values: dict[str, dict], tol: float = TOLERANCE) -> list[str]:
    """Disagreements between the project's values and each baseline (indicator, city, values)."""
    problems = []
    ref = values["project"]
    for name, other in values.items():
        if name == "project":
            continue
        for indicator, cities in ref.items():
            theirs = other[indicator]
            for city in sorted(set(cities) | set(theirs)):
                a, b = cities.get(city), theirs.get(city)
                if a is None or b is None or not math.isclose(a, b, rel_tol=tol, abs_tol=tol):
                    problems.append(f"{indicator} {city}: project={a} {name}={b}")
    return problems


def ensure_data(rows: int, chunk_rows: int | None = None) -> Path:
    """Generate (once, in a worker) the staging Parquet for ``rows``; its path."""
    from benchmarks.generate import CHUNK_ROWS, n_chunks, staging_path
    chunk_rows = chunk_rows or CHUNK_ROWS
    t0 = time.perf_counter()
    worker("generate", {"rows": rows, "chunk_rows": chunk_rows})
    path = staging_path(rows, chunk_rows)
    chunks = n_chunks(rows, chunk_rows)
    print(f"data: {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.0f} MB"
          + (f", {chunks} chunks" if chunks > 1 else "") + f", ready in {time.perf_counter() - t0:.1f}s)")
    return path


def measure_indicators(paths: dict[int, Path], impls: Sequence[str], repeat: int, idle_mb: float
                       ) -> dict[int, dict[str, list[dict]]]:
    """Each implementation on each file ``repeat`` times, by rounds (every file and implementation once per
    round); the runs per file and implementation."""
    runs: dict[int, dict[str, list[dict]]] = {rows: {impl: [] for impl in impls} for rows in paths}
    for round_ in range(repeat):
        for rows, path in paths.items():
            for impl in impls:
                try:
                    r = worker("indicators", {"impl": impl, "path": str(path)})
                except SystemExit as exc:  # e.g. pandas running out of memory at 10M rows
                    raise SystemExit(f"{impl} failed: {exc}") from None
                runs[rows][impl].append(r)
                where = f"{rows:>12,} rows  " if len(paths) > 1 else ""
                print(f"    run {round_ + 1}/{repeat}  {where}{impl:8s} {r['seconds']:8.2f} s   peak "
                      f"{r['peak_rss_mb'] - idle_mb:7.0f} MB   {load_text([r['load_1min']])}"
                      + (f"   imported in the clock: {r['imported_in_clock']}" if r["imported_in_clock"] else ""))
    return runs


def run_indicators(rows: int, repeat: int, idle_mb: float, impls: Sequence[str] = IMPLS,
                   chunk_rows: int | None = None) -> dict:
    path = ensure_data(rows, chunk_rows)
    runs = measure_indicators({rows: path}, impls, repeat, idle_mb)[rows]
    out: dict = {"indicators_repeat": repeat, "indicators_project_only": tuple(impls) == ("project",),
                 "staging_file": path.name}
    for impl in impls:
        seconds = [r["seconds"] for r in runs[impl]]
        peaks = [round(r["peak_rss_mb"] - idle_mb, 1) for r in runs[impl]]
        loads = [r["load_1min"] for r in runs[impl]]
        out.update(figure(f"{impl}_s", seconds))
        out.update({f"{impl}_peak_mb": max(peaks), f"{impl}_peak_mb_runs": peaks, f"{impl}_load_1min_runs": loads,
                    f"{impl}_prepare_s_runs": [round(r["prepare_s"], 3) for r in runs[impl]]})
        print(f"  {impl:8s} {spread(seconds):>22s} s   peak {max(peaks):7.0f} MB (VmHWM "
              f"{max(r['peak_rss_mb'] for r in runs[impl]):.0f} MB - idle {idle_mb:.0f} MB)   {load_text(loads)}")
    if "project" in impls and "duckdb" in impls:
        out.update(ratio_figure("ratio_vs_duckdb", out["project_s_runs"], out["duckdb_s_runs"]))
    if "project" in impls and "pandas" in impls:
        out.update(ratio_figure("ratio_vs_pandas", out["project_s_runs"], out["pandas_s_runs"]))
        out.update(ratio_figure("speedup_vs_pandas", out["pandas_s_runs"], out["project_s_runs"]))
    if len(impls) == 1:
        print("  agreement: not checked (--project-only: no baselines ran)")
        return {**out, "agree": None, "disagreements": [], "values_compared": 0}
    # every round's values: the runs of one implementation must not differ either
    problems = sorted({p for i in range(repeat) for p in compare({k: v[i]["values"] for k, v in runs.items()})})
    n_values = sum(len(c) for c in runs["project"][0]["values"].values())
    if problems:
        print(f"DISAGREEMENT ({len(problems)}):\n  " + "\n  ".join(problems[:20]))
    else:
        print(f"  agreement: all {n_values} indicator values (13 indicators x cities) agree within {TOLERANCE:g}"
              + (f" in each of the {repeat} rounds" if repeat > 1 else ""))
    for name, label in (("ratio_vs_duckdb", "project / duckdb"), ("speedup_vs_pandas", "pandas / project")):
        if name in out:
            print(f"  {label} = {out[name]:.3f}x (ratio of medians; per round "
                  f"{spread(out[f'{name}_runs'], '{:.3f}')})")
    return {**out, "agree": not problems, "disagreements": problems[:50], "values_compared": n_values}


def run_parsing(rows: int, parse_rows: int, repeat: int, idle_mb: float) -> dict:
    """The same requests as the pages of the connector's query for NYC (``select: mapped``, the default:
    the mapped fields and :updated_at), then as the pages of ``select: all`` (every column, NYC's unmapped
    ones among them, some rare, as real pages have them), the latter also without the X-SODA2 headers
    (SODA leaves them out for very wide datasets)."""
    from benchmarks.parsing import pages_dir
    out: dict = {"parse_repeat": repeat}
    for kind, declared, label, suffix in (
            ("select_mapped", True, "select: mapped (the connector's query: the mapped fields, :updated_at)", ""),
            ("select_all", True, "select: all (:*, *: every NYC column, some rare)", "_select_all"),
            ("select_all", False, "select: all, without the X-SODA2 headers", "_select_all_undeclared")):
        worker("pages", {"rows": parse_rows, "source_rows": rows, "kind": kind})
        folder = pages_dir(parse_rows, rows, kind)
        print(f"  {label}:")
        runs = []
        for i in range(repeat):
            r = worker("parsing", {"dir": str(folder), "declared_fields": declared})
            runs.append(r)
            if repeat > 1:
                print(f"    run {i + 1}/{repeat}  {r['rows_per_s']:10,.0f} rows/s  {r['seconds']:6.2f} s   "
                      f"{load_text([r['load_1min']])}")
        r = median_run(runs, key=lambda run: run["seconds"])  # its breakdown is printed and kept
        rates = [run["rows_per_s"] for run in runs]
        rates_files = [run["rows_per_s_with_file_reads"] for run in runs]
        loads = [run["load_1min"] for run in runs]
        peak = max(run["peak_rss_mb"] for run in runs) - idle_mb
        print(f"  parsing  {r['staged_rows']:,} rows from {r['pages']:,} pages: {spread(rates, '{:,.0f}')} rows/s "
              f"(median run: {r['seconds']:.2f} s, fetch+decode {r['decode_s']:.1f}s, records_to_raw "
              f"{r['records_to_raw_s']:.1f}s, stage_requests {r['stage_requests_s']:.1f}s); peak {peak:.0f} MB; "
              f"{load_text(loads)}")
        print(f"           with reading the page files inside the clock: {spread(rates_files, '{:,.0f}')} rows/s")
        out.update({
            f"parse_rows{suffix}": r["staged_rows"],
            **figure(f"parse_s{suffix}", [run["seconds"] for run in runs]),
            **figure(f"parse_rows_per_s{suffix}", rates, 0),
            **figure(f"parse_rows_per_s_with_file_reads{suffix}", rates_files, 0),
            f"parse_breakdown_s{suffix}": {k: round(r[k], 3) for k in ("read_files_s", "decode_s",
                                                                      "records_to_raw_s", "stage_requests_s")},
            f"parse_peak_mb{suffix}": round(peak, 1), f"parse_load_1min_runs{suffix}": loads})
    return out


def run_incremental(rows: int, verify: bool, repeat: int, idle_mb: float) -> dict:
    """``repeat`` runs; each rebuilds its work database from scratch (benchmarks.incremental._setup), so
    the runs are independent. ``verify`` checks the first run only."""
    runs = []
    for i in range(repeat):
        r = worker("incremental", {"rows": rows, "verify": verify and i == 0})
        runs.append(r)
        f, inc = r["full"], r["incremental"]
        prefix = f"  run {i + 1}/{repeat}: " if repeat > 1 else "  "
        print(f"{prefix}full rebuild   {f['seconds']:7.2f} s  (stage {f['partitions']} partitions / "
              f"{f['staged_rows']:,} rows {f['stage_s']:.1f}s, facts {f['facts_s']:.1f}s)")
        print(f"{prefix}incremental    {inc['seconds']:7.2f} s  ({inc['new_rows']:,} new rows: fetch+upsert raw "
              f"{inc['fetch_upsert_raw_s']:.2f}s, restage {inc['partitions']} partitions / {inc['restaged_rows']:,} "
              f"rows {inc['restage_s']:.1f}s, facts {inc['facts_s']:.1f}s)")
        print(f"{prefix}ratio {r['ratio']:.3f}   {load_text([r['load_1min']])}"
              + (f"; incremental == full rebuild: {r['verified_equal_to_full_rebuild']}"
                 if "verified_equal_to_full_rebuild" in r else ""))
    full_s = [r["full"]["seconds"] for r in runs]
    inc_s = [r["incremental"]["seconds"] for r in runs]
    out = {"incremental_repeat": repeat, **figure("incremental_s", inc_s), **figure("full_rebuild_s", full_s),
           **ratio_figure("incremental_ratio", inc_s, full_s, 4),
           "incremental_detail": median_run(runs, key=lambda run: run["incremental"]["seconds"]),
           "incremental_detail_runs": runs,
           "incremental_peak_mb": round(max(r["peak_rss_mb"] for r in runs) - idle_mb, 1),
           "incremental_load_1min_runs": [r["load_1min"] for r in runs]}
    if repeat > 1:
        print(f"  full rebuild {spread(full_s)} s, incremental {spread(inc_s)} s, ratio of medians "
              f"{out['incremental_ratio']:.3f} (per run {spread(out['incremental_ratio_runs'], '{:.3f}')}); "
              f"{load_text(out['incremental_load_1min_runs'])}")
    return out


def run_growth(sizes: Sequence[int], repeat: int, idle_mb: float, header: dict, chunk_rows: int | None = None) -> dict:
    """The project's indicators at each size, ``repeat`` times by rounds; the table; results/growth.json."""
    paths = {rows: ensure_data(rows, chunk_rows) for rows in sizes}
    print(f"growth (project indicators only, {repeat} run(s) per size, sizes alternating by round):")
    runs = measure_indicators(paths, ["project"], repeat, idle_mb)
    table, previous = [], None
    for rows in sizes:
        seconds = [r["seconds"] for r in runs[rows]["project"]]
        med = statistics.median(seconds)
        entry = {"rows": rows, **figure("project_s", seconds),
                 "s_per_million_rows": round(med / rows * 1e6, 3),
                 "time_ratio_to_previous": round(med / previous[1], 3) if previous else None,
                 "rows_ratio_to_previous": round(rows / previous[0], 3) if previous else None,
                 "project_peak_mb": max(round(r["peak_rss_mb"] - idle_mb, 1) for r in runs[rows]["project"]),
                 "project_load_1min_runs": [r["load_1min"] for r in runs[rows]["project"]],
                 "staging_file": paths[rows].name}
        table.append(entry)
        previous = (rows, med)
    print(f"  {'rows':>12s}  {'seconds: median [min-max]':>26s}  {'s per 1M rows':>13s}  "
          f"{'time ratio / rows ratio':>23s}  {'peak MB':>8s}  load")
    for e in table:
        growth = (f"{e['time_ratio_to_previous']:.2f}x / {e['rows_ratio_to_previous']:.2f}x"
                  if e["time_ratio_to_previous"] else "")
        print(f"  {e['rows']:>12,}  {spread(e['project_s_runs']):>26s}  {e['s_per_million_rows']:>13.3f}  "
              f"{growth:>23s}  {e['project_peak_mb']:>8,.0f}  {load_text(e['project_load_1min_runs'])}")
    by_rows = {e["rows"]: e for e in table}
    checks = []
    if TARGET_ROWS in by_rows and TARGET_ROWS_30M in by_rows:
        value = round(by_rows[TARGET_ROWS_30M]["project_s"] / by_rows[TARGET_ROWS]["project_s"], 3)
        checks.append({"figure": "growth_ratio_30m", "label": "time at 30M / time at 10M", "value": value,
                       "target_name": "growth_ratio_30m_max", "target": TARGETS["growth_ratio_30m_max"],
                       "at_most": True, "fmt": "{:.2f}x", "stated_at_rows": TARGET_ROWS_30M,
                       "measured_at_rows": TARGET_ROWS_30M,
                       "verdict": verdict(value, TARGETS["growth_ratio_30m_max"], True, "{:.2f}x")})
    for rows in (TARGET_ROWS, TARGET_ROWS_30M):
        if rows in by_rows:
            checks += [{**c, "label": f"project peak memory at {rows // 1_000_000}M"}
                       for c in target_checks({"project_peak_mb": by_rows[rows]["project_peak_mb"]}, rows)]
    if checks:
        print("targets (issue #22):")
        print_targets(checks)
    result = {**header, "repeat": repeat, "sizes": table, "targets": TARGETS,
              "target_verdicts": {c["target_name"]: _verdict_record(c) for c in checks}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "growth.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"results: {(RESULTS / 'growth.json').relative_to(ROOT)}")
    return result


def _verdict_record(check: dict) -> dict:
    return {k: check[k] for k in ("figure", "value", "target", "verdict", "stated_at_rows", "measured_at_rows")}


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(float(s)) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"row counts separated by commas, not {text!r}") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"positive row counts, not {text!r}")
    return sizes


def main() -> None:
    if "--demo-graph" in sys.argv[1:]:  # the demo-graph benchmark, with its own options (benchmarks/demo_graph.py)
        from benchmarks import demo_graph
        demo_graph.main([arg for arg in sys.argv[1:] if arg != "--demo-graph"])
    from benchmarks.generate import CHUNK_ROWS, has_generated, require_generated
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-graph", action="store_true",
                        help="instead: the quick start's demo graph against a baseline "
                             "(python -m benchmarks.demo_graph --help: --repeat, --baseline-ref, --compare, ...)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["indicators", "parsing", "incremental"], action="append")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of every timed figure; the median is reported, with the range of the runs")
    parser.add_argument("--project-only", action="store_true",
                        help="the indicators of the project alone: no duckdb or pandas baseline, no agreement check")
    parser.add_argument("--growth", type=parse_sizes, metavar="ROWS,ROWS,...",
                        help="instead: the project's indicators at each size (project alone), a growth table, "
                             "results/growth.json")
    parser.add_argument("--parse-rows", type=int, default=1_000_000, help="rows in the parsing benchmark")
    parser.add_argument("--verify-incremental", action="store_true",
                        help="also check the incremental result against a full rebuild with the new day "
                             "(the first run)")
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS,
                        help="rows per chunk of generated data above which it is written in chunks (default "
                             "%(default)s; lower it only to test the chunked generation at small sizes)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    only = set(args.only or ["indicators", "parsing", "incremental"])
    if not args.growth and not has_generated(args.rows):
        if args.only and only - {"indicators"}:
            require_generated(args.rows)  # exits with the reason
        only = {"indicators"}
    idle = worker("idle", {})
    idle_mb = idle["peak_rss_mb"]
    header = {"generated_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "commit": git_commit(), "versions": versions(),
              "cores": os.cpu_count(), "idle_interpreter_mb": round(idle_mb, 1)}
    print(f"cores={os.cpu_count()}  idle interpreter peak RSS={idle_mb:.0f} MB  "
          + "  ".join(f"{k} {v}" for k, v in header["versions"].items())
          + f"  commit {header['commit']}  {load_text([idle['load_1min']])}")
    if args.growth:
        if not args.project_only:
            print("(--growth measures the project alone, as with --project-only)")
        run_growth(args.growth, args.repeat, idle_mb, header, args.chunk_rows)
        return
    print(f"rows={args.rows:,}" + ("" if args.rows <= CHUNK_ROWS else
                                   f" (above {CHUNK_ROWS:,}: generated in chunks; the indicators alone)"))
    result: dict = {"rows": args.rows, **header, "targets": TARGETS}
    if "indicators" in only:
        impls = ("project",) if args.project_only else IMPLS
        print("indicators (read staging Parquet -> 13 request-level facts per city"
              + (", the project alone):" if args.project_only else "):"))
        result.update(run_indicators(args.rows, args.repeat, idle_mb, impls, args.chunk_rows))
    if "parsing" in only:
        print("parsing (Socrata JSON pages -> staging rows):")
        result.update(run_parsing(args.rows, min(args.parse_rows, args.rows), args.repeat, idle_mb))
    if "incremental" in only:
        print("incremental (one day of new requests on top of the history):")
        result.update(run_incremental(args.rows, args.verify_incremental, args.repeat, idle_mb))
    checks = target_checks(result, args.rows)
    if checks:
        print(f"targets (issue #22; medians of {args.repeat} run(s)):")
        print_targets(checks)
    RESULTS.mkdir(exist_ok=True)
    per_rows = RESULTS / f"rows_{args.rows}.json"
    # a run of some parts (--only) keeps the other parts' last figures; a part measured again replaces all
    # of its own (so figures under names older code wrote do not linger beside the new ones)
    previous = json.loads(per_rows.read_text()) if per_rows.exists() and args.only else {}
    for part in only:
        previous = {k: v for k, v in previous.items() if not k.startswith(PART_KEYS[part])}
    merged = {**previous, **result}
    merged["target_verdicts"] = {c["target_name"]: _verdict_record(c) for c in target_checks(merged, args.rows)}
    for path in (RESULTS / "latest.json", per_rows):
        path.write_text(json.dumps(merged, indent=1, sort_keys=False) + "\n")
    print(f"results: {(RESULTS / 'latest.json').relative_to(ROOT)}")
    if "indicators" in only and result["agree"] is False:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
