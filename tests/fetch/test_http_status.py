"""Error statuses (issue #19, 7): a 4xx that asking again cannot change (404, 410, ...) fails at once, is
not retried by the HTTP layer nor by a RetryPolicy (``is_retryable``), and its error names the status
and the URL; 408 and 429 stay retryable, as do 5xx."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from hotline_eval.errors import FetchError, is_permanent, is_retryable
from hotline_eval.fetch.http import HttpClient


def _hits(server: HTTPServer, path: str) -> int:
    return len([r for r, _ in server.log if r.path == path])


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_a_client_error_fails_at_once_and_is_not_retryable(server: HTTPServer, client: HttpClient,
                                                           status: int) -> None:
    server.expect_request("/gone").respond_with_data("not here", status=status)
    url = server.url_for("/gone")
    with pytest.raises(FetchError) as raised:
        client.get(url)
    message = str(raised.value)
    assert f"HTTP {status}" in message and url in message
    assert not is_retryable(raised.value) and is_permanent(raised.value)
    assert _hits(server, "/gone") == 1


def test_a_client_error_with_retry_after_is_not_retried_either(server: HTTPServer, client: HttpClient) -> None:
    # urllib3 retries a 413 that carries Retry-After; a GET's 413 will not change by asking again
    server.expect_request("/big").respond_with_response(Response("too big", status=413, headers={"Retry-After": "0"}))
    with pytest.raises(FetchError, match=r"/big: HTTP 413") as raised:
        client.get(server.url_for("/big"))
    assert not is_retryable(raised.value)
    assert _hits(server, "/big") == 1


@pytest.mark.parametrize("status", [408, 429, 500, 503])
def test_timeouts_throttling_and_server_errors_stay_retryable(server: HTTPServer, client: HttpClient,
                                                              status: int) -> None:
    answer = Response("later", status=status, headers={"Retry-After": "0"})
    server.expect_request("/later").respond_with_response(answer)
    url = server.url_for("/later")
    with pytest.raises(FetchError) as raised:
        client.get(url)
    assert f"HTTP {status}" in str(raised.value) and url in str(raised.value)
    assert is_retryable(raised.value) and not is_permanent(raised.value)
