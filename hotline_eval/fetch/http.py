"""The one way this project fetches anything: polite, bounded, allow-listed, archived, replayable.

``live`` mode fetches through a retrying ``requests.Session`` and stores every response in the
archive; ``replay`` mode serves the same calls from an archive directory and never touches the
network. Sources call ``client.get(...)`` and cannot tell the two apart except by the
``is_synthetic`` flag an archive entry may carry.

A server may be hostile (issue #21), so every request is bounded: the body (decompressed bytes
counted) and robots.txt by size, the whole exchange by a total deadline that a body dripped a byte
at a time cannot stretch, a server's ``Retry-After`` by a cap. The private-address check is made on
the very addresses a connection then goes to, so a name re-bound after the check (DNS rebinding)
cannot reach into the local network (``guard``: the connections, deadline and retries this client's
session uses); and caller headers (an app token) go only to the URL's own host. ``HttpPolicy`` (``policy``)
holds every limit.
"""

from __future__ import annotations

import threading
import time
import urllib.robotparser
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from hotline_eval.errors import FetchError, PolicyError, http_status_error
from hotline_eval.fetch.archive import Archive, ArchivedResponse, canonical_url, make_response
from hotline_eval.fetch.guard import (
    AddressRefused,
    DeadlineExceeded,
    Exchange,
    Guard,
    GuardedAdapter,
    GuardedRetry,
    RetryAfterTooLong,
    resolves_to_private,
)
from hotline_eval.fetch.policy import DEFAULT_USER_AGENT, HttpPolicy

__all__ = ["DEFAULT_USER_AGENT", "HttpClient", "HttpPolicy"]

RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_REDIRECTS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}

# what a refusal of a private address tells the user: a local mirror is allowed by naming its host
MIRROR_HINT = ("to fetch from a local mirror, list its host in HOTLINE_EVAL_PRIVATE_HOSTS (comma-separated; "
               "the http resource's private_hosts)")


