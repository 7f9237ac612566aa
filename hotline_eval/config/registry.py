"""The city registry: the evaluated cities, their hotlines, pages and data sources.

The registry is data (``config/cities.yaml``), validated at load. A bad file fails with one
message naming the file, the city and the field, never with a traceback from deep inside a run.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hotline_eval.config.files import load_yaml_model
from hotline_eval.config.settings import ENV_CITIES, PROJECT_ROOT
from hotline_eval.errors import ConfigError

DEFAULT_CITIES_FILE = PROJECT_ROOT / "config" / "cities.yaml"

SLUG = r"^[a-z][a-z0-9_]*$"

SourceKind = Literal["socrata", "ckan", "opendatasoft", "open311", "aggregate_table"]
PortalKind = Literal["home", "contact", "channels", "languages", "faq", "app", "services", "open_data", "about",
                     "other"]
DataLevel = Literal["request_level", "aggregate", "not_public"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def http_url(value: str) -> str:
    """A pydantic validator: ``value`` is an http(s) URL with a host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


class Population(_Strict):
    value: int = Field(gt=0)
    year: int = Field(ge=1990, le=2100)
    source: str = Field(min_length=3)
    url: str

    _url = field_validator("url")(http_url)


class Hotline(_Strict):
    brand: str = Field(min_length=1)
    numbers: list[str] = Field(min_length=1)


class DirectoryRecords(_Strict):
    """A service directory published as data records (a Socrata resource, an Opendatasoft export):
    the fields holding each service's code, name, group, agency and keywords. Code and name may be
    several fields, joined with " / " (blank ones left out)."""

    code: list[str] = Field(min_length=1)
    name: list[str] = Field(min_length=1)
    group: str | None = None
    agency: str | None = None
    keywords: str | None = None
    # false when the records list only the services in use (a request feed): the directory is then
    # a lower bound of the catalogue, kept as evidence but not counted as its size
    complete: bool = True


class Portal(_Strict):
    kind: PortalKind
    url: str
    language: str = Field(pattern=r"^[a-z]{2}(-[A-Za-z]{2,4})?$")
    records: DirectoryRecords | None = None  # only for a `services` portal publishing data records

    _url = field_validator("url")(http_url)

    @model_validator(mode="after")
    def _records_for_directories(self) -> Portal:
        if self.records is not None and self.kind != "services":
            raise ValueError(f"`records` describes a service directory; this portal is of kind {self.kind!r}")
        return self


class DataAvailability(_Strict):
    level: DataLevel
    evidence_url: str
    note: str = Field(min_length=3)

    _url = field_validator("evidence_url")(http_url)


AGGREGATE_METRICS = (
    "calls_received", "calls_answered", "answer_rate", "cases_received", "cases_resolved", "resolution_rate",
    "satisfaction_rate", "avg_wait_seconds", "avg_handle_seconds", "first_call_resolution_rate",
    # share of calls answered within the line's target time; share of callers who hung up waiting;
    # satisfaction on the publisher's own scale (the unit names it, e.g. "score of 5")
    "service_level_rate", "abandonment_rate", "satisfaction_score",
)


class MetricColumn(_Strict):
    column: str  # the published column / row header
    metric: Literal[AGGREGATE_METRICS]  # type: ignore[valid-type]
    unit: str
    # multiply the published number by this: 100 where a spreadsheet keeps a percentage as its fraction
    scale: float = Field(default=1.0, gt=0)


class StatsPage(_Strict):
    """One page of a series that states its period only in its title or address (a monthly press
    release): the period is written here, YYYY or YYYY-MM."""

    path: str
    period: str = Field(pattern=r"^\d{4}(-(0[1-9]|1[0-2]))?$")


