"""Published hotline statistics (monthly or yearly call volumes, answer and satisfaction rates) in
CSV, HTML-table or JSON form -> long rows (city, period, metric, value, unit), one per cell.

Each source's ``table`` block in the registry says which columns hold the period and which hold
which metric; the parsing code is shared. A cell that is not a number is rejected with its reason,
never silently skipped.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any

import polars as pl
from bs4 import BeautifulSoup

from hotline_eval.archive import ArchivedResponse
from hotline_eval.errors import SourceFormatError
from hotline_eval.registry import AggregateTable, Source

STATS_SCHEMA = {"city_id": pl.String, "source_id": pl.String, "period": pl.String, "metric": pl.String,
                "value": pl.Float64, "unit": pl.String, "source_url": pl.String, "sha256": pl.String,
                "is_synthetic": pl.Boolean}
_NUMBER = re.compile(r"^[-+]?\d+(\.\d+)?$")


def table_url(source: Source) -> str:
    assert source.table is not None
    path = source.table.path
    return path if path.startswith(("http://", "https://")) else f"{source.base_url.rstrip('/')}/{path.lstrip('/')}"


def _text(response: ArchivedResponse, source: Source) -> str:
    return response.body.decode(source.encoding) if source.encoding else response.text()


def html_rows(html: str, table_index: int, name: str) -> list[dict[str, str]]:
    """Rows of the n-th <table> keyed by its header cells (<th>, or the first row's cells)."""
    soup = BeautifulSoup(html, "lxml")
    tables = soup.find_all("table")
    if len(tables) <= table_index:
        raise SourceFormatError(f"{name}: page has {len(tables)} tables, the source reads table #{table_index}")
    rows = tables[table_index].find_all("tr")
    cells = [[c.get_text(" ", strip=True) for c in row.find_all(["th", "td"])] for row in rows]
    cells = [c for c in cells if any(c)]
    if len(cells) < 2:
        raise SourceFormatError(f"{name}: table #{table_index} has no data rows")
    header, *body = cells
    return [dict(zip(header, row, strict=False)) for row in body]


def source_rows(response: ArchivedResponse, source: Source) -> list[dict[str, Any]]:
    table = source.table
    assert table is not None
    if table.format == "csv":
        text = _text(response, source)
        header = text.split("\n", 1)[0]
        separator = ";" if header.count(";") > header.count(",") else ","
        frame = pl.read_csv(io.StringIO(text), separator=separator, infer_schema=False)
        return frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns}).to_dicts()
    if table.format == "html":
        return html_rows(_text(response, source), table.html_table_index, response.url)
    if table.format == "json":
        data: Any = response.json()
        for key in table.json_records_path:
            data = data.get(key) if isinstance(data, dict) else None
        if not isinstance(data, list):
            raise SourceFormatError(f"{response.url}: no list of records at {table.json_records_path}")
        return data
    raise SourceFormatError(f"{source.id}: format {table.format!r} has no reader yet; publish it as csv/html/json")


def parse_number(text: Any) -> float | None:
    """'1,234' '1 234' '98.5%' '98,5 %' -> float; anything else -> None."""
    if isinstance(text, int | float):
        return float(text)
    if not isinstance(text, str):
        return None
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "").rstrip("%")
    if cleaned.count(",") == 1 and "." not in cleaned and len(cleaned.split(",")[1]) != 3:
        cleaned = cleaned.replace(",", ".")  # a decimal comma (98,5)
    cleaned = cleaned.replace(",", "")
    return float(cleaned) if _NUMBER.match(cleaned) else None


def parse_period(text: Any, fmt: str) -> str | None:
    try:
        parsed = datetime.strptime(str(text).strip(), fmt)
    except ValueError:
        return None
    return parsed.strftime("%Y-%m") if "%m" in fmt else parsed.strftime("%Y")


def parse_stats(response: ArchivedResponse, source: Source, city_id: str) -> tuple[pl.DataFrame, list[str]]:
    """(long stats rows, problems). A missing column is an error; a bad cell is a problem, listed."""
    table: AggregateTable | None = source.table
    if table is None:
        raise SourceFormatError(f"{source.id}: no table description")
    rows = source_rows(response, source)
    if not rows:
        raise SourceFormatError(f"{response.url}: no rows")
    columns = set().union(*(r.keys() for r in rows))
    needed = [table.period_column, *(m.column for m in table.metrics)]
    missing = [c for c in needed if c not in columns]
    if missing:
        raise SourceFormatError(f"{response.url}: columns {missing} not found (found {sorted(columns)})")
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    for row in rows:
        period = parse_period(row.get(table.period_column), table.period_format)
        if period is None:
            problems.append(f"period {row.get(table.period_column)!r} does not match {table.period_format!r}")
            continue
        for metric in table.metrics:
            value = parse_number(row.get(metric.column))
            if value is None:
                problems.append(f"{period} {metric.metric}: {row.get(metric.column)!r} is not a number")
                continue
            out.append({"city_id": city_id, "source_id": source.id, "period": period, "metric": metric.metric,
                        "value": value, "unit": metric.unit, "source_url": response.url, "sha256": response.sha256,
                        "is_synthetic": response.is_synthetic})
    frame = pl.DataFrame(out, schema=STATS_SCHEMA).unique(["period", "metric"], keep="last", maintain_order=True)
    return frame, problems
