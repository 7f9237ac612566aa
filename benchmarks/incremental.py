"""Incremental benchmark: one day of new requests on top of the history, against a full rebuild.

The history is every generated request except those created on 2024-12-31 (UTC); that day is the
new data, published as Socrata JSON pages. Both paths run the project's own code the way the assets
do, against a DuckDB work database (benchmarks/data/incremental_<rows>.duckdb):

full rebuild  (what re-running every staging partition and the facts costs; fetching excluded)
  for every city-month partition: read raw rows -> stage_requests -> replace the staging partition
  (assets/requests.py::staging_service_requests with full: true), then the facts over everything
  (assets/marts.py::indicator_facts: every partition's parts in marts.request_month_parts computed again,
  then Evidence over the staging table and the parts -> compute_facts, aggregated in DuckDB).
incremental  (the Dagster partitions the new day touches)
  the day's pages -> records_to_raw -> upsert into raw by request_id (raw_service_request_records,
  incremental mode); re-stage the changed records of the touched city-month partitions (the staging
  asset's delta mode, hotline_eval/staging/partition.py); then the parts of the partitions staged
  since (and of those whose repeat test can see them), and the facts from the parts and the rows.

With ``verify``, the incremental result is checked against a full rebuild that includes the day.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import duckdb
import polars as pl

from benchmarks import impls
from benchmarks.generate import (
    DATA_DIR,
    city_table,
    ensure_staging,
    generated_path,
    socrata_headers,
    socrata_pages,
    socrata_select,
    to_raw,
)
from benchmarks.parsing import PagesClient

DAY = datetime(2024, 12, 31, tzinfo=UTC)


def _setup(rows: int):
    from hotline_eval.config.settings import load_settings
    from hotline_eval.publish.warehouse import apply_ddl
    ensure_staging(rows)
    frame = pl.read_parquet(generated_path(rows))
    new = pl.col("created_at") >= pl.lit(DAY)
    day, history = frame.filter(new), frame.filter(~new)
    path = DATA_DIR / f"incremental_{rows}.duckdb"
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path), config=load_settings().duckdb_config)  # as definitions.py
    apply_ddl(con)
    raw_rows = to_raw(history).to_arrow()  # noqa: F841 (DuckDB replacement scan)
    con.execute("INSERT INTO raw.service_request_records BY NAME SELECT * FROM raw_rows")
    con.execute("CHECKPOINT")
    day_raw = to_raw(day.with_columns(
        (pl.int_range(pl.len()).over("city_id", "partition_month") // 1000).cast(pl.Int32).alias("page_number")))
    return con, history.height, socrata_pages(day_raw, "select_mapped")  # what the connector asks NYC for


def _stage_partitions(con, partitions, zones, mappings, *, delta: bool) -> int:
    """As assets/requests.py::staging_service_requests stages each partition (whole, or only its
    records changed since it was last staged)."""
    from hotline_eval.staging.partition import stage_partition
    return sum(stage_partition(con, city, month, zones[city], mappings, delta=delta).staged.rows.height
               for city, month in partitions)


def _facts(con) -> dict:
    """As assets/marts.py::indicator_facts: bring the per-partition parts up to date (only partitions
    staged since they were computed), then the facts from the parts and the rows; returns the 13
    request-level values (impls.project_values: the framework's facts and the measures behind the others)."""
    from hotline_eval.evaluation.evidence import WarehouseRequests
    from hotline_eval.evaluation.request_parts import PARTS_TABLE, refresh_request_parts
    refresh_request_parts(con)
    ev = impls.project_evidence(WarehouseRequests(con, parts=PARTS_TABLE))
    return impls.project_values(impls.project_facts(ev), ev)


def _full(con, zones, mappings) -> dict:
    from hotline_eval.publish.warehouse import query
    t0 = time.perf_counter()
    partitions = query(con, "SELECT DISTINCT city_id, partition_month FROM raw.service_request_records "
                            "ORDER BY ALL").rows()
    staged = _stage_partitions(con, partitions, zones, mappings, delta=False)
    t1 = time.perf_counter()
    facts = _facts(con)
    t2 = time.perf_counter()
    return {"seconds": t2 - t0, "stage_s": t1 - t0, "facts_s": t2 - t1, "staged_rows": staged,
            "partitions": len(partitions), "facts": facts}


def run(rows: int, verify: bool = False) -> dict:
    from hotline_eval.config.registry import load_registry
    from hotline_eval.publish.warehouse import Upsert, replace_many
    from hotline_eval.sources import socrata
    from hotline_eval.sources.pages import Page
    from hotline_eval.sources.records import records_to_raw
    from hotline_eval.staging.mappings import load_mappings

    t_setup = time.perf_counter()
    con, history_rows, pages = _setup(rows)
    setup_s = time.perf_counter() - t_setup
    zones = dict(city_table().select("city_id", "timezone").iter_rows())
    sources = dict(city_table().select("city_id", "source_id").iter_rows())
    source = load_registry().city("new_york").sources[0]
    fields = dict(source.fields)
    headers, select = socrata_headers("select_mapped"), socrata_select("select_mapped")
    mappings = load_mappings()

    full = _full(con, zones, mappings)

    t0 = time.perf_counter()
    bodies: dict[tuple[str, str], dict[int, bytes]] = {}
    for city, month, number, body in pages:
        bodies.setdefault((city, month), {})[number] = body
    # each partition's day of pages through the connector's paging loop, as a refresh fetches them
    by_partition: dict[tuple[str, str], list[Page]] = {
        (city, month): list(socrata.fetch_pages(PagesClient(part, headers, select), source,
                                                socrata.month_where(source, month), select=select))
        for (city, month), part in bodies.items()}
    new_rows = 0
    for (city, month), part_pages in by_partition.items():
        batch = records_to_raw(part_pages, fields, city_id=city, source_id=sources[city], partition_month=month,
                               updated_system_field=":updated_at")
        new_rows += batch.rows.height
        replace_many(con, [Upsert("raw.service_request_records", batch.rows, key="request_id",
                                  where={"city_id": city, "source_id": sources[city], "partition_month": month})])
    t1 = time.perf_counter()
    restaged = _stage_partitions(con, sorted(by_partition), zones, mappings, delta=True)
    t2 = time.perf_counter()
    facts = _facts(con)
    t3 = time.perf_counter()
    incremental = {"seconds": t3 - t0, "fetch_upsert_raw_s": t1 - t0, "restage_s": t2 - t1, "facts_s": t3 - t2,
                   "new_rows": new_rows, "partitions": len(by_partition), "restaged_rows": restaged}
    result = {
        "history_rows": history_rows, "setup_s": setup_s,
        "full": {k: v for k, v in full.items() if k != "facts"}, "incremental": incremental,
        "ratio": incremental["seconds"] / full["seconds"],
    }
    if verify:
        check = _full(con, zones, mappings)
        import math
        a, b = facts, check["facts"]
        diffs = [(i, c, a[i].get(c), b[i].get(c)) for i in a for c in set(a[i]) | set(b[i])
                 if a[i].get(c) is None or b[i].get(c) is None
                 or not math.isclose(a[i][c], b[i][c], rel_tol=1e-9, abs_tol=1e-9)]
        result["verified_equal_to_full_rebuild"] = not diffs
        result["verify_differences"] = [str(d) for d in diffs[:20]]
    con.close()
    return result
