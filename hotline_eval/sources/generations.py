"""Field generations: one source whose published files changed shape over the years.

A portal that publishes one file (or several) per year may change the files' shape: Buenos Aires'
SUACI files went from ``contacto;...;estado_del_contacto;fecha_cierre_contacto`` (2021) to
``nro_solicitud;...;estado_general`` with day-first dates and no closing date (2024), and 2025 is
comma-separated; Toronto's data dictionary names every column anew ("Service Request Creation Date
and Time" for "Creation Date"). A source lists the shapes it knows under ``field_generations``, each
read with its own mapping::

    field_generations:
      - name: contacto_files          # a slug, named in errors and in the docs
        columns: [contacto]           # chosen when the resource's header holds every one of these
        resources: "(?<!\\d)2021(?!\\d)"  # and/or when this regex is found in its name or URL
        fields: {request_id: contacto, created_at: fecha_ingreso+hora_ingreso, ...}
        derive_id_from: []            # the identifying columns of an id-less shape
        datetime_formats: []          # tried first for this shape's times
        note: what the shape can and cannot give

Each resource is read with the first generation whose conditions all hold (``reading_for``); one that
no generation claims is read with the source's own ``fields``, ``derive_id_from`` and
``datetime_formats``. A generation's ``fields`` and ``derive_id_from`` replace the source's (each shape
is described whole); its ``datetime_formats`` are tried before the source's. Staging parses a city's
times with every format its sources name, so a source's ``datetime_formats`` hold its generations' too
(appended at load, ``with_generation_formats``); formats that read the same text two ways (``%d/%m``
and ``%m/%d``) are refused at load. Everything is validated at load: known staging fields, a creation
field and an id (or the fields to derive one) in every generation, regexes that compile, formats
polars reads. A resource whose header lacks the columns its mapping needs for the request id and the
creation time fails the fetch naming the resource, its header and the mapping it was read with
(``check_header``), rather than landing rows without them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl
from pydantic import Field, field_validator, model_validator

from hotline_eval.config.base import SLUG, Strict
from hotline_eval.errors import SourceFormatError
from hotline_eval.sources.common import check_fields
from hotline_eval.sources.drift import top_level
from hotline_eval.sources.pages import Page
from hotline_eval.sources.records import RawBatch

_SAMPLE = datetime(2024, 10, 27, 14, 5, 9, 123456)  # what a format is tried on at load


def check_datetime_format(fmt: str) -> str:
    """``fmt`` when polars can write a time with it and read that text back to the same day; else a
    ValueError naming it (polars refuses some formats only when it meets a value, e.g. %H with %p)."""
    if "%" not in fmt:
        raise ValueError(f"datetime format {fmt!r} has no % directive")
    try:
        text = pl.Series([_SAMPLE]).dt.strftime(fmt)
        back = text.str.to_datetime(fmt, strict=False, time_unit="us")[0]
    except pl.exceptions.PolarsError as exc:
        raise ValueError(f"datetime format {fmt!r} is not one polars reads: {str(exc).splitlines()[0]}") from None
    if back is None or back.date() != _SAMPLE.date():
        raise ValueError(f"datetime format {fmt!r} does not read back the date it writes ({text[0]!r})")
    return fmt


def _day_month_swapped(fmt: str) -> str:
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def check_unambiguous(formats: Sequence[str]) -> None:
    """Refuse a day-first and a month-first form of one format side by side: staging tries every format
    of a city's sources in turn, so 03/04/2024 would be read as whichever comes first."""
    known = set(formats)
    for fmt in formats:
        swapped = _day_month_swapped(fmt)
        if swapped != fmt and swapped in known:
            raise ValueError(f"datetime formats {fmt!r} and {swapped!r} read 03/04/2024 as two different days; "
                             "a source (and its field generations) may name only one of them")


class FieldGeneration(Strict):
    """One shape of a source's published files, and how to read it (see the module docstring)."""

    name: str = Field(pattern=SLUG)
    # chosen when the resource's header holds every one of these columns ...
    columns: list[str] = Field(default_factory=list)
    # ... and this regex is found in the resource's name or URL (either condition may be left out)
    resources: str | None = None
    # the whole mapping of this shape (staging field -> its column), replacing the source's
    fields: dict[str, str] = Field(min_length=1)
    # the columns identifying a record of an id-less shape, replacing the source's
    derive_id_from: list[str] = Field(default_factory=list)
    # strptime formats tried first for this shape's times
    datetime_formats: list[str] = Field(default_factory=list)
    note: str | None = None  # what this shape can and cannot give

    _fields = field_validator("fields")(check_fields)

    @field_validator("resources")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"resources {value!r} is not a regular expression: {exc}") from None
        return value

    @field_validator("datetime_formats")
    @classmethod
    def _readable(cls, value: list[str]) -> list[str]:
        return [check_datetime_format(fmt) for fmt in value]

    @model_validator(mode="after")
    def _complete(self) -> FieldGeneration:
        if not self.columns and self.resources is None:
            raise ValueError(f"field generation {self.name!r} names neither `columns` nor `resources`: "
                             "nothing would choose it")
        if "created_at" not in self.fields:
            raise ValueError(f"field generation {self.name!r} maps no created_at")
        if "request_id" not in self.fields and not self.derive_id_from:
            raise ValueError(f"field generation {self.name!r} has no request_id field and no derive_id_from")
        return self


