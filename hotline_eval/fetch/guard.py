"""What the connections and retries of one ``HttpClient`` consult (issue #21): the private-address check
made on the very addresses a connection then goes to, so that a name re-bound after the check (DNS
rebinding) cannot reach into the local network; a total deadline per request, which a watchdog enforces
by shutting the request's sockets, so that a body dripped a byte at a time cannot stretch it; and a cap on
a server's ``Retry-After``. The client (``hotline_eval.fetch.http``) mounts ``GuardedAdapter`` and a
``GuardedRetry`` subclass on its session and turns the exceptions raised here into clear errors."""

from __future__ import annotations

import ipaddress
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection
from urllib3.util.retry import Retry

from hotline_eval.errors import FetchError, is_client_error
from hotline_eval.fetch.policy import HttpPolicy


def is_private_address(text: str) -> bool:
    """Whether an address (IPv4, IPv6, IPv4-mapped) is private, loopback, link-local or otherwise not public."""
    address = ipaddress.ip_address(text.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_reserved
            or address.is_multicast or address.is_unspecified)


def resolves_to_private(host: str) -> bool:
    """Whether any address ``host`` resolves to is private (``HttpClient.check_url``, before connecting)."""
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise FetchError(f"cannot resolve host {host!r}: {exc}") from None
    return any(is_private_address(info[4][0]) for info in infos)


class DeadlineExceeded(Exception):
    """The request under way ran out of its total time (or a wait would take it past it)."""


class RetryAfterTooLong(Exception):
    def __init__(self, header: str, seconds: float) -> None:
        super().__init__(header)
        self.header, self.seconds = header, seconds


class AddressRefused(Exception):
    def __init__(self, host: str, address: str) -> None:
        super().__init__(host)
        self.host, self.address = host, address


class Exchange:
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
            raise DeadlineExceeded

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


class Guard:
    """One client's rules as its connections and retries see them: which addresses a host may
    resolve to, how long a Retry-After may be, and the request under way in this thread."""

    def __init__(self, policy: HttpPolicy) -> None:
        self.policy = policy
        self._local = threading.local()

    @property
    def current(self) -> Exchange | None:
        return getattr(self._local, "exchange", None)

    @contextmanager
    def exchange(self) -> Iterator[Exchange]:
        exchange = Exchange(self.policy.total_timeout_s)
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
                if is_private_address(address):
                    raise AddressRefused(host, address)
        return found


class GuardedConnection:
    """Mixed into urllib3's connections: connect to the addresses checked in the same resolution
    (the Host header, TLS SNI and certificate check keep the host name), and join the request
    under way so that its deadline can end a read."""

    guard: Guard  # set on the per-client subclass

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


class GuardedRetry(Retry):
    """urllib3's Retry that stops at the deadline, refuses a Retry-After longer than the cap, and never
    retries a client error that asking again cannot change (a 4xx but 408/429)."""

    guard: Guard  # set on the per-client subclass (Retry.new keeps the class)

    def increment(self, *args: Any, **kwargs: Any) -> Retry:
        self.guard.check()
        return super().increment(*args, **kwargs)

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        # a 4xx but 408/429 is never retried, Retry-After or not (urllib3 retries a 413 that carries one)
        if is_client_error(status_code):
            return False
        return super().is_retry(method, status_code, has_retry_after)

    def parse_retry_after(self, retry_after: str) -> float:
        seconds = super().parse_retry_after(retry_after)
        if seconds > self.guard.policy.max_retry_after_s:
            raise RetryAfterTooLong(retry_after.strip(), seconds)
        self.guard.check(seconds)
        return seconds

    def sleep(self, response: Any = None) -> None:
        if self.respect_retry_after_header and response is not None and self.sleep_for_retry(response):
            return
        backoff = self.get_backoff_time()
        self.guard.check(backoff)
        if backoff > 0:
            time.sleep(backoff)


class GuardedAdapter(HTTPAdapter):
    """An adapter whose pools make guarded connections for one client."""

    def __init__(self, guard: Guard, **kwargs: Any) -> None:
        http = type("GuardedHTTPConnection", (GuardedConnection, HTTPConnection), {"guard": guard})
        https = type("GuardedHTTPSConnection", (GuardedConnection, HTTPSConnection), {"guard": guard})
        self._pool_classes = {
            "http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes

