"""A copy of the real city registry folder (config/cities/) in a temporary directory, for tests that break
one city's file or add one."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from hotline_eval.config.registry import DEFAULT_CITIES_DIR


def copy_registry(tmp_path: Path) -> Path:
    """``tmp_path/cities``: every city file and ORDER of config/cities/, as written."""
    target = tmp_path / "cities"
    shutil.copytree(DEFAULT_CITIES_DIR, target)
    return target


def mutate_city(folder: Path, city_id: str, mutate: Callable[[dict], None]) -> Path:
    """Rewrite ``<city_id>.yaml`` in ``folder`` after ``mutate`` changed its parsed mapping; the file."""
    path = folder / f"{city_id}.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutate(raw)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
