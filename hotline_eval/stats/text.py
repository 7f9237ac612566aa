"""Plain text (or a page's visible text): a table flattened into lines, or one value per page read by a
regular expression from a sentence."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bs4 import BeautifulSoup

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.stats.grid import grid_records, response_text

if TYPE_CHECKING:
    from hotline_eval.sources.aggregate import AggregateTable, AggregateTableSource


def page_text(text: str) -> str:
    """A page's visible text, one block per line (plain text is returned as it is)."""
    if text.lstrip()[:1] != "<":
        return text
    soup = BeautifulSoup(text, "lxml")
    for noise in soup(["script", "style", "noscript"]):
        noise.decompose()
    return soup.get_text("\n")


def text_grid(text: str, header_label: str, labels: list[str], name: str) -> list[list[str]]:
    """A table flattened into text lines ("Kalenderjahr 2013 2014 ..." then "Anrufe 575.391 ..."):
    the line starting with ``header_label`` and, after it, the first line starting with each label."""
    lines = [line.split() for line in text.splitlines()]
    start = next((i for i, tokens in enumerate(lines) if tokens[:1] == [header_label]), None)
    if start is None:
        raise SourceFormatError(f"{name}: no line starts with {header_label!r}")
    grid = [lines[start]]
    width = len(lines[start]) - 1
    for label in labels:
        words = label.split()
        # the label's row with one value per period: a later table reusing the label is not it
        row = next((t for t in lines[start + 1:] if t[:len(words)] == words and len(t) - len(words) == width), None)
        if row is not None:
            grid.append([label, *row[len(words):]])
    return grid


def read_rows(response: ArchivedResponse, source: AggregateTableSource,
              page_period: str | None = None) -> list[dict[str, Any]]:
    table = source.table
    assert table is not None
    text = page_text(response_text(response, source))
    if table.text_pattern is not None:
        return [pattern_row(text, table, response.url, page_period)]
    assert table.header_label is not None
    grid = text_grid(text, table.header_label, [m.column for m in table.metrics], response.url)
    return grid_records(grid, table, response.url)


def pattern_row(text: str, table: AggregateTable, url: str, page_period: str | None) -> dict[str, Any]:
    """The one row a page gives through the source's text_pattern: its named groups, in the period the
    registry lists for the page."""
    assert table.text_pattern is not None
    found = re.search(table.text_pattern, text)
    if found is None:
        raise SourceFormatError(f"{url}: the text does not match the source's text_pattern")
    values = found.groupdict()
    # a page whose own month disagrees with the period listed for it is a wrong page, not data
    month = values.pop("month", None)
    if month is not None and page_period and len(page_period) == 7 and int(month) != int(page_period[5:]):
        raise SourceFormatError(f"{url}: the page reports month {month}, the registry lists it as "
                                f"{page_period}")
    return {table.period_column: page_period, **values}
