"""What every request-level connector returns: raw rows with the source's values as text."""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse

# staging field -> raw column; the field names are the keys of a source's `fields` mapping
RAW_COLUMNS = {
    "request_id": "request_id",
    "created_at": "created_raw",
    "closed_at": "closed_raw",
    "updated_at": "updated_raw",
    "status": "status_raw",
    "category": "category_raw",
    "channel": "channel_raw",
    "agency": "agency_raw",
    "district": "district_raw",
    "latitude": "latitude_raw",
    "longitude": "longitude_raw",
    "resolution": "resolution_raw",
}
RAW_SCHEMA = {
    "city_id": pl.String,
    "source_id": pl.String,
    "partition_month": pl.String,
    **{column: pl.String for column in RAW_COLUMNS.values()},
    "source_updated_at": pl.String,
    "page_number": pl.Int32,
    "sha256": pl.String,
    "is_synthetic": pl.Boolean,
}
REJECT_SCHEMA = {
    "city_id": pl.String,
    "source_id": pl.String,
    "partition_key": pl.String,
    "request_id": pl.String,
    "reason": pl.String,
    "record": pl.String,
    "sha256": pl.String,
    "is_synthetic": pl.Boolean,
}


def as_text(value: Any) -> str | None:
    """A published value as text: strings as they are, numbers as written, objects as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass
class Page:
    """One fetched page of records, with the response it came from: the records decoded one by one,
    or (``frame``) read straight from the body as columns of text (``array_page``)."""

    number: int
    response: ArchivedResponse
    records: list[Any] | None = None
    frame: pl.DataFrame | None = None
    read_as: str | None = None  # how the frame was read (read_record_columns): FIRST_RECORDS, ...
    # every field the publisher says its records can carry (Socrata's X-SODA2-Fields), when it says so
    declared_fields: tuple[str, ...] | None = None

    @property
    def count(self) -> int:
        return self.frame.height if self.frame is not None else len(self.record_list())

    def record_list(self) -> list[Any]:
        """The records decoded one by one (from the body when the page was read as columns)."""
        if self.records is None:
            records = self.response.json()
            if not isinstance(records, list):
                raise SourceFormatError(f"{self.response.url}: expected a JSON array of records, "
                                        f"got {type(records).__name__}")
            self.records = records
        return self.records


# how a page was read as columns: schema inferred from its first records, from all of them, or given;
# or only the wanted fields, the publisher having declared every field its records can carry
FIRST_RECORDS, ALL_RECORDS, GIVEN_SCHEMA = "first_records", "all_records", "given_schema"
WANTED_OF_DECLARED = "wanted_of_declared"


def read_record_columns(response: ArchivedResponse, schema: Mapping[str, pl.DataType] | None = None, *,
                        wanted: Collection[str] = (), declared: Collection[str] | None = None
                        ) -> tuple[pl.DataFrame | None, str | None]:
    """A body that is a JSON array of objects, read as columns without a Python object per record, and
    how it was read (FIRST_RECORDS, ALL_RECORDS, GIVEN_SCHEMA, WANTED_OF_DECLARED); (None, None) when it
    cannot be (another charset, not an array of objects, values that do not fit one type per field: then
    it is decoded record by record, which reports what is wrong).

    With ``declared``, every field the page's records can carry (Socrata lists them in X-SODA2-Fields),
    only the ``wanted`` fields among them are read, as text: no field the records carry can be missed, so
    nothing needs checking, and the other fields are not built into columns (most of a wide feed's bytes).
    A wanted field holding an object or list makes polars refuse; the page is then read as below.

    With ``schema`` (the fields earlier pages of the same fetch had: ``page_schema``) the page is read
    with those fields when that provably loses nothing (``_read_with_schema``). Otherwise the schema is
    inferred from the first records; a field that appears only later makes polars refuse, and the page
    is read again inferring from every record, so the columns are exactly the fields the records carry.
    Real feeds have optional fields that only a few records carry (NYC 311: bridge, taxi and vehicle
    columns), which sends most pages down that second, slow read; the schema of earlier pages avoids it.
    Strings read as they are; ``records_to_raw`` uses the columns only when every field it reads is text
    (as Socrata publishes every value).

    Two differences from decoding record by record, both only for malformed or mixed feeds: a number
    among a field's strings is written as polars writes it (``0.0000001`` where ``as_text`` writes
    ``1e-07``: the same value), and a key repeated within one record keeps its first value where
    ``json.loads`` keeps the last."""
    if not response.is_utf8 or response.body.lstrip()[:1] != b"[":
        return None, None
    if declared is not None and (read := [name for name in wanted if name in declared]):
        try:
            return pl.read_json(response.body, schema=dict.fromkeys(read, pl.String)), WANTED_OF_DECLARED
        except (pl.exceptions.PolarsError, ValueError):
            pass
    if schema:
        frame = _read_with_schema(response.body, schema)
        if frame is not None:
            return frame, GIVEN_SCHEMA
    for infer, how in ((100, FIRST_RECORDS), (None, ALL_RECORDS)):
        try:
            return pl.read_json(response.body, infer_schema_length=infer), how
        except (pl.exceptions.PolarsError, ValueError):
            continue
    return None, None


def page_schema(schema: Mapping[str, pl.DataType] | None, page: Page) -> dict[str, pl.DataType] | None:
    """The fields of the pages read so far, with this one's: what ``read_record_columns`` may read the
    next page of the same fetch with. None while every page read from its first records' fields (then
    that stays the cheaper read), and when a page was not read as columns or a field changed type. A page
    read for its wanted fields only teaches nothing (its frame lacks the others)."""
    if page.read_as == WANTED_OF_DECLARED:
        return None if schema is None else dict(schema)
    if page.frame is None or (schema is None and page.read_as == FIRST_RECORDS):
        return None
    merged = dict(schema or {})
    for name, dtype in page.frame.schema.items():
        if merged.setdefault(name, dtype) != dtype:
            return None
    return merged


def _read_with_schema(body: bytes, schema: Mapping[str, pl.DataType]) -> pl.DataFrame | None:
    """The page read with ``schema``, or None unless every key in the body is one of its fields.

    Given a schema, polars drops fields it is not told about without a word, so the frame is checked
    against the body: in compact JSON every key opens with '"' right after '{' or ',', and a string
    value cannot hold such a pair unescaped; so the body's count of them equals the number of values
    the frame holds (top level and nested) exactly when no key was dropped. What else makes such a pair
    (strings in a list, an explicit null, a repeated key) breaks the count and only sends the page to
    the inferring read, as does whitespace between '{' or ',' and a quote, which would hide a key."""
    if any(_holds_object_lists(dtype) for dtype in schema.values()):
        return None  # keys inside lists of objects are not counted below
    try:
        frame = pl.read_json(body, schema=schema)
    except (pl.exceptions.PolarsError, ValueError):
        return None
    raw = np.frombuffer(body, dtype=np.uint8)
    opens, following = (raw[:-1] == ord("{")) | (raw[:-1] == ord(",")), raw[1:]
    # whitespace then a quote (or more whitespace) after '{' or ',': a key the count would miss ('", "'
    # within a string is escaped, so ", then" in a text value does not look like this)
    after_space = np.flatnonzero(opens & (following <= ord(" "))) + 2
    after_space = raw[after_space[after_space < raw.size]]
    if np.count_nonzero((after_space == ord('"')) | (after_space <= ord(" "))):
        return None
    keys = np.count_nonzero(opens & (following == ord('"')))
    return frame if keys == sum(_values_held(frame[name]) for name in frame.columns) else None


def _holds_object_lists(dtype: pl.DataType) -> bool:
    if isinstance(dtype, pl.List | pl.Array):
        return isinstance(dtype.inner, pl.Struct) or _holds_object_lists(dtype.inner)
    if isinstance(dtype, pl.Struct):
        return any(_holds_object_lists(f.dtype) for f in dtype.fields)
    return False


def _values_held(column: pl.Series) -> int:
    """Keys the column's values stand for: one per non-null value, plus those inside objects."""
    held = column.len() - column.null_count()
    if isinstance(column.dtype, pl.Struct) and held:
        present = column.filter(column.is_not_null())
        held += sum(_values_held(present.struct.field(f.name)) for f in column.dtype.fields)
    return held


