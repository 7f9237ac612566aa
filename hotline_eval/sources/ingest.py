"""One city-month of a city's request-level feeds into raw: what the warehouse knows of the partition
(``partition_state``: the incremental cursors, the fields each source published before), every source
fetched before anything is written (``fetch_partition``), and the write plan that lands them in one
transaction: rows, fields seen, fetch log, archived pages, fetch rejects. A fetch that fails leaves only
its fetch-log row to write, and says why (``FetchFailure``); so does a full pull whose every record was
rejected, which writes its rejects too and names the commonest reason.

A source configured with ``accumulate: true`` (a feed of the latest requests only, polled: Avisos Madrid)
is merged, not replaced: its rows are upserted by request id into the partition's rows already landed, a
landed version whose update stamp is newer than the poll's is kept, and rows earlier polls landed that
this poll no longer shows stay, as do their archived pages and rejects (all in the same one transaction).
The partition then holds what the polls captured: ``PartitionFetch.coverage`` says how many polls, the
first and the last, and how many requests they gave."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
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
from hotline_eval.staging.timeparse import parse_timestamps

# the cursor is the newest platform update stamp landed for the partition: it moves only when rows
# land, so a failed run cannot advance it
CURSOR_SQL = ("SELECT max(source_updated_at) AS c FROM raw.service_request_records "
              "WHERE source_id = ? AND partition_month = ?")
KNOWN_FIELDS_SQL = "SELECT * FROM raw.source_fields WHERE source_id = ?"
LANDED_SQL = ("SELECT request_id, source_updated_at FROM raw.service_request_records "
              "WHERE source_id = ? AND partition_month = ?")
POLLS_SQL = ("SELECT count(*) AS polls, min(fetched_at) AS first_poll FROM raw.fetch_log "
             "WHERE source_id = ? AND partition_key = ? AND status = 'ok'")

Refresh = Literal["full", "incremental", "accumulate"]


def accumulates(source: Source) -> bool:
    """Whether the source's polls are merged into the partition's rows (``accumulate: true``)."""
    return bool(getattr(source, "accumulate", False))


@dataclass(frozen=True)
class PartitionState:
    """What the warehouse knows of a city-month before its fetch."""

    sources: list[Source]  # the city's request-level feeds
    cursors: dict[str, str | None]  # source id -> cursor, for the sources pulled incrementally
    known_fields: dict[str, pl.DataFrame]  # source id -> its raw.source_fields rows
    # accumulating sources: their rows landed (request_id, source_updated_at) and earlier good polls
    landed: dict[str, pl.DataFrame] = field(default_factory=dict)
    polls: dict[str, tuple[int, datetime | None]] = field(default_factory=dict)


def partition_state(con: duckdb.DuckDBPyConnection, city: City, month: str, *, incremental: bool) -> PartitionState:
    """The partition's cursors (``incremental``: for the sources whose connector supports it) and the
    fields each source published so far (for drift)."""
    sources = [s for s in city.sources if is_request_level(s)]
    cursors = {s.id: query(con, CURSOR_SQL, [s.id, month])["c"][0]
               for s in sources if incremental and supports_incremental(s)}
    known_fields = {s.id: query(con, KNOWN_FIELDS_SQL, [s.id]) for s in sources}
    merged = [s for s in sources if accumulates(s)]
    landed = {s.id: query(con, LANDED_SQL, [s.id, month]) for s in merged}
    polls = {s.id: query(con, POLLS_SQL, [s.id, month]).row(0) for s in merged}
    return PartitionState(sources=sources, cursors=cursors, known_fields=known_fields, landed=landed, polls=polls)


@dataclass(frozen=True)
class SourceBatch:
    """One source's fetch: its raw batch, and whether it was a full or an incremental pull."""

    source: Source
    batch: RawBatch
    refresh: Refresh
    older_than_landed: int = 0  # accumulate: polled rows left out, the landed version being newer


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
    # accumulating sources: what the partition holds after this poll (see ``_coverage``)
    coverage: dict[str, dict[str, Any]] = field(default_factory=dict)

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
            **({"coverage": self.coverage} if self.coverage else {}),
        }


