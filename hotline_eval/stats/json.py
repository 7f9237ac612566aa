"""JSON: a list of records, found by following the configured keys from the document's top."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse

if TYPE_CHECKING:
    from hotline_eval.sources.aggregate import AggregateTableSource


def read_rows(response: ArchivedResponse, source: AggregateTableSource,
              _page_period: str | None = None) -> list[dict[str, Any]]:
    table = source.table
    assert table is not None
    data: Any = response.json()
    for key in table.json_records_path:
        data = data.get(key) if isinstance(data, dict) else None
    if not isinstance(data, list):
        raise SourceFormatError(f"{response.url}: no list of records at {table.json_records_path}")
    return data
