"""When did a source last change? Each platform's dataset metadata, read through the HTTP layer by its
kind's stamp reader (``Connector.read_stamp``):

- Socrata: ``/api/views/<4x4>.json`` -> ``rowsUpdatedAt`` (epoch seconds)
- CKAN: ``package_show`` -> ``metadata_modified``
- Opendatasoft: ``/api/explore/v2.1/catalog/datasets/<id>`` -> ``metas.default.data_processed``
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources import connector
from hotline_eval.sources.base import SourceBase


def source_version(client: HttpClient, source: SourceBase) -> str:
    """An opaque stamp that changes when the source's data changes."""
    kind = connector(source)
    if kind.read_stamp is None:
        raise SourceFormatError(f"{source.id}: no freshness metadata for {kind.kind} sources")
    response, stamp = kind.read_stamp(client, source)
    if stamp in (None, ""):
        raise SourceFormatError(f"{response.url}: no update stamp in the dataset metadata")
    return str(stamp)


@dataclass(frozen=True)
class Changed:
    source_id: str
    version: str


def changed_sources(previous: Mapping[str, str], current: Mapping[str, str]) -> list[Changed]:
    """Sources whose stamp differs from the one seen last (new sources count as changed)."""
    return [Changed(s, v) for s, v in sorted(current.items()) if previous.get(s) != v]