def _same_host(first: str, target: str) -> bool:
    """Whether headers meant for ``first`` may go to ``target``: the same host on the same port, or
    the same host moved from http to https on the default ports (the rule requests applies to
    Authorization)."""
    a, b = urlsplit(first), urlsplit(target)
    if (a.hostname or "").lower() != (b.hostname or "").lower():
        return False
    port_a, port_b = a.port or DEFAULT_PORTS.get(a.scheme), b.port or DEFAULT_PORTS.get(b.scheme)
    if a.scheme == b.scheme:
        return port_a == port_b
    return (a.scheme, port_a, b.scheme, port_b) == ("http", 80, "https", 443)


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
        self._guard = Guard(policy)
        self.session = self._make_session()

    def _make_session(self) -> requests.Session:
        retry_class = type("ClientRetry", (GuardedRetry,), {"guard": self._guard})
        retry = retry_class(
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
        adapter = GuardedAdapter(self._guard, max_retries=retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.update({"User-Agent": self.policy.user_agent, "Accept-Encoding": "gzip, deflate"})
        return session

    # --- policy -----------------------------------------------------------------------------
    def check_url(self, url: str) -> None:
        """Refuse a URL our rules do not allow; the error names it and the rule. (The addresses
        are checked again, on the resolution a connection uses, when it connects.)"""
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
                self._private_checked[host] = resolves_to_private(host)
            if self._private_checked[host]:
                raise PolicyError(f"refused {url}: {host!r} resolves to a private or loopback address; {MIRROR_HINT}")

    def _robots_for(self, url: str) -> urllib.robotparser.RobotFileParser:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        parser = self._robots.get(origin)
        if parser is None:
            robots_url = origin + "/robots.txt"
            parser = urllib.robotparser.RobotFileParser(robots_url)
            self._clock.wait(parts.hostname or "")
            label = f"cannot read {robots_url} to check {url}"
            with self._guard.exchange() as exchange:
                raw = self._send(robots_url, {}, label)
                with raw:
                    status = raw.status_code
                    body = self._read_robots(raw, label, exchange) if status < 400 else b""
            # the robots.txt conventions (RFC 9309): 4xx means no rules; 5xx means assume disallowed
            if status >= 500:
                parser.disallow_all = True
            elif status >= 400:
                parser.allow_all = True
            else:  # RFC 9309: robots.txt is UTF-8
                parser.parse(body.decode("utf-8", errors="replace").splitlines())
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
        archived, logged or part of the request key, and are sent only to ``url``'s own host
        (a redirect to another host or port gets none of them)."""
        if self.mode == "replay":
            assert self.replay is not None
            response = self.replay.load("GET", url, params)
        else:
            response = self._fetch(url, params, headers or {}, note)
            if self.archive is not None:
                self.archive.store(response)
        if response.status >= 400:  # a 4xx but 408/429 is permanent: asking again gets the same answer
            raise http_status_error(response.url, response.status)
        return response

    def _fetch(self, url: str, params: dict[str, Any] | None, headers: dict[str, str],
               note: str) -> ArchivedResponse:
        target = first = canonical_url(url, params)
        for _hop in range(MAX_REDIRECTS + 1):
            self.check_url(target)
            self._check_robots(target)
            self._clock.wait(urlsplit(target).hostname or "")
            label = f"GET {target}"
            with self._guard.exchange() as exchange:
                raw = self._send(target, headers if _same_host(first, target) else {}, label)
                with raw:
                    if raw.is_redirect:
                        target = urljoin(target, raw.headers.get("location", ""))
                        continue
                    if raw.status_code in RETRY_STATUSES:
                        raise http_status_error(target, raw.status_code,
                                                detail=f" after {self.policy.max_attempts} attempts")
                    body = self._read_capped(raw, label, exchange)
                    return make_response("GET", target, None, raw.status_code, dict(raw.headers), body, note=note)
        raise FetchError(f"GET {url}: more than {MAX_REDIRECTS} redirects")

    def _send(self, target: str, headers: dict[str, str], label: str) -> requests.Response:
        """Send one GET (retries included) inside the current exchange; errors become FetchErrors
        that begin with ``label``."""
        attempts = self.policy.max_attempts
        try:
            return self.session.get(
                target,
                headers=headers,
                timeout=(self.policy.connect_timeout_s, self.policy.read_timeout_s),
                allow_redirects=False,
                stream=True,
            )
        except DeadlineExceeded:
            raise self._deadline_error(label) from None
        except RetryAfterTooLong as exc:
            raise FetchError(
                f"{label}: the server asked us to wait {exc.seconds:,.0f} s (Retry-After: {exc.header}), "
                f"more than the {self.policy.max_retry_after_s:g} s we wait (max_retry_after_s); giving up"
            ) from None
        except AddressRefused as exc:
            raise PolicyError(
                f"refused {target}: {exc.host!r} resolves to {exc.address}, a private or loopback address, "
                f"when connecting; {MIRROR_HINT}"
            ) from None
        except requests.exceptions.RetryError as exc:
            raise FetchError(f"{label}: gave up after {attempts} attempts ({exc})") from None
        except requests.exceptions.ConnectionError as exc:
            reason = "read timed out" if "Read timed out" in str(exc) else f"connection failed: {exc}"
            raise FetchError(f"{label}: {reason} after {attempts} attempts") from None
        except requests.exceptions.Timeout as exc:
            raise FetchError(f"{label}: timed out after {attempts} attempts ({exc})") from None

    def _deadline_error(self, label: str) -> FetchError:
        return FetchError(f"{label}: did not finish within the total time limit of "
                          f"{self.policy.total_timeout_s:g} s (total_timeout_s)")

    def _read_upto(self, raw: requests.Response, label: str, exchange: Exchange, cap: int) -> bytes:
        """The body, decompressed, reading no more than ``cap + 1`` bytes of it (so that one more
        than the cap says there was more) and none past the deadline."""
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in raw.iter_content(chunk_size=64 * 1024):
                exchange.check()
                chunks.append(chunk[: cap + 1 - size])
                size += len(chunks[-1])
                if size > cap:
                    break
        except DeadlineExceeded:
            raise self._deadline_error(label) from None
        except requests.exceptions.RequestException as exc:
            if exchange.expired:
                raise self._deadline_error(label) from None
            raise FetchError(f"{label}: body could not be read: {exc}") from None
        if exchange.expired:  # a body without a length ends quietly when its connection is shut
            raise self._deadline_error(label)
        return b"".join(chunks)

    def _read_capped(self, raw: requests.Response, label: str, exchange: Exchange) -> bytes:
        cap = self.policy.max_body_bytes
        declared = raw.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FetchError(f"{label}: response of {int(declared):,} bytes exceeds the cap of {cap:,}")
        body = self._read_upto(raw, label, exchange, cap)
        if len(body) > cap:
            raise FetchError(f"{label}: response exceeds the cap of {cap:,} bytes")
        return body

    def _read_robots(self, raw: requests.Response, label: str, exchange: Exchange) -> bytes:
        """robots.txt up to ``max_robots_bytes``; past that the rest is not read, and the line the
        cap cuts is dropped (RFC 9309 section 2.5 lets a crawler parse only the first 500 KiB)."""
        cap = self.policy.max_robots_bytes
        body = self._read_upto(raw, label, exchange, cap)
        if len(body) > cap:
            body = body[:cap]
            body = body[: body.rfind(b"\n") + 1]
        return body
