"""App exceptions and invalid ASGI messages: 500s, aborted responses, and the
server carries on serving."""

from __future__ import annotations

import http.client

import pytest
import requests
from conftest import Server, ServerFactory
from rawhttp import IncompleteResponse, RawConnection, request_bytes


@pytest.fixture(scope="module")
def errors_server(module_servers: ServerFactory) -> Server:
    return module_servers("errors_app:app")


@pytest.fixture(scope="module")
def invalid_server(module_servers: ServerFactory) -> Server:
    return module_servers("invalid_app:app")


def assert_still_serving(server: Server) -> None:
    response = requests.get(server.url("/ok"), timeout=15)
    assert response.status_code == 200
    assert response.text == "ok"


def test_exception_before_start_gives_500_and_traceback(errors_server: Server) -> None:
    offset = errors_server.stderr_size()
    response = requests.get(errors_server.url("/before"), timeout=15)
    assert response.status_code == 500
    logged = errors_server.wait_for_stderr("covet-test-error-before-start", offset)
    assert "Traceback" in logged
    assert "RuntimeError: covet-test-error-before-start" in logged
    assert_still_serving(errors_server)


def test_repeated_exceptions_keep_server_alive(errors_server: Server) -> None:
    for _ in range(5):
        assert requests.get(errors_server.url("/before"), timeout=15).status_code == 500
        assert_still_serving(errors_server)


def test_500_on_keep_alive_connection_then_next_request(errors_server: Server) -> None:
    assert errors_server.port is not None
    with RawConnection.tcp(errors_server.port) as conn:
        conn.send(request_bytes("GET", "/before"))
        first = conn.read_response()
        assert first.status == 500
        if not conn.closed_by_peer(timeout=0.5):
            conn.send(request_bytes("GET", "/ok"))
            second = conn.read_response()
            assert (second.status, second.body) == (200, b"ok")
    assert_still_serving(errors_server)


def read_aborted(server: Server, path: str) -> bytes:
    """Request `path`; the response must be cut off (the connection closes
    before a complete response). Returns whatever arrived before the close:
    the status line and part of the body, or nothing at all."""
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(request_bytes("GET", path))
        with pytest.raises(IncompleteResponse):
            conn.read_response()
        return conn.buffer


def test_exception_after_start_aborts_chunked_response(errors_server: Server) -> None:
    offset = errors_server.stderr_size()
    read_aborted(errors_server, "/after")
    logged = errors_server.wait_for_stderr("covet-test-error-after-start", offset)
    assert "RuntimeError: covet-test-error-after-start" in logged
    assert_still_serving(errors_server)


def test_exception_after_start_with_content_length(errors_server: Server) -> None:
    offset = errors_server.stderr_size()
    read_aborted(errors_server, "/after-content-length")
    logged = errors_server.wait_for_stderr("covet-test-error-after-start-cl", offset)
    assert "RuntimeError: covet-test-error-after-start-cl" in logged
    assert_still_serving(errors_server)


def test_exception_after_start_with_content_length_http_client(
    errors_server: Server,
) -> None:
    """http.client must not see a complete response: either no response at
    all or a body shorter than the announced Content-Length."""
    assert errors_server.port is not None
    conn = http.client.HTTPConnection("127.0.0.1", errors_server.port, timeout=15)
    try:
        conn.request("GET", "/after-content-length")
        with pytest.raises(
            (http.client.IncompleteRead, http.client.RemoteDisconnected)
        ):
            conn.getresponse().read()
    finally:
        conn.close()
    assert_still_serving(errors_server)


@pytest.mark.parametrize(
    ("path", "mentioned"),
    [
        ("/wrong-type", "http.response.bogus"),
        ("/body-before-start", "http.response.body"),
        ("/missing-status", "status"),
    ],
)
def test_invalid_message_before_start_gives_500(
    invalid_server: Server, path: str, mentioned: str
) -> None:
    offset = invalid_server.stderr_size()
    response = requests.get(invalid_server.url(path), timeout=15)
    assert response.status_code == 500
    logged = invalid_server.wait_for_stderr(mentioned, offset)
    assert "error" in logged.lower(), f"no error logged for {path}: {logged!r}"
    assert mentioned in logged, (
        f"log for {path} does not mention {mentioned!r}: {logged!r}"
    )
    assert_still_serving(invalid_server)


def test_non_bytes_body_is_rejected(invalid_server: Server) -> None:
    assert invalid_server.port is not None
    offset = invalid_server.stderr_size()
    with RawConnection.tcp(invalid_server.port) as conn:
        conn.send(request_bytes("GET", "/str-body"))
        try:
            response = conn.read_response()
        except IncompleteResponse:
            pass  # start already went out: aborting the response is fine
        else:
            assert response.status == 500, (response.status, response.body)
    logged = invalid_server.wait_for_stderr("error", offset)
    assert "error" in logged.lower()
    assert_still_serving(invalid_server)


def test_send_after_response_complete(invalid_server: Server) -> None:
    response = requests.get(invalid_server.url("/send-after-complete"), timeout=15)
    assert response.status_code == 200
    assert response.text == "done"
    assert_still_serving(invalid_server)


def test_app_returning_without_response_gives_500(invalid_server: Server) -> None:
    response = requests.get(invalid_server.url("/no-response"), timeout=15)
    assert response.status_code == 500
    assert_still_serving(invalid_server)


def test_app_returning_with_incomplete_body_aborts(invalid_server: Server) -> None:
    """Returning before more_body=False must not look like a complete response."""
    read_aborted(invalid_server, "/incomplete")
    assert_still_serving(invalid_server)


def test_header_injection_is_rejected(invalid_server: Server) -> None:
    assert invalid_server.port is not None
    with RawConnection.tcp(invalid_server.port) as conn:
        conn.send(request_bytes("GET", "/bad-header-value"))
        try:
            response = conn.read_response()
        except IncompleteResponse:
            response = None
    if response is not None:
        assert response.status == 500
        assert response.header("x-evil") is None
    assert_still_serving(invalid_server)
