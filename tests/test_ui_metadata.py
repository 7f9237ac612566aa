"""What the Dagster UI shows: one owner and a group matching the key prefix on every asset, named jobs that
cover every asset once, a partitions grid holding only what the mode can serve (in replay mode exactly the
archive's partitions), the top of the ranking worded as the report words it, and, on every table asset's
materialization, the column schema, comments included, that the analyst file has."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from assets.catalog import OWNERS, table_metadata, top_of_ranking_markdown
from assets.lineage import column_lineage
from assets.partitions import request_level_cities
from definitions import build_definitions
from hotline_eval.config.evaluation import load_evaluation
from hotline_eval.config.registry import load_registry
from hotline_eval.config.settings import DEMO_ARCHIVE, load_settings
from hotline_eval.publish.warehouse import SCHEMAS, apply_ddl

RAW = dg.AssetKey(["raw", "service_request_records"])
STAGED = dg.AssetKey(["staging", "service_requests"])


def _defs(tmp_path: Path, mode: str, replay_dir: Path = DEMO_ARCHIVE) -> dg.Definitions:
    return build_definitions(load_settings({
        "HOTLINE_EVAL_MODE": mode, "HOTLINE_EVAL_DUCKDB": str(tmp_path / "h.duckdb"),
        "HOTLINE_EVAL_REPLAY_DIR": str(replay_dir), "HOTLINE_EVAL_ARCHIVE_DIR": str(tmp_path / "archive"),
        "HOTLINE_EVAL_REPORT": str(tmp_path / "r.html")}))


def _table_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    """The assets that are a table of the analyst file: key schema/table."""
    return [k for k in defs.resolve_asset_graph().get_all_asset_keys() if len(k.path) == 2 and k.path[0] in SCHEMAS]


def _grid(defs: dg.Definitions, key: dg.AssetKey) -> set[str]:
    return set(defs.resolve_assets_def(key).partitions_def.get_partition_keys())


def _archived(replay_dir: Path, cities: list[str]) -> set[str]:
    manifest = json.loads((replay_dir / "manifest.json").read_text(encoding="utf-8"))
    return {f"{c}|{m}" for c, months in manifest["request_partitions"].items() if c in cities for m in months}


def test_every_asset_has_the_team_owner_and_the_group_of_its_key_prefix(tmp_path: Path) -> None:
    specs = list(_defs(tmp_path, "live").resolve_all_asset_specs())
    assert len(specs) > 10
    for spec in specs:
        assert spec.owners == OWNERS, spec.key
        expected = spec.key.path[0] if len(spec.key.path) > 1 else "publish"
        assert spec.group_name == expected, spec.key
    assert {s.group_name for s in specs} == {"raw", "staging", "marts", "publish"}


def test_every_asset_is_in_exactly_one_named_job(tmp_path: Path) -> None:
    defs = _defs(tmp_path, "live")
    graph = defs.resolve_asset_graph()
    jobs = {name: defs.resolve_job_def(name).asset_layer.selected_asset_keys
            for name in ("refresh_requests", "refresh_portals", "score_and_publish")}
    assert jobs["refresh_requests"] == {RAW, STAGED}
    assert {k.to_user_string() for k in jobs["refresh_portals"]} == {"staging/portal_features",
                                                                      "staging/service_catalog"}
    every = [k for keys in jobs.values() for k in keys]
    assert sorted(every) == sorted(graph.get_all_asset_keys())  # each once, none left to the implicit job


def test_in_replay_mode_the_grid_is_exactly_what_the_demo_archive_serves(tmp_path: Path) -> None:
    defs = _defs(tmp_path, "replay")
    archived = _archived(DEMO_ARCHIVE, request_level_cities(load_registry()))
    assert archived
    for key in (RAW, STAGED):
        assert _grid(defs, key) == archived, key  # no cell the archive cannot serve, none it serves missing
    # what `dagster dev` offers to run ("Latest" is the last month the archive holds)
    months = defs.resolve_assets_def(RAW).partitions_def.get_partitions_def_for_dimension("month")
    assert months.get_last_partition_key() == max(k.split("|")[1] for k in archived)


def test_in_replay_mode_the_grid_follows_the_archive_it_replays(tmp_path: Path) -> None:
    archive = tmp_path / "archive_copy"
    archive.mkdir()
    served = {"new_york": ["2024-03", "2024-04"], "toronto": ["2024-03", "2024-04"], "no_such_city": ["2024-03"]}
    (archive / "manifest.json").write_text(json.dumps({"request_partitions": served}))
    assert _grid(_defs(tmp_path, "replay", archive), RAW) == {
        "new_york|2024-03", "new_york|2024-04", "toronto|2024-03", "toronto|2024-04"}
    # months with a gap are those months, not the months between
    served = {"new_york": ["2024-03", "2024-06"], "toronto": ["2024-03", "2024-06"]}
    (archive / "manifest.json").write_text(json.dumps({"request_partitions": served}))
    assert _grid(_defs(tmp_path, "replay", archive), RAW) == {
        "new_york|2024-03", "new_york|2024-06", "toronto|2024-03", "toronto|2024-06"}


def test_in_live_mode_the_months_run_from_the_configured_first_month_to_the_current_one(tmp_path: Path) -> None:
    months = (_defs(tmp_path, "live").resolve_assets_def(RAW).partitions_def
              .get_partitions_def_for_dimension("month").get_partition_keys())
    assert months[0] == load_evaluation().first_month
    assert months[-1] == datetime.now(UTC).strftime("%Y-%m")


def test_the_top_of_the_ranking_is_worded_as_the_report_words_it() -> None:
    ranked = pl.DataFrame({"rank": [1.0, 2.0], "city_name": ["Seoul", "Tokyo"], "score": [81.25, 70.0],
                           "rank_p05": [1.0, 1.0], "rank_p95": [1.0, 3.0], "coverage": [0.8333, 1.0],
                           "real_share": [0.4, None]})
    lines = top_of_ranking_markdown(ranked).splitlines()
    assert lines[2] == "| 1 | Seoul | 81.2 | 1 | 83% | 40% |"
    assert lines[3] == "| 2 | Tokyo | 70.0 | 1–3 | 100% | no data |"


def _analyst_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[str, str, str | None]]:
    schema, name = table.split(".")
    return con.execute(
        "SELECT c.column_name, c.data_type, d.comment FROM information_schema.columns c "
        "JOIN duckdb_columns() d ON d.database_name = c.table_catalog AND d.schema_name = c.table_schema "
        "AND d.table_name = c.table_name AND d.column_name = c.column_name "
        "WHERE c.table_catalog = current_database() AND c.table_schema = ? AND c.table_name = ? "
        "ORDER BY c.ordinal_position", [schema, name]).fetchall()


def test_table_metadata_is_read_from_the_table_written(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    apply_ddl(con)
    key = dg.AssetKey(["staging", "hotline_stats"])
    con.execute("INSERT INTO staging.hotline_stats (city_id, source_id, period, metric, value, unit, source_url, "
                "sha256, is_synthetic) VALUES ('x', 's', '2024', 'calls|received', 1.5, 'n', 'u', 'h', false)")
    metadata = table_metadata(con, key, {"city_id": "x"})
    columns = [(c.name, c.type, c.description) for c in metadata["dagster/column_schema"].columns]
    assert columns == _analyst_columns(con, "staging.hotline_stats") and all(d for _, _, d in columns)
    assert metadata["dagster/table_name"] == "staging.hotline_stats"
    assert "calls\\|received" in metadata["preview"].value  # a cell's bar cannot break the table
    assert "no rows" in table_metadata(con, key, {"city_id": "y"})["preview"].value
    with pytest.raises(ValueError, match="no column"):
        table_metadata(con, key, {"nope": "x"})
    con.close()


def test_column_lineage_names_only_columns_that_exist(tmp_path: Path) -> None:
    con = duckdb.connect()
    apply_ddl(con)
    named = 0
    for key in _table_keys(_defs(tmp_path, "live")):
        lineage = column_lineage(key)
        if lineage is None:
            continue
        own = {c for c, _, _ in _analyst_columns(con, ".".join(key.path))}
        for column, deps in lineage.deps_by_column.items():
            assert column in own, (key, column)
            for dep in deps:
                upstream = {c for c, _, _ in _analyst_columns(con, ".".join(dep.asset_key.path))}
                assert dep.column_name in upstream, (key, column, dep)
                named += 1
    assert named > 30
    con.close()


def test_every_table_asset_reports_the_column_schema_the_analyst_file_has(demo_run, tmp_path: Path) -> None:
    out, env = demo_run
    assert out.returncode == 0, out.stderr[-3000:]
    instance = dg.DagsterInstance.local_temp(tempdir=env["DAGSTER_HOME"])
    con = duckdb.connect(env["HOTLINE_EVAL_DUCKDB"], read_only=True)
    keys = _table_keys(_defs(tmp_path, "replay"))
    assert len(keys) >= 14
    for key in keys:
        event = instance.get_latest_materialization_event(key)
        assert event is not None, key
        metadata = event.asset_materialization.metadata
        schema = metadata["dagster/column_schema"].schema
        table = ".".join(key.path)
        assert [(c.name, c.type, c.description) for c in schema.columns] == _analyst_columns(con, table), key
        assert metadata["dagster/table_name"].value == table
        assert isinstance(metadata["dagster/row_count"].value, int), key
        assert metadata["preview"].value.startswith("| "), key
    top = instance.get_latest_materialization_event(dg.AssetKey(["marts", "city_ranking"]))
    rows = top.asset_materialization.metadata["top"].value.splitlines()[2:]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    assert cells and all(c[0].isdigit() and c[4].endswith("%") for c in cells), rows  # rank, coverage
    assert "dagster/column_lineage" in top.asset_materialization.metadata
    con.close()
    instance.dispose()
