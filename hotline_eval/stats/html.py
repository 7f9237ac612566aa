"""HTML tables: the configured <table> of a page as a grid, cells spanning rows or columns repeated
in every slot they cover."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bs4 import BeautifulSoup, Tag

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.stats.grid import grid_records, response_text

if TYPE_CHECKING:
    from hotline_eval.sources.aggregate import AggregateTable, AggregateTableSource


def _cell_span(cell: Tag, name: str) -> int:
    value = str(cell.get(name) or "1").strip()
    return max(1, min(int(value), 1000)) if value.isascii() and value.isdecimal() else 1


def table_grid(table: Tag) -> list[list[str]]:
    """The cell texts of a table as a full grid: a cell spanning rows or columns fills each slot it
    covers, as a reader sees it (a month written once beside its three rows belongs to all three)."""
    grid: list[list[str]] = []
    pending: dict[tuple[int, int], str] = {}  # (row, column) -> text carried down by a rowspan
    for r, row in enumerate(table.find_all("tr")):
        out: list[str] = []
        cells = iter(row.find_all(["th", "td"]))
        cell = next(cells, None)
        while cell is not None or (r, len(out)) in pending:
            if (r, len(out)) in pending:
                out.append(pending.pop((r, len(out))))
                continue
            text = cell.get_text(" ", strip=True)
            rowspan, colspan = _cell_span(cell, "rowspan"), _cell_span(cell, "colspan")
            for _ in range(colspan):
                for below in range(1, rowspan):
                    pending[(r + below, len(out))] = text
                out.append(text)
            cell = next(cells, None)
        grid.append(out)
    return grid


def html_rows(html: str, table: AggregateTable, name: str) -> list[dict[str, str]]:
    """Rows of the configured <table> keyed by the cells of its header row (by default the first)."""
    soup = BeautifulSoup(html, "lxml")
    tables = soup.find_all("table")
    index = table.html_table_index
    if len(tables) <= index:
        raise SourceFormatError(f"{name}: page has {len(tables)} tables, the source reads table #{index}")
    return grid_records(table_grid(tables[index]), table, f"{name} table #{index}")


def read_rows(response: ArchivedResponse, source: AggregateTableSource,
              _page_period: str | None = None) -> list[dict[str, Any]]:
    assert source.table is not None
    return html_rows(response_text(response, source), source.table, response.url)
