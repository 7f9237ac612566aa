"""The city registry: the evaluated cities, their hotlines, pages and data sources.

The registry is data (``config/cities/<id>.yaml``, one file per city), validated at load. A bad file
fails with one message naming the file, the city and the field, never with a traceback from deep inside
a run.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from hotline_eval.config.base import SLUG, http_url
from hotline_eval.config.base import Strict as _Strict
from hotline_eval.config.files import load_yaml_model
from hotline_eval.config.settings import ENV_CITIES, PROJECT_ROOT
from hotline_eval.errors import ConfigError
from hotline_eval.sources import CONNECTORS, Source
from hotline_eval.sources.base import SourceBase

# one file per city (config/cities/<id>.yaml); HOTLINE_EVAL_CITIES may name another such folder or a
# single registry file (version, cities)
DEFAULT_CITIES_DIR = PROJECT_ROOT / "config" / "cities"

PortalKind = Literal["home", "contact", "channels", "languages", "faq", "app", "services", "open_data", "about",
                     "other"]
DataLevel = Literal["request_level", "aggregate", "not_public"]
S = TypeVar("S", bound=SourceBase)


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

    def sources(self, model: type[S] | None = None) -> list[tuple[City, S]]:
        """Every city's sources, or those of one kind's model (``registry.sources(CkanSource)``)."""
        return [(c, s) for c in self.cities for s in c.sources if model is None or isinstance(s, model)]

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
            rest = ("sources", source.get("id", f"#{rest[1] + 1}"), *_untagged(rest[2:]))
        field = ".".join(str(p) for p in rest) or "(the city entry)"
        return f"city {city.get('id', f'#{loc[1] + 1}')!r}, field {field!r}"
    return f"field {'.'.join(str(p) for p in loc) or '(top level)'!r}"


def _untagged(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    """A source's error location without the kind pydantic puts first (the union's tag)."""
    return loc[1:] if loc and loc[0] in CONNECTORS else loc


def _entry(entries: object, index: int) -> dict:
    """The ``index``-th entry of a raw list when it is a mapping, else an empty one."""
    if isinstance(entries, list) and index < len(entries) and isinstance(entries[index], dict):
        return entries[index]
    return {}


def load_registry(path: Path | str | None = None) -> Registry:
    """Load and validate the registry (default: $HOTLINE_EVAL_CITIES or config/cities/): a folder of city
    files (``city_files.py``) or a single YAML file with ``version`` and ``cities``. Raise ConfigError
    naming the file (a city's own file in a folder), city and field on any problem."""
    path = Path(path or os.environ.get(ENV_CITIES) or DEFAULT_CITIES_DIR)
    if path.is_dir():
        from hotline_eval.config.city_files import load_city_folder  # it builds on this module's models

        return load_city_folder(path)
    return load_yaml_model(path, Registry, what="city registry", describe=lambda loc, raw, _text: _describe(loc, raw),
                           expect="a mapping with 'version' and 'cities'")
