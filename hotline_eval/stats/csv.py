"""CSV files: comma- or semicolon-separated (whichever the header uses more), every value as text."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import polars as pl

from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.stats.grid import response_text

if TYPE_CHECKING:
    from hotline_eval.sources.aggregate import AggregateTableSource


def read_rows(response: ArchivedResponse, source: AggregateTableSource,
              _page_period: str | None = None) -> list[dict[str, Any]]:
    """The file's rows keyed by its header (names stripped of spaces and a byte-order mark)."""
    text = response_text(response, source)
    header = text.split("\n", 1)[0]
    separator = ";" if header.count(";") > header.count(",") else ","
    frame = pl.read_csv(io.StringIO(text), separator=separator, infer_schema=False)
    return frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns}).to_dicts()
