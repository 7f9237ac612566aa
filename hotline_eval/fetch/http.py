"""The one way this project fetches anything: polite, bounded, allow-listed, archived, replayable.

``live`` mode fetches through a retrying ``requests.Session`` and stores every response in the
archive; ``replay`` mode serves the same calls from an archive directory and never touches the
network. Sources call ``client.get(...)`` and cannot tell the two apart except by the
``is_synthetic`` flag an archive entry may carry.

A server may be hostile (issue #21), so every request is bounded: the body (decompressed bytes
counted) and robots.txt by size, the whole exchange by a total deadline that a body dripped a byte
at a time cannot stretch, a server's ``Retry-After`` by a cap. The private-address check is made on
the very addresses a connection then goes to, so a name re-bound after the check (DNS rebinding)
cannot reach into the local network; and caller headers (an app token) go only to the URL's own host.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import time
import urllib.robotparser
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection
from urllib3.util.retry import Retry

from hotline_eval.errors import FetchError, PolicyError
from hotline_eval.fetch.archive import Archive, ArchivedResponse, canonical_url, make_response

DEFAULT_USER_AGENT = (
    "hotline_eval/0.1 (city hotline evaluation research; +https://github.com/hotline-eval/hotline_eval)"
)
RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_REDIRECTS = 5
DEFAULT_PORTS = {"http": 80, "https": 443}


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


def _is_private_address(text: str) -> bool:
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
            or address.is_multicast or address.is_unspecified)


def _is_private(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc}") from None
    return any(_is_private_address(info[4][0]) for info in infos)


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


# --- what the connections and retries of one client consult ----------------------------------------
class _DeadlineExceeded(Exception):
    """The request under way ran out of its total time (or a wait would take it past it)."""


class _RetryAfterTooLong(Exception):
    def __init__(self, header: str, seconds: float) -> None:
        super().__init__(header)
        self.header, self.seconds = header, seconds


class _AddressRefused(Exception):
    def __init__(self, host: str, address: str) -> None:
        super().__init__(host)
        self.host, self.address = host, address


class _Exchange:
    """One request under way in one thread: its deadline, and the sockets it uses. A read timeout
    restarts with every byte, so a watchdog shuts those sockets at the deadline, which ends any
    read blocked on them (a TLS handshake included)."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.deadline = time.monotonic() + limit_s
        self.expired = False
        self._done = False
        self._sockets: list[socket.socket] = []
        self._owned: list[socket.socket] = []  # duplicates made for the watchdog, closed at the end
        self._lock = threading.Lock()

    def check(self, wait_s: float = 0.0) -> None:
        """Raise if the deadline has passed, or would have by the end of a wait of ``wait_s``."""
        if self.expired or time.monotonic() + wait_s > self.deadline:
            raise _DeadlineExceeded

    def watch(self, sock: socket.socket, *, owned: bool = False) -> None:
        with self._lock:
            if self._done:
                if owned:
                    sock.close()
                return
            if owned:
                self._owned.append(sock)
            if not any(sock is known for known in self._sockets):
                self._sockets.append(sock)

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                try:  # the plain socket's shutdown (TLS state is left to the reading thread); it ends
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the connection for every duplicate
                except OSError:
                    pass

    def finish(self) -> None:
        with self._lock:
            self._done = True
            for sock in self._owned:
                sock.close()
            self._owned.clear()
            self._sockets.clear()


class _Guard:
    """One client's rules as its connections and retries see them: which addresses a host may
    resolve to, how long a Retry-After may be, and the request under way in this thread."""

    def __init__(self, policy: HttpPolicy) -> None:
        self.policy = policy
        self._local = threading.local()

    @property
    def current(self) -> _Exchange | None:
        return getattr(self._local, "exchange", None)

    @contextmanager
    def exchange(self) -> Iterator[_Exchange]:
        exchange = _Exchange(self.policy.total_timeout_s)
        watchdog = threading.Timer(self.policy.total_timeout_s, exchange.expire)
        watchdog.daemon = True
        outer, self._local.exchange = self.current, exchange
        watchdog.start()
        try:
            yield exchange
        finally:
            exchange.finish()
            watchdog.cancel()
            self._local.exchange = outer

    def check(self, wait_s: float = 0.0) -> None:
        if (exchange := self.current) is not None:
            exchange.check(wait_s)

    def addresses(self, host: str, port: int) -> list[str]:
        """Resolve ``host`` once; refuse it if it is not a listed private host and any address is
        private. The connection then goes to exactly these addresses (no second resolution)."""
        infos = socket.getaddrinfo(host, port, urllib3_connection.allowed_gai_family(), socket.SOCK_STREAM)
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if host.lower().rstrip(".") not in self.policy.private_hosts:
            for address in found:
                if _is_private_address(address):
                    raise _AddressRefused(host, address)
        return found


