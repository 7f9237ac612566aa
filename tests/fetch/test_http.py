"""The HTTP layer against a real loopback server: retries, timeouts, politeness, safety, archive, replay."""

from __future__ import annotations

import time

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from hotline_eval.errors import FetchError, PolicyError, ReplayMissError
from hotline_eval.fetch.archive import Archive
from hotline_eval.fetch.http import HttpClient, HttpPolicy
from tests.helpers import make_client


def test_429_with_retry_after_then_success(server: HTTPServer, client: HttpClient) -> None:
    server.expect_oneshot_request("/data").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "1"})
    )
    server.expect_request("/data").respond_with_json({"ok": True})
    started = time.monotonic()
    response = client.get(server.url_for("/data"))
    assert response.json() == {"ok": True}
    assert time.monotonic() - started >= 0.95, "Retry-After: 1 was not honoured"


def test_500_until_retries_are_spent_is_a_clear_error(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/broken").respond_with_data("oops", status=500)
    with pytest.raises(FetchError, match=r"/broken: HTTP 500 after 3 attempts"):
        client.get(server.url_for("/broken"))
    hits = [r for r, _ in server.log if r.path == "/broken"]
    assert len(hits) == 3


def test_read_timeout_is_a_clear_error(server: HTTPServer, tmp_path) -> None:
    def slow(_request):
        time.sleep(0.6)
        return Response("late")

    server.expect_request("/slow").respond_with_handler(slow)
    client = make_client(tmp_path, read_timeout_s=0.2, max_attempts=2)
    with pytest.raises(FetchError, match=r"/slow: read timed out after 2 attempts"):
        client.get(server.url_for("/slow"))


def test_robots_disallow_names_the_url(httpserver: HTTPServer, tmp_path) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("User-agent: *\nDisallow: /private/\n")
    httpserver.expect_request("/private/page").respond_with_data("secret")
    client = make_client(tmp_path)
    with pytest.raises(PolicyError, match=r"refused http://localhost:\d+/private/page: disallowed by robots.txt"):
        client.get(httpserver.url_for("/private/page"))
    assert not [r for r, _ in httpserver.log if r.path == "/private/page"]


def test_redirect_to_unlisted_host_is_refused(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/moved").respond_with_response(
        Response("", status=302, headers={"Location": "https://evil.example.net/steal"})
    )
    with pytest.raises(PolicyError, match=r"refused https://evil.example.net/steal: host 'evil.example.net'"):
        client.get(server.url_for("/moved"))


def test_redirect_to_unlisted_loopback_address_is_refused(server: HTTPServer, client: HttpClient) -> None:
    # 127.0.0.1 is the same machine as the allowed 'localhost' but was never listed
    server.expect_request("/moved").respond_with_response(
        Response("", status=301, headers={"Location": f"http://127.0.0.1:{server.port}/admin"})
    )
    with pytest.raises(PolicyError, match=r"host '127\.0\.0\.1' is not in this source's allow-list"):
        client.get(server.url_for("/moved"))


def test_listed_host_resolving_to_loopback_is_refused_unless_marked_private(server: HTTPServer, tmp_path) -> None:
    server.expect_request("/x").respond_with_data("x")
    client = make_client(tmp_path, private_hosts=frozenset())
    # the refusal names the setting that allows a local mirror (issue #19, defect 9)
    with pytest.raises(PolicyError, match="resolves to a private or loopback address; to fetch from a local "
                                          "mirror, list its host in HOTLINE_EVAL_PRIVATE_HOSTS"):
        client.get(server.url_for("/x"))


def test_redirect_within_allowed_host_is_followed(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/old").respond_with_response(Response("", status=301, headers={"Location": "/new"}))
    server.expect_request("/new").respond_with_data("here")
    assert client.get(server.url_for("/old")).text() == "here"


def test_oversize_body_is_refused(server: HTTPServer, tmp_path) -> None:
    server.expect_request("/big").respond_with_data(b"x" * 300_000)
    client = make_client(tmp_path, max_body_bytes=100_000)
    with pytest.raises(FetchError, match=r"/big: response of 300,000 bytes exceeds the cap of 100,000"):
        client.get(server.url_for("/big"))


def test_oversize_chunked_body_without_length_is_refused(server: HTTPServer, tmp_path) -> None:
    def stream(_request):
        return Response((b"y" * 10_000 for _ in range(30)), headers={"Content-Type": "text/plain"})

    server.expect_request("/stream").respond_with_handler(stream)
    client = make_client(tmp_path, max_body_bytes=100_000)
    with pytest.raises(FetchError, match="exceeds the cap of 100,000 bytes"):
        client.get(server.url_for("/stream"))


def test_gbk_page_is_decoded(server: HTTPServer, client: HttpClient) -> None:
    # a Beijing 12345-style page declaring gb2312 in <meta> only; 镕 is outside GB2312, inside GBK
    html = '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312"></head>' \
           "<body><h1>北京12345市民服务热线</h1><p>接诉即办 朱镕基</p></body></html>"
    server.expect_request("/bj").respond_with_data(html.encode("gbk"), content_type="text/html")
    text = client.get(server.url_for("/bj")).text()
    assert "北京12345市民服务热线" in text and "朱镕基" in text


def test_euc_kr_page_is_decoded(server: HTTPServer, client: HttpClient) -> None:
    # the charset is declared in the HTTP header only, as many Korean government servers do
    html = "<html><body><h1>120다산콜재단</h1><p>24시간 상담 똠방각하</p></body></html>"
    server.expect_request("/seoul").respond_with_data(html.encode("cp949"), content_type="text/html; charset=EUC-KR")
    text = client.get(server.url_for("/seoul")).text()
    assert "120다산콜재단" in text and "똠방각하" in text


def test_user_agent_identifies_us(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/ua").respond_with_data("ok")
    client.get(server.url_for("/ua"))
    request = next(r for r, _ in server.log if r.path == "/ua")
    assert "hotline_eval" in request.headers["User-Agent"] and "+https://" in request.headers["User-Agent"]


def test_min_interval_per_host(server: HTTPServer, tmp_path) -> None:
    server.expect_request("/tick").respond_with_data("ok")
    client = make_client(tmp_path, min_interval_s=0.3)
    started = time.monotonic()
    for _ in range(3):
        client.get(server.url_for("/tick"))
    # robots.txt + 3 requests to one host: at least 3 intervals
    assert time.monotonic() - started >= 0.85


def test_replay_is_byte_identical_and_secret_headers_stay_out(server: HTTPServer, tmp_path) -> None:
    body = b'{"unique_key":"1","descriptor":"Noise: Bass \\u00e9"}\n' + bytes(range(256))
    server.expect_request("/resource/x.json").respond_with_data(body, content_type="application/json")
    live = make_client(tmp_path)
    fetched = live.get(server.url_for("/resource/x.json"), {"$limit": 2, "$offset": 0},
                       headers={"X-App-Token": "s3cret"})
    replay = HttpClient(live.policy, mode="replay", replay=Archive(tmp_path / "archive"))
    replayed = replay.get(server.url_for("/resource/x.json"), {"$offset": 0, "$limit": 2})
    assert replayed.body == body == fetched.body
    assert replayed.sha256 == fetched.sha256
    archived_text = "".join(p.read_text() for p in (tmp_path / "archive" / "requests").glob("*.json"))
    assert "s3cret" not in archived_text


def test_replay_miss_names_the_request(tmp_path) -> None:
    replay = HttpClient(HttpPolicy(allowed_hosts=frozenset({"data.cityofnewyork.us"})), mode="replay",
                        replay=Archive(tmp_path))
    with pytest.raises(ReplayMissError, match=r"GET https://data.cityofnewyork.us/resource/erm2-nwe9.json\?"
                                              r"%24limit=5.*in "):
        replay.get("https://data.cityofnewyork.us/resource/erm2-nwe9.json", {"$limit": 5})


def test_http_error_status_is_an_error_not_data(server: HTTPServer, client: HttpClient) -> None:
    server.expect_request("/gone").respond_with_data("not here", status=404)
    with pytest.raises(FetchError, match="HTTP 404"):
        client.get(server.url_for("/gone"))
