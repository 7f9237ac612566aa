"""Every aggregate source of the registry fetched and parsed into one write plan: each source's rows and
archived pages replace its previous ones, every attempt is logged, and a source that fails keeps its last
good rows without stopping the others."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from hotline_eval.config.registry import Registry
from hotline_eval.errors import HotlineEvalError
from hotline_eval.fetch.archive import archive_rows
from hotline_eval.fetch.http import HttpClient
from hotline_eval.fetch.log import fetch_log_row
from hotline_eval.publish.warehouse import Append, Replace, Write
from hotline_eval.sources.aggregate import AggregateTableSource
from hotline_eval.stats.tables import fetch_stats, table_urls

UNREADABLE_KEPT = 20  # unreadable cells listed per source


@dataclass
class StatsFetch:
    """The write plan, each source's status ("ok: n values" or "failed: why"), its unreadable cells, the
    frames landed, and what to tell the operator (``errors``, ``warnings``)."""

    writes: list[Write] = field(default_factory=list)
    status: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, list[str]] = field(default_factory=dict)
    frames: list[pl.DataFrame] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def landed(self) -> pl.DataFrame:
        return pl.concat(self.frames) if self.frames else pl.DataFrame()

    @property
    def failed(self) -> list[str]:
        return [s for s, v in self.status.items() if v.startswith("failed")]

    def rates_out_of_range(self) -> int:
        """Values of *_rate metrics outside [0, 100]."""
        landed = self.landed
        if not landed.height:
            return 0
        rates = landed.filter(pl.col("metric").str.ends_with("_rate"))
        return rates.filter(~pl.col("value").is_between(0, 100)).height if rates.height else 0


def fetch_all_stats(registry: Registry, client_for: Callable[[frozenset[str]], HttpClient], *, run_id: str,
                    archive_dir: str) -> StatsFetch:
    """Fetch and parse every aggregate_table source, each with a client allowed its city's hosts
    (``client_for``); ``archive_dir`` is where the responses' archive rows say they are kept."""
    out = StatsFetch()
    for city, source in registry.sources(AggregateTableSource):
        log = {"run_id": run_id, "source_id": source.id, "city_id": city.id, "partition_key": "*",
               "refresh": "full", "pages": len(table_urls(source))}
        try:
            frame, bad_cells, responses = fetch_stats(client_for(city.hosts), source, city.id)
        except HotlineEvalError as exc:
            # one source failing must not stop the others, nor erase its last good rows
            out.status[source.id] = f"failed: {exc}"
            out.errors.append(f"{source.id}: {exc}")
            out.writes.append(Append("raw.fetch_log", fetch_log_row(**log, status="failed", error=str(exc))))
            continue
        out.status[source.id] = f"ok: {frame.height} values"
        if bad_cells:
            out.unreadable[source.id] = bad_cells[:UNREADABLE_KEPT]
            out.warnings.append(f"{source.id}: {len(bad_cells)} cells could not be read: {bad_cells[:5]}")
        out.frames.append(frame)
        out.writes += [
            Replace("staging.hotline_stats", frame, {"source_id": source.id}),
            Replace("raw.http_archive", archive_rows(responses, source_id=source.id, archive_dir=archive_dir,
                                                     partition_key=None), {"source_id": source.id}),
            Append("raw.fetch_log", fetch_log_row(**log, status="ok", rows=frame.height)),
        ]
    return out
