"""Published hotline statistics (monthly or yearly call volumes, answer and satisfaction rates) in
CSV, XLSX, HTML-table, JSON or plain-text form -> long rows (city, period, metric, value, unit), one
per cell.

Each source's ``table`` block in the registry says which columns hold the period and which hold
which metric; the parsing code is shared. A cell that is not a number is rejected with its reason,
never silently skipped.
"""

from __future__ import annotations

import io
import itertools
import re
import unicodedata
from datetime import datetime
from typing import Any

import fastexcel
import polars as pl
from bs4 import BeautifulSoup, Tag

from hotline_eval.config.registry import AggregateTable, Source
from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.archive import ArchivedResponse
from hotline_eval.fetch.http import HttpClient

STATS_SCHEMA = {"city_id": pl.String, "source_id": pl.String, "period": pl.String, "metric": pl.String,
                "value": pl.Float64, "unit": pl.String, "source_url": pl.String, "sha256": pl.String,
                "is_synthetic": pl.Boolean}
_NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?$")
# units a published figure may carry after the number; anything else (a multiplier such as "Mio" or
# 万, or another unit such as "min") makes the cell unreadable rather than silently wrong
UNIT_WORDS = {"s", "sec", "secs", "second", "seconds", "seg", "segundos", "sek", "sekunden", "秒", "초", "件", "건",
              "calls", "cases", "llamadas", "anrufe", "次", "通"}


def table_pages(source: Source) -> list[tuple[str, str | None]]:
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


def table_urls(source: Source) -> list[str]:
    return [url for url, _ in table_pages(source)]


def _text(response: ArchivedResponse, source: Source) -> str:
    return response.body.decode(source.encoding) if source.encoding else response.text()


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


def html_rows(html: str, table: AggregateTable, name: str) -> list[dict[str, str]]:
    """Rows of the configured <table> keyed by the cells of its header row (by default the first)."""
    soup = BeautifulSoup(html, "lxml")
    tables = soup.find_all("table")
    index = table.html_table_index
    if len(tables) <= index:
        raise SourceFormatError(f"{name}: page has {len(tables)} tables, the source reads table #{index}")
    return grid_records(table_grid(tables[index]), table, f"{name} table #{index}")


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


def source_rows(response: ArchivedResponse, source: Source, page_period: str | None = None) -> list[dict[str, Any]]:
    table = source.table
    assert table is not None
    if table.format == "text":
        text = page_text(_text(response, source))
        if table.text_pattern is not None:
            found = re.search(table.text_pattern, text)
            if found is None:
                raise SourceFormatError(f"{response.url}: the text does not match the source's text_pattern")
            values = found.groupdict()
            # a page whose own month disagrees with the period listed for it is a wrong page, not data
            month = values.pop("month", None)
            if month is not None and page_period and len(page_period) == 7 and int(month) != int(page_period[5:]):
                raise SourceFormatError(f"{response.url}: the page reports month {month}, the registry lists it as "
                                        f"{page_period}")
            return [{table.period_column: page_period, **values}]
        assert table.header_label is not None
        grid = text_grid(text, table.header_label, [m.column for m in table.metrics], response.url)
        return grid_records(grid, table, response.url)
    if table.format == "xlsx":
        return grid_records(xlsx_grid(response.body, table.sheet, response.url), table, response.url)
    if table.format == "csv":
        text = _text(response, source)
        header = text.split("\n", 1)[0]
        separator = ";" if header.count(";") > header.count(",") else ","
        frame = pl.read_csv(io.StringIO(text), separator=separator, infer_schema=False)
        return frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns}).to_dicts()
    if table.format == "html":
        return html_rows(_text(response, source), table, response.url)
    if table.format == "json":
        data: Any = response.json()
        for key in table.json_records_path:
            data = data.get(key) if isinstance(data, dict) else None
        if not isinstance(data, list):
            raise SourceFormatError(f"{response.url}: no list of records at {table.json_records_path}")
        return data
    raise SourceFormatError(f"{source.id}: format {table.format!r} has no reader")


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


def parse_stats(response: ArchivedResponse, source: Source, city_id: str,
                page_period: str | None = None) -> tuple[pl.DataFrame, list[str]]:
    """(long stats rows, problems). A missing column is an error; a bad cell is a problem, listed.
    ``page_period`` is the period of a page that states it only in its title (``pages``)."""
    table: AggregateTable | None = source.table
    if table is None:
        raise SourceFormatError(f"{source.id}: no table description")
    rows = source_rows(response, source, page_period)
    if not rows:
        raise SourceFormatError(f"{response.url}: no rows")
    columns = set().union(*(r.keys() for r in rows))
    needed = [table.period_column, *(m.column for m in table.metrics), *table.row_filter, *table.fill_down]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise SourceFormatError(f"{response.url}: columns {missing} not found (found {sorted(columns)})")
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    above: dict[str, Any] = {}
    for row in rows:
        for column in table.fill_down:
            if _normal(row.get(column)):
                above[column] = row.get(column)
            else:
                row = {**row, column: above.get(column)}
        if any(_fold(_normal(row.get(c))) != _fold(_normal(v)) for c, v in table.row_filter.items()):
            continue
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


def fetch_stats(client: HttpClient, source: Source, city_id: str
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
