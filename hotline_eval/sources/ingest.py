"""One city-month of a city's request-level feeds into raw: what the warehouse knows of the partition
(``partition_state``: the incremental cursors, the fields each source published before), every source
fetched before anything is written (``fetch_partition``), and the write plan that lands them in one
transaction: rows, fields seen, fetch log, archived pages, fetch rejects. A fetch that fails leaves only
its fetch-log row to write, and says why (``FetchFailure``); so does a full pull whose every record was
rejected, which writes its rejects too and names the commonest reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
import polars as pl

from hotline_eval.config.registry import City, Source
from hotline_eval.errors import HotlineEvalError, SourceFormatError
from hotline_eval.fetch.archive import archive_rows
from hotline_eval.fetch.http import HttpClient
from hotline_eval.fetch.log import fetch_log_row
from hotline_eval.publish.warehouse import Append, Replace, Upsert, Write, query
from hotline_eval.sources import fetch_request_month, is_request_level, supports_incremental
from hotline_eval.sources.drift import field_drift
from hotline_eval.sources.records import RawBatch

# the cursor is the newest platform update stamp landed for the partition: it moves only when rows
# land, so a failed run cannot advance it
CURSOR_SQL = ("SELECT max(source_updated_at) AS c FROM raw.service_request_records "
              "WHERE source_id = ? AND partition_month = ?")
KNOWN_FIELDS_SQL = "SELECT * FROM raw.source_fields WHERE source_id = ?"

Refresh = Literal["full", "incremental"]


@dataclass(frozen=True)
class PartitionState:
    """What the warehouse knows of a city-month before its fetch."""

    sources: list[Source]  # the city's request-level feeds
    cursors: dict[str, str | None]  # source id -> cursor, for the sources pulled incrementally
    known_fields: dict[str, pl.DataFrame]  # source id -> its raw.source_fields rows


def partition_state(con: duckdb.DuckDBPyConnection, city: City, month: str, *, incremental: bool) -> PartitionState:
    """The partition's cursors (``incremental``: for the sources whose connector supports it) and the
    fields each source published so far (for drift)."""
    sources = [s for s in city.sources if is_request_level(s)]
    cursors = {s.id: query(con, CURSOR_SQL, [s.id, month])["c"][0]
               for s in sources if incremental and supports_incremental(s)}
    known_fields = {s.id: query(con, KNOWN_FIELDS_SQL, [s.id]) for s in sources}
    return PartitionState(sources=sources, cursors=cursors, known_fields=known_fields)


@dataclass(frozen=True)
class SourceBatch:
    """One source's fetch: its raw batch, and whether it was a full or an incremental pull."""

    source: Source
    batch: RawBatch
    refresh: Refresh


@dataclass(frozen=True)
class FetchFailure:
    """A source's fetch that failed: ``message`` names the city, month and source; ``error`` is what
    was raised (whether retrying can help is the caller's to ask)."""

    message: str
    error: Exception


@dataclass
class PartitionFetch:
    """What a city-month's fetch gives: the write plan (only the failed fetch-log row when it failed),
    the batches fetched, the schema drift noted per source, and the failure if any."""

    writes: list[Write]
    sources: list[Source]
    batches: list[SourceBatch] = field(default_factory=list)
    drift_notes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    failure: FetchFailure | None = None

    @property
    def rejected(self) -> int:
        return sum(b.batch.rejects.height for b in self.batches)

    def metadata(self) -> dict[str, Any]:
        """The numbers and names a materialization reports (``archive_sha256s`` a list of the pages')."""
        batches = [b.batch for b in self.batches]
        return {
            "dagster/row_count": sum(b.rows.height for b in batches),
            "rejected": self.rejected,
            "duplicates_dropped": sum(b.duplicates_dropped for b in batches),
            # records a server returned for other months (it ignored the month window), left out
            "dropped_outside_month": sum(b.dropped_outside_month for b in batches),
            "pages": sum(len(b.pages) for b in batches),
            "refresh": ", ".join(f"{b.source.id}={b.refresh}" for b in self.batches),
            "sources": ", ".join(s.id for s in self.sources),
            "source_urls": ", ".join(p.response.url for b in batches for p in b.pages[:1]),
            "archive_sha256s": [h for b in batches for h in b.sha256s],
            "is_synthetic": any(b.is_synthetic for b in batches),
        }


