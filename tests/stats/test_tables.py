"""Published statistics tables (CSV, XLSX, HTML, JSON, text; GBK and EUC-KR)."""

from __future__ import annotations

import polars as pl
import pytest
from pytest_httpserver import HTTPServer

from hotline_eval.errors import SourceFormatError
from hotline_eval.fetch.http import HttpClient
from hotline_eval.sources.aggregate import AggregateTableSource
from hotline_eval.stats.tables import fetch_stats, parse_number, parse_stats, table_urls


def stats_source(base: str, table: dict, **extra) -> AggregateTableSource:
    return AggregateTableSource(id="stats", kind="aggregate_table", base_url=base, docs_url="https://example.org/docs",
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
    frame, problems = parse_stats(client.get(table_urls(source)[0]), source, "beijing")
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
    frame, problems = parse_stats(client.get(table_urls(source)[0]), source, "seoul")
    assert problems == []
    assert frame.filter(pl.col("metric") == "calls_answered")["value"].to_list() == [412_345, 398_001]


def test_json_records_and_a_missing_column_is_an_error(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/api.json").respond_with_json(
        {"result": {"records": [{"month": "2024-10", "calls": 1200}]}})
    good = stats_source(server.url_for("/").rstrip("/"), {
        "format": "json", "path": "/api.json", "period_column": "month", "period_format": "%Y-%m",
        "json_records_path": ["result", "records"],
        "metrics": [{"column": "calls", "metric": "calls_received", "unit": "calls"}]})
    frame, _ = parse_stats(client.get(table_urls(good)[0]), good, "hong_kong")
    assert frame.row(0, named=True)["value"] == 1200.0
    bad = stats_source(server.url_for("/").rstrip("/"), {
        "format": "json", "path": "/api.json", "period_column": "month", "period_format": "%Y-%m",
        "json_records_path": ["result", "records"],
        "metrics": [{"column": "answered", "metric": "calls_answered", "unit": "calls"}]})
    with pytest.raises(SourceFormatError, match=r"columns \['answered'\] not found"):
        parse_stats(client.get(table_urls(bad)[0]), bad, "hong_kong")


@pytest.mark.parametrize(("text", "value"), [("1,234", 1234.0), ("98,5 %", 98.5), ("1 234 567", 1234567.0),
                                             ("12.5%", 12.5), ("n/a", None), ("", None),
                                             ("2\u00a0106\u00a0667", 2106667.0), ("451 seconds", 451.0),
                                             ("3,378件", 3378.0), ("2.5 million", None), ("120万", None),
                                             ("3.2万件", None), ("1.5 million calls", None), ("12 min", None)])
def test_parse_number(text: str, value: float | None) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(("text", "value"), [("1.121.715", 1121715.0), ("%58,8", 58.8), ("793.537", 793537.0)])
def test_parse_number_with_decimal_comma(text: str, value: float) -> None:
    assert parse_number(text, decimal_comma=True) == value


def _bulletin(months: list[tuple[str, list[int]]]) -> bytes:
    """An İBB Beyaz Masa bulletin: a summary table, then 'Ay | Kurumlar | ...' with the month written
    once (rowspan) beside its institution rows and a Toplam row, numbers in Turkish style."""
    rows = ""
    for month, totals in months:
        for i, (name, total) in enumerate(zip(["BEYAZ MASA (GENEL)", "İGDAŞ", "İSKİ", "Toplam"], totals, strict=True)):
            lead = f'<td rowspan="4">{month}</td>' if i == 0 else ""
            rows += f"<tr>{lead}<td>{name}</td><td>1.000</td><td>200</td><td>300</td><td>{total:,}</td></tr>".replace(
                ",", ".")
    html = ('<html><head><meta charset="UTF-8"></head><body><figure class="wp-block-table"><table><tbody>'
            '<tr><td></td><td colspan="2">özet</td></tr><tr><td>Kurumlar</td><td>Başvuru Sayısı</td><td>Yüzde</td></tr>'
            '<tr><td>Toplam</td><td>1.000</td><td>%100,0</td></tr></tbody></table></figure>'
            '<figure class="wp-block-table"><table><tbody><tr><td><strong>Ay</strong></td><td>Kurumlar</td>'
            "<td>Bilgi İstemi</td><td>Şikâyet</td><td>Talep</td><td>Toplam</td></tr>" + rows +
            "</tbody></table></figure></body></html>")
    return html.encode("utf-8")


def test_bulletin_series_with_rowspans_month_names_and_total_rows(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/bulten-mart-2021/").respond_with_data(
        _bulletin([("2021 Şubat", [815_013, 154_892, 201_102, 1_171_007]),
                   ("2021 Ocak", [823_023, 189_579, 233_953, 1_246_555])]), content_type="text/html; charset=UTF-8")
    # the next bulletin repeats February with a revised figure: the newer page stands
    server.expect_request("/bulten-nisan-2021/").respond_with_data(
        _bulletin([("2021 MART", [791_046, 162_453, 449_426, 1_402_925]),
                   ("2021 Şubat", [815_013, 154_892, 201_102, 1_171_010])]), content_type="text/html; charset=UTF-8")
    source = stats_source(server.url_for("/").rstrip("/"), {
        "format": "html", "paths": ["/bulten-mart-2021/", "/bulten-nisan-2021/"], "html_table_index": 1,
        "period_column": "Ay", "period_format": "%Y %m", "fill_down": ["Ay"], "row_filter": {"Kurumlar": "Toplam"},
        "month_names": ["Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül", "Ekim",
                        "Kasım", "Aralık"], "decimal_comma": True,
        "metrics": [{"column": "Toplam", "metric": "cases_received", "unit": "count"}]})
    frame, problems, responses = fetch_stats(client, source, "istanbul")
    assert problems == [] and len(responses) == 2
    assert frame.select("period", "value").rows() == [("2021-01", 1_246_555.0), ("2021-02", 1_171_010.0),
                                                      ("2021-03", 1_402_925.0)]
    assert frame["source_url"].to_list()[1].endswith("/bulten-nisan-2021/")


def test_transposed_table_with_notes_in_labels(server: HTTPServer, client: HttpClient) -> None:
    html = ("<html><body><table><thead><tr><th>Performance Pledge</th><th>January - October 2025</th></tr></thead>"
            "<tbody><tr><td>No. of Voice Contacts</td><td>2&nbsp;106&nbsp;667</td></tr>"
            "<tr><td>Average Call Handling Time</td><td>451 seconds</td></tr>"
            "<tr><td>Calls Answered within 12 Seconds (Target &gt;= 80%)</td><td>80%</td></tr>"
            "<tr><td>Call Abandoned Rate (Target &lt; 10%)</td><td>7%</td></tr></tbody></table></body></html>")
    server.expect_request("/en/page/detail/67").respond_with_data(html, content_type="text/html; charset=utf-8")
    source = stats_source(server.url_for("/").rstrip("/"), {
        "format": "html", "path": "/en/page/detail/67", "transpose": True, "period_pattern": "(\\d{4})\\s*$",
        "period_format": "%Y", "metrics": [
            {"column": "Average Call Handling Time", "metric": "avg_handle_seconds", "unit": "seconds"},
            {"column": "Calls Answered within 12 Seconds", "metric": "service_level_rate", "unit": "percent"},
            {"column": "Call Abandoned Rate", "metric": "abandonment_rate", "unit": "percent"}]})
    frame, problems, _ = fetch_stats(client, source, "hong_kong")
    assert problems == []
    assert sorted(frame.select("period", "metric", "value").rows()) == [
        ("2025", "abandonment_rate", 7.0), ("2025", "avg_handle_seconds", 451.0), ("2025", "service_level_rate", 80.0)]


# "7月1日から7月31日まで 3,378件" (older releases: "8月1日~8月31日 3,246件")
MONTHLY_RECEIVED = ("(?P<month>\\d{1,2})月1日\\s*(?:から|~|～)\\s*\\d{1,2}月\\d{1,2}日(?:まで)?"
                    "\\s*(?P<received>[\\d,]+)件")


def test_table_in_text_and_one_figure_per_page(server: HTTPServer, client: HttpClient) -> None:
    answer = ("Drucksache 18 / 21 510\nZu 1.:\nKalenderjahr 2013 2014 2015\nAnrufe 575.391 855.616 1.131.039\n"
              "Zu 2.:\n2018 Jan. Feb.\nAnrufe 87.770 76.649\n")
    server.expect_request("/berlin/18/21510.txt").respond_with_data(answer, content_type="text/plain; charset=utf-8")
    table = stats_source(server.url_for("/").rstrip("/"), {
        "format": "text", "path": "/berlin/18/21510.txt", "header_label": "Kalenderjahr", "transpose": True,
        "period_format": "%Y", "decimal_comma": True,
        "metrics": [{"column": "Anrufe", "metric": "calls_received", "unit": "count"}]})
    frame, problems, _ = fetch_stats(client, table, "berlin")
    assert problems == []
    assert frame.select("period", "value").rows() == [("2013", 575_391.0), ("2014", 855_616.0), ("2015", 1_131_039.0)]
    release = ("<html><body><h1>都政への提言、意見、要望等の状況月例報告（7月分）</h1><p>受付件数</p>"
               "<p>7月1日から7月31日まで 3,378件<br>4月からの累計 11,300件</p></body></html>")
    server.expect_request("/press/2025082801").respond_with_data(release.encode("utf-8"),
                                                               content_type="text/html; charset=utf-8")
    server.expect_request("/press/2023092101").respond_with_data(
        "<p>8月1日~8月31日 3,246件</p>".encode(), content_type="text/html; charset=utf-8")
    pages = stats_source(server.url_for("/").rstrip("/"), {
        "format": "text", "period_format": "%Y-%m",
        "pages": [{"path": "/press/2023092101", "period": "2023-08"},
                  {"path": "/press/2025082801", "period": "2025-07"}],
        "text_pattern": MONTHLY_RECEIVED, "metrics": [{"column": "received", "metric": "cases_received",
                                                        "unit": "count"}]})
    frame, problems, _ = fetch_stats(client, pages, "tokyo")
    assert problems == []
    assert frame.select("period", "value").rows() == [("2023-08", 3246.0), ("2025-07", 3378.0)]


def test_a_table_whose_rows_all_fail_the_filter_fails_the_source(server: HTTPServer, client: HttpClient) -> None:
    """A renamed total row must not pass as "ok, 0 values" (which would erase the last good rows)."""
    server.expect_request("/b/").respond_with_data(
        _bulletin([("2021 Mayıs", [466_430, 94_595, 232_512, 793_537])]).replace(b">Toplam<", b">Genel Toplam<"),
        content_type="text/html; charset=UTF-8")
    table = {"format": "html", "path": "/b/", "html_table_index": 1, "period_column": "Ay", "period_format": "%Y %m",
             "fill_down": ["Ay"], "row_filter": {"Kurumlar": "TOPLAM"}, "decimal_comma": True,
             "month_names": ["Ocak", "Şubat", "Mart", "Nisan", "Mayıs", "Haziran", "Temmuz", "Ağustos", "Eylül",
                             "Ekim", "Kasım", "Aralık"],
             "metrics": [{"column": "Genel Toplam", "metric": "cases_received", "unit": "count"}]}
    with pytest.raises(SourceFormatError, match="no value could be read"):
        fetch_stats(client, stats_source(server.url_for("/").rstrip("/"), table), "istanbul")
    # the filter ignores case ("TOPLAM" is the "Toplam" row), so the unrenamed page reads
    server.expect_request("/c/").respond_with_data(
        _bulletin([("2021 Mayıs", [466_430, 94_595, 232_512, 793_537])]), content_type="text/html; charset=UTF-8")
    frame, _, _ = fetch_stats(client, stats_source(server.url_for("/").rstrip("/"), {
        **table, "path": "/c/", "metrics": [{"column": "Toplam", "metric": "cases_received", "unit": "count"}]}),
        "istanbul")
    assert frame.select("period", "value").rows() == [("2021-05", 793_537.0)]


def test_odd_spans_and_wrapped_text_rows_are_not_misread() -> None:
    from bs4 import BeautifulSoup

    from hotline_eval.stats.html import table_grid
    from hotline_eval.stats.text import text_grid
    table = BeautifulSoup('<table><tr><td rowspan="²">a</td><td colspan="x">b</td></tr><tr><td>c</td></tr>'
                          '<tr><td rowspan="9">d</td></tr></table>', "lxml").table
    assert table_grid(table) == [["a", "b"], ["c"], ["d"]]
    # the yearly row wrapped onto two lines: the monthly row (another width) is not taken for it
    text = "Kalenderjahr 2013 2014 2015\nAnrufe 575.391\n855.616 1.131.039\n2018 Jan. Feb. März\nAnrufe 1 2 3 4\n"
    assert text_grid(text, "Kalenderjahr", ["Anrufe"], "x") == [["Kalenderjahr", "2013", "2014", "2015"]]


def test_a_page_of_another_month_than_listed_fails_the_source(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/press/2025082801").respond_with_data(
        "<p>7月1日から7月31日まで 3,378件</p>".encode(), content_type="text/html; charset=utf-8")
    source = stats_source(server.url_for("/").rstrip("/"), {
        "format": "text", "period_format": "%Y-%m", "pages": [{"path": "/press/2025082801", "period": "2025-08"}],
        "text_pattern": MONTHLY_RECEIVED, "metrics": [{"column": "received", "metric": "cases_received",
                                                        "unit": "count"}]})
    with pytest.raises(SourceFormatError, match="reports month 7, the registry lists it as 2025-08"):
        fetch_stats(client, source, "tokyo")


def test_a_page_without_its_figure_fails_the_source(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/press/1").respond_with_data("<p>ページが見つかりません</p>".encode(),
                                                      content_type="text/html; charset=utf-8")
    source = stats_source(server.url_for("/").rstrip("/"), {
        "format": "text", "period_format": "%Y-%m", "pages": [{"path": "/press/1", "period": "2025-07"}],
        "text_pattern": "(?P<received>[\\d,]+)件", "metrics": [
            {"column": "received", "metric": "cases_received", "unit": "count"}]})
    with pytest.raises(SourceFormatError, match="does not match the source's text_pattern"):
        fetch_stats(client, source, "tokyo")


@pytest.mark.parametrize(("table", "message"), [
    ({"format": "html", "path": "/a", "paths": ["/b"]}, "give one of `path`"),
    ({"format": "text", "path": "/a"}, "either `header_label`"),
    ({"format": "text", "path": "/a", "text_pattern": "(?P<n>\\d+)"}, "list the pages with their periods"),
    ({"format": "text", "pages": [{"path": "/a", "period": "2025-07"}], "text_pattern": "(?P<n>\\d+)"},
     "no named group for metric columns"),
    ({"format": "html", "path": "/a", "period_pattern": "\\d{4}"}, "exactly one group"),
    ({"format": "html", "pages": [{"path": "/a", "period": "2025-07"}]}, "are for format: text"),
    ({"format": "text", "pages": [{"path": "/a", "period": "July"}], "text_pattern": "(?P<calls>\\d+)"},
     "String should match pattern"),
])
def test_table_descriptions_are_checked(table: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stats_source("https://example.org", {"period_format": "%Y", **table,
                                             "metrics": [{"column": "calls", "metric": "calls_received",
                                                          "unit": "count"}]})


def _workbook(sheet: str, rows: list[list]) -> bytes:
    import io

    import xlsxwriter
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer)
    book.add_worksheet("说明").write(0, 0, "数据来源：12345市民服务热线")
    page = book.add_worksheet(sheet)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            page.write(r, c, value)
    book.close()
    return buffer.getvalue()


def test_xlsx_sheet_with_a_title_row_and_fractions(server: HTTPServer, client: HttpClient) -> None:
    """A workbook as a statistics office publishes it: a notes sheet first, the table on a named
    sheet under a title row, counts as numbers, the satisfaction rate as a fraction (0.961)."""
    body = _workbook("月报", [["12345热线月度运行情况"],
                             ["月份", "受理量（件）", "满意率"],
                             ["2024年10月", 1923456, 0.961],
                             ["2024年11月", 1801002, "—"]])
    server.expect_request("/files/12345.xlsx").respond_with_data(
        body, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    source = stats_source(server.url_for("/").rstrip("/"), {
        "format": "xlsx", "path": "/files/12345.xlsx", "sheet": "月报", "header_row": 1,
        "period_column": "月份", "period_format": "%Y年%m月", "metrics": [
            {"column": "受理量（件）", "metric": "cases_received", "unit": "cases"},
            {"column": "满意率", "metric": "satisfaction_rate", "unit": "percent", "scale": 100}]})
    frame, problems, _ = fetch_stats(client, source, "beijing")
    assert sorted(frame.select("period", "metric", "value").rows()) == [
        ("2024-10", "cases_received", 1_923_456.0), ("2024-10", "satisfaction_rate", 96.1),
        ("2024-11", "cases_received", 1_801_002.0)]
    assert problems == ["2024-11 satisfaction_rate: '—' is not a number"]
    missing = stats_source(server.url_for("/").rstrip("/"), {**source.table.model_dump(), "sheet": "年报"})
    with pytest.raises(SourceFormatError, match="not a readable XLSX workbook with a sheet '年报'"):
        fetch_stats(client, missing, "beijing")
    server.expect_request("/files/broken.xlsx").respond_with_data(b"<html>moved</html>", content_type="text/html")
    broken = stats_source(server.url_for("/").rstrip("/"),
                          {**source.table.model_dump(), "path": "/files/broken.xlsx"})
    with pytest.raises(SourceFormatError, match="not a readable XLSX workbook"):
        fetch_stats(client, broken, "beijing")
