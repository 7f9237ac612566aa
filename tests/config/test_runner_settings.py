"""Issue #19, defects 9 and 10: a local mirror and historical months through the project's own runners,
set in the environment (no --config-json restating mode and directories, no edited config file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets.config import ProjectConfig
from assets.partitions import city_month_partitions
from assets.resources import LiveHttpResource, ReplayHttpResource, http_resource
from hotline_eval.config.settings import load_settings
from hotline_eval.errors import ConfigError


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"HOTLINE_EVAL_DUCKDB": str(tmp_path / "h.duckdb"), "HOTLINE_EVAL_ARCHIVE_DIR": str(tmp_path / "a"),
            **extra}


def test_private_hosts_reach_the_http_resource_of_either_mode(tmp_path: Path) -> None:
    live = http_resource(load_settings(env(tmp_path, HOTLINE_EVAL_PRIVATE_HOSTS=" Mirror.local., 10.0.0.5 ")))
    assert isinstance(live, LiveHttpResource) and live.private_hosts == ["mirror.local", "10.0.0.5"]
    assert live.client(frozenset({"mirror.local"})).policy.private_hosts == frozenset({"mirror.local", "10.0.0.5"})
    replay = http_resource(load_settings(env(tmp_path, HOTLINE_EVAL_MODE="replay",
                                             HOTLINE_EVAL_PRIVATE_HOSTS="mirror.local")))
    assert isinstance(replay, ReplayHttpResource) and replay.private_hosts == ["mirror.local"]
    # unset: nothing private is allowed
    assert http_resource(load_settings(env(tmp_path))).private_hosts == []


def test_the_first_month_is_set_from_the_environment_without_editing_the_file(tmp_path: Path) -> None:
    settings = load_settings(env(tmp_path, HOTLINE_EVAL_FIRST_MONTH="2023-05"))
    config = ProjectConfig.load(settings)
    assert config.evaluation.first_month == "2023-05"
    months = city_month_partitions(config.registry, config.evaluation).get_partition_keys()
    assert any(key.endswith("2023-05") for key in months) and not any(key.endswith("2023-04") for key in months)
    with pytest.raises(ConfigError, match=r"HOTLINE_EVAL_FIRST_MONTH must be a month YYYY-MM, not '2023-5'"):
        load_settings(env(tmp_path, HOTLINE_EVAL_FIRST_MONTH="2023-5"))


def test_another_evaluation_file_is_named_in_the_environment(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "config" / "evaluation.yaml").read_text(encoding="utf-8")
    other = tmp_path / "evaluation.yaml"
    other.write_text(text.replace('first_month: "2024-01"', 'first_month: "2022-01"'), encoding="utf-8")
    config = ProjectConfig.load(load_settings(env(tmp_path, HOTLINE_EVAL_EVALUATION=str(other))))
    assert config.evaluation.first_month == "2022-01"


@pytest.mark.slow  # a subprocess loading the code location (~8 s)
def test_a_month_outside_the_grid_is_refused_naming_the_setting(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    project = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "scripts/materialize_all.py", "--months", "2023-05"], cwd=project,
                         env={**os.environ, **env(tmp_path, HOTLINE_EVAL_MODE="replay",
                                                   DAGSTER_HOME=str(tmp_path / "dh"))},
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "not request partitions in replay mode" in run.stderr
    assert "HOTLINE_EVAL_FIRST_MONTH" in run.stderr and "Traceback" not in run.stderr
