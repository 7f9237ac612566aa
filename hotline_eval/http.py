"""The one way this project fetches anything: polite, bounded, allow-listed, archived, replayable.

``live`` mode fetches through a retrying ``requests.Session`` and stores every response in the
archive; ``replay`` mode serves the same calls from an archive directory and never touches the
network. Sources call ``client.get(...)`` and cannot tell the two apart except by the
``is_synthetic`` flag an archive entry may carry.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
import urllib.robotparser
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from hotline_eval.archive import Archive, ArchivedResponse, canonical_url, make_response
from hotline_eval.errors import FetchError, PolicyError

DEFAULT_USER_AGENT = (
    "hotline_eval/0.1 (city hotline evaluation research; +https://github.com/hotline-eval/hotline_eval)"
)
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_REDIRECTS = 5


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
    read_timeout_s: float = 60.0
    max_attempts: int = 5
    backoff_factor: float = 1.0
    backoff_max_s: float = 120.0
    max_body_bytes: int = 64 * 1024 * 1024
    respect_robots: bool = True


def _is_private(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
            return True
    return False


@dataclass
class _HostClock:
    """Minimum interval between requests to one host, shared by the threads of a process."""

    interval_s: float
    last: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, host: str) -> None:
        with self.lock:
            now = time.monotonic()
            ready_at = self.last.get(host, 0.0) + self.interval_s
            delay = max(0.0, ready_at - now)
            self.last[host] = now + delay
        if delay:
            time.sleep(delay)


class HttpClient:
    """Fetch (live) or replay (replay) GET requests; every result is an ArchivedResponse."""

    def __init__(self, policy: HttpPolicy, *, mode: str = "live", archive: Archive | None = None,
                 replay: Archive | None = None) -> None:
        if mode not in ("live", "replay"):
            raise ValueError(f"mode must be 'live' or 'replay', not {mode!r}")
        if mode == "replay" and replay is None:
            raise ValueError("replay mode needs a replay archive")
        self.policy = policy
        self.mode = mode
        self.archive = archive
        self.replay = replay
        self._clock = _HostClock(policy.min_interval_s)
        self._robots: dict[str, urllib.robotparser.RobotFileParser] = {}
        self._private_checked: dict[str, bool] = {}
        self.session = self._make_session()

    def _make_session(self) -> requests.Session:
        retry = Retry(
            total=self.policy.max_attempts - 1,
            connect=self.policy.max_attempts - 1,
            read=self.policy.max_attempts - 1,
            status=self.policy.max_attempts - 1,
            backoff_factor=self.policy.backoff_factor,
            backoff_max=self.policy.backoff_max_s,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "HEAD"}),
            respect_retry_after_header=True,
            raise_on_status=False,  # the last response comes back and we raise our own clear error
            redirect=0,  # redirects are followed by hand so that every hop is checked
        )
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"})
        return session

    # --- policy -----------------------------------------------------------------------------
    def check_url(self, url: str) -> None:
        """Refuse a URL our rules do not allow; the error names it and the rule."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https"):
            raise PolicyError(f"refused {url}: only http(s) may be fetched")
        if host not in self.policy.allowed_hosts:
            raise PolicyError(
                f"refused {url}: host {host!r} is not in this source's allow-list "
                f"{sorted(self.policy.allowed_hosts)}"
            )
        if host not in self.policy.private_hosts:
            if host not in self._private_checked:
                self._private_checked[host] = _is_private(host)
            if self._private_checked[host]:
                raise PolicyError(f"refused {url}: {host!r} resolves to a private or loopback address")

    def _robots_for(self, url: str) -> urllib.robotparser.RobotFileParser:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        parser = self._robots.get(origin)
        if parser is None:
            parser = urllib.robotparser.RobotFileParser(origin + "/robots.txt")
            self._clock.wait(parts.hostname or "")
            try:
                response = self.session.get(
                    origin + "/robots.txt",
                    timeout=(self.policy.connect_timeout_s, self.policy.read_timeout_s),
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                raise FetchError(f"cannot read {origin}/robots.txt to check {url}: {exc}") from None
            # the robots.txt conventions (RFC 9309): 4xx means no rules; 5xx means assume disallowed
            if response.status_code >= 500:
                parser.disallow_all = True
            elif response.status_code >= 400:
                parser.allow_all = True
            else:
                parser.parse(response.text.splitlines())
            self._robots[origin] = parser
        return parser

    def _check_robots(self, url: str) -> None:
        if not self.policy.respect_robots:
            return
        if not self._robots_for(url).can_fetch(self.policy.user_agent, url):
            raise PolicyError(f"refused {url}: disallowed by robots.txt for our user agent")

    # --- fetching ---------------------------------------------------------------------------
    def get(self, url: str, params: dict[str, Any] | None = None, *, headers: dict[str, str] | None = None,
            note: str = "") -> ArchivedResponse:
        """GET ``url`` with ``params``. Headers may carry secrets (app tokens): they are never
        archived, logged or part of the request key."""
        if self.mode == "replay":
            assert self.replay is not None
            response = self.replay.load("GET", url, params)
        else:
            response = self._fetch(url, params, headers or {}, note)
            if self.archive is not None:
                self.archive.store(response)
        if response.status >= 400:
            raise FetchError(f"GET {response.url}: HTTP {response.status}")
        return response

    def _fetch(self, url: str, params: dict[str, Any] | None, headers: dict[str, str],
               note: str) -> ArchivedResponse:
        target = canonical_url(url, params)
        for _hop in range(MAX_REDIRECTS + 1):
            self.check_url(target)
            self._check_robots(target)
            self._clock.wait(urlsplit(target).hostname or "")
            try:
                raw = self.session.get(
                    target,
                    headers=headers,
                    timeout=(self.policy.connect_timeout_s, self.policy.read_timeout_s),
                    allow_redirects=False,
                    stream=True,
                )
            except requests.exceptions.RetryError as exc:
                raise FetchError(f"GET {target}: gave up after {self.policy.max_attempts} attempts ({exc})") from None
            except requests.exceptions.ConnectionError as exc:
                reason = "read timed out" if "Read timed out" in str(exc) else f"connection failed: {exc}"
                raise FetchError(f"GET {target}: {reason} after {self.policy.max_attempts} attempts") from None
            except requests.exceptions.Timeout as exc:
                raise FetchError(f"GET {target}: timed out after {self.policy.max_attempts} attempts ({exc})") from None
            with raw:
                if raw.is_redirect:
                    target = urljoin(target, raw.headers.get("location", ""))
                    continue
                if raw.status_code in RETRY_STATUSES:
                    raise FetchError(
                        f"GET {target}: HTTP {raw.status_code} after {self.policy.max_attempts} attempts"
                    )
                body = self._read_capped(raw, target)
                return make_response("GET", target, None, raw.status_code, dict(raw.headers), body, note=note)
        raise FetchError(f"GET {url}: more than {MAX_REDIRECTS} redirects")

    def _read_capped(self, raw: requests.Response, url: str) -> bytes:
        cap = self.policy.max_body_bytes
        declared = raw.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FetchError(f"GET {url}: response of {int(declared):,} bytes exceeds the cap of {cap:,}")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
                if size > cap:
                    raise FetchError(f"GET {url}: response exceeds the cap of {cap:,} bytes")
                chunks.append(chunk)
        except requests.exceptions.RequestException as exc:
            raise FetchError(f"GET {url}: body could not be read: {exc}") from None
        return b"".join(chunks)
