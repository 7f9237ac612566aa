"""docs/data_dictionary.md describes the analyst file the pipeline publishes: every table of raw, staging and
marts, every column in order with its type, and every table's and column's comment, as the published file's
catalog (duckdb_tables(), duckdb_columns()) has them after a whole demo run."""

from __future__ import annotations

import duckdb

from hotline_eval.publish.dictionary import catalog_entries, dictionary_entries
from tests.helpers import PROJECT


def test_the_data_dictionary_matches_the_analyst_file_column_by_column(demo_run) -> None:
    out, env = demo_run
    assert out.returncode == 0, out.stderr[-3000:]
    written = dictionary_entries((PROJECT / "docs" / "data_dictionary.md").read_text(encoding="utf-8"))
    con = duckdb.connect(env["HOTLINE_EVAL_DUCKDB"], read_only=True)
    published = catalog_entries(con)
    con.close()
    assert set(written) == set(published), "run: python scripts/data_dictionary.py"
    assert sum(len(columns) for _, columns in published.values()) > 200
    for table, (comment, columns) in published.items():
        assert written[table][0] == comment, f"{table}: table comment differs"
        assert written[table][1] == columns, f"{table}: columns differ (run: python scripts/data_dictionary.py)"
        assert all(meaning for _, _, meaning in columns), f"{table}: a column without a comment"
