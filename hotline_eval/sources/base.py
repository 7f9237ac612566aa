"""What every source kind shares, and what a kind declares about itself.

A source kind is a plugin: its module in ``hotline_eval/sources/`` declares the keys a source of that kind
takes (a ``SourceBase`` subclass with ``kind: Literal[...]``) and a ``Connector``: how it fetches a month
or its published statistics, whether it can pull incrementally, how it reads the platform's "last
changed" stamp, the fields its platform names by standard, and how the demo archive writes its responses.
``hotline_eval.sources`` gathers them; the rest of the code asks the registry there, never the kind.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from hotline_eval.config.base import SLUG, Strict, http_url
from hotline_eval.sources.common import check_fields


class SourceBase(Strict):
    """One data source, the keys of every kind. A kind's model adds its own (and ``kind``)."""

    id: str = Field(pattern=SLUG)
    base_url: str
    docs_url: str
    licence: str = Field(min_length=2)
    # staging column -> the source's own field name
    fields: dict[str, str] = Field(default_factory=dict)
    coverage_note: str | None = None
    # hosts the source's files are served from besides base_url (a CDN for CKAN resource downloads)
    extra_hosts: list[str] = Field(default_factory=list)
    # strptime formats tried before the common ones, for sources that write day-first dates
    datetime_formats: list[str] = Field(default_factory=list)

    _urls = field_validator("base_url", "docs_url")(http_url)

    _known_fields = field_validator("fields")(check_fields)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""


# fetch_month(client, source, city_id, month, *, timezone, app_token[, since]) -> RawBatch, for request feeds
MonthFetcher = Callable[..., Any]
# fetch_stats(client, source, city_id) -> (frame, unreadable cells, responses), for published statistics
StatsFetcher = Callable[..., Any]
# read_stamp(client, source) -> (the metadata response, the stamp in it or None)
StampReader = Callable[..., tuple[Any, object]]
# write_demo(demo: hotline_eval.sources.demo.DemoFeed) -> lines saying what was written
DemoWriter = Callable[..., list[str]]


@dataclass(frozen=True)
class Connector:
    """What the rest of the code asks of a source kind.

    ``fetch_month`` for a request-level feed (with ``supports_incremental``, it takes ``since``: the newest
    update stamp landed, and fetches only the records changed after it), or ``fetch_stats`` for published
    statistics; ``read_stamp`` when the platform says when a dataset last changed (the freshness sensor
    polls it); ``standard_fields``: staging field -> the platform's standard name, for fields a source
    need not map; ``write_demo``: the demo archive's responses in the platform's real format."""

    model: type[SourceBase]
    write_demo: DemoWriter
    fetch_month: MonthFetcher | None = None
    fetch_stats: StatsFetcher | None = None
    supports_incremental: bool = False
    read_stamp: StampReader | None = None
    standard_fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """The kind's tag, from its model's ``kind: Literal[...]``."""
        (tag,) = typing.get_args(self.model.model_fields["kind"].annotation)
        return tag

    @property
    def is_request_level(self) -> bool:
        return self.fetch_month is not None
