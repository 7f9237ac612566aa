"""Connectors: each fetches a source's real endpoint through the HTTP layer and returns raw rows."""

from __future__ import annotations

from collections.abc import Callable

from hotline_eval.config.registry import Source
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources import ckan, open311, opendatasoft, socrata
from hotline_eval.sources.common import RawBatch

# source kind -> fetch(client, source, city_id, month, app_token) for request-level feeds
MonthFetcher = Callable[..., RawBatch]
REQUEST_CONNECTORS: dict[str, MonthFetcher] = {
    "socrata": socrata.fetch_month,
    "ckan": ckan.fetch_month,
    "opendatasoft": opendatasoft.fetch_month,
    "open311": open311.fetch_month,
}


def fetch_request_month(client: HttpClient, source: Source, city_id: str, month: str, *, timezone: str,
                        app_token: str | None = None, since: str | None = None) -> RawBatch:
    """All records of ``source`` created in ``month`` (the city's local time); with ``since``, only
    those changed after it (sources that support incremental pulls)."""
    try:
        fetch = REQUEST_CONNECTORS[source.kind]
    except KeyError:
        raise NotImplementedError(f"no request-level connector for source kind {source.kind!r}") from None
    if since is not None:
        if source.kind != "socrata":
            raise NotImplementedError(f"incremental pulls are not supported for {source.kind} sources")
        return socrata.fetch_month(client, source, city_id, month, app_token=app_token, since=since)
    return fetch(client, source, city_id, month, timezone=timezone, app_token=app_token)
