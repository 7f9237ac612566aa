"""XLSX workbooks: a worksheet's cells as a grid (read with calamine)."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import fastexcel
import polars as pl

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.stats.grid import grid_records

if TYPE_CHECKING:
    from hotline_eval.sources.aggregate import AggregateTableSource


def xlsx_grid(body: bytes, sheet: str | None, name: str) -> list[list[str]]:
    """The cells of a worksheet (the first unless named) as text, row by row; numbers as written by
    the reader ("1923456", "0.961": a percentage cell holds its fraction)."""
    try:
        frame = pl.read_excel(io.BytesIO(body), sheet_name=sheet, engine="calamine", has_header=False,
                              infer_schema_length=0)
    except (fastexcel.FastExcelError, ValueError) as exc:  # ValueError: polars names a missing sheet
        where = f" with a sheet {sheet!r}" if sheet else ""
        first_line = str(exc).splitlines()[0]
        raise SourceFormatError(f"{name}: not a readable XLSX workbook{where} ({first_line})") from None
    return [[cell or "" for cell in row] for row in frame.rows()]


def read_rows(response: ArchivedResponse, source: AggregateTableSource,
              _page_period: str | None = None) -> list[dict[str, Any]]:
    table = source.table
    assert table is not None
    return grid_records(xlsx_grid(response.body, table.sheet, response.url), table, response.url)
