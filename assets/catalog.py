"""How the assets appear in the Dagster UI: one owner, groups named after the key prefix (raw/*, staging/*
and marts/* in groups raw, staging and marts; the unprefixed outputs, the analyst file and the report, in
publish), and the metadata every table asset reports on materialization: its column schema and table
name, read from the catalog of the table it has just written (types and the comments of sql/ddl/, so the
UI cannot drift from the DDL), its known column lineage and its first rows. The top of the ranking is
worded as the report words it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
import duckdb
import polars as pl

from assets.lineage import column_lineage
from hotline_eval.publish.column_schema import preview_markdown, table_columns
from hotline_eval.publish.report.text import interval, pct, points

OWNERS = ["team:hotline-eval"]
RAW_GROUP = "raw"
STAGING_GROUP = "staging"
MARTS_GROUP = "marts"
PUBLISH_GROUP = "publish"


def group_of(key: dg.AssetKey) -> str:
    """The group an asset belongs in: its key's prefix (raw, staging, marts), publish for the unprefixed."""
    return key.path[0] if len(key.path) > 1 else PUBLISH_GROUP


def table_schema(con: duckdb.DuckDBPyConnection, table: str) -> dg.TableSchema:
    """``table``'s columns as the connection's database has them: name, type, comment, nullability."""
    return dg.TableSchema(columns=[
        dg.TableColumn(c.name, c.data_type, c.comment, constraints=dg.TableColumnConstraints(nullable=c.nullable))
        for c in table_columns(con, table)])


def table_metadata(con: duckdb.DuckDBPyConnection, key: dg.AssetKey,
                   where: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The materialization metadata of the table asset ``key`` (table schema.name): its column schema, table
    name, known column lineage and a preview of its first rows (those matching ``where``: a partition's).
    Call it after the write, on the connection that wrote. (Each asset reports its own dagster/row_count.)"""
    table = ".".join(key.path)
    metadata: dict[str, Any] = {
        "dagster/column_schema": table_schema(con, table),
        "dagster/table_name": table,
        "preview": dg.MetadataValue.md(preview_markdown(con, table, where)),
    }
    lineage = column_lineage(key)
    if lineage is not None:
        metadata["dagster/column_lineage"] = lineage
    return metadata


def top_of_ranking_markdown(ranked: pl.DataFrame, rows: int = 10) -> str:
    """The first ``rows`` ranked cities as the report words them: integer ranks and rank intervals, scores
    with one decimal, coverage and real share as whole percentages."""
    lines = ["| rank | city | score | 90% rank interval | coverage | real share |", "|---:|---|---:|---|---:|---:|"]
    lines += [f"| {_integer(r['rank'])} | {r['city_name']} | {points(r['score'])} | "
              f"{interval(_integer(r['rank_p05']), _integer(r['rank_p95']))} | {pct(r['coverage'])} | "
              f"{pct(r.get('real_share'))} |" for r in ranked.head(rows).iter_rows(named=True)]
    return "\n".join(lines)


def _integer(value: float | None) -> int | None:
    return None if value is None else round(value)
