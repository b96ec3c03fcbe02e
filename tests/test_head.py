"""HEAD requests and bodiless statuses (204, 304)."""

from __future__ import annotations

import pytest
import requests
from conftest import Server, ServerFactory
from rawhttp import RawConnection, request_bytes


@pytest.fixture(scope="module")
def server(module_servers: ServerFactory) -> Server:
    return module_servers("head_app:app")


def follow_up_get(conn: RawConnection) -> None:
    """On the same connection: the next bytes must be the GET response, so any
    stray body bytes of the previous response would break this."""
    conn.send(request_bytes("GET", "/"))
    response = conn.read_response()
    assert response.status == 200
    assert response.body == b"hello world"


def test_head_has_no_body(server: Server) -> None:
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(request_bytes("HEAD", "/"))
        response = conn.read_response(head_request=True)
        assert response.status == 200
        assert response.header("content-length") == "11"
        follow_up_get(conn)


def test_head_of_streamed_response_has_no_body(server: Server) -> None:
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(request_bytes("HEAD", "/streamed"))
        response = conn.read_response(head_request=True)
        assert response.status == 200
        follow_up_get(conn)


def test_head_with_requests(server: Server) -> None:
    response = requests.head(server.url("/"), timeout=15)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_status_has_no_content_length(server: Server, status: int) -> None:
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(request_bytes("GET", f"/{status}"))
        response = conn.read_response()
        assert response.status == status
        assert response.header("content-length") is None
        assert response.header("transfer-encoding") is None
        if status == 304:
            assert response.header("etag") == '"v1"'
        follow_up_get(conn)