def array_page(number: int, response: ArchivedResponse, schema: Mapping[str, pl.DataType] | None = None, *,
               wanted: Collection[str] = (), declared: Collection[str] | None = None) -> Page:
    """A page whose body is a JSON array of records (Socrata, Opendatasoft exports): as columns when
    it reads as such (``schema``, ``wanted``, ``declared``: see ``read_record_columns``), else decoded (a
    body that is not an array fails here, naming the URL)."""
    frame, read_as = read_record_columns(response, schema, wanted=wanted, declared=declared)
    page = Page(number=number, response=response, frame=frame, read_as=read_as,
                declared_fields=tuple(declared) if declared is not None else None)
    if frame is None:
        page.record_list()
    return page


class ArrayPageReader:
    """Reads the pages of one fetch in turn (``array_page``), each with the fields of the pages before it
    (``page_schema``), or only the ``wanted`` fields of a page whose fields are ``declared``: what
    socrata.fetch_pages does (``socrata.page_reader``), and the benchmarks with it."""

    def __init__(self, wanted: Collection[str] = (),
                 declared: Callable[[ArchivedResponse], Collection[str] | None] | None = None) -> None:
        self.schema: dict[str, pl.DataType] | None = None
        self.wanted = tuple(wanted)
        self.declared = declared  # the fields a response declares its records can carry, if it does

    def read(self, number: int, response: ArchivedResponse) -> Page:
        page = array_page(number, response, self.schema, wanted=self.wanted, declared=self._declared(response))
        self.schema = page_schema(self.schema, page)
        return page

    def _declared(self, response: ArchivedResponse) -> Collection[str] | None:
        return self.declared(response) if self.declared is not None and self.wanted else None

    def read_pages(self, fetch: Callable[[int], ArchivedResponse], page_size: int, max_pages: int) -> Iterator[Page]:
        """Pages 0, 1, ... (``max_pages`` at most) fetched with ``fetch`` and read in turn until one holds
        fewer than ``page_size`` records: the pages ``read`` gives, fetched when a loop fetching after
        each full page would fetch them.

        A page whose fields are declared is read without the pages before it; when its body also has a
        full page of lines (SODA writes a record per line), the next page is fetched and read beside it
        on a second core, two pages at most. Fetching stays on this thread. A page fetched ahead of one
        that turns out short is dropped, with whatever fetching it raised."""
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="page-reader")
        # pages fetched, in order: (number, response or what fetching raised, its reading when started)
        window: deque[tuple[int, ArchivedResponse | Exception, Future[Page] | None]] = deque()

        def fetch_next(number: int) -> None:
            try:
                response = fetch(number)
            except Exception as exc:  # raised if and when the page is reached
                window.append((number, exc, None))
                return
            declared = self._declared(response)
            reading = None if declared is None else pool.submit(
                array_page, number, response, self.schema, wanted=self.wanted, declared=declared)
            window.append((number, response, reading))

        try:
            fetch_next(0)
            while window:
                newest, response, reading = window[-1]
                if (len(window) < 2 and reading is not None and newest + 1 < max_pages
                        and _lines(response.body) >= page_size):
                    fetch_next(newest + 1)
                number, response, reading = window.popleft()
                if isinstance(response, Exception):
                    raise response
                if reading is None:  # read here, with the fields of the pages before it
                    page = self.read(number, response)
                else:
                    page = reading.result()
                    self.schema = page_schema(self.schema, page)
                yield page
                if page.count < page_size:
                    return
                if not window and number + 1 < max_pages:
                    fetch_next(number + 1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _lines(body: bytes) -> int:
    return int(np.count_nonzero(np.frombuffer(body, dtype=np.uint8) == ord("\n")))


@dataclass
class RawBatch:
    """The raw rows of one partition, what was rejected on the way, and what was fetched."""

    rows: pl.DataFrame
    rejects: pl.DataFrame
    pages: list[Page] = field(default_factory=list)
    fields_seen: frozenset[str] = frozenset()
    duplicates_dropped: int = 0
    # what else was fetched to read the pages (a Socrata dataset's metadata), archived with them
    responses: list[ArchivedResponse] = field(default_factory=list)

    @property
    def sha256s(self) -> list[str]:
        return sorted({p.response.sha256 for p in self.pages})

    @property
    def is_synthetic(self) -> bool:
        return any(p.response.is_synthetic for p in self.pages)


def reject_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=REJECT_SCHEMA)


