"""Reading a fetched page of JSON records: as columns of text straight from the body when it reads as
such (polars, no Python object per record), else decoded record by record; and reading the pages of
one fetch in turn (``ArrayPageReader``), the next one beside the fetching of it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse


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

