"""Published statistics tables: a source of kind ``aggregate_table`` names a file or pages and how to
read them (``hotline_eval/stats/`` holds the readers, one per format); the demo writes a table in the
source's layout, or serves the hand-written pages of a bulletin series."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from hotline_eval.config.base import Strict
from hotline_eval.sources.base import Connector, SourceBase
from hotline_eval.sources.demo import DemoFeed, as_json, store
from hotline_eval.stats.tables import fetch_stats, table_urls

AGGREGATE_METRICS = (
    "calls_received", "calls_answered", "answer_rate", "cases_received", "cases_resolved", "resolution_rate",
    "satisfaction_rate", "avg_wait_seconds", "avg_handle_seconds", "first_call_resolution_rate",
    # share of calls answered within the line's target time; share of callers who hung up waiting;
    # satisfaction on the publisher's own scale (the unit names it, e.g. "score 1-5")
    "service_level_rate", "abandonment_rate", "satisfaction_score",
    # share of requests closed within the agency's own target; share received through digital channels
    "on_time_rate", "digital_share",
)


class MetricColumn(Strict):
    column: str  # the published column / row header
    metric: Literal[AGGREGATE_METRICS]  # type: ignore[valid-type]
    unit: str
    # multiply the published number by this: 100 where a spreadsheet keeps a percentage as its fraction
    scale: float = Field(default=1.0, gt=0)


class StatsPage(Strict):
    """One page of a series that states its period only in its title or address (a monthly press
    release): the period is written here, YYYY or YYYY-MM."""

    path: str
    period: str = Field(pattern=r"^\d{4}(-(0[1-9]|1[0-2]))?$")


class AggregateTable(Strict):
    """How to read a published statistics table (CSV, XLSX, HTML, JSON records, or plain text)."""

    format: Literal["csv", "xlsx", "html", "json", "text"]
    # path on base_url (or a full URL on an allowed host) of the file or page; `paths` when the
    # figures come as a series of pages of one layout (monthly bulletins), oldest first; `pages`
    # when each page's period is known only from its title (then the period column is "period")
    path: str | None = None
    paths: list[str] = Field(default_factory=list)
    pages: list[StatsPage] = Field(default_factory=list)
    period_column: str = "period"
    period_format: str  # strptime format of the period values, e.g. "%Y%m", "%Y-%m", "%Y"
    # a regular expression picking the period out of a longer cell ("January - October 2025")
    period_pattern: str | None = None
    metrics: list[MetricColumn] = Field(min_length=1)
    html_table_index: int = 0  # which <table> on the page
    header_row: int = Field(default=0, ge=0)  # which row of the table holds the column names
    sheet: str | None = None  # XLSX sheet name (first sheet when unset)
    json_records_path: list[str] = Field(default_factory=list)  # keys leading to the list of records
    # columns whose empty cells repeat the value above (a period written once for a block of rows)
    fill_down: list[str] = Field(default_factory=list)
    # keep only rows whose column has this value (e.g. the "Total" row of a per-agency table)
    row_filter: dict[str, str] = Field(default_factory=dict)
    # month names in the publication's language, January first: replaced by 01..12 before parsing
    # the period (matched ignoring case and accents)
    month_names: list[str] | None = Field(default=None, min_length=12, max_length=12)
    # "1.234.567" for thousands and "58,8" for decimals (German, Turkish, Spanish tables)
    decimal_comma: bool = False
    # a table with one metric per row and one period per column (label in the first column, which
    # becomes the period column; a label may carry a note after the metric's name: "Call Abandoned
    # Rate (Target<10%)" is the row of column "Call Abandoned Rate")
    transpose: bool = False
    # plain text: the first token of the line holding the column names ("Kalenderjahr 2013 2014");
    # lines starting with a metric's column name are its rows. Tokens are split on whitespace.
    header_label: str | None = None
    # plain text: a regular expression whose named groups are metric columns, matched once per page
    # (with `pages`): "(?P<received>[\\d,]+)件" reads one number from a sentence; a group `month`,
    # if any, must agree with the month of the page's listed period
    text_pattern: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AggregateTable:
        locations = [self.path is not None, bool(self.paths), bool(self.pages)]
        if sum(locations) != 1:
            raise ValueError("give one of `path` (one file or page), `paths` (a series of pages) or `pages` "
                             "(pages with their periods)")
        if self.period_pattern is not None and _regex(self.period_pattern, "period_pattern").groups != 1:
            raise ValueError("period_pattern needs exactly one group () around the period")
        self._check_text()
        return self

    def _check_text(self) -> None:
        """The options of plain text sources: for format text only, one way of reading it, and a pattern
        naming a group for every metric column."""
        if self.format != "text" and (self.pages or self.header_label or self.text_pattern):
            raise ValueError("`pages`, `header_label` and `text_pattern` are for format: text")
        if self.format == "text" and (self.header_label is None) == (self.text_pattern is None):
            raise ValueError("a text source needs either `header_label` (a table in text) or `text_pattern`")
        if self.text_pattern is None:
            return
        if not self.pages:
            raise ValueError("`text_pattern` reads one value per page: list the pages with their periods")
        groups = set(_regex(self.text_pattern, "text_pattern").groupindex)
        missing = [m.column for m in self.metrics if m.column not in groups]
        if missing:
            raise ValueError(f"text_pattern has no named group for metric columns {missing}")


def _regex(pattern: str, name: str) -> re.Pattern[str]:
    """A configured regular expression, compiled; an invalid one raises ValueError naming the option."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{name} is not a valid regular expression: {exc}") from None


