"""Resources: the project's paths and mode (from the environment, through hotline_eval.config.settings),
the HTTP layer as two classes (live, replay) with one interface, and source credentials. Warehouse
access is dagster-duckdb's DuckDBResource on the work database."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import dagster as dg

from hotline_eval.config.settings import Settings, load_settings
from hotline_eval.fetch.archive import Archive
from hotline_eval.fetch.http import HttpClient, HttpPolicy
from hotline_eval.fetch.policy import DEFAULT_USER_AGENT


class ProjectSettings(dg.ConfigurableResource):
    """The project's paths and mode. Built from the environment by `from_env()` (the variables and their
    defaults are in hotline_eval/config/settings.py and the README's table); assets take paths from here."""

    analyst_db: str  # HOTLINE_EVAL_DUCKDB: the published file analysts open
    work_db: str  # HOTLINE_EVAL_WORK_DUCKDB: where assets write; published into analyst_db atomically
    report: str  # HOTLINE_EVAL_REPORT: the HTML report
    mode: Literal["live", "replay"] = "live"  # HOTLINE_EVAL_MODE
    archive_dir: str  # HOTLINE_EVAL_ARCHIVE_DIR: live mode stores fetched bodies here
    replay_dir: str  # HOTLINE_EVAL_REPLAY_DIR: replay mode serves responses from here
    cities_file: str | None = None  # HOTLINE_EVAL_CITIES: the city registry (None: the folder config/cities/)
    evaluation_file: str  # config/evaluation.yaml
    duckdb_memory_limit: str  # HOTLINE_EVAL_DUCKDB_MEMORY_LIMIT

    @classmethod
    def from_settings(cls, settings: Settings) -> ProjectSettings:
        return cls(analyst_db=str(settings.analyst_db), work_db=str(settings.work_db), report=str(settings.report),
                   mode=settings.mode, archive_dir=str(settings.archive_dir), replay_dir=str(settings.replay_dir),
                   cities_file=str(settings.cities_file) if settings.cities_file else None,
                   evaluation_file=str(settings.evaluation_file),
                   duckdb_memory_limit=settings.duckdb_memory_limit)

    @classmethod
    def from_env(cls) -> ProjectSettings:
        return cls.from_settings(load_settings())


class HttpResource(dg.ConfigurableResource):
    """The HTTP layer's interface: `client(hosts)` builds an HttpClient allowed to reach only those hosts
    (a source's city's), `source_dir` is the archive responses come from. Use LiveHttpResource or
    ReplayHttpResource; the definitions factory picks one from the settings."""

    user_agent: str = DEFAULT_USER_AGENT
    min_interval_s: float = 1.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    # one request (its retries and their waits, its whole body) must finish within this
    total_timeout_s: float = 600.0
    max_attempts: int = 5
    # a server asking to wait longer (Retry-After) is a clear error at once, not a long sleep
    max_retry_after_s: float = 120.0
    # robots.txt is parsed up to this many decompressed bytes, the rest ignored (RFC 9309 2.5)
    max_robots_bytes: int = 500 * 1024
    # hosts that may resolve to private addresses (a local mirror); empty in production
    private_hosts: list[str] = []  # noqa: RUF012 (pydantic copies defaults)

    @property
    def mode(self) -> str:
        """'live' or 'replay', for run metadata."""
        raise NotImplementedError

    @property
    def source_dir(self) -> str:
        """The archive directory responses come from."""
        raise NotImplementedError

    def client(self, allowed_hosts: frozenset[str]) -> HttpClient:
        raise NotImplementedError

    def policy(self, allowed_hosts: frozenset[str]) -> HttpPolicy:
        return HttpPolicy(
            allowed_hosts=frozenset(h.lower() for h in allowed_hosts),
            private_hosts=frozenset(self.private_hosts),
            user_agent=self.user_agent,
            min_interval_s=self.min_interval_s,
            connect_timeout_s=self.connect_timeout_s,
            read_timeout_s=self.read_timeout_s,
            total_timeout_s=self.total_timeout_s,
            max_attempts=self.max_attempts,
            max_retry_after_s=self.max_retry_after_s,
            max_robots_bytes=self.max_robots_bytes,
        )


class LiveHttpResource(HttpResource):
    """Fetches from the sources and stores every response in the archive at `archive_dir`."""

    archive_dir: str

    @property
    def mode(self) -> str:
        return "live"

    @property
    def source_dir(self) -> str:
        return self.archive_dir

    def client(self, allowed_hosts: frozenset[str]) -> HttpClient:
        return HttpClient(self.policy(allowed_hosts), mode="live", archive=Archive(Path(self.archive_dir)))


class ReplayHttpResource(HttpResource):
    """Serves every call from the archive at `replay_dir`; never touches the network."""

    replay_dir: str

    @property
    def mode(self) -> str:
        return "replay"

    @property
    def source_dir(self) -> str:
        return self.replay_dir

    def client(self, allowed_hosts: frozenset[str]) -> HttpClient:
        return HttpClient(self.policy(allowed_hosts), mode="replay", replay=Archive(Path(self.replay_dir)))


def http_resource(settings: Settings) -> HttpResource:
    """The HTTP resource the settings' mode asks for: the one place the mode is read."""
    hosts = list(settings.private_hosts)
    if settings.mode == "replay":
        return ReplayHttpResource(replay_dir=str(settings.replay_dir), private_hosts=hosts)
    return LiveHttpResource(archive_dir=str(settings.archive_dir), private_hosts=hosts)


class SourceCredentials(dg.ConfigurableResource):
    """Optional API credentials, read from the environment through dg.EnvVar; never logged."""

    socrata_app_token: str | None = None