def fetch_partition(client: HttpClient, city: City, month: str, state: PartitionState, *, run_id: str,
                    partition_key: str, archive_dir: str, app_token: str | None = None) -> PartitionFetch:
    """Fetch every source of the partition (incrementally from its cursor when there is one), then plan
    the writes. Everything is fetched first: an error mid-paging stops here, with nothing planned but
    the failed source's fetch-log row."""
    batches = []
    for source in state.sources:
        since = state.cursors.get(source.id)
        refresh: Refresh = "incremental" if since else "full"
        try:
            batch = fetch_request_month(client, source, city.id, month, timezone=city.timezone, app_token=app_token,
                                        since=since)
        except (HotlineEvalError, NotImplementedError) as exc:
            log = fetch_log_row(run_id=run_id, source_id=source.id, city_id=city.id, partition_key=month,
                                status="failed", refresh=refresh, error=str(exc))
            return PartitionFetch(writes=[Append("raw.fetch_log", log)], sources=state.sources,
                                  failure=FetchFailure(f"{city.id} {month} {source.id}: {exc}", exc))
        batches.append(SourceBatch(source, batch, refresh))
    for fetched in batches:
        if (refused := _all_rejected(fetched, city.id, month, run_id=run_id)) is not None:
            return PartitionFetch(writes=refused[0], sources=state.sources, batches=batches, failure=refused[1])
    result = PartitionFetch(writes=[], sources=state.sources, batches=batches)
    for fetched in batches:
        source, batch = fetched.source, fetched.batch
        drift = field_drift(state.known_fields[source.id], source.id, month, batch.fields_seen, source.fields,
                            had_records=batch.rows.height > 0)
        if drift.new_fields or drift.missing_mapped:
            result.drift_notes[source.id] = {"new": drift.new_fields, "missing_mapped": drift.missing_mapped}
        result.writes += _source_writes(fetched, drift.fields, city.id, month, run_id=run_id,
                                        partition_key=partition_key, archive_dir=archive_dir)
    return result


def _all_rejected(fetched: SourceBatch, city_id: str, month: str, *, run_id: str
                  ) -> tuple[list[Write], FetchFailure] | None:
    """A full pull that gave records but not one valid row fails (a changed id field, a feed that is not
    records any more), naming the commonest reject reason; its rejects and its failed fetch-log row are
    still planned, so analysts see them, and the partition's rows stay as they were. (An incremental pull
    adds to rows already landed, so a few rejected changes do not fail it.)"""
    source, batch = fetched.source, fetched.batch
    if fetched.refresh != "full" or batch.rows.height or not batch.rejects.height:
        return None
    total = batch.rejects.height
    reasons = batch.rejects.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    reason, count = reasons.row(0)
    message = (f"{city_id} {month} {source.id}: all {total} records were rejected at fetch, none landed; the "
               f"commonest reason ({count} of {total}): {reason} (see raw.rejects)")
    where = {"city_id": city_id, "source_id": source.id, "partition_key": month, "stage": "fetch"}
    writes: list[Write] = [
        Replace("raw.rejects", batch.rejects.with_columns(stage=pl.lit("fetch")), where),
        Append("raw.fetch_log", fetch_log_row(run_id=run_id, source_id=source.id, city_id=city_id,
                                              partition_key=month, status="failed", refresh=fetched.refresh,
                                              pages=len(batch.pages), error=message)),
    ]
    return writes, FetchFailure(message, SourceFormatError(message))


def _source_writes(fetched: SourceBatch, fields: pl.DataFrame, city_id: str, month: str, *, run_id: str,
                   partition_key: str, archive_dir: str) -> list[Write]:
    """One source's writes: its rows (replacing the month's, or upserting the changed records), its
    ``fields`` seen so far (raw.source_fields), its fetch-log row, its archived pages and its fetch rejects."""
    source, batch, refresh = fetched.source, fetched.batch, fetched.refresh
    where = {"city_id": city_id, "source_id": source.id}
    month_where = {**where, "partition_month": month}
    archived = archive_rows([*batch.responses, *(p.response for p in batch.pages)], source_id=source.id,
                            archive_dir=archive_dir, partition_key=partition_key)
    rejects = batch.rejects.with_columns(stage=pl.lit("fetch"))
    full = refresh == "full"
    writes: list[Write] = [
        Replace("raw.service_request_records", batch.rows, month_where) if full
        else Upsert("raw.service_request_records", batch.rows, key="request_id", where=month_where),
        Replace("raw.source_fields", fields, {"source_id": source.id}),
        Append("raw.fetch_log", fetch_log_row(
            run_id=run_id, source_id=source.id, city_id=city_id, partition_key=month, status="ok",
            refresh=refresh, rows=batch.rows.height, pages=len(batch.pages))),
        # an incremental pull adds pages: the earlier ones still back the rows it did not replace
        Replace("raw.http_archive", archived, {"source_id": source.id, "partition_key": partition_key}) if full
        else Append("raw.http_archive", archived),
    ]
    if full:
        writes.append(Replace("raw.rejects", rejects, {**where, "partition_key": month, "stage": "fetch"}))
    elif batch.rejects.height:
        writes.append(Append("raw.rejects", rejects))
    return writes
