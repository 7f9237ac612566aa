"""The HTTP layer against hostile servers (issue #21): a robots.txt gzip bomb, an app token chased
across hosts by a redirect, a body dripped a byte at a time, a huge Retry-After, a DNS rebind.
Every server is on loopback; caps and limits are small so each test takes about a second at most."""

from __future__ import annotations

import gzip
import shutil
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
import urllib.robotparser
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from assets.resources import LiveHttpResource
from hotline_eval.errors import FetchError, PolicyError
from tests.helpers import make_client

ROBOTS_RULES = b"User-agent: *\nDisallow: /private/\n"


def gzip_of_zeros(prefix: bytes, size: int) -> bytes:
    """``prefix`` followed by ``size`` zero bytes, gzip-compressed without ever holding them all."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    parts = [packer.compress(prefix)]
    block = bytes(1024 * 1024)
    for _ in range(size // len(block)):
        parts.append(packer.compress(block))
    parts.append(packer.flush())
    return b"".join(parts)


class _RawHandler(BaseHTTPRequestHandler):
    """Answers each path with a function of the handler; the per-server subclass sets ``routes``."""

    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]]
    stop: threading.Event

    def do_GET(self) -> None:
        self.routes[self.path](self)

    def log_message(self, *_args) -> None:
        pass


@contextmanager
def running_raw_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, dict, threading.Event]]:
    """A plain http.server on 127.0.0.1 (pytest-httpserver's werkzeug was seen to allocate ~10 MB of its
    own per response, which would blur a memory measurement, and cannot drip bytes): yields its
    base URL, the routes to fill, and an event that tells dripping handlers to stop."""
    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
    stop = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Raw", (_RawHandler,), {"routes": routes, "stop": stop}))
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}", routes, stop
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def raw_server() -> Iterator[tuple[str, dict, threading.Event]]:
    with running_raw_server() as started:
        yield started


def serve_bytes(body: bytes, **headers: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def handler(request: BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            request.send_header(name.replace("_", "-"), value)
        request.end_headers()
        request.wfile.write(body)
    return handler


def loopback_client(tmp_path, **overrides):
    settings = dict(allowed_hosts=frozenset({"127.0.0.1"}), private_hosts=frozenset({"127.0.0.1"}))
    return make_client(tmp_path, **{**settings, **overrides})


# --- 1. robots.txt is read to a cap, decompressed bytes counted ------------------------------------

def test_robots_gzip_bomb_is_read_only_to_the_cap(raw_server, tmp_path, monkeypatch) -> None:
    base, routes, _ = raw_server
    decompressed = 50 * 1024 * 1024
    bomb = gzip_of_zeros(ROBOTS_RULES, decompressed)
    assert len(bomb) < 100_000  # 50 MiB of zeros from a ~50 KB body
    routes["/robots.txt"] = serve_bytes(bomb, Content_Encoding="gzip", Content_Type="text/plain")
    routes["/public"] = serve_bytes(b"ok")
    parsed: list[int] = []
    parse = urllib.robotparser.RobotFileParser.parse
    monkeypatch.setattr(urllib.robotparser.RobotFileParser, "parse",
                        lambda self, lines: (parsed.append(sum(len(line) + 1 for line in lines)), parse(self, lines)))
    client = loopback_client(tmp_path)  # the default robots.txt cap, 500 KiB
    tracemalloc.start()
    try:
        assert client.get(base + "/public").text() == "ok"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the rules in the first 500 KiB are honoured; the rest was never decompressed into memory
    with pytest.raises(PolicyError, match=r"disallowed by robots\.txt"):
        client.get(base + "/private/page")
    assert parsed and parsed[0] <= 500 * 1024, f"robots.txt parsed from {parsed} characters"
    assert peak < 8 * 1024 * 1024, f"reading robots.txt peaked at {peak:,} bytes"


def test_robots_rules_past_the_cap_are_ignored(httpserver: HTTPServer, tmp_path) -> None:
    # RFC 9309 2.5: only the first max_robots_bytes are parsed; a line cut by the cap is dropped
    robots = b"User-agent: *\nDisallow: /early/\n" + b"#" * 100 + b"\nDisallow: /late/\n"
    httpserver.expect_request("/robots.txt").respond_with_data(
        gzip.compress(robots), headers={"Content-Encoding": "gzip"}, content_type="text/plain")
    httpserver.expect_request("/late/page").respond_with_data("fine")
    client = make_client(tmp_path, max_robots_bytes=64)
    with pytest.raises(PolicyError, match=r"disallowed by robots\.txt"):
        client.get(httpserver.url_for("/early/page"))
    assert client.get(httpserver.url_for("/late/page")).text() == "fine"


# --- 2. caller headers (the Socrata app token) go only to the URL's own host ----------------------

@pytest.fixture
def other_server() -> Iterator[HTTPServer]:
    """A second loopback server on another port (a different origin on the same host name)."""
    server = HTTPServer(host="localhost")
    server.start()
    server.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    yield server
    server.clear()
    server.stop()


@pytest.mark.parametrize("elsewhere", ["another host", "another port"])
def test_app_token_is_not_sent_to_another_host_on_redirect(server: HTTPServer, other_server: HTTPServer,
                                                           tmp_path, elsewhere: str) -> None:
    if elsewhere == "another host":  # the same server reached as 127.0.0.1: a different host name
        destination, landed = server, f"http://127.0.0.1:{server.port}/landing"
    else:
        destination, landed = other_server, other_server.url_for("/landing")
    destination.expect_request("/landing").respond_with_data("landed")
    server.expect_request("/resource/x.json").respond_with_response(
        Response("", status=302, headers={"Location": landed}))
    client = make_client(tmp_path, allowed_hosts=frozenset({"localhost", "127.0.0.1"}),
                         private_hosts=frozenset({"localhost", "127.0.0.1"}))
    response = client.get(server.url_for("/resource/x.json"), headers={"X-App-Token": "s3cret"})
    assert response.text() == "landed"
    first = next(r for r, _ in server.log if r.path == "/resource/x.json")
    assert first.headers.get("X-App-Token") == "s3cret"
    hops = [r for r, _ in destination.log if r.path == "/landing"]
    assert len(hops) == 1
    assert "X-App-Token" not in hops[0].headers


def test_app_token_follows_a_redirect_on_the_same_host(server: HTTPServer, tmp_path) -> None:
    server.expect_request("/old").respond_with_response(Response("", status=301, headers={"Location": "/new"}))
    server.expect_request("/new").respond_with_data("here")
    client = make_client(tmp_path)
    assert client.get(server.url_for("/old"), headers={"X-App-Token": "s3cret"}).text() == "here"
    assert [r.headers.get("X-App-Token") for r, _ in server.log if r.path in ("/old", "/new")] == ["s3cret"] * 2


# --- 3. a total deadline per request, and a cap on Retry-After -------------------------------------

def drip(payload: bytes, *, head: bool) -> Callable[[BaseHTTPRequestHandler], None]:
    """Send ``payload`` a byte every 0.2 s, after prompt headers or (``head`` false) with the status
    line and headers dripped too: a read timeout of 2 s never fires, as it restarts with every byte."""
    def handler(request: BaseHTTPRequestHandler) -> None:
        if head:
            request.send_response(200)
            request.send_header("Content-Length", str(len(payload)))
            request.end_headers()
            request.wfile.flush()
        for byte in payload:
            if request.stop.is_set():  # type: ignore[attr-defined]
                return
            try:
                request.wfile.write(bytes([byte]))
                request.wfile.flush()
            except OSError:  # the client hung up, as it should
                return
            time.sleep(0.2)
    return handler


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_slow_drip_fails_at_the_total_deadline(raw_server, tmp_path, path: str) -> None:
    base, routes, _ = raw_server
    routes["/drip"] = drip(b"x" * 100, head=True)
    routes["/drip-headers"] = drip(b"HTTP/1.0 200 OK\r\nX-Slow: " + b"a" * 100 + b"\r\nContent-Length: 2\r\n\r\nok",
                                   head=False)
    client = loopback_client(tmp_path, respect_robots=False, read_timeout_s=2.0, total_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(FetchError, match=rf"GET {base}{path}: did not finish within the total time limit of 1 s"):
        client.get(base + path)
    assert time.monotonic() - started < 2.0


def test_huge_retry_after_fails_at_once_naming_url_and_value(server: HTTPServer, tmp_path) -> None:
    server.expect_request("/busy").respond_with_response(
        Response("come back tomorrow", status=503, headers={"Retry-After": "99999"}))
    client = make_client(tmp_path, max_retry_after_s=1.0)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"GET http://localhost:\d+/busy: .*Retry-After: 99999.*"
                                         r"more than the 1 s we wait"):
        client.get(server.url_for("/busy"))
    assert time.monotonic() - started < 1.5
    assert len([r for r, _ in server.log if r.path == "/busy"]) == 1


def test_retry_wait_past_the_deadline_fails_at_once(server: HTTPServer, tmp_path) -> None:
    server.expect_request("/later").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "5"}))
    client = make_client(tmp_path, max_retry_after_s=10.0, total_timeout_s=1.0)
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"/later: did not finish within the total time limit of 1 s"):
        client.get(server.url_for("/later"))
    assert time.monotonic() - started < 1.0


# --- 4. the connection goes to the address that was checked (no DNS rebinding) -------------------

def fake_dns(monkeypatch, name: str, answers: list[str]) -> list[str]:
    """Resolve ``name`` to each of ``answers`` in turn (the last one from then on); every other
    name resolves as usual. Returns the log of addresses handed out for ``name``."""
    real = socket.getaddrinfo
    handed: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host != name:
            return real(host, port, family, type, proto, flags)
        address = answers[min(len(handed), len(answers) - 1)]
        handed.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return handed


@pytest.mark.parametrize("respect_robots", [True, False])
def test_dns_rebind_to_loopback_after_the_check_is_refused(httpserver: HTTPServer, tmp_path, monkeypatch,
                                                           respect_robots: bool) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    httpserver.expect_request("/admin").respond_with_data("the keys")
    # checked while public (an address never connected to), then re-bound to the loopback server
    handed = fake_dns(monkeypatch, "rebind.test", ["93.184.216.34", "127.0.0.1"])
    client = make_client(tmp_path, allowed_hosts=frozenset({"rebind.test"}), private_hosts=frozenset(),
                         respect_robots=respect_robots, max_attempts=1)
    with pytest.raises(PolicyError, match=r"refused http://rebind.test:\d+/.*'rebind.test' resolves to 127.0.0.1"):
        client.get(f"http://rebind.test:{httpserver.port}/admin")
    assert handed[0] == "93.184.216.34" and "127.0.0.1" in handed[1:]
    assert httpserver.log == []


def test_listed_private_host_is_connected_at_its_resolved_address(httpserver: HTTPServer, tmp_path,
                                                                  monkeypatch) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nAllow: /\n")
    httpserver.expect_request("/data").respond_with_json({"ok": True})
    fake_dns(monkeypatch, "mirror.test", ["127.0.0.1"])
    client = make_client(tmp_path, allowed_hosts=frozenset({"mirror.test"}),
                         private_hosts=frozenset({"mirror.test"}))
    assert client.get(f"http://mirror.test:{httpserver.port}/data").json() == {"ok": True}
    request = next(r for r, _ in httpserver.log if r.path == "/data")
    assert request.headers["Host"] == f"mirror.test:{httpserver.port}"


@pytest.fixture
def tls_cert(tmp_path) -> tuple[str, str]:
    """A self-signed certificate for mirror.test only (not for 127.0.0.1), made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=mirror.test",
                    "-addext", "subjectAltName=DNS:mirror.test"], check=True, capture_output=True, timeout=30)
    return str(cert), str(key)


