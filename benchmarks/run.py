"""Run the benchmarks: ``.venv/bin/python -m benchmarks.run --rows 1000000 [--only indicators|parsing|incremental]``.

Generated data goes to benchmarks/data/, results to benchmarks/results/latest.json (and
results/rows_<n>.json). Every measured job runs in a fresh interpreter (benchmarks.worker); peak
memory is that process's peak RSS (VmHWM, see benchmarks/worker.py) minus that of an idle interpreter.
Data generation also runs in a subprocess, so this process stays small.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
TOLERANCE = 1e-6  # relative (absolute below 1)
TARGETS = {"ratio_vs_duckdb_max": 2.0, "speedup_vs_pandas_min": 5.0, "peak_mb_max": 2048,
           "parse_rows_per_s_min": 200_000, "incremental_ratio_max": 0.10, "demo_graph_s_max": 60}


def worker(job: str, args: dict) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = tmp.name
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.worker", job, json.dumps(args), out], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"worker {job} {args} failed:\n{proc.stderr[-4000:]}")
    result = json.loads(Path(out).read_text())
    os.unlink(out)
    return result


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


def run_indicators(rows: int, repeat: int, idle_mb: float) -> dict:
    from benchmarks.generate import staging_path
    t0 = time.perf_counter()
    worker("generate", {"rows": rows})
    path = staging_path(rows)
    print(f"data: {path.relative_to(ROOT)} ({path.stat().st_size / 1e6:.0f} MB, ready in "
          f"{time.perf_counter() - t0:.1f}s)")
    runs: dict[str, dict] = {}
    for impl in ("project", "duckdb", "pandas"):
        best = None
        for _ in range(repeat):
            try:
                r = worker("indicators", {"impl": impl, "path": str(path)})
            except SystemExit as exc:  # e.g. pandas running out of memory at 10M rows
                raise SystemExit(f"{impl} failed: {exc}") from None
            if best is None or r["seconds"] < best["seconds"]:
                best = {**r, "peak_rss_mb": max(r["peak_rss_mb"], (best or r)["peak_rss_mb"])}
        runs[impl] = best
        print(f"  {impl:8s} {best['seconds']:8.2f} s   peak {best['peak_rss_mb'] - idle_mb:7.0f} MB "
              f"(VmHWM {best['peak_rss_mb']:.0f} MB - idle {idle_mb:.0f} MB)")
    problems = compare({k: v["values"] for k, v in runs.items()})
    n_values = sum(len(c) for c in runs["project"]["values"].values())
    if problems:
        print(f"DISAGREEMENT ({len(problems)}):\n  " + "\n  ".join(problems[:20]))
    else:
        print(f"  agreement: all {n_values} indicator values (13 indicators x cities) agree within {TOLERANCE:g}")
    p, d, pd_ = (runs[k]["seconds"] for k in ("project", "duckdb", "pandas"))
    peak = {k: round(v["peak_rss_mb"] - idle_mb, 1) for k, v in runs.items()}
    return {
        "project_s": round(p, 3), "duckdb_s": round(d, 3), "pandas_s": round(pd_, 3),
        "project_peak_mb": peak["project"], "duckdb_peak_mb": peak["duckdb"], "pandas_peak_mb": peak["pandas"],
        "ratio_vs_duckdb": round(p / d, 3), "ratio_vs_pandas": round(p / pd_, 3),
        "speedup_vs_pandas": round(pd_ / p, 3), "agree": not problems, "disagreements": problems[:50],
        "values_compared": n_values, "repeat": repeat,
    }


def run_parsing(rows: int, parse_rows: int, repeat: int, idle_mb: float) -> dict:
    """The same requests as the pages of the connector's query for NYC (``select: mapped``, the default:
    the mapped fields and :updated_at), then as the pages of ``select: all`` (every column, NYC's unmapped
    ones among them, some rare, as real pages have them), the latter also without the X-SODA2 headers
    (SODA leaves them out for very wide datasets)."""
    from benchmarks.parsing import pages_dir
    out: dict = {}
    for kind, declared, label, suffix in (
            ("select_mapped", True, "select: mapped (the connector's query: the mapped fields, :updated_at)", ""),
            ("select_all", True, "select: all (:*, *: every NYC column, some rare)", "_select_all"),
            ("select_all", False, "select: all, without the X-SODA2 headers", "_select_all_undeclared")):
        worker("pages", {"rows": parse_rows, "source_rows": rows, "kind": kind})
        folder = pages_dir(parse_rows, rows, kind)
        r = min((worker("parsing", {"dir": str(folder), "declared_fields": declared}) for _ in range(repeat)),
                key=lambda run: run["seconds"])
        print(f"  {label}:")
        print(f"  parsing  {r['staged_rows']:,} rows from {r['pages']:,} pages in {r['seconds']:.2f} s = "
              f"{r['rows_per_s']:,.0f} rows/s (fetch+decode {r['decode_s']:.1f}s, records_to_raw "
              f"{r['records_to_raw_s']:.1f}s, stage_requests {r['stage_requests_s']:.1f}s); "
              f"peak {r['peak_rss_mb'] - idle_mb:.0f} MB")
        print(f"           with reading the page files inside the clock ({r['read_files_s']:.1f}s): "
              f"{r['rows_per_s_with_file_reads']:,.0f} rows/s")
        out.update({
            f"parse_rows{suffix}": r["staged_rows"], f"parse_s{suffix}": round(r["seconds"], 3),
            f"parse_rows_per_s{suffix}": round(r["rows_per_s"]),
            f"parse_rows_per_s_with_file_reads{suffix}": round(r["rows_per_s_with_file_reads"]),
            f"parse_breakdown_s{suffix}": {k: round(r[k], 3) for k in ("read_files_s", "decode_s",
                                                                      "records_to_raw_s", "stage_requests_s")},
            f"parse_peak_mb{suffix}": round(r["peak_rss_mb"] - idle_mb, 1)})
    return out


def run_incremental(rows: int, verify: bool, idle_mb: float) -> dict:
    r = worker("incremental", {"rows": rows, "verify": verify})
    f, i = r["full"], r["incremental"]
    print(f"  full rebuild   {f['seconds']:7.2f} s  (stage {f['partitions']} partitions / {f['staged_rows']:,} rows "
          f"{f['stage_s']:.1f}s, facts {f['facts_s']:.1f}s)")
    print(f"  incremental    {i['seconds']:7.2f} s  ({i['new_rows']:,} new rows: fetch+upsert raw "
          f"{i['fetch_upsert_raw_s']:.2f}s, restage {i['partitions']} partitions / {i['restaged_rows']:,} rows "
          f"{i['restage_s']:.1f}s, facts {i['facts_s']:.1f}s)")
    print(f"  ratio {r['ratio']:.3f}" + (f"; incremental == full rebuild: {r['verified_equal_to_full_rebuild']}"
                                         if "verified_equal_to_full_rebuild" in r else ""))
    return {"incremental_s": round(i["seconds"], 3), "full_rebuild_s": round(f["seconds"], 3),
            "incremental_ratio": round(r["ratio"], 4), "incremental_detail": r,
            "incremental_peak_mb": round(r["peak_rss_mb"] - idle_mb, 1)}


def main() -> None:
    if "--demo-graph" in sys.argv[1:]:  # the demo-graph benchmark, with its own options (benchmarks/demo_graph.py)
        from benchmarks import demo_graph
        demo_graph.main([arg for arg in sys.argv[1:] if arg != "--demo-graph"])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-graph", action="store_true",
                        help="instead: the quick start's demo graph against a baseline "
                             "(python -m benchmarks.demo_graph --help: --repeat, --baseline-ref, --compare, ...)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["indicators", "parsing", "incremental"], action="append")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per implementation and of the parsing benchmark; the fastest is kept")
    parser.add_argument("--parse-rows", type=int, default=1_000_000, help="rows in the parsing benchmark")
    parser.add_argument("--verify-incremental", action="store_true",
                        help="also check the incremental result against a full rebuild with the new day")
    args = parser.parse_args()
    only = set(args.only or ["indicators", "parsing", "incremental"])
    idle_mb = worker("idle", {})["peak_rss_mb"]
    print(f"rows={args.rows:,}  python {platform.python_version()}  cores={os.cpu_count()}  "
          f"idle interpreter peak RSS={idle_mb:.0f} MB")
    result: dict = {"rows": args.rows, "idle_interpreter_mb": round(idle_mb, 1), "cores": os.cpu_count(),
                    "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "targets": TARGETS}
    import duckdb
    import pandas
    import polars
    result["versions"] = {"polars": polars.__version__, "duckdb": duckdb.__version__, "pandas": pandas.__version__}
    if "indicators" in only:
        print("indicators (read staging Parquet -> 13 request-level facts per city):")
        result.update(run_indicators(args.rows, args.repeat, idle_mb))
        print(f"  project / duckdb = {result['ratio_vs_duckdb']:.2f}x (target <= 2); "
              f"pandas / project = {result['speedup_vs_pandas']:.2f}x (target >= 5); "
              f"project peak {result['project_peak_mb']:.0f} MB (target <= 2048)")
    if "parsing" in only:
        print("parsing (Socrata JSON pages -> staging rows):")
        result.update(run_parsing(args.rows, min(args.parse_rows, args.rows), args.repeat, idle_mb))
    if "incremental" in only:
        print("incremental (one day of new requests on top of the history):")
        result.update(run_incremental(args.rows, args.verify_incremental, idle_mb))
    RESULTS.mkdir(exist_ok=True)
    per_rows = RESULTS / f"rows_{args.rows}.json"
    # a run of some parts (--only) keeps the other parts' last figures; a part measured again replaces all
    # of its own (so figures under names older code wrote do not linger beside the new ones)
    previous = json.loads(per_rows.read_text()) if per_rows.exists() and args.only else {}
    if "parsing" in only:
        previous = {k: v for k, v in previous.items() if not k.startswith("parse_")}
    merged = {**previous, **result}
    for path in (RESULTS / "latest.json", per_rows):
        path.write_text(json.dumps(merged, indent=1, sort_keys=False) + "\n")
    print(f"results: {(RESULTS / 'latest.json').relative_to(ROOT)}")
    if "indicators" in only and not result["agree"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
