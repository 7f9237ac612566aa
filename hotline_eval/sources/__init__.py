"""Source kinds as plugins: each kind's module declares its configuration model and its ``Connector``
(``hotline_eval/sources/base.py``); this registry gathers them. ``Source`` is the union of the kinds'
models, told apart by ``kind``; the rest of the code asks the functions here what a source can do,
never its kind."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources import aggregate, arcgis, avisos, ckan, open311, opendatasoft, socrata
from hotline_eval.sources.base import Connector, SourceBase
from hotline_eval.sources.demo import DemoFeed
from hotline_eval.sources.records import RawBatch

Source = Annotated[
    socrata.SocrataSource | ckan.CkanSource | opendatasoft.OpendatasoftSource | open311.Open311Source
    | arcgis.ArcgisFeatureServerSource | aggregate.AggregateTableSource | avisos.AvisosSource,
    Field(discriminator="kind"),
]

# source kind -> its connector
CONNECTORS: dict[str, Connector] = {c.kind: c for c in (
    socrata.CONNECTOR, ckan.CONNECTOR, opendatasoft.CONNECTOR, open311.CONNECTOR, arcgis.CONNECTOR,
    aggregate.CONNECTOR, avisos.CONNECTOR)}
# the request-level ones
REQUEST_CONNECTORS: dict[str, Connector] = {kind: c for kind, c in CONNECTORS.items() if c.is_request_level}

_SOURCE = TypeAdapter(Source)


def parse_source(data: Mapping[str, Any]) -> Source:
    """A source from its configuration (the model its ``kind`` names)."""
    return _SOURCE.validate_python(data)


def connector(source: SourceBase) -> Connector:
    """The connector of the source's kind."""
    kind = getattr(source, "kind", None)
    try:
        return CONNECTORS[kind]
    except KeyError:
        raise NotImplementedError(f"no connector for source kind {kind!r}") from None


def is_request_level(source: SourceBase) -> bool:
    """Whether a connector fetches the source's records (rather than published statistics)."""
    return connector(source).is_request_level


def supports_incremental(source: SourceBase) -> bool:
    """Whether the source's connector can fetch only the records changed since a cursor."""
    return connector(source).supports_incremental


def has_freshness(source: SourceBase) -> bool:
    """Whether the source's platform says when its data last changed (the freshness sensor polls it)."""
    return connector(source).read_stamp is not None


def standard_fields(source: SourceBase) -> Mapping[str, str]:
    """Staging field -> the platform's standard name, for the fields a source of this kind need not map."""
    return connector(source).standard_fields


def feed_fields(source: SourceBase) -> frozenset[str]:
    """The staging fields a request feed publishes (its mapping and its platform's standard fields);
    none for published statistics."""
    if not is_request_level(source):
        return frozenset()
    return frozenset(standard_fields(source)) | frozenset(source.fields)


def write_demo(demo: DemoFeed) -> list[str]:
    """The demo archive's responses for ``demo.source``, in its platform's real format."""
    return connector(demo.source).write_demo(demo)


def fetch_request_month(client: HttpClient, source: SourceBase, city_id: str, month: str, *, timezone: str,
                        app_token: str | None = None, since: str | None = None) -> RawBatch:
    """All records of ``source`` created in ``month`` (the city's local time); with ``since``, only
    those changed after it (sources that support incremental pulls)."""
    kind = connector(source)
    if kind.fetch_month is None:
        raise NotImplementedError(f"no request-level connector for source kind {kind.kind!r}")
    if since is None:
        return kind.fetch_month(client, source, city_id, month, timezone=timezone, app_token=app_token)
    if not kind.supports_incremental:
        raise NotImplementedError(f"incremental pulls are not supported for {kind.kind} sources")
    return kind.fetch_month(client, source, city_id, month, timezone=timezone, app_token=app_token, since=since)
