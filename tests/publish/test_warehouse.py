"""The warehouse: idempotent DDL with comments, transactional replace, atomic publish readable by DuckDB 1.x."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from hotline_eval.publish.warehouse import Replace, WarehouseError, apply_ddl, publish, replace_many, replace_rows
from tests.helpers import PROJECT, mappings_rows, work_db_with_mappings

# scripts/test.sh installs a DuckDB 1.4 client here from tools/duckdb14/uv.lock, as analysts' tools (DBeaver's
# driver, older CLIs) have
DUCKDB_1X_PYTHON = PROJECT / ".venv-duckdb14" / "bin" / "python"


def test_ddl_is_idempotent_and_every_analyst_column_has_a_comment(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    apply_ddl(con)
    apply_ddl(con)
    tables = con.execute("SELECT schema_name, table_name, comment FROM duckdb_tables() "
                         "WHERE schema_name IN ('raw', 'staging', 'marts')").fetchall()
    assert {(s, t) for s, t, _ in tables} >= {("raw", "http_archive"), ("raw", "rejects"),
                                             ("staging", "service_requests"), ("marts", "indicator_facts"),
                                             ("marts", "city_ranking")}
    assert [t for s, t, c in tables if not c] == []
    uncommented = con.execute("SELECT schema_name || '.' || table_name || '.' || column_name FROM duckdb_columns() "
                              "WHERE schema_name IN ('raw', 'staging', 'marts') AND comment IS NULL").fetchall()
    assert uncommented == []


def test_replacing_a_partition_twice_leaves_identical_rows(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    apply_ddl(con)
    frame = mappings_rows(["a", "b"])
    for _ in range(2):
        replace_rows(con, "staging.value_mappings", frame, {"mapping": "channel"})
    assert con.execute("SELECT raw_value FROM staging.value_mappings ORDER BY 1").fetchall() == [("a",), ("b",)]


def test_a_failure_mid_write_leaves_every_table_as_it_was(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    apply_ddl(con)
    replace_rows(con, "staging.value_mappings", mappings_rows(["a", "b"]))
    broken = mappings_rows(["c", "d"]).with_columns(pl.lit(None, pl.String).alias("mapped_value"))  # NOT NULL
    with pytest.raises(WarehouseError, match="rolled back"):
        # the first write succeeds inside the transaction, the second violates NOT NULL
        replace_many(con, [Replace("staging.value_mappings", mappings_rows(["x"])),
                           Replace("staging.value_mappings", broken, {"mapping": "channel"})])
    assert con.execute("SELECT raw_value FROM staging.value_mappings ORDER BY 1").fetchall() == [("a",), ("b",)]


def test_only_known_tables_can_be_written(tmp_path: Path) -> None:
    con = duckdb.connect()
    with pytest.raises(ValueError, match="not a warehouse table"):
        replace_rows(con, "staging.x; DROP TABLE raw.rejects", mappings_rows(["a"]))


def test_publish_swaps_in_a_complete_copy_and_old_readers_keep_theirs(tmp_path: Path) -> None:
    analyst = tmp_path / "out" / "hotline_eval.duckdb"
    publish(work_db_with_mappings(tmp_path, ["a"]), analyst)
    reader = duckdb.connect(str(analyst), read_only=True)  # an analyst holding the file open
    publish(work_db_with_mappings(tmp_path, ["a", "b", "c"]), analyst)  # a refresh does not wait for them
    assert reader.execute("SELECT count(*) FROM staging.value_mappings").fetchone() == (1,)
    # a new reader in another process gets the new file (within one process DuckDB shares the open
    # database between connections to the same path, so the old one stays until all are closed)
    code = ("import sys, duckdb; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print(con.execute('SELECT count(*) FROM staging.value_mappings').fetchone()[0]); "
            "print(con.execute(\"SELECT comment FROM duckdb_tables() "
            "WHERE table_name = 'city_ranking'\").fetchone()[0])")
    out = subprocess.run([sys.executable, "-c", code, str(analyst)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    count, comment = out.stdout.splitlines()[:2]
    assert count == "3" and "One row per registered city" in comment
    reader.close()
    assert not list(analyst.parent.glob(".*publishing*"))


def test_a_failed_publish_leaves_the_published_file_intact(tmp_path: Path) -> None:
    analyst = tmp_path / "hotline_eval.duckdb"
    publish(work_db_with_mappings(tmp_path, ["a"]), analyst)
    before = analyst.read_bytes()
    with pytest.raises(duckdb.Error):
        publish(tmp_path / "missing" / "work.duckdb", analyst)
    assert analyst.read_bytes() == before
    assert not list(tmp_path.glob(".*publishing*"))


@pytest.mark.skipif(not DUCKDB_1X_PYTHON.exists(),
                    reason="DuckDB 1.4 client not installed (scripts/test.sh installs it)")
def test_published_file_opens_in_duckdb_1_4(tmp_path: Path) -> None:
    analyst = tmp_path / "hotline_eval.duckdb"
    publish(work_db_with_mappings(tmp_path, ["a", "b"]), analyst)
    code = ("import sys, duckdb; con = duckdb.connect(sys.argv[1], read_only=True); "
            "print(duckdb.__version__, con.execute('SELECT count(*) FROM staging.value_mappings').fetchone()[0])")
    out = subprocess.run([str(DUCKDB_1X_PYTHON), "-c", code, str(analyst)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    version, count = out.stdout.split()
    assert version.startswith("1.4.") and count == "2"
    # and the control: a file written with duckdb 2.0's default storage is what 1.4 cannot read
    default_file = tmp_path / "default.duckdb"
    duckdb.connect(str(default_file)).execute("CREATE TABLE t AS SELECT 1 AS a").fetchall()
    out = subprocess.run([str(DUCKDB_1X_PYTHON), "-c", code.replace("staging.value_mappings", "t"),
                          str(default_file)], capture_output=True, text=True, timeout=120)
    assert out.returncode != 0


def test_the_data_dictionary_is_in_sync_with_the_ddl() -> None:
    from hotline_eval.publish.dictionary import data_dictionary_markdown

    written = (PROJECT / "docs" / "data_dictionary.md").read_text(encoding="utf-8")
    assert written == data_dictionary_markdown(), "run: python scripts/data_dictionary.py"
