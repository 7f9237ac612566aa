"""How politely and how safely the HTTP layer fetches (``HttpPolicy``): every limit has a production
default; the client (``hotline_eval.fetch.http``) and its connection guard (``guard``) read it."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_USER_AGENT = (
    "hotline_eval/0.1 (city hotline evaluation research; +https://github.com/hotline-eval/hotline_eval)"
)


@dataclass(frozen=True)
class HttpPolicy:
    """How politely and how safely to fetch. Every field has a production default."""

    allowed_hosts: frozenset[str]
    # hosts allowed to resolve to private/loopback addresses (a local mirror, a test server);
    # anything else that does is refused, so a redirect cannot reach into the local network
    private_hosts: frozenset[str] = frozenset()
    user_agent: str = DEFAULT_USER_AGENT
    min_interval_s: float = 1.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0  # between two reads; it restarts with every byte received
    # one request (one URL: its connection, retries and their waits, its whole body) must finish
    # within this; 600 s reads a 64 MiB body at ~110 KB/s, or waits out four capped Retry-Afters
    total_timeout_s: float = 600.0
    max_attempts: int = 5
    backoff_factor: float = 1.0
    backoff_max_s: float = 120.0
    # a server asking to wait longer than this (Retry-After) gets a clear error at once, not a sleep
    max_retry_after_s: float = 120.0
    max_body_bytes: int = 64 * 1024 * 1024
    # robots.txt is parsed up to this many (decompressed) bytes and the rest is ignored, as RFC 9309
    # section 2.5 allows (it asks crawlers to parse at least 500 KiB)
    max_robots_bytes: int = 500 * 1024
    respect_robots: bool = True
