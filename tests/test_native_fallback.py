"""`--interface covet` hands what Rust does not serve to the app's ASGI `__call__`.

tests/apps/native_fallback_app.py is a native app whose `__call__` is a complete ASGI app that answers
with a JSON picture of its scope. Native routes answer with `"served_by": "native"`; a native route
also reports how many scopes `__call__` has seen, so a test can show a request never reached it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from typing import Any

import httpx
import pytest
import requests
from conftest import Server, ServerFactory
from h3client import H3Response, h3_connect
from rawhttp import RawConnection, request_bytes
from tls_support import Certs
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

ONE_MB = 1024 * 1024
STREAMED = "first,second,third"


@pytest.fixture(scope="module")
def on_miss(module_servers: ServerFactory) -> Server:
    """`_covet_asgi_on_miss` set."""
    return module_servers("native_fallback_app:app", "--interface", "covet")


@pytest.fixture(scope="module")
def plain(module_servers: ServerFactory) -> Server:
    """No flags: misses are answered by Rust."""
    return module_servers("native_fallback_app:plain", "--interface", "covet")


@pytest.fixture(scope="module")
def everything(module_servers: ServerFactory) -> Server:
    """`_covet_asgi_all()` returns True."""
    return module_servers("native_fallback_app:everything", "--interface", "covet")


@pytest.fixture(scope="module")
def rooted(module_servers: ServerFactory) -> Server:
    return module_servers("native_fallback_app:app", "--interface", "covet", "--root-path", "/api")


def asgi_calls(server: Server) -> int:
    answer = requests.get(server.url("/calls"), timeout=10).json()
    assert answer["served_by"] == "native"
    return int(answer["asgi_calls"])


def ws_url(server: Server, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def h2_client() -> httpx.Client:
    return httpx.Client(http1=False, http2=True, timeout=30)


# --- native routes stay native ---------------------------------------------------------------------


def test_native_route_is_served_by_rust(on_miss: Server) -> None:
    before = asgi_calls(on_miss)
    response = requests.get(on_miss.url("/native/7"), timeout=10)
    assert response.status_code == 200
    assert response.json() == {"served_by": "native", "item_id": 7}
    # A parameter error on a matched native route is still Rust's 422, not a miss.
    invalid = requests.get(on_miss.url("/native/seven"), timeout=10)
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["type"] == "int_parsing"
    assert asgi_calls(on_miss) == before


# --- routes marked asgi=True -------------------------------------------------------------------------


def test_asgi_route_gets_the_whole_request(on_miss: Server) -> None:
    before = asgi_calls(on_miss)
    response = requests.post(
        on_miss.url("/deps/widget?colour=red&size=2"),
        data=b"hello fallback",
        headers={"X-Custom": "yes", "Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["x-served-by"] == "asgi"
    scope: dict[str, Any] = response.json()
    assert scope["served_by"] == "asgi"
    assert scope["type"] == "http"
    assert scope["method"] == "POST"
    assert scope["http_version"] == "1.1"
    assert scope["path"] == "/deps/widget"
    assert scope["raw_path"] == "/deps/widget"
    assert scope["root_path"] == ""
    assert scope["query_string"] == "colour=red&size=2"
    assert scope["headers"]["x-custom"] == "yes"
    assert scope["headers"]["content-type"] == "application/octet-stream"
    assert scope["headers"]["host"] == f"127.0.0.1:{on_miss.port}"
    # The same lifespan state the native side has: the app's own startup put it there.
    assert scope["state"] == {"greeting": "hello from lifespan"}
    # Rust did not match parameters for it: no native path_params in the scope.
    assert scope["has_path_params"] is False
    assert scope["body_length"] == len(b"hello fallback")
    assert scope["body_sha256"] == hashlib.sha256(b"hello fallback").hexdigest()
    assert asgi_calls(on_miss) == before + 1


def test_asgi_route_is_handed_over_without_on_miss(plain: Server) -> None:
    response = requests.put(plain.url("/deps/thing"), data=b"x", timeout=10)
    assert response.status_code == 200
    assert response.json()["served_by"] == "asgi"
    assert response.json()["method"] == "PUT"


def test_asgi_route_sees_root_path(rooted: Server) -> None:
    scope = requests.get(rooted.url("/deps/a%20b"), timeout=10).json()
    assert scope["served_by"] == "asgi"
    assert scope["root_path"] == "/api"
    # As uvicorn fills it in: root_path prefixed, percent-decoded in path, raw in raw_path.
    assert scope["path"] == "/api/deps/a b"
    assert scope["raw_path"] == "/api/deps/a%20b"


def test_head_on_asgi_route_keeps_headers_and_drops_body(on_miss: Server) -> None:
    with RawConnection.tcp(on_miss.port) as conn:
        conn.send(request_bytes("HEAD", "/deps/head"))
        head = conn.read_response(head_request=True)
        assert head.status == 200
        assert head.header("x-served-by") == "asgi"
        assert int(head.header("content-length") or "0") > 0
        # Had the body been sent after the HEAD answer, it would be read as this response.
        conn.send(request_bytes("GET", "/native/1"))
        follow = conn.read_response()
        assert follow.status == 200
        assert json.loads(follow.body) == {"served_by": "native", "item_id": 1}


def test_one_megabyte_post_streams_through_the_fallback(on_miss: Server) -> None:
    payload = os.urandom(ONE_MB)
    for path in ("/deps/upload", "/not/a/native/route"):
        scope = requests.post(on_miss.url(path), data=payload, timeout=30).json()
        assert scope["served_by"] == "asgi"
        assert scope["body_length"] == ONE_MB
        assert scope["body_sha256"] == hashlib.sha256(payload).hexdigest()
        # Streamed to the app in pieces through `receive`, not read whole by Rust first.
        assert scope["body_messages"] > 1


# --- misses ----------------------------------------------------------------------------------------------


def test_miss_goes_to_asgi_with_on_miss(on_miss: Server) -> None:
    before = asgi_calls(on_miss)
    scope = requests.get(on_miss.url("/mounted/app/page?q=1"), timeout=10).json()
    assert scope["served_by"] == "asgi"
    assert scope["path"] == "/mounted/app/page"
    assert scope["query_string"] == "q=1"
    assert scope["state"] == {"greeting": "hello from lifespan"}
    # A method the native route does not have (405 in Rust) is the app's to answer too.
    scope = requests.delete(on_miss.url("/native/3"), timeout=10).json()
    assert scope["served_by"] == "asgi"
    assert scope["method"] == "DELETE"
    assert asgi_calls(on_miss) == before + 2


def test_miss_is_answered_by_rust_without_on_miss(plain: Server) -> None:
    before = asgi_calls(plain)
    missing = requests.get(plain.url("/mounted/app/page"), timeout=10)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong_method = requests.delete(plain.url("/native/3"), timeout=10)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET, HEAD"
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(plain, "/ws/elsewhere"), open_timeout=10).close()
    assert refused.value.response.status_code == 403
    assert asgi_calls(plain) == before


# --- asgi_all ---------------------------------------------------------------------------------------------


def test_asgi_all_sends_everything_to_the_app(everything: Server) -> None:
    for path in ("/native/1", "/calls", "/deps/x", "/nowhere"):
        response = requests.get(everything.url(path), timeout=10)
        assert response.status_code == 200
        scope = response.json()
        assert scope["served_by"] == "asgi", path
        assert scope["path"] == path
        assert scope["state"] == {"greeting": "hello from lifespan"}
    # Even a handshake for a native WebSocket route goes to `__call__`.
    with connect(ws_url(everything, "/ws/native/lobby"), open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=10))
    assert hello["served_by"] == "asgi"
    assert hello["path"] == "/ws/native/lobby"
    assert hello["has_path_params"] is False


# --- WebSockets ----------------------------------------------------------------------------------------


def test_websocket_miss_is_accepted_by_the_asgi_side(on_miss: Server) -> None:
    with connect(ws_url(on_miss, "/ws/elsewhere?x=1"), open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello == {
            "served_by": "asgi",
            "path": "/ws/elsewhere",
            "has_path_params": False,
            "state": {"greeting": "hello from lifespan"},
        }
        ws.send("ping")
        assert ws.recv(timeout=10) == "echo ping"


def test_native_websocket_route_stays_native(on_miss: Server) -> None:
    with connect(ws_url(on_miss, "/ws/native/lobby"), open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=10))
    assert hello == {"served_by": "native", "path_params": {"room": "lobby"}}


# --- responses without a body ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/stream", "/stream-async"])
def test_response_without_body_streams_itself(on_miss: Server, path: str) -> None:
    with RawConnection.tcp(on_miss.port) as conn:
        conn.send(request_bytes("GET", path))
        response = conn.read_response()
    assert response.status == 200
    assert response.header("x-streamed") == "yes"
    assert response.header("content-type") == "text/plain"
    assert response.chunked
    assert response.body == STREAMED.encode()


# --- HTTP/2 ------------------------------------------------------------------------------------------------


def test_http2_native_and_fallback(on_miss: Server) -> None:
    payload = os.urandom(ONE_MB)
    with h2_client() as client:
        native = client.get(on_miss.url("/native/5"))
        assert native.http_version == "HTTP/2"
        assert native.json() == {"served_by": "native", "item_id": 5}

        upload = client.post(on_miss.url("/deps/upload?via=h2"), content=payload)
        assert upload.http_version == "HTTP/2"
        scope = upload.json()
        assert scope["served_by"] == "asgi"
        assert scope["http_version"] == "2"
        assert scope["query_string"] == "via=h2"
        assert scope["headers"]["host"] == f"127.0.0.1:{on_miss.port}"
        assert scope["body_length"] == ONE_MB
        assert scope["body_sha256"] == hashlib.sha256(payload).hexdigest()

        miss = client.get(on_miss.url("/mounted/h2"))
        assert miss.json()["served_by"] == "asgi"
        assert miss.json()["http_version"] == "2"

        streamed = client.get(on_miss.url("/stream"))
        assert streamed.headers["x-streamed"] == "yes"
        assert streamed.text == STREAMED


def test_http2_miss_without_on_miss_is_404(plain: Server) -> None:
    with h2_client() as client:
        response = client.get(plain.url("/mounted/h2"))
    assert response.http_version == "HTTP/2"
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


# --- HTTP/3 ------------------------------------------------------------------------------------------------


def test_http3_native_and_fallback(module_servers: ServerFactory, tls_certs: Certs) -> None:
    server = module_servers(
        "native_fallback_app:app", "--interface", "covet", *tls_certs.server_args(), "--http3"
    )
    port = server.port
    assert port is not None
    payload = os.urandom(ONE_MB)

    async def exchange() -> list[H3Response]:
        async with h3_connect(port, tls_certs.ca) as client:
            return [
                await client.request("GET", "/native/9"),
                await client.request("POST", "/deps/upload", body=payload),
                await client.request("GET", "/mounted/h3"),
            ]

    native, upload, miss = asyncio.run(exchange())
    assert native.json() == {"served_by": "native", "item_id": 9}
    scope = upload.json()
    assert scope["served_by"] == "asgi"
    assert scope["http_version"] == "3"
    assert scope["body_length"] == ONE_MB
    assert scope["body_sha256"] == hashlib.sha256(payload).hexdigest()
    assert miss.json()["served_by"] == "asgi"
    assert miss.json()["path"] == "/mounted/h3"
