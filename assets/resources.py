"""Resources: the HTTP layer (live or replay) and source credentials. Warehouse access is
dagster-duckdb's DuckDBResource on the work database."""


from pathlib import Path

import dagster as dg

from hotline_eval.fetch.archive import Archive
from hotline_eval.fetch.http import HttpClient, HttpPolicy
from hotline_eval.fetch.policy import DEFAULT_USER_AGENT


class HttpResource(dg.ConfigurableResource):
    """Builds an HttpClient per source, allowed to reach only the hosts that source's city names."""

    mode: str = "live"
    archive_dir: str
    replay_dir: str
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

    def client(self, allowed_hosts: frozenset[str]) -> HttpClient:
        policy = HttpPolicy(
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
        return HttpClient(policy, mode=self.mode, archive=Archive(Path(self.archive_dir)),
                          replay=Archive(Path(self.replay_dir)))

    @property
    def source_dir(self) -> str:
        """The archive directory responses come from in this mode."""
        return self.replay_dir if self.mode == "replay" else self.archive_dir


class SourceCredentials(dg.ConfigurableResource):
    """Optional API credentials, read from the environment through dg.EnvVar; never logged."""

    socrata_app_token: str | None = None