def with_generation_formats(data: Any) -> Any:
    """A source's raw configuration with its generations' datetime formats appended to its own (a
    pydantic ``mode="before"`` validator): staging reads a city's times with its sources' formats."""
    if not isinstance(data, dict) or not data.get("field_generations"):
        return data
    formats = list(data.get("datetime_formats") or [])
    for generation in data["field_generations"]:
        own = generation.get("datetime_formats") if isinstance(generation, dict) else \
            getattr(generation, "datetime_formats", None)
        formats += [fmt for fmt in own or [] if fmt not in formats]
    return {**data, "datetime_formats": formats}


def check_generations(generations: Sequence[FieldGeneration], datetime_formats: Sequence[str]) -> None:
    """What a source with generations must hold together: distinct names, formats polars reads and that
    cannot read one text two ways."""
    names = [g.name for g in generations]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"field generations named twice: {twice}")
    for fmt in datetime_formats:
        check_datetime_format(fmt)
    check_unambiguous(datetime_formats)


@dataclass(frozen=True)
class Reading:
    """How one resource is read: its generation (None: the source's own mapping), the mapping, the
    columns an id is derived from, the formats tried first for its times."""

    generation: str | None
    fields: Mapping[str, str]
    derive_id_from: tuple[str, ...] = ()
    datetime_formats: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"field generation {self.generation!r}" if self.generation else "the source's own fields"


def _claims(generation: FieldGeneration, resource: Mapping[str, Any], header: Iterable[str]) -> bool:
    columns = set(header)
    if any(name not in columns for name in generation.columns):
        return False
    where = f"{resource.get('name', '')} {resource.get('url', '')}"
    return generation.resources is None or re.search(generation.resources, where) is not None


def reading_for(generations: Sequence[FieldGeneration], own: Reading, resource: Mapping[str, Any],
                header: Sequence[str]) -> Reading:
    """The reading of the first generation that claims the resource (by its header's columns and its
    name or URL), else the source's own."""
    for generation in generations:
        if _claims(generation, resource, header):
            return Reading(generation.name, generation.fields, tuple(generation.derive_id_from),
                           tuple(generation.datetime_formats))
    return own


def check_header(reading: Reading, header: Sequence[str], where: str) -> None:
    """A resource with records whose header lacks a column the request id or the creation time is read
    from (or an id is derived from) fails here, naming what it has: read on, every row would land
    without them."""
    needed = [(role, name) for role in ("request_id", "created_at") if role in reading.fields
              for name in top_level(reading.fields[role])]
    needed += [("derive_id_from", name) for name in reading.derive_id_from]
    columns = set(header)
    missing = [f"{name!r} ({role})" for role, name in needed if name not in columns]
    if missing:
        shown = ", ".join(header[:40]) + (", ..." if len(header) > 40 else "")
        raise SourceFormatError(
            f"{where}: read with {reading.label}, but its header has no column {', '.join(missing)}; its "
            f"header: [{shown}]. A file of another shape needs a field generation (field_generations in "
            "config/cities/<city>.yaml, see hotline_eval/sources/generations.py)")


def combine(batches: Sequence[RawBatch], pages: list[Page]) -> RawBatch:
    """The batches of one partition read with different generations as one: rows in page order, one row
    per request id (the later page's, as ``records_to_raw`` keeps), every page fetched, every field
    seen, the rejects of each."""
    if len(batches) == 1:
        batches[0].pages = pages
        return batches[0]
    rows = pl.concat([b.rows for b in batches]).sort("page_number", maintain_order=True)
    newest = rows.unique(subset=["request_id"], keep="last", maintain_order=True)
    return RawBatch(rows=newest, rejects=pl.concat([b.rejects for b in batches]), pages=pages,
                    fields_seen=frozenset().union(*(b.fields_seen for b in batches)),
                    duplicates_dropped=sum(b.duplicates_dropped for b in batches) + rows.height - newest.height,
                    # each shape was read with its own mapping: drift expects only what every one of them reads
                    mapped_fields=_common_mapping(batches))


def _common_mapping(batches: Sequence[RawBatch]) -> dict[str, str] | None:
    mappings = [b.mapped_fields for b in batches]
    if any(m is None for m in mappings):
        return None
    first, *rest = mappings
    return {role: spec for role, spec in first.items() if all(m.get(role) == spec for m in rest)}
