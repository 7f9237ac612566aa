"""Connectors: each fetches a source's real endpoint through the HTTP layer and returns raw rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hotline_eval.config.registry import Source
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources import ckan, open311, opendatasoft, socrata
from hotline_eval.sources.records import RawBatch

# fetch_month(client, source, city_id, month, *, timezone, app_token[, since]) for request-level feeds
MonthFetcher = Callable[..., RawBatch]


@dataclass(frozen=True)
class Connector:
    """A request-level connector: how it fetches a month, and whether it can fetch only the records
    changed since a cursor (its ``fetch_month`` then takes ``since``, the newest update stamp landed)."""

    fetch_month: MonthFetcher
    supports_incremental: bool = False


# source kind -> its connector
REQUEST_CONNECTORS: dict[str, Connector] = {
    "socrata": Connector(socrata.fetch_month, supports_incremental=True),  # since: a :updated_at stamp
    "ckan": Connector(ckan.fetch_month),
    "opendatasoft": Connector(opendatasoft.fetch_month),
    "open311": Connector(open311.fetch_month),
}


def is_request_level(source: Source) -> bool:
    """Whether a connector fetches the source's records (rather than published statistics)."""
    return source.kind in REQUEST_CONNECTORS


def supports_incremental(source: Source) -> bool:
    """Whether the source's connector can fetch only the records changed since a cursor."""
    connector = REQUEST_CONNECTORS.get(source.kind)
    return connector is not None and connector.supports_incremental


def fetch_request_month(client: HttpClient, source: Source, city_id: str, month: str, *, timezone: str,
                        app_token: str | None = None, since: str | None = None) -> RawBatch:
    """All records of ``source`` created in ``month`` (the city's local time); with ``since``, only
    those changed after it (sources that support incremental pulls)."""
    try:
        connector = REQUEST_CONNECTORS[source.kind]
    except KeyError:
        raise NotImplementedError(f"no request-level connector for source kind {source.kind!r}") from None
    if since is None:
        return connector.fetch_month(client, source, city_id, month, timezone=timezone, app_token=app_token)
    if not connector.supports_incremental:
        raise NotImplementedError(f"incremental pulls are not supported for {source.kind} sources")
    return connector.fetch_month(client, source, city_id, month, timezone=timezone, app_token=app_token, since=since)
