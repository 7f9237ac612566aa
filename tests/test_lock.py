"""The environment is the lock's: what is installed equals uv.lock, and a lock that disagrees with
pyproject.toml stops the test command, naming the lock."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

PROJECT = Path(__file__).resolve().parents[1]
UV = PROJECT / ".venv-uv" / "bin" / "uv"  # scripts/_setup.sh installs the pinned uv here

needs_uv = pytest.mark.skipif(not UV.exists(), reason="uv not installed in .venv-uv (scripts/test.sh installs it)")


def locked_versions() -> dict[str, str]:
    """Every package uv.lock installs on this platform with all extras, by canonical name."""
    out = subprocess.run([str(UV), "export", "--frozen", "--all-extras", "--no-hashes", "--no-emit-project",
                          "--no-header", "--no-annotate", "--format", "requirements-txt"],
                         cwd=PROJECT, capture_output=True, text=True, timeout=60, check=True)
    versions: dict[str, str] = {}
    for line in out.stdout.splitlines():
        requirement, _, marker = line.partition(";")
        if "==" not in requirement or (marker.strip() and not Marker(marker.strip()).evaluate()):
            continue
        name, version = requirement.split("==")
        versions[canonicalize_name(name.strip())] = version.strip()
    return versions


def installed_versions() -> dict[str, str]:
    """What `pip freeze` would list for the interpreter running the tests (the project itself aside)."""
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()
            if canonicalize_name(d.metadata["Name"]) != "hotline-eval"}


@needs_uv
def test_installed_packages_are_exactly_the_locks() -> None:
    if Path(sys.prefix).resolve() != (PROJECT / ".venv").resolve():
        pytest.skip(f"tests run outside the project's .venv ({sys.prefix}); scripts/test.sh runs them inside it")
    locked, installed = locked_versions(), installed_versions()
    assert {"dagster", "duckdb", "polars", "pytest", "pandas"} <= set(locked)  # the export was read
    differing = {name: (installed.get(name), locked.get(name)) for name in set(locked) | set(installed)
                 if installed.get(name) != locked.get(name)}
    assert differing == {}, "installed vs uv.lock (name: (installed, locked)); run ./scripts/test.sh to re-sync"


@needs_uv
def test_a_range_changed_without_the_lock_stops_the_setup_naming_the_lock(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(PROJECT / name, tmp_path / name)
    (tmp_path / "scripts").mkdir()
    shutil.copy(PROJECT / "scripts" / "_setup.sh", tmp_path / "scripts" / "_setup.sh")
    (tmp_path / ".venv-uv").symlink_to(PROJECT / ".venv-uv")
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text()
    assert '"duckdb>=2.0,<3"' in text
    pyproject.write_text(text.replace('"duckdb>=2.0,<3"', '"duckdb>=2.0,<2.0.1"'))

    setup = "source scripts/_setup.sh && sync_env --all-extras --dry-run"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    changed = subprocess.run(["bash", "-c", setup], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert changed.returncode != 0
    assert "uv.lock" in changed.stderr and "./scripts/lock.sh" in changed.stderr

    pyproject.write_text(text)  # the control: the same setup with the committed pyproject passes the lock check
    unchanged = subprocess.run(["bash", "-c", setup], cwd=tmp_path, env=env, capture_output=True, text=True,
                               timeout=300)
    assert "needs to be updated" not in unchanged.stderr, unchanged.stderr
