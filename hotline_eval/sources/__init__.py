"""Connectors: each fetches a source's real endpoint through the HTTP layer and returns raw rows."""

from __future__ import annotations

from collections.abc import Callable

from hotline_eval.http import HttpClient
from hotline_eval.registry import Source
from hotline_eval.sources import socrata
from hotline_eval.sources.common import RawBatch

# source kind -> fetch(client, source, city_id, month, app_token) for request-level feeds
MonthFetcher = Callable[..., RawBatch]
REQUEST_CONNECTORS: dict[str, MonthFetcher] = {
    "socrata": socrata.fetch_month,
}


def fetch_request_month(client: HttpClient, source: Source, city_id: str, month: str, *,
                        app_token: str | None = None) -> RawBatch:
    try:
        fetch = REQUEST_CONNECTORS[source.kind]
    except KeyError:
        raise NotImplementedError(f"no request-level connector for source kind {source.kind!r}") from None
    return fetch(client, source, city_id, month, app_token=app_token)
