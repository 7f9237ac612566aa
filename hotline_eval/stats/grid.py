"""Tables as grids of cell texts (HTML tables, worksheets, tables flattened into text) turned into
rows keyed by their header; shared by the readers of those formats."""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse

if TYPE_CHECKING:
    from hotline_eval.sources.aggregate import AggregateTable, AggregateTableSource


def response_text(response: ArchivedResponse, source: AggregateTableSource) -> str:
    """A response's text: in the charset the source names (``encoding``: files whose server does not
    declare theirs), else as the response declares it."""
    return response.body.decode(source.encoding) if source.encoding else response.text()


def grid_records(grid: list[list[str]], table: AggregateTable, name: str) -> list[dict[str, str]]:
    """Rows of a table grid keyed by its header row. A transposed table (a metric per row, a period
    per column) is turned first; its metric labels are matched to the metric columns, a note after
    the name allowed, and its first column is the period column."""
    grid = [row for row in grid if any(row)]
    header_row = table.header_row
    if table.transpose:
        grid = [list(column) for column in itertools.zip_longest(*grid[header_row:], fillvalue="")]
        header_row = 0
    if len(grid) < header_row + 2:
        raise SourceFormatError(f"{name}: the table has no data rows below header row {header_row}")
    header, body = list(grid[header_row]), grid[header_row + 1:]
    if table.transpose:
        header[0] = table.period_column
        header = [_metric_label(label, table) for label in header]
    return [dict(zip(header, row, strict=False)) for row in body]


def _metric_label(label: str, table: AggregateTable) -> str:
    """The metric column a row label names: itself, or the column it starts with before a note."""
    text = " ".join(label.split())
    for metric in table.metrics:
        if text == metric.column or re.match(re.escape(metric.column) + r"\s*[(\[:*,]", text):
            return metric.column
    return text
