"""The HTML report (reports/ranking.html): one self-contained page, inline CSS and SVG, no script, no CDN."""

from hotline_eval.publish.report.page import render_report
from hotline_eval.publish.report.tables import ReportContext, ReportTables, read_report_tables, write_report

__all__ = ["ReportContext", "ReportTables", "read_report_tables", "render_report", "write_report"]
