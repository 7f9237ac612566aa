"""One measured job in a fresh interpreter: ``python -m benchmarks.worker <job> <args json> <out json>``.

Imports and setup happen before the clock starts; wall time covers reading the input to having the result.
For the indicators, ``impls.prepare`` runs untimed (imports, the registry, the framework, the empty staging
frames from sql/ddl, connections; benchmarks/impls.py's docstring lists exactly what) and the step it returns
is timed; any module first imported inside the clock is reported (``imported_in_clock``).
Peak memory is this process's peak resident set size at the end: VmHWM from /proc/self/status on
Linux. Not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries ru_maxrss over fork + exec, so a worker
started by a parent holding 6 GB would report 6 GB whatever it did (VmHWM belongs to the new address
space). ``ru_maxrss`` is reported beside it. benchmarks.run subtracts the peak of an idle interpreter
measured the same way.
"""

from __future__ import annotations

import json
import resource
import sys
import time


def rss_mb() -> float:
    """Peak RSS of this process's address space, MB (VmHWM; ru_maxrss where /proc is missing)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def job_indicators(args: dict) -> dict:
    from benchmarks import impls
    t_prepare = time.perf_counter()
    step = impls.prepare(args["impl"], args["path"])
    prepare_s = time.perf_counter() - t_prepare
    after_prepare = rss_mb()
    modules = set(sys.modules)
    t0 = time.perf_counter()
    values = step()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "values": values, "prepare_s": prepare_s, "rss_after_prepare_mb": after_prepare,
            "imported_in_clock": sorted(set(sys.modules) - modules)}


def job_parsing(args: dict) -> dict:
    from benchmarks import parsing
    after_import = rss_mb()
    result = parsing.run(args["dir"], args.get("declared_fields", True))
    return {**result, "rss_after_import_mb": after_import}


def job_incremental(args: dict) -> dict:
    from benchmarks import generate, impls, incremental
    generate.require_generated(args["rows"])
    # the registry, framework and empty staging frames once, before the clock: otherwise the facts of
    # both the full rebuild and the refresh would apply sql/ddl to a fresh connection (0.1-0.5 s each),
    # which the assets never do per run
    impls.keep_project_setup()
    after_import = rss_mb()
    result = incremental.run(args["rows"], verify=args.get("verify", False))
    return {**result, "rss_after_import_mb": after_import}


def job_idle(_: dict) -> dict:
    return {}


def job_generate(args: dict) -> dict:
    from benchmarks.generate import CHUNK_ROWS, ensure_staging
    return {"path": str(ensure_staging(args["rows"], chunk_rows=args.get("chunk_rows", CHUNK_ROWS)))}


def job_pages(args: dict) -> dict:
    from benchmarks.generate import require_generated
    from benchmarks.parsing import ensure_pages
    require_generated(args["source_rows"])
    return {"path": str(ensure_pages(args["rows"], args["source_rows"], args["kind"]))}


JOBS = {"generate": job_generate, "pages": job_pages, "indicators": job_indicators, "parsing": job_parsing,
        "incremental": job_incremental, "idle": job_idle}


def main() -> None:
    job, args, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    result = JOBS[job](args)
    result["peak_rss_mb"] = rss_mb()
    result["ru_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