class AggregateTable(_Strict):
    """How to read a published statistics table (CSV, XLSX, HTML, JSON records, or plain text)."""

    format: Literal["csv", "xlsx", "html", "json", "text"]
    # path on base_url (or a full URL on an allowed host) of the file or page; `paths` when the
    # figures come as a series of pages of one layout (monthly bulletins), oldest first; `pages`
    # when each page's period is known only from its title (then the period column is "period")
    path: str | None = None
    paths: list[str] = Field(default_factory=list)
    pages: list[StatsPage] = Field(default_factory=list)
    period_column: str = "period"
    period_format: str  # strptime format of the period values, e.g. "%Y%m", "%Y-%m", "%Y"
    # a regular expression picking the period out of a longer cell ("January - October 2025")
    period_pattern: str | None = None
    metrics: list[MetricColumn] = Field(min_length=1)
    html_table_index: int = 0  # which <table> on the page
    header_row: int = Field(default=0, ge=0)  # which row of the table holds the column names
    sheet: str | None = None  # XLSX sheet name (first sheet when unset)
    json_records_path: list[str] = Field(default_factory=list)  # keys leading to the list of records
    # columns whose empty cells repeat the value above (a period written once for a block of rows)
    fill_down: list[str] = Field(default_factory=list)
    # keep only rows whose column has this value (e.g. the "Total" row of a per-agency table)
    row_filter: dict[str, str] = Field(default_factory=dict)
    # month names in the publication's language, January first: replaced by 01..12 before parsing
    # the period (matched ignoring case and accents)
    month_names: list[str] | None = Field(default=None, min_length=12, max_length=12)
    # "1.234.567" for thousands and "58,8" for decimals (German, Turkish, Spanish tables)
    decimal_comma: bool = False
    # a table with one metric per row and one period per column (label in the first column, which
    # becomes the period column; a label may carry a note after the metric's name: "Call Abandoned
    # Rate (Target<10%)" is the row of column "Call Abandoned Rate")
    transpose: bool = False
    # plain text: the first token of the line holding the column names ("Kalenderjahr 2013 2014");
    # lines starting with a metric's column name are its rows. Tokens are split on whitespace.
    header_label: str | None = None
    # plain text: a regular expression whose named groups are metric columns, matched once per page
    # (with `pages`): "(?P<received>[\\d,]+)件" reads one number from a sentence; a group `month`,
    # if any, must agree with the month of the page's listed period
    text_pattern: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AggregateTable:
        locations = [self.path is not None, bool(self.paths), bool(self.pages)]
        if sum(locations) != 1:
            raise ValueError("give one of `path` (one file or page), `paths` (a series of pages) or `pages` "
                             "(pages with their periods)")
        if self.period_pattern is not None and _regex(self.period_pattern, "period_pattern").groups != 1:
            raise ValueError("period_pattern needs exactly one group () around the period")
        self._check_text()
        return self

    def _check_text(self) -> None:
        """The options of plain text sources: for format text only, one way of reading it, and a pattern
        naming a group for every metric column."""
        if self.format != "text" and (self.pages or self.header_label or self.text_pattern):
            raise ValueError("`pages`, `header_label` and `text_pattern` are for format: text")
        if self.format == "text" and (self.header_label is None) == (self.text_pattern is None):
            raise ValueError("a text source needs either `header_label` (a table in text) or `text_pattern`")
        if self.text_pattern is None:
            return
        if not self.pages:
            raise ValueError("`text_pattern` reads one value per page: list the pages with their periods")
        groups = set(_regex(self.text_pattern, "text_pattern").groupindex)
        missing = [m.column for m in self.metrics if m.column not in groups]
        if missing:
            raise ValueError(f"text_pattern has no named group for metric columns {missing}")


def _regex(pattern: str, name: str) -> re.Pattern[str]:
    """A configured regular expression, compiled; an invalid one raises ValueError naming the option."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{name} is not a valid regular expression: {exc}") from None


class Source(_Strict):
    """One data source. Fields not used by a kind stay unset; the kind's connector checks its own."""

    id: str = Field(pattern=SLUG)
    kind: SourceKind
    base_url: str
    docs_url: str
    licence: str = Field(min_length=2)
    dataset: str | None = None
    resource: str | None = None
    # staging column -> the source's own field name
    fields: dict[str, str] = Field(default_factory=dict)
    # field used for incremental pulls (Socrata ``:updated_at`` system field by default)
    updated_field: str | None = None
    app_token_env: str | None = None
    page_size: int = Field(default=1000, ge=1, le=50_000)
    coverage_note: str | None = None
    since: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$")
    table: AggregateTable | None = None
    # feeds that publish no request id: the fields whose values identify a record
    derive_id_from: list[str] = Field(default_factory=list)
    # hosts the source's files are served from besides base_url (a CDN for CKAN resource downloads)
    extra_hosts: list[str] = Field(default_factory=list)
    # CKAN: regex picking the resource(s) for a year from their name or URL; {year} is filled in
    resource_pattern: str | None = None
    # published files whose charset the server does not declare (e.g. cp1252 CSVs)
    encoding: str | None = None
    # strptime formats tried before the common ones, for sources that write day-first dates
    datetime_formats: list[str] = Field(default_factory=list)
    # Socrata: "mapped" asks for the fields the mapping reads ($select; the dataset's other fields are
    # taken from its metadata for drift), "all" for every field of every record (:*, *)
    select: Literal["mapped", "all"] = "mapped"

    _urls = field_validator("base_url", "docs_url")(http_url)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        # a misspelt staging field would be read by no connector, without a word
        from hotline_eval.sources.common import RAW_COLUMNS  # the connectors import this module

        unknown = sorted(set(value) - set(RAW_COLUMNS))
        if unknown:
            raise ValueError(f"unknown staging fields {unknown}; known: {sorted(RAW_COLUMNS)}")
        empty = sorted(name for name, spec in value.items() if not spec.strip())
        if empty:
            raise ValueError(f"no source field named for {empty}")
        return value

    @model_validator(mode="after")
    def _kind_needs(self) -> Source:
        if self.kind == "socrata":
            missing = [f for f in ("request_id", "created_at") if f not in self.fields]
            if not self.dataset:
                raise ValueError("a socrata source needs 'dataset' (the 4x4 id, e.g. erm2-nwe9)")
            if missing:
                raise ValueError(f"a socrata source needs fields for {missing}")
        if self.kind == "aggregate_table" and self.table is None:
            raise ValueError("an aggregate_table source needs 'table' (format, path, period and metric columns)")
        return self

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""


