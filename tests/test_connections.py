"""HTTP/1.1 connection handling: keep-alive, pipelining, close semantics."""

from __future__ import annotations

import json

import requests
from conftest import Server, ServerFactory
from rawhttp import IncompleteResponse, RawConnection, request_bytes


def test_keep_alive_reuses_connection(echo_server: Server) -> None:
    with requests.Session() as session:
        ports = set()
        for index in range(5):
            response = session.get(echo_server.url(f"/ka/{index}"), timeout=15)
            assert response.status_code == 200
            assert response.json()["path"] == f"/ka/{index}"
            assert response.headers.get("connection", "").lower() != "close"
            ports.add(response.json()["client"]["items"][1])
    assert len(ports) == 1, f"requests used several connections: {ports}"


def test_keep_alive_raw(echo_server: Server) -> None:
    assert echo_server.port is not None
    with RawConnection.tcp(echo_server.port) as conn:
        for index in range(3):
            conn.send(request_bytes("POST", f"/raw/{index}", body=b"x" * index))
            response = conn.read_response()
            scope = json.loads(response.body)
            assert scope["path"] == f"/raw/{index}"
            assert scope["body_length"] == index


def test_pipelining_preserves_order(echo_server: Server) -> None:
    assert echo_server.port is not None
    with RawConnection.tcp(echo_server.port) as conn:
        conn.send(
            request_bytes("GET", "/first?sleep=0.3")
            + request_bytes("POST", "/second", body=b"second-body")
            + request_bytes("GET", "/third")
        )
        responses = [conn.read_response() for _ in range(3)]
    scopes = [json.loads(response.body) for response in responses]
    assert [response.status for response in responses] == [200, 200, 200]
    assert [scope["path"] for scope in scopes] == ["/first", "/second", "/third"]
    assert scopes[1]["body"] == "second-body"


def test_connection_close_header(echo_server: Server) -> None:
    assert echo_server.port is not None
    with RawConnection.tcp(echo_server.port) as conn:
        conn.send(request_bytes("GET", "/bye", [("Connection", "close")]))
        response = conn.read_response()
        assert response.status == 200
        assert json.loads(response.body)["path"] == "/bye"
        assert conn.closed_by_peer(timeout=10)


def test_http_1_0_closes_connection(echo_server: Server) -> None:
    assert echo_server.port is not None
    with RawConnection.tcp(echo_server.port) as conn:
        conn.send(request_bytes("GET", "/old", version="HTTP/1.0"))
        response = conn.read_response()
        assert response.status == 200
        assert json.loads(response.body)["http_version"] == "1.0"
        assert conn.closed_by_peer(timeout=10)


def test_idle_keep_alive_timeout(start_server: ServerFactory) -> None:
    server = start_server("echo_app:app", "--timeout-keep-alive", "1")
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(request_bytes("GET", "/idle"))
        assert conn.read_response().status == 200
        assert conn.closed_by_peer(timeout=15), "idle connection was not closed"


def test_malformed_request_gets_400(echo_server: Server) -> None:
    assert echo_server.port is not None
    with RawConnection.tcp(echo_server.port) as conn:
        conn.send(b"THIS IS NOT HTTP\r\n\r\n")
        try:
            response = conn.read_response()
        except (IncompleteResponse, ValueError, OSError):  # closing is acceptable too
            response = None
    if response is not None:
        assert 400 <= response.status < 500
    assert (
        requests.get(echo_server.url("/after-garbage"), timeout=15).status_code == 200
    )
