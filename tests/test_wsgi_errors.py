"""Errors in WSGI apps: exc_info, exceptions before and after the head,
invalid start_response arguments and body items."""

from __future__ import annotations

import pytest
import requests
from conftest import ServerFactory
from rawhttp import IncompleteResponse, RawConnection, request_bytes
from wsgi_support import WsgiServer, new_key, start_wsgi_app

LOG_LINE = "Exception in WSGI application"


@pytest.fixture(scope="module")
def wsgi(
    module_servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> WsgiServer:
    return start_wsgi_app(module_servers, tmp_path_factory.mktemp("markers"))


def still_serving(wsgi: WsgiServer) -> None:
    response = requests.get(wsgi.url("/hello"), timeout=15)
    assert response.status_code == 200
    assert response.content == b"hello world"


def test_exc_info_before_head_replaces_status(wsgi: WsgiServer) -> None:
    response = requests.get(wsgi.url("/exc-before"), timeout=15)
    assert response.status_code == 503
    assert response.content == b"handled"


def test_second_start_response_without_exc_info_raises(wsgi: WsgiServer) -> None:
    response = requests.get(wsgi.url("/double-start"), timeout=15)
    assert response.status_code == 200
    assert response.content == b"raised:RuntimeError"


def test_exc_info_after_head_reraises_and_aborts(wsgi: WsgiServer) -> None:
    """write() sent the head and b"partial"; the error that follows must abort
    the response (no terminating chunk) after that data, not instead of it.
    Repeated, because losing the written data is a race."""
    for _ in range(5):
        key = new_key()
        start = wsgi.server.stderr_size()
        with RawConnection.tcp(wsgi.port) as conn:
            conn.send(request_bytes("GET", f"/exc-after?key={key}"))
            head = conn.read_head()
            assert head.status == 200
            assert conn.read_chunk() == b"partial"
            # no terminating chunk: the response must not look complete
            with pytest.raises(IncompleteResponse):
                while conn.read_chunk() is not None:
                    pass
        assert wsgi.marker(key) == "re-raised boom-after-head\n"
        logged = wsgi.server.wait_for_stderr("boom-after-head", start)
        assert LOG_LINE in logged
        assert "ValueError: boom-after-head" in logged
    still_serving(wsgi)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/raise-before", "RuntimeError: boom-before-start"),
        ("/non-bytes", "TypeError"),
        ("/bad-header?kind=value", "TypeError"),
        ("/bad-header?kind=name", "TypeError"),
        ("/bad-header?kind=newline", "x-split"),
        ("/bad-header?kind=status", '"OK"'),
        ("/bad-header?kind=not-a-list", "TypeError"),
    ],
)
def test_error_before_body_is_500(wsgi: WsgiServer, target: str, message: str) -> None:
    start = wsgi.server.stderr_size()
    with RawConnection.tcp(wsgi.port) as conn:
        conn.send(request_bytes("GET", target))
        response = conn.read_response()
        assert response.status == 500
        assert b"should not be sent" not in response.body
        assert response.header("x-split") is None
        assert response.header("injected") is None
        # the connection is still usable after a 500
        conn.send(request_bytes("GET", "/hello"))
        assert conn.read_response().body == b"hello world"
    logged = wsgi.server.wait_for_stderr(message, start)
    assert LOG_LINE in logged
    assert message in logged


def test_raise_before_start_logs_traceback(wsgi: WsgiServer) -> None:
    start = wsgi.server.stderr_size()
    assert requests.get(wsgi.url("/raise-before"), timeout=15).status_code == 500
    logged = wsgi.server.wait_for_stderr("boom-before-start", start)
    assert "Traceback (most recent call last)" in logged
    assert "wsgi_app.py" in logged


def test_error_during_iteration_after_head_aborts_and_closes(wsgi: WsgiServer) -> None:
    """The generator yields two blocks and then raises: the response cannot be
    completed, so the connection is aborted, and close() is still called."""
    key = new_key()
    start = wsgi.server.stderr_size()
    with RawConnection.tcp(wsgi.port) as conn:
        conn.send(request_bytes("GET", f"/raise-in-iter?key={key}"))
        with pytest.raises(IncompleteResponse):
            conn.read_response()
    assert wsgi.marker(key) == "closed after 2\n"
    logged = wsgi.server.wait_for_stderr("boom-in-iter", start)
    assert LOG_LINE in logged
    assert "RuntimeError: boom-in-iter" in logged
    still_serving(wsgi)


def test_blocks_before_an_iteration_error_are_delivered(wsgi: WsgiServer) -> None:
    """Blocks the app produced before raising reach the client (head, "one",
    "two"), then the connection is aborted. Repeated: dropping them is a race."""
    for _ in range(5):
        with RawConnection.tcp(wsgi.port) as conn:
            conn.send(request_bytes("GET", "/raise-in-iter"))
            head = conn.read_head()
            assert head.status == 200
            received = b""
            with pytest.raises(IncompleteResponse):
                while (chunk := conn.read_chunk()) is not None:
                    received += chunk
            assert received == b"onetwo"


def test_many_errors_do_not_exhaust_threads(wsgi: WsgiServer) -> None:
    """More failing requests than worker threads: each thread recovers."""
    for _ in range(20):
        assert requests.get(wsgi.url("/raise-before"), timeout=15).status_code == 500
    still_serving(wsgi)
