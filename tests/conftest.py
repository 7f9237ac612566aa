from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from hotline_eval.fetch.http import HttpClient
from tests.helpers import PROJECT, make_client


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the whole demo graph run is slow, whether or not it says so."""
    for item in items:
        if "demo_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """The whole graph from the demo archive, once per test session, as the quick start runs it.
    Returns the finished process and the environment it ran with (paths under a temp folder)."""
    tmp = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "HOTLINE_EVAL_MODE": "replay", "HOTLINE_EVAL_DUCKDB": str(tmp / "hotline_eval.duckdb"),
           "DAGSTER_HOME": str(tmp / "dagster_home"), "HOTLINE_EVAL_REPORT": str(tmp / "ranking.html")}
    env.pop("HOTLINE_EVAL_CITIES", None)
    out = subprocess.run([sys.executable, "scripts/materialize_all.py"], cwd=PROJECT, env=env, capture_output=True,
                         text=True, timeout=600)
    return out, env


@pytest.fixture
def server(httpserver: HTTPServer) -> HTTPServer:
    """A loopback server that allows every path in robots.txt (as most open-data hosts do)."""
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    return httpserver


@pytest.fixture
def client(tmp_path: Path) -> HttpClient:
    return make_client(tmp_path)
