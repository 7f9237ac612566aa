"""Published hotline statistics (monthly or yearly call volumes, answer and satisfaction rates) in
CSV, XLSX, HTML-table, JSON or plain-text form -> long rows (city, period, metric, value, unit), one
per cell.

Each source's ``table`` block in the registry says which columns hold the period and which hold
which metric; the parsing code is shared. A cell that is not a number is rejected with its reason,
never silently skipped.

The readers, one per format (``csv``, ``xlsx``, ``html``, ``json``, ``text``), turn a response into
rows keyed by column name; the logic shared by all (which pages, numbers, periods, fill-down, row
filters, the long rows) is here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.fetch.http import HttpClient
from hotline_eval.stats import csv as csv_reader
from hotline_eval.stats import html as html_reader
from hotline_eval.stats import json as json_reader
from hotline_eval.stats import text as text_reader
from hotline_eval.stats import xlsx as xlsx_reader

if TYPE_CHECKING:
    from hotline_eval.sources.aggregate import AggregateTable, AggregateTableSource

STATS_SCHEMA = {"city_id": pl.String, "source_id": pl.String, "period": pl.String, "metric": pl.String,
                "value": pl.Float64, "unit": pl.String, "source_url": pl.String, "sha256": pl.String,
                "is_synthetic": pl.Boolean}
_NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?$")
# units a published figure may carry after the number; anything else (a multiplier such as "Mio" or
# 万, or another unit such as "min") makes the cell unreadable rather than silently wrong
UNIT_WORDS = {"s", "sec", "secs", "second", "seconds", "seg", "segundos", "sek", "sekunden", "秒", "초", "件", "건",
              "calls", "cases", "llamadas", "anrufe", "次", "通"}


def table_pages(source: AggregateTableSource) -> list[tuple[str, str | None]]:
    """(URL, period the page states only in its title, if so) of every file or page the source's
    figures are read from, oldest first."""
    table = source.table
    assert table is not None
    if table.pages:
        paths = [(p.path, p.period) for p in table.pages]
    else:
        paths = [(p, None) for p in ([table.path] if table.path else table.paths)]
    base = source.base_url.rstrip("/")
    return [(p if p.startswith(("http://", "https://")) else f"{base}/{p.lstrip('/')}", period)
            for p, period in paths]


def table_urls(source: AggregateTableSource) -> list[str]:
    return [url for url, _ in table_pages(source)]


# format -> (response, source, period the page states only in its title) -> rows keyed by column name
Reader = Callable[[ArchivedResponse, "AggregateTableSource", str | None], list[dict[str, Any]]]
READERS: dict[str, Reader] = {"csv": csv_reader.read_rows, "xlsx": xlsx_reader.read_rows,
                              "html": html_reader.read_rows, "json": json_reader.read_rows,
                              "text": text_reader.read_rows}


def source_rows(response: ArchivedResponse, source: AggregateTableSource,
                page_period: str | None = None) -> list[dict[str, Any]]:
    table = source.table
    assert table is not None
    reader = READERS.get(table.format)
    if reader is None:
        raise SourceFormatError(f"{source.id}: format {table.format!r} has no reader")
    return reader(response, source, page_period)


def parse_number(text: Any, *, decimal_comma: bool = False) -> float | None:
    """'1,234' '1 234' '98.5%' '98,5 %' '%58,8' -> float; anything else -> None. With ``decimal_comma``
    the dot groups thousands and the comma marks decimals ('1.121.715', '58,8')."""
    if isinstance(text, int | float):
        return float(text)
    if not isinstance(text, str):
        return None
    # spaces group thousands ("2 106 667", also no-break and thin spaces); a unit may follow
    # ("451 seconds", "3,378件"), but not a multiplier, which would change the number
    cleaned = re.sub(r"[\s\u00a0\u2009\u202f]", "", text).strip("%")
    unit = re.search(r"[^\d.,]+$", cleaned)
    if unit is not None:
        if unit.group(0).strip(".").casefold() not in UNIT_WORDS:
            return None
        cleaned = cleaned[:unit.start()]
    if decimal_comma:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    else:
        if cleaned.count(",") == 1 and "." not in cleaned and len(cleaned.split(",")[1]) != 3:
            cleaned = cleaned.replace(",", ".")  # a decimal comma (98,5)
        cleaned = cleaned.replace(",", "")
    return float(cleaned) if _NUMBER.match(cleaned) else None


def _fold(text: str) -> str:
    """Case and accents ignored, Turkish dotless i included: 'MAYIS', 'Mayıs' -> 'mayis'."""
    plain = unicodedata.normalize("NFKD", text.replace("ı", "i").replace("İ", "I"))
    return "".join(c for c in plain if not unicodedata.combining(c)).casefold()


def parse_period(text: Any, fmt: str, month_names: list[str] | None = None,
                 pattern: str | None = None) -> str | None:
    value = str(text).strip()
    if pattern is not None:
        found = re.search(pattern, value)
        if found is None:
            return None
        value = found.group(1)
    if month_names:
        words = {_fold(name): f"{i:02d}" for i, name in enumerate(month_names, start=1)}
        value = re.sub(r"[^\W\d_]+", lambda m: words.get(_fold(m.group(0)), m.group(0)), value)
    try:
        parsed = datetime.strptime(value, fmt)
    except ValueError:
        return None
    return parsed.strftime("%Y-%m") if "%m" in fmt else parsed.strftime("%Y")


def _normal(text: Any) -> str:
    return " ".join(str(text or "").split())



def parse_stats(response: ArchivedResponse, source: AggregateTableSource, city_id: str,
                page_period: str | None = None) -> tuple[pl.DataFrame, list[str]]:
    """(long stats rows, problems). A missing column is an error; a bad cell is a problem, listed.
    ``page_period`` is the period of a page that states it only in its title (``pages``)."""
    table: AggregateTable | None = source.table
    if table is None:
        raise SourceFormatError(f"{source.id}: no table description")
    rows = source_rows(response, source, page_period)
    if not rows:
        raise SourceFormatError(f"{response.url}: no rows")
    _require_columns(rows, table, response.url)
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    for row in _kept_rows(rows, table):
        period = parse_period(row.get(table.period_column), table.period_format, table.month_names,
                              table.period_pattern)
        if period is None:
            problems.append(f"period {row.get(table.period_column)!r} does not match {table.period_format!r}")
            continue
        for metric in table.metrics:
            value = parse_number(row.get(metric.column), decimal_comma=table.decimal_comma)
            if value is None:
                problems.append(f"{period} {metric.metric}: {row.get(metric.column)!r} is not a number")
                continue
            out.append({"city_id": city_id, "source_id": source.id, "period": period, "metric": metric.metric,
                        "value": value * metric.scale, "unit": metric.unit, "source_url": response.url,
                        "sha256": response.sha256, "is_synthetic": response.is_synthetic})
    frame = pl.DataFrame(out, schema=STATS_SCHEMA).unique(["period", "metric"], keep="last", maintain_order=True)
    if frame.is_empty():
        # a page that yields nothing must fail the source, not replace its last good rows with nothing
        why = "; ".join(problems[:3]) or f"no row passes the filter {table.row_filter}"
        raise SourceFormatError(f"{response.url}: no value could be read ({why})")
    return frame, problems


def _require_columns(rows: list[dict[str, Any]], table: AggregateTable, url: str) -> None:
    columns = set().union(*(r.keys() for r in rows))
    needed = [table.period_column, *(m.column for m in table.metrics), *table.row_filter, *table.fill_down]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise SourceFormatError(f"{url}: columns {missing} not found (found {sorted(columns)})")


def _kept_rows(rows: list[dict[str, Any]], table: AggregateTable) -> Iterator[dict[str, Any]]:
    """The rows with their fill-down columns' empty cells filled from above, those the row filter keeps."""
    above: dict[str, Any] = {}
    for row in rows:
        for column in table.fill_down:
            if _normal(row.get(column)):
                above[column] = row.get(column)
            else:
                row = {**row, column: above.get(column)}
        if all(_fold(_normal(row.get(c))) == _fold(_normal(v)) for c, v in table.row_filter.items()):
            yield row


def fetch_stats(client: HttpClient, source: AggregateTableSource, city_id: str
                ) -> tuple[pl.DataFrame, list[str], list[ArchivedResponse]]:
    """Every page or file of an aggregate source, parsed: (long rows, unreadable cells, responses).
    Pages come oldest first, so where two publish the same period the newer one's figure stands."""
    frames, problems, responses = [], [], []
    pages = table_pages(source)
    for url, page_period in pages:
        response = client.get(url)
        frame, bad_cells = parse_stats(response, source, city_id, page_period)
        frames.append(frame)
        problems += [f"{url}: {p}" for p in bad_cells] if len(pages) > 1 else bad_cells
        responses.append(response)
    frame = pl.concat(frames).unique(["period", "metric"], keep="last", maintain_order=True).sort("period", "metric")
    return frame, problems, responses
