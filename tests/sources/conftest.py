"""Fixtures of the request-feed tests: New York's feed on the loopback server, an in-memory warehouse."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from pytest_httpserver import HTTPServer

from hotline_eval.config.registry import City, load_registry
from hotline_eval.publish.warehouse import apply_ddl
from tests.helpers import FIXTURES


@pytest.fixture
def city(server: HTTPServer, tmp_path: Path) -> City:
    """New York of the test registry, its Socrata feed served by the loopback server."""
    path = tmp_path / "cities.yaml"
    path.write_text((FIXTURES / "cities_min.yaml").read_text().replace(
        "https://data.cityofnewyork.us", server.url_for("/").rstrip("/")))
    return load_registry(path).city("new_york")


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    apply_ddl(con)
    return con