def field_getter(spec: str) -> Callable[[dict[str, Any]], str | None]:
    """Read a source field by its spec: ``name``; ``a.b`` for a key inside an object (Opendatasoft's
    ``geo_point_2d.lat``); ``a+b`` for parts published apart and joined with a space (a date and a
    time column)."""
    if "+" in spec:
        getters = [field_getter(part.strip()) for part in spec.split("+")]

        def joined(record: dict[str, Any]) -> str | None:
            parts = [v for g in getters if (v := g(record)) not in (None, "")]
            return " ".join(parts) if parts else None

        return joined
    if "." in spec and not spec.startswith(":"):
        outer, inner = spec.split(".", 1)

        def nested(record: dict[str, Any]) -> str | None:
            value = record.get(outer)
            if isinstance(value, str) and value.startswith("{"):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    return None
            return as_text(value.get(inner)) if isinstance(value, dict) else None

        return nested
    return lambda record: as_text(record.get(spec))


def derived_request_id(record: dict[str, Any], id_fields: Sequence[str]) -> str:
    """A stable id for feeds that publish none: a hash of the identifying fields' values."""
    payload = "\x1f".join(as_text(record.get(f)) or "" for f in id_fields)
    return "h" + hashlib.sha1(payload.encode("utf-8")).hexdigest()[:20]