class AggregateTableSource(SourceBase):
    """Published statistics: the table and how to read it."""

    kind: Literal["aggregate_table"] = "aggregate_table"
    table: AggregateTable
    # published files whose charset the server does not declare (e.g. cp1252 CSVs)
    encoding: str | None = None


def write_demo(demo: DemoFeed) -> list[str]:
    """A statistics table in the source's published layout: its period column and metric columns; or,
    for layouts a generator cannot mimic (bulletin series), the hand-written pages in
    ``demo.handwritten/<source id>/<n>.html`` (or .txt), one per path."""
    source = demo.source
    assert isinstance(source, AggregateTableSource)
    urls = table_urls(source)
    written = sorted((demo.handwritten / source.id).glob("*.*"), key=lambda p: int(p.stem))
    if written:
        if len(written) != len(urls):
            raise SystemExit(f"{source.id}: {len(written)} demo pages for {len(urls)} paths")
        for url, page in zip(urls, written, strict=True):
            content_type = "text/plain; charset=utf-8" if page.suffix == ".txt" else "text/html; charset=utf-8"
            store(demo.archive, url, None, page.read_bytes(), content_type)
        return [f"statistics table ({source.table.format})"]
    rows = _demo_rows(source.table, demo)
    table = source.table
    if table.format == "csv":
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        body, content_type = text.getvalue().encode(source.encoding or "utf-8"), "text/csv"
    elif table.format == "json":
        data: Any = rows
        for key in reversed(table.json_records_path):
            data = {key: data}
        body, content_type = as_json(data), "application/json; charset=utf-8"
    else:
        header = "".join(f"<th>{c}</th>" for c in rows[0])
        cells = "".join("<tr>" + "".join(f"<td>{v}</td>" for v in r.values()) + "</tr>" for r in rows)
        filler = "<table class='layout'><tr><td>menu</td></tr></table>" * table.html_table_index
        html = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{source.id}</title></head><body>"
                f"{filler}<table><thead><tr>{header}</tr></thead><tbody>{cells}</tbody></table></body></html>")
        body, content_type = html.encode("utf-8"), "text/html; charset=utf-8"
    store(demo.archive, urls[0], None, body, content_type)
    return [f"statistics table ({table.format})"]


def _demo_rows(table: AggregateTable, demo: DemoFeed) -> list[dict[str, str]]:
    """Invented values for each period and metric column: monthly for 2024, or yearly 2022-2024."""
    rng = demo.rng
    periods = [datetime(2024, m, 1) for m in range(1, 13)] if "%m" in table.period_format else \
        [datetime(y, 1, 1) for y in (2022, 2023, 2024)]
    base = rng.uniform(0.3, 3.0)
    rows = []
    for period in periods:
        row = {table.period_column: period.strftime(table.period_format)}
        for metric in table.metrics:
            if metric.metric.endswith("_rate"):
                value = f"{rng.uniform(82, 99.5):.1f}"
            elif metric.metric.endswith("_seconds"):
                value = str(rng.randint(8, 90))
            else:
                scale = 150_000 if "%m" in table.period_format else 1_800_000
                # JSON APIs publish plain numbers (as SODA strings); tables for people group thousands
                count = int(base * rng.uniform(0.9, 1.1) * scale)
                value = str(count) if table.format == "json" else f"{count:,}"
            row[metric.column] = value
        rows.append(row)
    return rows


CONNECTOR = Connector(AggregateTableSource, write_demo, fetch_stats=fetch_stats)
