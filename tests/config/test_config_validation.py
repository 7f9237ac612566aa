"""Configuration errors are caught at load, naming the file and the line (issue #21): value mappings
naming an unknown source, ragged CSV rows, unknown computations, a framework without all four primary
indicators, misspelt source fields."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from hotline_eval.config.evaluation import DEFAULT_EVALUATION_FILE, load_evaluation
from hotline_eval.config.files import read_config_csv
from hotline_eval.config.registry import load_registry
from hotline_eval.errors import ConfigError
from hotline_eval.evaluation.curated import DEFAULT_EVIDENCE_DIR, load_evidence
from hotline_eval.evaluation.framework import DEFAULT_FRAMEWORK_FILE, PRIMARY_IDS, load_framework
from hotline_eval.staging.mappings import MAPPINGS_DIR, load_mappings
from tests.config.city_copies import copy_registry

HEADER = "source_id,raw_value,mapped_value\n"


def mappings_dir(tmp_path: Path, **files: str) -> Path:
    """The real mapping files in a temp folder, with ``files`` (name -> text) replacing some."""
    for name in ("status", "channel", "category", "categories"):
        text = files.get(name, (MAPPINGS_DIR / f"{name}.csv").read_text(encoding="utf-8"))
        (tmp_path / f"{name}.csv").write_text(text, encoding="utf-8")
    return tmp_path


# --- value mappings ------------------------------------------------------------------------------------
def test_a_mapping_row_for_an_unknown_source_fails_at_load_naming_file_and_line(tmp_path: Path) -> None:
    folder = mappings_dir(tmp_path, status=HEADER + "*,open,open\n# a source of ours\nnyc_311_socrata,assigned,open\n"
                                           "nyc_311_socrat,pending,open\n")
    with pytest.raises(ConfigError, match=r"status\.csv, line 5: source_id 'nyc_311_socrat' is not a source of the "
                                          r"registry \(nor '\*'\)"):
        load_mappings(folder)
    # the sources may be given; the registry's are the default
    known = {s.id for _, s in load_registry().sources()}
    assert load_mappings(folder, source_ids=known | {"nyc_311_socrat"}).height > 0


@pytest.mark.parametrize(("row", "found"), [("*,closed,closed,extra\n", 4), ("*,closed\n", 2)])
def test_a_ragged_mapping_row_is_named_by_its_line(tmp_path: Path, row: str, found: int) -> None:
    folder = mappings_dir(tmp_path, channel=HEADER + "# comments and blank lines count as lines\n\n*,phone,phone\n"
                                            + row + "*,web,web\n")
    with pytest.raises(ConfigError, match=rf"channel\.csv, line 5: {found} fields where the header has 3 "
                                          r"\(source_id,raw_value,mapped_value\)"):
        load_mappings(folder)


def test_a_mapping_file_with_another_header_fails(tmp_path: Path) -> None:
    folder = mappings_dir(tmp_path, category="source,raw,mapped\n*,noise,noise\n")
    with pytest.raises(ConfigError, match=r"category\.csv, line 1: the header is 'source,raw,mapped', expected "
                                          r"'source_id,raw_value,mapped_value'"):
        load_mappings(folder)


def test_a_value_mapped_twice_names_both_lines(tmp_path: Path) -> None:
    folder = mappings_dir(tmp_path, status=HEADER + "*,open,open\n*,closed,closed\n*, OPEN ,open\n")
    with pytest.raises(ConfigError, match=r"status\.csv, line 4: ' OPEN ' of source '\*' is mapped already on "
                                          r"line 2"):
        load_mappings(folder)


def test_the_real_mappings_load() -> None:
    frame = load_mappings()
    assert set(frame["mapping"].unique()) == {"status", "channel", "category"}
    sources = {s.id for _, s in load_registry().sources()}
    assert set(frame["source_id"].unique()) <= sources | {"*"}


# --- CSV files in general (curated evidence) -----------------------------------------------------------
def _csv_line(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(fields)
    return out.getvalue().removesuffix("\n")


def test_a_ragged_evidence_row_is_named_by_its_line_after_a_note_over_several_lines(tmp_path: Path) -> None:
    rows = list(csv.reader((DEFAULT_EVIDENCE_DIR / "seoul.csv").read_text(encoding="utf-8").splitlines()))
    header, first = rows[0], rows[1]
    multi = _csv_line([*first[:-1], "a note\nover two lines"])
    path = tmp_path / "evidence.csv"
    path.write_text("\n".join([_csv_line(header), multi, _csv_line(["seoul", "x", *first[1:]])]) + "\n",
                    encoding="utf-8")
    framework = load_framework()
    with pytest.raises(ConfigError, match=r"evidence\.csv, line 4: 14 fields where the header has 13"):
        load_evidence(load_registry(), framework, path)
    # a good row after the note is named by its own line too
    path.write_text("\n".join([_csv_line(header), multi, _csv_line(["nowhere", *first[1:]])]) + "\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError, match=r"evidence\.csv, line 4, field 'city_id': unknown city 'nowhere'"):
        load_evidence(load_registry(), framework, path)


def test_read_config_csv_reports_lines_and_empty_fields(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('a,b\n# skip\n\n1,\n"2\n2",x\n3,y\n', encoding="utf-8")
    frame, lines = read_config_csv(path, ["a", "b"], what="test file", comment_prefix="#")
    assert frame.rows() == [("1", None), ("2\n2", "x"), ("3", "y")]
    assert lines == [4, 5, 7]
    with pytest.raises(ConfigError, match=r"nope\.csv: test file not found"):
        read_config_csv(tmp_path / "nope.csv", ["a"], what="test file")


# --- the indicator framework ----------------------------------------------------------------------------
def framework_text(primaries: tuple[str, ...] = PRIMARY_IDS, computation: str = "curated") -> str:
    lines = ["version: 1", "primary:"]
    for n, primary in enumerate(primaries):
        lines += [f"  - id: {primary}", f"    name: P{n}", "    weight: 1", "    secondary:",
                  f"      - id: s{n}", f"        name: S{n}", "        weight: 1", "        tertiary:",
                  f"          - id: t{n}", f"            name: T{n}", "            definition: d",
                  "            unit: u",
                  "            direction: higher_is_better", "            source_tables: [staging.curated_evidence]",
                  f"            computation: {computation if n == 1 else 'curated'}", "            weight: 1",
                  "            routes: [curated]"]
    return "\n".join(lines) + "\n"


def test_an_unknown_computation_fails_at_load_naming_file_line_and_indicator(tmp_path: Path) -> None:
    path = tmp_path / "indicators.yaml"
    path.write_text(framework_text(computation="median_hours_to_clsoe"))
    line = framework_text().splitlines().index("            computation: curated", 20) + 1
    with pytest.raises(ConfigError, match=rf"indicators\.yaml: invalid indicator framework:\n  line {line}, field "
                                          r"'primary\.1\.secondary\.0\.tertiary\.0\.computation': .*indicator 't1': "
                                          r"unknown computation 'median_hours_to_clsoe'; "
                                          r"known: \[.*'median_hours_to_close'"):
        load_framework(path)


def test_the_real_framework_has_only_known_computations(tmp_path: Path) -> None:
    text = DEFAULT_FRAMEWORK_FILE.read_text(encoding="utf-8")
    path = tmp_path / "indicators.yaml"
    path.write_text(text.replace("computation: digital_share", "computation: digitalshare"))
    line = text.splitlines().index("      computation: digital_share") + 1
    with pytest.raises(ConfigError, match=rf"line {line}, field '[a-z0-9.]+\.computation': .*indicator "
                                          r"'digital_share': unknown computation 'digitalshare'"):
        load_framework(path)


def test_a_framework_without_all_four_primaries_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "indicators.yaml"
    path.write_text(framework_text(("process", "collaborative", "responsive")))
    with pytest.raises(ConfigError, match=r"indicators\.yaml: invalid indicator framework:\n  line 3, field "
                                          r"'primary': .*missing: \['smart'\]"):
        load_framework(path)
    # a hand-worked example may ask for fewer
    assert [p.id for p in load_framework(path, partial=True).primary] == ["process", "collaborative", "responsive"]
    path.write_text(framework_text(("process", "collaborative", "smart", "responsive", "smart")).replace(
        "id: s4", "id: s5").replace("id: t4", "id: t5"))
    with pytest.raises(ConfigError, match=r"primary indicators listed twice: \['smart'\]"):
        load_framework(path, partial=True)
    path.write_text(framework_text())
    assert [p.id for p in load_framework(path).primary] == list(PRIMARY_IDS)


# --- the registry and the evaluation settings -------------------------------------------------------------
def test_a_misspelt_source_field_fails_at_load(tmp_path: Path) -> None:
    folder = copy_registry(tmp_path)
    path = folder / "san_francisco.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count("      agency: agency_responsible\n") == 1
    path.write_text(text.replace("      agency: agency_responsible\n", "      agncy: agency_responsible\n"))
    with pytest.raises(ConfigError, match=re.escape("city 'san_francisco', field 'sources.sf_311_socrata.fields': "
                                                    "Value error, unknown staging fields ['agncy']")):
        load_registry(folder)


def test_an_evaluation_month_that_is_no_month_fails_at_load(tmp_path: Path) -> None:
    path = tmp_path / "evaluation.yaml"
    path.write_text(DEFAULT_EVALUATION_FILE.read_text().replace('first_month: "2024-01"', 'first_month: "2024-13"'))
    with pytest.raises(ConfigError, match=r"evaluation\.yaml: invalid evaluation settings:\n  field 'first_month'"):
        load_evaluation(path)