class _GuardedConnection:
    """Mixed into urllib3's connections: connect to the addresses checked in the same resolution
    (the Host header, TLS SNI and certificate check keep the host name), and join the request
    under way so that its deadline can end a read."""

    guard: _Guard  # set on the per-client subclass

    def _new_conn(self) -> socket.socket:
        conn: Any = self
        try:
            addresses = self.guard.addresses(conn.host, conn.port)
        except socket.gaierror as exc:
            raise NameResolutionError(conn.host, conn, exc) from exc
        error: OSError | None = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (address, conn.port), conn.timeout, source_address=conn.source_address,
                    socket_options=conn.socket_options,
                )
            except OSError as exc:
                error = exc
                continue
            if (exchange := self.guard.current) is not None:
                # a duplicate: TLS takes over this socket's descriptor, and the handshake must be
                # within the deadline's reach too
                exchange.watch(sock.dup(), owned=True)
            sys.audit("http.client.connect", conn, conn.host, conn.port)
            return sock
        if isinstance(error, TimeoutError):
            raise ConnectTimeoutError(
                conn, f"Connection to {conn.host} timed out. (connect timeout={conn.timeout})") from error
        raise NewConnectionError(conn, f"Failed to establish a new connection: {error or 'no address'}") from error

    def _join_exchange(self) -> None:
        if (exchange := self.guard.current) is not None:
            sock = getattr(self, "sock", None)
            if sock is not None:  # a connection from the pool (a new one joins in _new_conn)
                exchange.watch(sock)
            exchange.check()

    def request(self, *args: Any, **kwargs: Any) -> None:
        self._join_exchange()
        super().request(*args, **kwargs)  # type: ignore[misc]

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        self._join_exchange()
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _GuardedRetry(Retry):
    """urllib3's Retry that stops at the deadline and refuses a Retry-After longer than the cap."""

    guard: _Guard  # set on the per-client subclass (Retry.new keeps the class)

    def increment(self, *args: Any, **kwargs: Any) -> Retry:
        self.guard.check()
        return super().increment(*args, **kwargs)

    def parse_retry_after(self, retry_after: str) -> float:
        seconds = super().parse_retry_after(retry_after)
        if seconds > self.guard.policy.max_retry_after_s:
            raise _RetryAfterTooLong(retry_after.strip(), seconds)
        self.guard.check(seconds)
        return seconds

    def sleep(self, response: Any = None) -> None:
        if self.respect_retry_after_header and response is not None and self.sleep_for_retry(response):
            return
        backoff = self.get_backoff_time()
        self.guard.check(backoff)
        if backoff > 0:
            time.sleep(backoff)


class _GuardedAdapter(HTTPAdapter):
    """An adapter whose pools make guarded connections for one client."""

    def __init__(self, guard: _Guard, **kwargs: Any) -> None:
        http = type("GuardedHTTPConnection", (_GuardedConnection, HTTPConnection), {"guard": guard})
        https = type("GuardedHTTPSConnection", (_GuardedConnection, HTTPSConnection), {"guard": guard})
        self._pool_classes = {
            "http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes


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
        self._guard = _Guard(policy)
        self.session = self._make_session()

    def _make_session(self) -> requests.Session:
        retry_class = type("ClientRetry", (_GuardedRetry,), {"guard": self._guard})
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
        adapter = _GuardedAdapter(self._guard, max_retries=retry)
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
                self._private_checked[host] = _is_private(host)
            if self._private_checked[host]:
                raise PolicyError(f"refused {url}: {host!r} resolves to a private or loopback address")

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
        if response.status >= 400:
            raise FetchError(f"GET {response.url}: HTTP {response.status}")
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
                        raise FetchError(
                            f"GET {target}: HTTP {raw.status_code} after {self.policy.max_attempts} attempts"
                        )
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
        except _DeadlineExceeded:
            raise self._deadline_error(label) from None
        except _RetryAfterTooLong as exc:
            raise FetchError(
                f"{label}: the server asked us to wait {exc.seconds:,.0f} s (Retry-After: {exc.header}), "
                f"more than the {self.policy.max_retry_after_s:g} s we wait (max_retry_after_s); giving up"
            ) from None
        except _AddressRefused as exc:
            raise PolicyError(
                f"refused {target}: {exc.host!r} resolves to {exc.address}, a private or loopback address, "
                "when connecting"
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

    def _read_upto(self, raw: requests.Response, label: str, exchange: _Exchange, cap: int) -> bytes:
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
        except _DeadlineExceeded:
            raise self._deadline_error(label) from None
        except requests.exceptions.RequestException as exc:
            if exchange.expired:
                raise self._deadline_error(label) from None
            raise FetchError(f"{label}: body could not be read: {exc}") from None
        if exchange.expired:  # a body without a length ends quietly when its connection is shut
            raise self._deadline_error(label)
        return b"".join(chunks)

    def _read_capped(self, raw: requests.Response, label: str, exchange: _Exchange) -> bytes:
        cap = self.policy.max_body_bytes
        declared = raw.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise FetchError(f"{label}: response of {int(declared):,} bytes exceeds the cap of {cap:,}")
        body = self._read_upto(raw, label, exchange, cap)
        if len(body) > cap:
            raise FetchError(f"{label}: response exceeds the cap of {cap:,} bytes")
        return body

    def _read_robots(self, raw: requests.Response, label: str, exchange: _Exchange) -> bytes:
        """robots.txt up to ``max_robots_bytes``; past that the rest is not read, and the line the
        cap cuts is dropped (RFC 9309 section 2.5 lets a crawler parse only the first 500 KiB)."""
        cap = self.policy.max_robots_bytes
        body = self._read_upto(raw, label, exchange, cap)
        if len(body) > cap:
            body = body[:cap]
            body = body[: body.rfind(b"\n") + 1]
        return body
