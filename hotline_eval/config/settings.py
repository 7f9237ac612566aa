"""Paths and modes, read from the environment with documented defaults. Nothing here runs at import: the
Dagster definitions factory calls load_settings() once and hands the result to the resources."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hotline_eval.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[2]

Mode = Literal["live", "replay"]

ENV_DUCKDB = "HOTLINE_EVAL_DUCKDB"
ENV_WORK_DUCKDB = "HOTLINE_EVAL_WORK_DUCKDB"
ENV_MODE = "HOTLINE_EVAL_MODE"
ENV_ARCHIVE = "HOTLINE_EVAL_ARCHIVE_DIR"
ENV_REPLAY = "HOTLINE_EVAL_REPLAY_DIR"
ENV_CITIES = "HOTLINE_EVAL_CITIES"
ENV_REPORT = "HOTLINE_EVAL_REPORT"
ENV_MEMORY = "HOTLINE_EVAL_DUCKDB_MEMORY_LIMIT"
ENV_PRIVATE_HOSTS = "HOTLINE_EVAL_PRIVATE_HOSTS"  # hosts on private addresses that may be fetched (a mirror)
ENV_EVALUATION = "HOTLINE_EVAL_EVALUATION"  # another evaluation settings file (window, thresholds)
ENV_FIRST_MONTH = "HOTLINE_EVAL_FIRST_MONTH"  # the first request month, overriding the evaluation file
# DuckDB spills to disk beyond this: a 10-million-request evaluation stays within about 2 GB
DEFAULT_MEMORY_LIMIT = "1500MB"

DEMO_ARCHIVE = PROJECT_ROOT / "snapshots" / "demo"
DEFAULT_EVALUATION_FILE = PROJECT_ROOT / "config" / "evaluation.yaml"


@dataclass(frozen=True)
class Settings:
    analyst_db: Path  # the published file analysts open
    work_db: Path  # where assets write; published into analyst_db atomically
    mode: Mode
    archive_dir: Path  # live mode stores fetched bodies here
    replay_dir: Path  # replay mode serves responses from here
    report: Path  # the HTML report
    duckdb_memory_limit: str = DEFAULT_MEMORY_LIMIT  # DuckDB memory_limit for the work database
    # the city registry ($HOTLINE_EVAL_CITIES); None: load_registry's default, the folder config/cities/
    cities_file: Path | None = None
    evaluation_file: Path = DEFAULT_EVALUATION_FILE  # the evaluation window and thresholds
    private_hosts: tuple[str, ...] = ()  # $HOTLINE_EVAL_PRIVATE_HOSTS: a local mirror's host names
    first_month: str | None = None  # $HOTLINE_EVAL_FIRST_MONTH: overrides the evaluation file's first_month

    @property
    def duckdb_config(self) -> dict[str, str | bool]:
        """The work database's DuckDB settings: its memory limit; memory a query freed handed back to the
        system at once (DuckDB's allocator otherwise keeps it, so the process peaked at the limit plus what
        Python held next: 2.4 GB for the indicators of 30M requests, 1.7 GB with these); and a checkpoint
        after 256 MB of write-ahead log rather than 16 MB (re-staging hundreds of partitions checkpointed the
        growing tables every few partitions: a fifth of a full rebuild's staging time). benchmarks/README.md."""
        return {"memory_limit": self.duckdb_memory_limit, "allocator_flush_threshold": "16MB",
                "allocator_background_threads": True, "checkpoint_threshold": "256MB"}


def load_settings(env: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if env is None else env)
    analyst = Path(env.get(ENV_DUCKDB) or PROJECT_ROOT / "data" / "hotline_eval.duckdb")
    work = Path(env.get(ENV_WORK_DUCKDB) or analyst.with_name(analyst.stem + ".work.duckdb"))
    mode = env.get(ENV_MODE, "live")
    if mode not in ("live", "replay"):
        raise ConfigError(f"{ENV_MODE} must be 'live' or 'replay', not {mode!r}")
    archive = Path(env.get(ENV_ARCHIVE) or PROJECT_ROOT / "data" / "archive")
    replay = Path(env.get(ENV_REPLAY) or DEMO_ARCHIVE)
    report = Path(env.get(ENV_REPORT) or PROJECT_ROOT / "reports" / "ranking.html")
    cities = Path(env[ENV_CITIES]) if env.get(ENV_CITIES) else None
    memory = env.get(ENV_MEMORY) or DEFAULT_MEMORY_LIMIT
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)|\d+(\.\d+)?%", memory.strip(), re.IGNORECASE):
        raise ConfigError(f"{ENV_MEMORY} must be a size such as 1500MB or 4GB (or a share such as 50%), "
                          f"not {memory!r}")
    return Settings(analyst_db=analyst, work_db=work, mode=mode, archive_dir=archive, replay_dir=replay,
                    report=report, duckdb_memory_limit=memory.strip(), cities_file=cities,
                    evaluation_file=Path(env.get(ENV_EVALUATION) or DEFAULT_EVALUATION_FILE),
                    private_hosts=_private_hosts(env), first_month=_first_month(env))


def _first_month(env: dict[str, str]) -> str | None:
    month = env.get(ENV_FIRST_MONTH) or None
    if month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        raise ConfigError(f"{ENV_FIRST_MONTH} must be a month YYYY-MM, not {month!r}")
    return month


def _private_hosts(env: dict[str, str]) -> tuple[str, ...]:
    return tuple(h.strip().lower().rstrip(".") for h in env.get(ENV_PRIVATE_HOSTS, "").split(",") if h.strip())