def fetch_partition(client: HttpClient, city: City, month: str, state: PartitionState, *, run_id: str,
                    partition_key: str, archive_dir: str, app_token: str | None = None) -> PartitionFetch:
    """Fetch every source of the partition (incrementally from its cursor when there is one), then plan
    the writes. Everything is fetched first: an error mid-paging stops here, with nothing planned but
    the failed source's fetch-log row."""
    batches = []
    for source in state.sources:
        since = state.cursors.get(source.id)
        refresh: Refresh = "accumulate" if accumulates(source) else "incremental" if since else "full"
        try:
            batch = fetch_request_month(client, source, city.id, month, timezone=city.timezone, app_token=app_token,
                                        since=since)
        except (HotlineEvalError, NotImplementedError) as exc:
            log = fetch_log_row(run_id=run_id, source_id=source.id, city_id=city.id, partition_key=month,
                                status="failed", refresh=refresh, error=str(exc))
            return PartitionFetch(writes=[Append("raw.fetch_log", log)], sources=state.sources,
                                  failure=FetchFailure(f"{city.id} {month} {source.id}: {exc}", exc))
        batches.append(_merged(SourceBatch(source, batch, refresh), state, city.timezone))
    for fetched in batches:
        if (refused := _all_rejected(fetched, city.id, month, run_id=run_id)) is not None:
            return PartitionFetch(writes=refused[0], sources=state.sources, batches=batches, failure=refused[1])
    result = PartitionFetch(writes=[], sources=state.sources, batches=batches)
    for fetched in batches:
        source, batch = fetched.source, fetched.batch
        # a batch read with another shape's mapping (a CKAN field generation) is held to that mapping
        mapping = source.fields if batch.mapped_fields is None else batch.mapped_fields
        drift = field_drift(state.known_fields[source.id], source.id, month, batch.fields_seen, mapping,
                            had_records=batch.rows.height > 0)
        if drift.new_fields or drift.missing_mapped:
            result.drift_notes[source.id] = {"new": drift.new_fields, "missing_mapped": drift.missing_mapped}
        result.writes += _source_writes(fetched, drift.fields, city.id, month, run_id=run_id,
                                        partition_key=partition_key, archive_dir=archive_dir)
        if fetched.refresh == "accumulate":
            result.coverage[source.id] = _coverage(fetched, state)
    return result


def _merged(fetched: SourceBatch, state: PartitionState, timezone: str) -> SourceBatch:
    """An accumulating source's poll without the rows whose landed version has a newer update stamp (an
    equal stamp: the poll's version, the later seen, wins)."""
    landed = state.landed.get(fetched.source.id)
    rows = fetched.batch.rows
    if fetched.refresh != "accumulate" or landed is None or not landed.height or not rows.height:
        return fetched
    stamps = rows.select("request_id", "source_updated_at").join(
        landed.rename({"source_updated_at": "landed_at"}), on="request_id", how="left", maintain_order="left")
    polled_at, _ = parse_timestamps(stamps["source_updated_at"], timezone)
    landed_at, _ = parse_timestamps(stamps["landed_at"], timezone)
    older = (polled_at < landed_at).fill_null(False)
    fetched.batch.rows = rows.filter(~older)
    return SourceBatch(fetched.source, fetched.batch, fetched.refresh, older_than_landed=int(older.sum()))


def _coverage(fetched: SourceBatch, state: PartitionState) -> dict[str, Any]:
    """What an accumulating source's partition holds after this poll: the requests of every good poll so
    far (this one included), with the first and the last poll's time."""
    source_id = fetched.source.id
    earlier, first = state.polls.get(source_id, (0, None))
    now = datetime.now(UTC)
    landed = state.landed.get(source_id)
    ids = set(fetched.batch.rows["request_id"].to_list()) | set(landed["request_id"].to_list() if landed is not None
                                                               else [])
    return {"captured": "what the polls captured: each poll gives only the latest requests, so requests that "
                        "were never among them at a poll are missing",
            "polls": earlier + 1, "first_poll": (first or now).isoformat(), "last_poll": now.isoformat(),
            "requests": len(ids), "older_versions_ignored": fetched.older_than_landed}


def _all_rejected(fetched: SourceBatch, city_id: str, month: str, *, run_id: str
                  ) -> tuple[list[Write], FetchFailure] | None:
    """A full pull that gave records but not one valid row fails (a changed id field, a feed that is not
    records any more), naming the commonest reject reason; its rejects and its failed fetch-log row are
    still planned, so analysts see them, and the partition's rows stay as they were; so does a poll of an
    accumulating source (its rejects added to those of earlier polls). (An incremental pull adds to rows
    already landed, so a few rejected changes do not fail it.)"""
    source, batch = fetched.source, fetched.batch
    if fetched.refresh == "incremental" or batch.rows.height or fetched.older_than_landed or not batch.rejects.height:
        return None
    total = batch.rejects.height
    reasons = batch.rejects.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
    reason, count = reasons.row(0)
    message = (f"{city_id} {month} {source.id}: all {total} records were rejected at fetch, none landed; the "
               f"commonest reason ({count} of {total}): {reason} (see raw.rejects)")
    where = {"city_id": city_id, "source_id": source.id, "partition_key": month, "stage": "fetch"}
    rejects = batch.rejects.with_columns(stage=pl.lit("fetch"))
    writes: list[Write] = [
        Replace("raw.rejects", rejects, where) if fetched.refresh == "full" else Append("raw.rejects", rejects),
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
