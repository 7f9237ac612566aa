"""Adding a city of an existing kind takes one file: a Socrata city on a fictional host, added to a copy of
the registry folder, gets a demo archive from the builder (portal pages from the template, invented
records from its mapping) and its request partitions land in staging, marked synthetic."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from hotline_eval.config.registry import load_registry
from tests.config.city_copies import copy_registry
from tests.helpers import PROJECT

TESTVILLE = """\
# Testville: a fictional city for tests/test_add_city.py (one file is all a new city needs).
id: testville
name_en: Testville
name_local: Testville
country: US
region: North America
timezone: America/Chicago
population:
  value: 640000
  year: 2023
  source: invented for the test
  url: "https://www.testville.example/about"
hotline:
  brand: Testville 311
  numbers: ["311", "555-010-0311"]
in_2024_report: false
selection_reason: a fictional city of an existing kind
portals:
  - {kind: home, url: "https://www.testville.example/311", language: en}
  - {kind: contact, url: "https://www.testville.example/311/contact", language: en}
data_availability:
  level: request_level
  evidence_url: "https://data.testville.example/d/tv31-1abc"
  note: 311 requests on the city's Socrata portal (fictional).
sources:
  - id: testville_311_socrata
    kind: socrata
    base_url: https://data.testville.example
    docs_url: https://data.testville.example/d/tv31-1abc
    licence: invented for the test
    dataset: tv31-1abc
    page_size: 1000
    fields:
      request_id: case_number
      created_at: created_date
      closed_at: closed_date
      status: status
      category: request_type
      channel: source_channel
      district: ward
      latitude: latitude
      longitude: longitude
"""


def _build_demo(cities: Path, out: Path, monkeypatch) -> None:
    """The demo builder run on the temporary registry, writing into ``out``; the new source draws its
    published values from a vocabulary given here (the builder keeps one per known source)."""
    spec = importlib.util.spec_from_file_location("build_demo_archive", PROJECT / "scripts" / "build_demo_archive.py")
    builder = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "build_demo_archive", builder)  # its dataclasses look themselves up
    spec.loader.exec_module(builder)
    vocabulary = type(next(iter(builder.VOCABULARIES.values())))
    monkeypatch.setitem(builder.VOCABULARIES, "testville_311_socrata", vocabulary(
        open_statuses=("Open",), closed_status="Closed", cancelled_status=None, channels=("Phone", "Web"),
        categories=("Pothole", "Graffiti", "Missed Collection"), agencies=(), districts=("1", "2", "3")))
    monkeypatch.setenv("HOTLINE_EVAL_CITIES", str(cities))
    monkeypatch.setattr(sys, "argv", ["build_demo_archive.py", "--out", str(out)])
    builder.main()


@pytest.mark.slow  # the builder and a materialization of every asset over the demo (~1 min)
def test_a_city_added_from_one_file_is_fetched_and_staged_from_the_demo(tmp_path: Path, monkeypatch) -> None:
    cities = copy_registry(tmp_path)
    (cities / "testville.yaml").write_text(TESTVILLE, encoding="utf-8")
    assert load_registry(cities).cities[-1].id == "testville"
    archive = tmp_path / "demo"
    _build_demo(cities, archive, monkeypatch)
    manifest = json.loads((archive / "manifest.json").read_text())
    assert manifest["request_partitions"]["testville"] == manifest["months"]

    env = {**os.environ, "HOTLINE_EVAL_MODE": "replay", "HOTLINE_EVAL_REPLAY_DIR": str(archive),
           "HOTLINE_EVAL_CITIES": str(cities), "DAGSTER_HOME": str(tmp_path / "dagster_home"),
           "HOTLINE_EVAL_DUCKDB": str(tmp_path / "h.duckdb"), "HOTLINE_EVAL_REPORT": str(tmp_path / "r.html")}
    run = subprocess.run([sys.executable, "scripts/materialize_all.py", "--cities", "testville"], cwd=PROJECT,
                         env=env, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    for month in manifest["months"]:
        assert f"testville|{month}" in run.stdout and "FAILED" not in run.stdout

    con = duckdb.connect(str(tmp_path / "h.duckdb"), read_only=True)
    rows, synthetic, sources = con.execute(
        "SELECT count(*), bool_and(is_synthetic), list(DISTINCT source_id) FROM staging.service_requests "
        "WHERE city_id = 'testville'").fetchone()
    assert rows > 0 and synthetic is True and sources == ["testville_311_socrata"]
    # the months of the city's local time (a request at 23:30 on 31 December local is 2025 in UTC)
    months = {m for (m,) in con.execute("SELECT DISTINCT partition_month FROM staging.service_requests "
                                        "WHERE city_id = 'testville'").fetchall()}
    assert months <= set(manifest["months"]) and len(months) == len(manifest["months"])
    # the template's pages were read: the phone channel of its portal features
    phone = con.execute("SELECT count(*) FROM staging.portal_features WHERE city_id = 'testville' "
                    "AND feature = 'channel_phone' AND value = 'yes'").fetchone()[0]
    assert phone >= 1