_PLAIN_TYPES = {str, type(None)}


def field_values(records: list[dict[str, Any]], spec: str) -> list[str | None]:
    """One field of every record, as text (see ``field_getter``). A plain field name is read with one
    comprehension and converted only when some value is not already text (most feeds send strings)."""
    if "+" in spec or ("." in spec and not spec.startswith(":")):
        getter = field_getter(spec)
        return [getter(r) for r in records]
    values = [r.get(spec) for r in records]
    return values if set(map(type, values)) <= _PLAIN_TYPES else [as_text(v) for v in values]


def _plain(spec: str) -> bool:
    return "+" not in spec and ("." not in spec or spec.startswith(":"))


def _text_fields(page: Page, specs: Mapping[str, str], id_spec: str | None) -> pl.DataFrame | None:
    """The fields a page's records are read from, as its columns, when that gives what the record path
    would: every field read is a plain name whose values are all text or absent, and every record has
    an id. None when the page must be read record by record."""
    frame = page.frame
    if frame is None or not all(_plain(spec) for spec in specs.values()):
        return None
    schema = frame.schema
    if any(schema.get(spec, pl.Null) not in (pl.String, pl.Null) for spec in specs.values()):
        return None
    if id_spec is not None:
        if id_spec not in schema:
            return None
        ids = frame[id_spec]
        if ids.null_count() or (ids == "").any():
            return None
    # a frame of the page's own columns (a select would plan a query per page)
    return pl.DataFrame([frame.get_column(spec) for spec in sorted(set(specs.values())) if spec in schema])


def _fields_seen(page: Page) -> Iterable[str]:
    """The fields a page read as columns shows: its columns; for a page read for its wanted fields only,
    those a record carries (a field our mapping reads that no record has must stay unseen: drift reports
    it) and the declared fields not read, which the publisher says its records carry."""
    frame = page.frame
    if page.read_as != WANTED_OF_DECLARED or page.declared_fields is None:
        return frame.columns
    read = frame.columns
    present = [name for name in read if frame[name].null_count() < frame.height]
    return [*present, *set(page.declared_fields).difference(read)]


