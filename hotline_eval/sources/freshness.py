"""When did a source last change? Each platform's dataset metadata, read through the HTTP layer.

- Socrata: ``/api/views/<4x4>.json`` -> ``rowsUpdatedAt`` (epoch seconds)
- CKAN: ``package_show`` -> ``metadata_modified``
- Opendatasoft: ``/api/explore/v2.1/catalog/datasets/<id>`` -> ``metas.default.data_processed``
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hotline_eval.config.registry import Source
from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources import ckan, opendatasoft, socrata


def source_version(client: HttpClient, source: Source) -> str:
    """An opaque stamp that changes when the source's data changes."""
    if source.kind == "socrata":
        response = client.get(socrata.view_url(source))
        stamp = _dig(response.json(), "rowsUpdatedAt")
    elif source.kind == "ckan":
        response = client.get(ckan.action_url(source, "package_show"), {"id": source.dataset})
        stamp = _dig(response.json(), "result", "metadata_modified")
    elif source.kind == "opendatasoft":
        response = client.get(opendatasoft.dataset_url(source))
        stamp = _dig(response.json(), "metas", "default", "data_processed")
    else:
        raise SourceFormatError(f"{source.id}: no freshness metadata for {source.kind} sources")
    if stamp in (None, ""):
        raise SourceFormatError(f"{response.url}: no update stamp in the dataset metadata")
    return str(stamp)


def _dig(data: object, *keys: str) -> object:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data


@dataclass(frozen=True)
class Changed:
    source_id: str
    version: str


def changed_sources(previous: Mapping[str, str], current: Mapping[str, str]) -> list[Changed]:
    """Sources whose stamp differs from the one seen last (new sources count as changed)."""
    return [Changed(s, v) for s, v in sorted(current.items()) if previous.get(s) != v]
