"""What receive() returns once the response is done or the client has gone."""

from __future__ import annotations

import http.client
import uuid

import pytest
import requests
from conftest import Server, ServerFactory
from rawhttp import RawConnection, request_bytes


@pytest.fixture(scope="module")
def server(module_servers: ServerFactory) -> Server:
    return module_servers("disconnect_app:app")


def result(server: Server, key: str) -> str | None:
    response = requests.get(server.url(f"/result?key={key}"), timeout=30)
    assert response.status_code == 200
    value: str | None = response.json()["result"]
    return value


def test_receive_after_response_complete_is_disconnect(server: Server) -> None:
    """The probing connection stays open (keep-alive) while we ask for the
    result on another one: receive() must not wait for the socket to close."""
    assert server.port is not None
    key = uuid.uuid4().hex
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        conn.request("POST", f"/probe?key={key}", body=b"some body")
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == b'{"probe": "' + key.encode() + b'"}'
        assert result(server, key) == "http.disconnect"
    finally:
        conn.close()


def test_client_going_away_gives_disconnect(server: Server) -> None:
    assert server.port is not None
    key = uuid.uuid4().hex
    with RawConnection.tcp(server.port) as conn:
        conn.send(request_bytes("GET", f"/hold?key={key}"))
        head = conn.read_head()
        assert head.status == 200
    assert result(server, key) == "http.disconnect"


def test_send_after_client_disconnect_raises_oserror(server: Server) -> None:
    """ASGI spec_version 2.4: send() on a closed connection raises OSError."""
    assert server.port is not None
    key = uuid.uuid4().hex
    with RawConnection.tcp(server.port) as conn:
        conn.send(request_bytes("GET", f"/until-closed?key={key}"))
        head = conn.read_head()
        assert head.status == 200
        assert conn.read_chunk()  # the stream is flowing
    outcome = result(server, key)
    assert outcome is not None and outcome.startswith("OSError:"), outcome


@pytest.mark.parametrize("keep_alive", [True, False])
def test_closing_message_after_a_complete_sized_body_is_not_a_disconnect(
    server: Server, keep_alive: bool
) -> None:
    """All `content-length` bytes sent with `more_body`, then the closing empty message (Starlette's
    BaseHTTPMiddleware always sends one): the client has its whole response and is still connected,
    so that last send succeeds, as under uvicorn."""
    assert server.port is not None
    key = uuid.uuid4().hex
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    try:
        headers = {} if keep_alive else {"connection": "close"}
        conn.request("GET", f"/sized-then-close?key={key}", headers=headers)
        response = conn.getresponse()
        assert response.status == 200
        assert response.read() == b"hello"
        assert result(server, key) == "no-error"
    finally:
        conn.close()
