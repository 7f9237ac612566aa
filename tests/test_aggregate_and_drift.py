"""Published statistics tables (CSV, HTML, JSON; GBK and EUC-KR) and schema drift detection."""

from __future__ import annotations

import polars as pl
import pytest
from pytest_httpserver import HTTPServer

from hotline_eval.errors import SourceFormatError
from hotline_eval.http import HttpClient
from hotline_eval.registry import Source
from hotline_eval.sources.aggregate import parse_number, parse_stats, table_url
from hotline_eval.sources.drift import FIELDS_SCHEMA, field_drift


def stats_source(base: str, table: dict, **extra) -> Source:
    return Source(id="stats", kind="aggregate_table", base_url=base, docs_url="https://example.org/docs",
                  licence="open", table=table, **extra)


def test_html_table_in_gbk_with_chinese_headers(server: HTTPServer, client: HttpClient) -> None:
    html = ('<html><head><meta charset="gbk"><title>12345热线月度数据</title></head><body>'
            "<table><tr><td>导航</td></tr></table>"
            "<table><tr><th>月份</th><th>受理量（件）</th><th>解决率</th><th>满意率</th></tr>"
            "<tr><td>2024年10月</td><td>1,923,456</td><td>95.6%</td><td>96.1%</td></tr>"
            "<tr><td>2024年11月</td><td>1,801,002</td><td>96.0%</td><td>—</td></tr></table></body></html>")
    server.expect_request("/stats/12345.html").respond_with_data(html.encode("gbk"), content_type="text/html")
    source = stats_source(server.url_for("/").rstrip("/"), {
        "format": "html", "path": "/stats/12345.html", "period_column": "月份", "period_format": "%Y年%m月",
        "html_table_index": 1, "metrics": [
            {"column": "受理量（件）", "metric": "cases_received", "unit": "cases"},
            {"column": "解决率", "metric": "resolution_rate", "unit": "percent"},
            {"column": "满意率", "metric": "satisfaction_rate", "unit": "percent"}]})
    frame, problems = parse_stats(client.get(table_url(source)), source, "beijing")
    values = {(r["period"], r["metric"]): r["value"] for r in frame.iter_rows(named=True)}
    assert values[("2024-10", "cases_received")] == 1_923_456
    assert values[("2024-10", "resolution_rate")] == 95.6
    assert ("2024-11", "satisfaction_rate") not in values
    assert problems == ["2024-11 satisfaction_rate: '—' is not a number"]


def test_csv_in_euc_kr_without_declared_charset(server: HTTPServer, client: HttpClient) -> None:
    text = "기준년월,상담건수,응답률\n202410,\"412,345\",97.1\n202411,\"398,001\",96.4\n"
    server.expect_request("/dasan.csv").respond_with_data(text.encode("cp949"), content_type="text/csv")
    source = stats_source(server.url_for("/").rstrip("/"), {
        "format": "csv", "path": "/dasan.csv", "period_column": "기준년월", "period_format": "%Y%m",
        "metrics": [{"column": "상담건수", "metric": "calls_answered", "unit": "calls"},
                    {"column": "응답률", "metric": "answer_rate", "unit": "percent"}]}, encoding="cp949")
    frame, problems = parse_stats(client.get(table_url(source)), source, "seoul")
    assert problems == []
    assert frame.filter(pl.col("metric") == "calls_answered")["value"].to_list() == [412_345, 398_001]


def test_json_records_and_a_missing_column_is_an_error(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/api.json").respond_with_json(
        {"result": {"records": [{"month": "2024-10", "calls": 1200}]}})
    good = stats_source(server.url_for("/").rstrip("/"), {
        "format": "json", "path": "/api.json", "period_column": "month", "period_format": "%Y-%m",
        "json_records_path": ["result", "records"],
        "metrics": [{"column": "calls", "metric": "calls_received", "unit": "calls"}]})
    frame, _ = parse_stats(client.get(table_url(good)), good, "hong_kong")
    assert frame.row(0, named=True)["value"] == 1200.0
    bad = stats_source(server.url_for("/").rstrip("/"), {
        "format": "json", "path": "/api.json", "period_column": "month", "period_format": "%Y-%m",
        "json_records_path": ["result", "records"],
        "metrics": [{"column": "answered", "metric": "calls_answered", "unit": "calls"}]})
    with pytest.raises(SourceFormatError, match=r"columns \['answered'\] not found"):
        parse_stats(client.get(table_url(bad)), bad, "hong_kong")


@pytest.mark.parametrize(("text", "value"), [("1,234", 1234.0), ("98,5 %", 98.5), ("1 234 567", 1234567.0),
                                             ("12.5%", 12.5), ("n/a", None), ("", None)])
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


def test_drift_reports_new_and_vanished_fields() -> None:
    known = pl.DataFrame({"source_id": "s", "field_name": ["unique_key", "created_date", "complaint_type"],
                          "first_seen_partition": "2024-09", "last_seen_partition": "2024-09"}, schema=FIELDS_SCHEMA)
    mapping = {"request_id": "unique_key", "created_at": "created_date", "category": "complaint_type"}
    drift = field_drift(known, "s", "2024-10", ["unique_key", "created_date", "problem_type"], mapping,
                        had_records=True)
    assert drift.new_fields == ["problem_type"] and drift.missing_mapped == ["complaint_type"]
    rows = {r["field_name"]: r for r in drift.fields.iter_rows(named=True)}
    assert rows["complaint_type"]["last_seen_partition"] == "2024-09"
    assert rows["problem_type"]["first_seen_partition"] == "2024-10"
    quiet = field_drift(drift.fields, "s", "2024-11", ["unique_key", "created_date", "complaint_type",
                                                       "problem_type"], mapping, had_records=True)
    assert quiet.new_fields == [] and quiet.missing_mapped == []
    empty_month = field_drift(drift.fields, "s", "2024-12", [], mapping, had_records=False)
    assert empty_month.missing_mapped == []