@pytest.mark.parametrize("name", ["mirror.test", "other.test"])
def test_tls_to_the_resolved_address_still_verifies_the_host_name(tls_cert, tmp_path, monkeypatch,
                                                                  name: str) -> None:
    cert, key = tls_cert
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with running_raw_server(context) as (base, routes, _):
        port = base.rsplit(":", 1)[1]
        hosts: list[str] = []
        routes["/x"] = lambda request: (hosts.append(request.headers["Host"]), serve_bytes(b"tls ok")(request))
        fake_dns(monkeypatch, name, ["127.0.0.1"])
        client = make_client(tmp_path, allowed_hosts=frozenset({name}), private_hosts=frozenset({name}),
                             respect_robots=False, max_attempts=1)
        for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):  # requests would prefer these to verify
            monkeypatch.delenv(variable, raising=False)
        client.session.verify = cert  # the certificate is its own authority
        if name == "mirror.test":  # connected to 127.0.0.1, verified as mirror.test, asked for as such
            assert client.get(f"https://{name}:{port}/x").text() == "tls ok"
            assert hosts == [f"mirror.test:{port}"]
        else:  # the same address under a name the certificate does not cover is refused
            with pytest.raises(FetchError, match=r"connection failed: .*Hostname mismatch, "
                                                 r"certificate is not valid for .other\.test"):
                client.get(f"https://{name}:{port}/x")
            assert hosts == []


def test_http_resource_passes_the_new_limits_on(tmp_path) -> None:
    http = LiveHttpResource(archive_dir=str(tmp_path / "a"), total_timeout_s=3.0, max_retry_after_s=2.0,
                            max_robots_bytes=1000)
    policy = http.client(frozenset({"data.example.org"})).policy
    assert (policy.total_timeout_s, policy.max_retry_after_s, policy.max_robots_bytes) == (3.0, 2.0, 1000)
    defaults = LiveHttpResource(archive_dir="a").client(frozenset()).policy
    assert (defaults.total_timeout_s, defaults.max_retry_after_s, defaults.max_robots_bytes) == \
        (600.0, 120.0, 500 * 1024)