class City(_Strict):
    id: str = Field(pattern=SLUG)
    name_en: str
    name_local: str
    country: str = Field(pattern=r"^[A-Z]{2}$")
    region: Literal["East Asia", "Southeast Asia", "South Asia", "Europe", "North America", "Latin America",
                    "Middle East", "Africa", "Oceania"]
    timezone: str
    population: Population
    hotline: Hotline
    in_2024_report: bool
    selection_reason: str = Field(min_length=3)
    portals: list[Portal] = Field(min_length=1)
    data_availability: DataAvailability
    sources: list[Source] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r}") from exc
        return value

    @property
    def hosts(self) -> frozenset[str]:
        """Every host this city's configuration names: the HTTP allow-list for its fetches."""
        urls = [p.url for p in self.portals] + [s.base_url for s in self.sources]
        extra = [h for s in self.sources for h in s.extra_hosts]
        return frozenset([*(urlsplit(u).hostname or "" for u in urls), *extra])


class Registry(_Strict):
    version: int
    cities: list[City] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> Registry:
        for what, ids in (("city", [c.id for c in self.cities]),
                          ("source", [s.id for c in self.cities for s in c.sources])):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate {what} ids: {dupes}")
        return self

    @cached_property
    def by_id(self) -> dict[str, City]:
        return {c.id: c for c in self.cities}

    def city(self, city_id: str) -> City:
        try:
            return self.by_id[city_id]
        except KeyError:
            raise ConfigError(f"unknown city id {city_id!r}; known: {sorted(self.by_id)}") from None

    def sources(self, kind: str | None = None) -> list[tuple[City, Source]]:
        return [(c, s) for c in self.cities for s in c.sources if kind is None or s.kind == kind]

    def source(self, source_id: str) -> tuple[City, Source]:
        for city, source in self.sources():
            if source.id == source_id:
                return city, source
        raise ConfigError(f"unknown source id {source_id!r}")


def _describe(loc: tuple[int | str, ...], raw: dict) -> str:
    """Turn a pydantic error location into 'city <id>, field <path>' using the raw document."""
    if len(loc) >= 2 and loc[0] == "cities" and isinstance(loc[1], int):
        city = _entry(raw.get("cities"), loc[1])
        rest = loc[2:]
        if len(rest) >= 2 and rest[0] == "sources" and isinstance(rest[1], int):
            source = _entry(city.get("sources"), rest[1])
            rest = ("sources", source.get("id", f"#{rest[1] + 1}"), *rest[2:])
        field = ".".join(str(p) for p in rest) or "(the city entry)"
        return f"city {city.get('id', f'#{loc[1] + 1}')!r}, field {field!r}"
    return f"field {'.'.join(str(p) for p in loc) or '(top level)'!r}"


def _entry(entries: object, index: int) -> dict:
    """The ``index``-th entry of a raw list when it is a mapping, else an empty one."""
    if isinstance(entries, list) and index < len(entries) and isinstance(entries[index], dict):
        return entries[index]
    return {}


def load_registry(path: Path | str | None = None) -> Registry:
    """Load and validate the registry (default: $HOTLINE_EVAL_CITIES or config/cities.yaml); raise
    ConfigError naming file, city and field on any problem."""
    path = Path(path or os.environ.get(ENV_CITIES) or DEFAULT_CITIES_FILE)
    return load_yaml_model(path, Registry, what="city registry", describe=lambda loc, raw, _text: _describe(loc, raw),
                           expect="a mapping with 'version' and 'cities'")
