"""Parsing benchmark: raw Socrata JSON pages -> staging.service_requests rows, through the project's code.

Per city-month partition, through the Socrata connector's own paging loop (``socrata.fetch_pages``), with
a client that hands out the partition's page bodies as archived responses (``make_response``: sha256,
headers) instead of the network; the pages go through ``records_to_raw`` (field mapping, de-duplication
by request id) and the raw rows through ``stage_requests`` (timestamp parsing with the city's zone, value
mappings, quality flags). The field mapping is NYC 311's (erm2-nwe9) for every city; each city keeps its
own time zone. The pages answer the connector's query for NYC with ``select: mapped`` (the default) or
``select: all`` (``generate.PAGE_KINDS``); the client checks the query asked for them. The responses carry
the X-SODA2-Fields/-Types headers SODA sends (``generate.socrata_headers``), or, with
``declared_fields=False``, not (SODA leaves them out for a dataset with very many columns). The metadata
request a ``select: mapped`` fetch makes first (one per partition, ``socrata.fetch_month``) is not part of
the paging loop and not measured.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import polars as pl

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

# bumped when the pages change, so a page set written by older code is not measured: 2 = SODA's layout
# (a record per line), X-SODA2 headers, and NYC's location point among the optional fields; 3 = the
# pages answer the connector's query (select: mapped or all)
PAGES_VERSION = 3


def pages_dir(rows: int, source_rows: int, kind: str) -> Path:
    return DATA_DIR / f"socrata_pages_v{PAGES_VERSION}_{rows}_of_{source_rows}_{kind}"


def ensure_pages(rows: int, source_rows: int, kind: str) -> Path:
    """Write (once) the first ``rows`` generated requests as Socrata JSON pages of ``kind``
    (generate.PAGE_KINDS), one file per page, with the query they answer and its headers."""
    folder = pages_dir(rows, source_rows, kind)
    index = folder / "index.parquet"
    if index.exists():
        return folder
    ensure_staging(source_rows)
    frame = pl.read_parquet(generated_path(source_rows))
    # whole city-month partitions (as a fetch reads them), in a seeded random order, until ``rows`` are taken
    sizes = frame.group_by("city_id", "partition_month").len().sort("city_id", "partition_month")
    sizes = sizes.sample(fraction=1.0, shuffle=True, seed=1).with_columns(pl.col("len").cum_sum().alias("_upto"))
    chosen = sizes.filter((pl.col("_upto") - pl.col("len")) < rows).select("city_id", "partition_month")
    frame = frame.join(chosen, on=["city_id", "partition_month"], how="semi")
    pages = socrata_pages(to_raw(frame), kind)
    (folder / "bodies").mkdir(parents=True, exist_ok=True)
    files = []
    for i, (city, month, number, body) in enumerate(pages):
        name = f"bodies/{i:06d}.json"
        (folder / name).write_bytes(body)
        files.append((city, month, number, name))
    (folder / "headers.json").write_text(json.dumps(socrata_headers(kind), indent=1))
    (folder / "query.json").write_text(json.dumps({"kind": kind, "select": socrata_select(kind)}, indent=1))
    pl.DataFrame(files, schema=["city_id", "partition_month", "page_number", "file"], orient="row").write_parquet(index)
    return folder


class PagesClient:
    """Answers ``HttpClient.get`` for a fetch's pages from bodies in memory (page number -> body): an
    archived response as the client builds it, SODA's empty page past the last. The pages answer the
    query ``select``: a fetch asking another is refused."""

    def __init__(self, bodies: dict[int, bytes], headers: dict[str, str], select: str) -> None:
        self.bodies, self.headers, self.select = bodies, headers, select

    def get(self, url: str, params: dict, *, headers: dict | None = None, note: str = ""):
        from hotline_eval.fetch.archive import make_response
        if params["$select"] != self.select:
            raise AssertionError(f"the pages answer $select={self.select!r}, not {params['$select']!r}")
        number = int(params["$offset"]) // int(params["$limit"])
        return make_response("GET", url, params, 200, self.headers, self.bodies.get(number, b"[]\n"),
                             is_synthetic=True)


def run(folder: str, declared_fields: bool = True) -> dict:
    from hotline_eval.config.registry import load_registry
    from hotline_eval.sources import socrata
    from hotline_eval.sources.records import records_to_raw
    from hotline_eval.staging.mappings import load_mappings
    from hotline_eval.staging.service_requests import stage_requests

    folder = Path(folder)
    index = pl.read_parquet(folder / "index.parquet")
    headers = json.loads((folder / "headers.json").read_text())
    select = json.loads((folder / "query.json").read_text())["select"]
    if not declared_fields:
        headers = {k: v for k, v in headers.items() if not k.startswith("X-SODA2-")}
    source = load_registry().city("new_york").sources[0]
    fields = dict(source.fields)
    zones = dict(city_table().select("city_id", "timezone").iter_rows())
    mappings = load_mappings()
    timings = {"read_files_s": 0.0, "decode_s": 0.0, "records_to_raw_s": 0.0, "stage_requests_s": 0.0}
    staged_rows = rejected = 0
    for (city, month), part in index.group_by("city_id", "partition_month", maintain_order=True):
        # the page bodies as a fetch hands them over: reading the files stands in for the network and is
        # timed apart (read_files_s), not as parsing
        t_read = time.perf_counter()
        bodies = [(number, (folder / name).read_bytes())
                  for number, name in part.select("page_number", "file").iter_rows()]
        t0 = time.perf_counter()
        client = PagesClient(dict(bodies), headers, select)
        pages = list(socrata.fetch_pages(client, source, socrata.month_where(source, month), select=select))
        assert len(pages) >= len(bodies)
        t1 = time.perf_counter()
        raw = records_to_raw(pages, fields, city_id=city, source_id=f"{city}_socrata", partition_month=month,
                             updated_system_field=":updated_at")
        t2 = time.perf_counter()
        staged = stage_requests(raw.rows, zones[city], mappings)
        t3 = time.perf_counter()
        timings["read_files_s"] += t0 - t_read
        timings["decode_s"] += t1 - t0
        timings["records_to_raw_s"] += t2 - t1
        timings["stage_requests_s"] += t3 - t2
        staged_rows += staged.rows.height
        rejected += staged.rejects.height + raw.rejects.height
        del bodies, pages
    seconds = timings["decode_s"] + timings["records_to_raw_s"] + timings["stage_requests_s"]
    return {"seconds": seconds, "staged_rows": staged_rows, "rejected": rejected,
            "rows_per_s": staged_rows / seconds, "pages": index.height,
            "rows_per_s_with_file_reads": staged_rows / (seconds + timings["read_files_s"]), **timings}
