"""The schema is applied once per database and DDL version (issue #22): opening a database that has the current
DDL reads one row and writes nothing; a changed sql/ddl file is applied on the next open; a read-only connection
never writes; connections racing to apply do it once; the version row is never published."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest
from dagster_duckdb import DuckDBResource

from assets.warehouse_io import warehouse
from hotline_eval.publish import warehouse as warehouse_module
from hotline_eval.publish.warehouse import DDL_DIR, apply_ddl, ddl_sha256, ensure_ddl, publish
from tests.helpers import PROJECT


class _Counting:
    """A connection that counts the statements run through it (and passes them on)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con, self.statements = con, []

    def execute(self, sql, *args):
        self.statements.append(str(sql))
        return self.con.execute(sql, *args)

    def extract_statements(self, text: str):
        return self.con.extract_statements(text)


def _stored(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT id, ddl_sha256, applied_at FROM main.ddl_version").fetchall()


@pytest.fixture
def ddl_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of sql/ddl/ that the test may edit, in place of the real one."""
    folder = tmp_path / "ddl"
    shutil.copytree(DDL_DIR, folder)
    monkeypatch.setattr(warehouse_module, "DDL_DIR", folder)
    return folder


def test_a_database_with_the_current_ddl_is_only_read(tmp_path: Path) -> None:
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert ensure_ddl(con) is True
    assert [(i, h) for i, h, _ in _stored(con)] == [(1, ddl_sha256())]
    counting = _Counting(con)
    assert ensure_ddl(counting) is False  # type: ignore[arg-type]
    assert counting.statements == ["SELECT ddl_sha256 FROM main.ddl_version"]
    # the schema is the one apply_ddl gives (every table, every comment)
    plain = duckdb.connect()
    apply_ddl(plain)
    catalog = ("SELECT schema_name, table_name, comment FROM duckdb_tables() WHERE schema_name IN ('raw', 'staging', "
               "'marts') ORDER BY ALL")
    assert con.execute(catalog).fetchall() == plain.execute(catalog).fetchall()


def test_a_changed_ddl_file_is_applied_on_the_next_open(tmp_path: Path, ddl_dir: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    assert ensure_ddl(con) is True
    before = ddl_sha256()
    staging = ddl_dir / "030_staging.sql"
    added = "\nALTER TABLE staging.value_mappings ADD COLUMN IF NOT EXISTS note VARCHAR;\n"
    staging.write_text(staging.read_text(encoding="utf-8") + added, encoding="utf-8")
    (ddl_dir / "050_extra.sql").write_text("CREATE TABLE IF NOT EXISTS marts.extra (a INTEGER);\n", encoding="utf-8")
    con.close()
    con = duckdb.connect(str(path))
    assert ddl_sha256() != before
    assert ensure_ddl(con) is True
    columns = con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = 'value_mappings'").fetchall()
    assert ("note",) in columns
    assert con.execute("SELECT count(*) FROM marts.extra").fetchall() == [(0,)]
    assert [h for _, h, _ in _stored(con)] == [ddl_sha256()]
    assert ensure_ddl(con) is False
    # a file removed is a new version too (what it created stays: DDL here only ever adds)
    (ddl_dir / "050_extra.sql").unlink()
    assert ensure_ddl(con) is True


def test_the_ddl_is_applied_all_or_nothing(tmp_path: Path, ddl_dir: Path) -> None:
    (ddl_dir / "050_broken.sql").write_text("CREATE TABLE IF NOT EXISTS marts.extra (a INTEGER);\n"
                                            "CREATE TABLE marts.broken (a NOT_A_TYPE);\n", encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(duckdb.Error):
        ensure_ddl(con)
    assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchall() == [(0,)]
    with pytest.raises(duckdb.Error):
        apply_ddl(con)
    assert con.execute("SELECT count(*) FROM duckdb_tables()").fetchall() == [(0,)]


def test_a_read_only_connection_never_writes(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    con = duckdb.connect(str(path))
    ensure_ddl(con)
    con.execute("UPDATE main.ddl_version SET ddl_sha256 = 'an older version'").fetchall()
    con.close()
    size = path.stat().st_size
    reader = duckdb.connect(str(path), read_only=True)
    assert ensure_ddl(reader) is False  # stale, but a reader uses the schema as it is
    assert reader.execute("SELECT ddl_sha256 FROM main.ddl_version").fetchall() == [("an older version",)]
    reader.close()
    assert path.stat().st_size == size and not Path(f"{path}.wal").exists()
    # a reader of a database that never had the DDL does not create it either
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()
    reader = duckdb.connect(str(tmp_path / "empty.duckdb"), read_only=True)
    assert ensure_ddl(reader) is False
    assert reader.execute("SELECT count(*) FROM duckdb_tables()").fetchall() == [(0,)]


def test_connections_racing_to_apply_apply_once(tmp_path: Path) -> None:
    database = duckdb.connect(str(tmp_path / "w.duckdb"))
    barrier, applied, errors = threading.Barrier(4), [], []

    def open_and_ensure() -> None:
        cursor = database.cursor()  # a connection of its own to the same database
        barrier.wait()
        try:
            applied.append(ensure_ddl(cursor))
        except Exception as exc:  # (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=open_and_ensure) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(applied) == [False, False, False, True]
    assert len(_stored(database)) == 1


def test_processes_opening_one_after_another_apply_once(tmp_path: Path) -> None:
    """The assets' connection (DuckDBResource, one writing process at a time): the first process applies and
    records, the next ones only read; an analyst's read-only process leaves the file as it was."""
    path = tmp_path / "w.duckdb"
    code = ("import sys; from dagster_duckdb import DuckDBResource; from assets.warehouse_io import warehouse; "
            "from hotline_eval.publish.warehouse import ensure_ddl\n"
            "with warehouse(DuckDBResource(database=sys.argv[1])) as con:\n"
            "    print(con.execute('SELECT applied_at FROM main.ddl_version').fetchall()[0][0])\n")
    stamps = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code, str(path)], cwd=PROJECT, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 0, out.stderr
        stamps.append(out.stdout.strip())
    assert stamps[0] == stamps[1], "the second process applied again"
    reader = ("import sys, duckdb; from hotline_eval.publish.warehouse import ensure_ddl; "
              "print(ensure_ddl(duckdb.connect(sys.argv[1], read_only=True)))")
    out = subprocess.run([sys.executable, "-c", reader, str(path)], cwd=PROJECT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_the_assets_connection_applies_once_per_version(tmp_path: Path, ddl_dir: Path) -> None:
    resource = DuckDBResource(database=str(tmp_path / "work.duckdb"))
    with warehouse(resource) as con:
        first = _stored(con)
    with warehouse(resource) as con:
        assert _stored(con) == first
    (ddl_dir / "050_extra.sql").write_text("CREATE TABLE IF NOT EXISTS marts.extra (a INTEGER);\n", encoding="utf-8")
    with warehouse(resource) as con:
        assert _stored(con)[0][1] == ddl_sha256() != first[0][1]
        assert con.execute("SELECT count(*) FROM marts.extra").fetchall() == [(0,)]


def test_the_version_row_stays_in_the_work_database(tmp_path: Path) -> None:
    work = tmp_path / "work.duckdb"
    con = duckdb.connect(str(work))
    ensure_ddl(con)
    con.close()
    analyst = tmp_path / "hotline_eval.duckdb"
    publish(work, analyst)
    reader = duckdb.connect(str(analyst), read_only=True)
    schemas = reader.execute("SELECT DISTINCT schema_name FROM duckdb_tables() ORDER BY 1").fetchall()
    reader.close()
    assert schemas == [("marts",), ("raw",), ("staging",)]