def _good_records(page: Page, fields: Mapping[str, str], *, city_id: str, source_id: str, partition_month: str,
                  rejects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's records that are objects with an id; the others go to ``rejects`` with the reason."""
    records = page.record_list()
    id_spec = fields.get("request_id")
    if all(isinstance(r, dict) for r in records):
        if id_spec is None:
            return records
        ids = field_values(records, id_spec)
        if None not in ids and "" not in ids:
            return records
    good = []
    for record in records:
        if not isinstance(record, dict):
            reason = f"record is a {type(record).__name__}, not an object"
        elif id_spec is not None and field_getter(id_spec)(record) in (None, ""):
            reason = f"missing request id field {id_spec!r}"
        else:
            good.append(record)
            continue
        rejects.append({
            "city_id": city_id, "source_id": source_id, "partition_key": partition_month,
            "request_id": None, "reason": reason, "record": json.dumps(record, ensure_ascii=False),
            "sha256": page.response.sha256, "is_synthetic": page.response.is_synthetic,
        })
    return good


def records_to_raw(
    pages: Iterable[Page],
    fields: Mapping[str, str],
    *,
    city_id: str,
    source_id: str,
    partition_month: str,
    updated_system_field: str | None = None,
    derive_id_from: Sequence[str] = (),
) -> RawBatch:
    """Pick the mapped fields out of every record, column by column; reject what is not a record
    or has no id; keep one version per request id (the latest update, then the latest page).

    A feed without ids (``derive_id_from`` set) gets a hash of those fields; identical records in
    one partition then get ``#2``, ``#3``... so each is counted once, as published."""
    pages = list(pages)
    rejects: list[dict[str, Any]] = []
    fields_seen: set[str] = set()
    specs = {raw: fields[f] for f, raw in RAW_COLUMNS.items() if f in fields}
    if updated_system_field:
        specs["source_updated_at"] = updated_system_field
    if "request_id" not in fields and not derive_id_from:
        raise ValueError(f"{source_id}: no request_id field and no fields to derive one from")
    occurrences: dict[str, int] = {}
    as_columns: list[tuple[int, pl.DataFrame]] = []  # (page index, its fields) read straight from the body
    record_by_record: list[pl.DataFrame] = []  # raw columns and _page, built from decoded records
    for index, page in enumerate(pages):
        text = None if derive_id_from else _text_fields(page, specs, fields.get("request_id"))
        if text is not None:
            as_columns.append((index, text))
            fields_seen.update(_fields_seen(page))
            continue
        good = _good_records(page, fields, city_id=city_id, source_id=source_id, partition_month=partition_month,
                             rejects=rejects)
        for record in good:
            fields_seen.update(record)
        values = {raw: field_values(good, spec) for raw, spec in specs.items()}
        if "request_id" not in fields:
            ids = []
            for record in good:
                base = derived_request_id(record, derive_id_from)
                occurrences[base] = occurrences.get(base, 0) + 1
                ids.append(base if occurrences[base] == 1 else f"{base}#{occurrences[base]}")
            values["request_id"] = ids
        record_by_record.append(pl.DataFrame(values, schema={raw: pl.String for raw in values})
                                .with_columns(pl.lit(index, pl.UInt32).alias("_page")))
    parts = list(record_by_record)
    if as_columns:
        # the pages read as columns go through one select together, not one per page
        fields_frame = pl.concat([text for _, text in as_columns], how="diagonal_relaxed")
        page_of_row = np.repeat([i for i, _ in as_columns], [text.height for _, text in as_columns])
        parts.append(fields_frame.select(
            *[(pl.col(spec) if spec in fields_frame.columns else pl.lit(None)).cast(pl.String).alias(raw)
              for raw, spec in specs.items()],
            pl.Series("_page", page_of_row, dtype=pl.UInt32)))
    rows = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame(schema={"_page": pl.UInt32})
    if as_columns and record_by_record:
        rows = rows.sort("_page", maintain_order=True)  # back in page order
    page_numbers = pl.Series([p.number for p in pages], dtype=pl.Int32)
    page_sha256s = pl.Series([p.response.sha256 for p in pages], dtype=pl.String)
    page_synthetic = pl.Series([p.response.is_synthetic for p in pages], dtype=pl.Boolean)
    rows = rows.with_columns(
        page_numbers.gather(rows["_page"]).alias("page_number"),
        page_sha256s.gather(rows["_page"]).alias("sha256"),
        page_synthetic.gather(rows["_page"]).alias("is_synthetic"),
        pl.lit(city_id).alias("city_id"),
        pl.lit(source_id).alias("source_id"),
        pl.lit(partition_month).alias("partition_month"),
        *[pl.lit(None, pl.String).alias(c) for c in RAW_SCHEMA if c not in rows.columns and c not in (
            "page_number", "sha256", "is_synthetic", "city_id", "source_id", "partition_month")],
    ).select(list(RAW_SCHEMA)).cast(RAW_SCHEMA)
    before = rows.height
    if rows["request_id"].n_unique() == before:
        return RawBatch(rows=rows, rejects=reject_frame(rejects), pages=pages, fields_seen=frozenset(fields_seen))
    # the same request on two pages (rows shift while paging): keep the newest version
    rows = (
        rows.with_row_index("_seen")
        .sort(["request_id", "source_updated_at", "_seen"], nulls_last=False)
        .unique(subset=["request_id"], keep="last", maintain_order=True)
        .sort("_seen")
        .drop("_seen")
    )
    return RawBatch(rows=rows, rejects=reject_frame(rejects), pages=pages, fields_seen=frozenset(fields_seen),
                    duplicates_dropped=before - rows.height)
