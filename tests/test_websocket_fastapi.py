"""FastAPI @app.websocket routes run unchanged (tests/apps/ws_fastapi_app.py)."""

from __future__ import annotations

import json
import time

import pytest
import requests
from conftest import Server, ServerFactory
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol


@pytest.fixture(scope="module")
def server(module_servers: ServerFactory) -> Server:
    return module_servers("ws_fastapi_app:app")


def ws_connect(server: Server, path: str, **kwargs: object) -> ClientConnection:
    options: dict[str, object] = {
        "compression": None,
        "open_timeout": 15,
        "proxy": None,
    }
    options.update(kwargs)
    return connect(f"ws://127.0.0.1:{server.port}{path}", **options)  # type: ignore[arg-type]


def test_path_and_query_params(server: Server) -> None:
    with ws_connect(server, "/ws/lobby?token=abc") as ws:
        assert json.loads(ws.recv(timeout=15)) == {"room": "lobby", "token": "abc"}
        ws.send("hello")
        assert ws.recv(timeout=15) == "lobby: hello"
        ws.send("again")
        assert ws.recv(timeout=15) == "lobby: again"


def test_subprotocol(server: Server) -> None:
    with ws_connect(server, "/ws/r", subprotocols=[Subprotocol("graphql-ws")]) as ws:
        assert ws.subprotocol == "graphql-ws"
        assert json.loads(ws.recv(timeout=15))["room"] == "r"


def test_websocket_disconnect_carries_the_client_code(server: Server) -> None:
    with ws_connect(server, "/ws/bye") as ws:
        ws.recv(timeout=15)
        ws.close(4002, "leaving")
    deadline = time.monotonic() + 15
    while 4002 not in requests.get(server.url("/disconnects"), timeout=15).json():
        assert time.monotonic() < deadline, "WebSocketDisconnect(4002) never seen"
        time.sleep(0.05)


def test_iter_bytes(server: Server) -> None:
    with ws_connect(server, "/bytes") as ws:
        for payload in (b"abc", b"\x00\xff" * 1000):
            ws.send(payload)
            assert ws.recv(timeout=15) == payload[::-1]


def test_json_and_close_with_reason(server: Server) -> None:
    with ws_connect(server, "/json") as ws:
        ws.send(json.dumps({"a": [1, 2]}))
        assert json.loads(ws.recv(timeout=15)) == {"got": {"a": [1, 2]}}
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=15)
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "done")


def test_websocket_exception_before_accept_is_403(server: Server) -> None:
    with pytest.raises(InvalidStatus) as info:
        ws_connect(server, "/guarded")
    assert info.value.response.status_code == 403
    with ws_connect(
        server, "/guarded", additional_headers={"Authorization": "Bearer ok"}
    ) as ws:
        assert ws.recv(timeout=15) == "welcome"


def test_unknown_route_is_403(server: Server) -> None:
    with pytest.raises(InvalidStatus) as info:
        ws_connect(server, "/no-such-route")
    assert info.value.response.status_code == 403


def test_http_routes_still_work(server: Server) -> None:
    assert requests.get(server.url("/disconnects"), timeout=15).status_code == 200
