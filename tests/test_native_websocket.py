"""WebSocket routes of CovetPy native apps (`@app.websocket`).

The first half drives the package's adapter in-process: `spec.asgi(scope, receive, send)` from
`app._covet_websocket_routes()` with fake ASGI queues, as the server calls it (CONTRACT.md). The second
half runs tests/apps/native_ws_app.py on the real binary with `--interface covet` and talks to it with
the `websockets` client.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import threading
import time
import uuid
from typing import Annotated, Any

import covetpy
import pytest
import requests
from conftest import Server, ServerFactory
from covetpy import (
    APIRouter,
    Cookie,
    CovetPy,
    Header,
    HTTPException,
    JSONResponse,
    Query,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    WebSocketRequestValidationError,
    WebSocketState,
    status,
)
from covetpy._native import WebSocketRouteSpec
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

Message = dict[str, Any]


# --- in-process harness ---------------------------------------------------------------------------


class FakeClient:
    """The server side of the ASGI websocket protocol, scripted: `incoming` is what the client sends
    (after the implicit `websocket.connect`), `sent` collects what the app sends."""

    def __init__(
        self, incoming: list[Message] | None = None, *, fail_send: bool = False
    ) -> None:
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.queue.put_nowait({"type": "websocket.connect"})
        for message in incoming or []:
            self.queue.put_nowait(message)
        self.sent: list[Message] = []
        self.fail_send = fail_send

    async def receive(self) -> Message:
        return await self.queue.get()

    async def send(self, message: Message) -> None:
        if self.fail_send and message["type"] == "websocket.send":
            raise ConnectionResetError("gone")
        self.sent.append(message)

    def types(self) -> list[str]:
        return [message["type"] for message in self.sent]

    def texts(self) -> list[str]:
        return [
            m["text"]
            for m in self.sent
            if m["type"] == "websocket.send" and m.get("text") is not None
        ]

    def json(self) -> list[Any]:
        return [json.loads(text) for text in self.texts()]


def text(data: str) -> Message:
    return {"type": "websocket.receive", "text": data, "bytes": None}


def binary(data: bytes) -> Message:
    return {"type": "websocket.receive", "bytes": data, "text": None}


def disconnect(code: int = 1000, reason: str = "") -> Message:
    return {"type": "websocket.disconnect", "code": code, "reason": reason}


def make_scope(
    path: str,
    path_params: dict[str, str] | None = None,
    *,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    subprotocols: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"testserver"), *(headers or [])],
        "subprotocols": subprotocols or [],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "extensions": {"websocket.http.response": {}},
        "state": {},
        "path_params": dict(path_params or {}),
    }


def spec_for(app: CovetPy, path: str) -> WebSocketRouteSpec:
    for spec in app._covet_websocket_routes():
        if spec.path == path:
            return spec
    raise AssertionError(f"no websocket route {path!r}")


def drive(
    app: CovetPy,
    template: str,
    scope: dict[str, Any],
    incoming: list[Message] | None = None,
    **client_kwargs: Any,
) -> FakeClient:
    client = FakeClient(incoming, **client_kwargs)
    spec = spec_for(app, template)
    asyncio.run(asyncio.wait_for(spec.asgi(scope, client.receive, client.send), 5))
    return client


class Color(str, enum.Enum):
    red = "red"
    green = "green"
    blue = "blue"


# --- unit: the route table --------------------------------------------------------------------------


def test_exports() -> None:
    assert covetpy.websockets.WebSocket is WebSocket
    assert covetpy.WebSocketDisconnect is covetpy.websockets.WebSocketDisconnect
    assert status.WS_1008_POLICY_VIOLATION == 1008
    assert status.WS_1000_NORMAL_CLOSURE == 1000
    assert status.WS_1011_INTERNAL_ERROR == 1011
    assert [s.name for s in WebSocketState] == [
        "CONNECTING",
        "CONNECTED",
        "DISCONNECTED",
        "RESPONSE",
    ]
    exc = WebSocketDisconnect()
    assert (exc.code, exc.reason) == (1000, "")
    assert WebSocketDisconnect(1001, "away").reason == "away"


def test_route_table_prefixes_and_openapi() -> None:
    app = CovetPy()

    @app.get("/http")
    def http() -> dict[str, str]:
        return {}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None: ...

    inner = APIRouter(prefix="/inner")

    @inner.websocket("/{n}")
    async def inner_ws(websocket: WebSocket, n: int) -> None: ...

    outer = APIRouter(prefix="/outer")
    outer.include_router(inner)

    async def added(websocket: WebSocket) -> None: ...

    outer.add_api_websocket_route("/added", added)
    app.include_router(outer, prefix="/v1")

    assert [s.path for s in app._covet_websocket_routes()] == [
        "/ws",
        "/v1/outer/inner/{n}",
        "/v1/outer/added",
    ]
    assert all(callable(s.asgi) for s in app._covet_websocket_routes())
    # HTTP routes and the OpenAPI document know nothing of the websocket routes (as FastAPI).
    assert "/http" in [s.path for s in app._covet_routes()]
    assert not any("ws" in s.path or "inner" in s.path for s in app._covet_routes())
    assert list(app.openapi()["paths"]) == ["/http"]




# --- unit: the WebSocket object and the adapter -------------------------------------------------------


def test_echo_text_and_bytes() -> None:
    app = CovetPy()

    @app.websocket("/echo")
    async def echo(websocket: WebSocket) -> None:
        assert websocket.client_state == WebSocketState.CONNECTING
        await websocket.accept()
        assert websocket.client_state == WebSocketState.CONNECTED
        assert websocket.application_state == WebSocketState.CONNECTED
        await websocket.send_text(await websocket.receive_text())
        await websocket.send_bytes(await websocket.receive_bytes())
        await websocket.send_json(await websocket.receive_json())
        await websocket.send_json(
            await websocket.receive_json(mode="binary"), mode="binary"
        )
        await websocket.close(code=4000, reason="done")
        assert websocket.application_state == WebSocketState.DISCONNECTED

    client = drive(
        app,
        "/echo",
        make_scope("/echo"),
        [text("hi"), binary(b"\x00\x01"), text('{"a": 1}'), binary(b'["\xc3\xa9"]')],
    )
    assert client.sent == [
        {"type": "websocket.accept", "subprotocol": None, "headers": []},
        {"type": "websocket.send", "text": "hi"},
        {"type": "websocket.send", "bytes": b"\x00\x01"},
        {"type": "websocket.send", "text": '{"a":1}'},
        {"type": "websocket.send", "bytes": '["é"]'.encode()},
        {"type": "websocket.close", "code": 4000, "reason": "done"},
    ]


def test_iterators_end_on_disconnect() -> None:
    app = CovetPy()
    seen: dict[str, Any] = {}

    @app.websocket("/text")
    async def texts(websocket: WebSocket) -> None:
        await websocket.accept()
        seen["text"] = [t async for t in websocket.iter_text()]
        seen["state"] = websocket.client_state

    @app.websocket("/bytes")
    async def blobs(websocket: WebSocket) -> None:
        await websocket.accept()
        seen["bytes"] = [b async for b in websocket.iter_bytes()]

    @app.websocket("/json")
    async def docs(websocket: WebSocket) -> None:
        await websocket.accept()
        seen["json"] = [d async for d in websocket.iter_json()]

    drive(app, "/text", make_scope("/text"), [text("a"), text("b"), disconnect(1001)])
    drive(app, "/bytes", make_scope("/bytes"), [binary(b"x"), disconnect()])
    drive(
        app,
        "/json",
        make_scope("/json"),
        [text("[1]"), text('{"k":null}'), disconnect()],
    )
    assert seen == {
        "text": ["a", "b"],
        "state": WebSocketState.DISCONNECTED,
        "bytes": [b"x"],
        "json": [[1], {"k": None}],
    }




def test_receive_after_disconnect_and_send_after_close() -> None:
    app = CovetPy()
    errors: list[str] = []

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        with pytest.raises(WebSocketDisconnect):
            await websocket.receive_text()
        try:
            await websocket.receive()
        except RuntimeError as exc:
            errors.append(str(exc))
        await websocket.close()
        try:
            await websocket.send_text("late")
        except RuntimeError as exc:
            errors.append(str(exc))

    drive(app, "/ws", make_scope("/ws"), [disconnect()])
    assert len(errors) == 2 and "disconnect" in errors[0] and "close" in errors[1]


def test_receive_before_accept_is_refused() -> None:
    app = CovetPy()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        with pytest.raises(RuntimeError, match="accept"):
            await websocket.receive_text()
        await websocket.close()

    client = drive(app, "/ws", make_scope("/ws"))
    assert client.types() == ["websocket.close"]


def test_send_to_gone_client_raises_disconnect() -> None:
    app = CovetPy()
    codes: list[int] = []

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.send_text("x")
        except WebSocketDisconnect as exc:
            codes.append(exc.code)
        assert websocket.application_state == WebSocketState.DISCONNECTED

    drive(app, "/ws", make_scope("/ws"), fail_send=True)
    assert codes == [1006]


def test_accept_with_subprotocol_and_headers() -> None:
    app = CovetPy()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        assert websocket.scope["subprotocols"] == ["a", "b"]
        await websocket.accept(subprotocol="b", headers=[(b"x-extra", b"1")])

    client = drive(app, "/ws", make_scope("/ws", subprotocols=["a", "b"]))
    assert client.sent == [
        {
            "type": "websocket.accept",
            "subprotocol": "b",
            "headers": [(b"x-extra", b"1")],
        }
    ]


def test_connection_details() -> None:
    app = CovetPy()
    seen: dict[str, Any] = {}

    @app.websocket("/room/{name}")
    async def ws(websocket: WebSocket, name: str) -> None:
        seen.update(
            url=str(websocket.url),
            base_url=str(websocket.base_url),
            path=websocket["path"],
            headers=websocket.headers.get("x-a"),
            query=websocket.query_params.getlist("q"),
            path_params=websocket.path_params,
            cookies=websocket.cookies,
            client=websocket.client,
            app=websocket.app,
            in_set=websocket in {websocket},
        )
        await websocket.close()

    scope = make_scope(
        "/room/lobby",
        {"name": "lobby"},
        query=b"q=1&q=2",
        headers=[(b"x-a", b"b"), (b"cookie", b"sid=abc; theme=dark")],
    )
    drive(app, "/room/{name}", scope)
    assert seen == {
        "url": "ws://testserver/room/lobby?q=1&q=2",
        "base_url": "ws://testserver/",
        "path": "/room/lobby",
        "headers": "b",
        "query": ["1", "2"],
        "path_params": {"name": "lobby"},
        "cookies": {"sid": "abc", "theme": "dark"},
        "client": ("127.0.0.1", 50000),
        "app": app,
        "in_set": True,
    }










def _run_both(
    path: str,
    raw: dict[str, str],
    query: bytes,
    *,
    capture: list[list[dict[str, Any]]] | None,
) -> tuple[list[Message], list[Message]]:
    """The same endpoint on CovetPy and on FastAPI; returns what each sent. With ``capture``, a
    handler for the validation error records the errors instead of the default 1008 close."""
    import fastapi

    def declare(app: Any, ws_type: Any, query_marker: Any) -> None:
        async def ws(
            websocket: Any,
            n: int,
            color: Color,
            flag: bool = False,
            ratio: float | None = None,
            tags: list[int] = [],  # noqa: B006
        ) -> None:
            await websocket.accept()

        # real objects, not the strings `from __future__ import annotations` leaves
        ws.__annotations__ = {
            "websocket": ws_type,
            "n": int,
            "color": Color,
            "flag": bool,
            "ratio": float | None,
            "tags": Annotated[list[int], query_marker()],
            "return": None,
        }
        app.add_api_websocket_route("/v/{n}", ws)

    async def record(websocket: Any, exc: Any) -> None:
        assert capture is not None
        capture.append(list(exc.errors()))
        await websocket.close(code=1008)

    ours, theirs = CovetPy(), fastapi.FastAPI()
    if capture is not None:
        ours.add_exception_handler(WebSocketRequestValidationError, record)
        theirs.add_exception_handler(
            fastapi.exceptions.WebSocketRequestValidationError, record
        )
    declare(ours, WebSocket, Query)
    declare(theirs, fastapi.WebSocket, fastapi.Query)
    our_client = drive(ours, "/v/{n}", make_scope(path, raw, query=query))
    their_client = FakeClient()
    scope = make_scope(path, query=query)
    del scope["path_params"]
    asyncio.run(theirs(scope, their_client.receive, their_client.send))
    return our_client.sent, their_client.sent


@pytest.mark.parametrize(
    ("path", "raw", "query"),
    [
        ("/v/x", {"n": "x"}, b"color=red"),
        ("/v/1", {"n": "1"}, b""),
        ("/v/1", {"n": "1"}, b"color=purple&flag=maybe&ratio=abc&tags=1&tags=b"),
        ("/v/2.5", {"n": "2.5"}, b"color=blue&flag=1&ratio=nan"),
    ],
)
def test_validation_matches_fastapi(
    path: str, raw: dict[str, str], query: bytes
) -> None:
    our_sent, their_sent = _run_both(path, raw, query, capture=None)
    captured: list[list[dict[str, Any]]] = []
    _run_both(path, raw, query, capture=captured)
    ours, theirs = captured
    for error in ours:
        error["loc"] = list(error["loc"])
    for error in theirs:
        error.pop("url", None)
        error["loc"] = list(error["loc"])
    assert ours == theirs
    # FastAPI closes with 1008 before accepting; so do we
    assert (
        [m["type"] for m in our_sent]
        == [m["type"] for m in their_sent]
        == ["websocket.close"]
    )
    assert our_sent[0]["code"] == their_sent[0]["code"] == 1008


def test_query_header_cookie_params() -> None:
    app = CovetPy()
    got: dict[str, Any] = {}

    @app.websocket("/q")
    async def ws(
        websocket: WebSocket,
        q: str | None = None,
        page: int = 1,
        flag: bool = False,
        item_query: str = Query("dflt", alias="item-query"),
        ids: Annotated[list[int], Query()] = [],  # noqa: B006
        user_agent: str | None = Header(None),
        x_token: Annotated[str, Header()] = "none",
        session: str | None = Cookie(None),
        token: str = Query(default_factory=lambda: "made"),
    ) -> None:
        got.update(
            q=q,
            page=page,
            flag=flag,
            item_query=item_query,
            ids=ids,
            user_agent=user_agent,
            x_token=x_token,
            session=session,
            token=token,
        )
        await websocket.accept()

    scope = make_scope(
        "/q",
        query=b"q=hello+world&page=3&flag=on&item-query=a%26b&ids=1&ids=2",
        headers=[
            (b"user-agent", b"tester"),
            (b"x-token", b"secret"),
            (b"cookie", b"session=s1"),
        ],
    )
    drive(app, "/q", scope)
    assert got == {
        "q": "hello world",
        "page": 3,
        "flag": True,
        "item_query": "a&b",
        "ids": [1, 2],
        "user_agent": "tester",
        "x_token": "secret",
        "session": "s1",
        "token": "made",
    }
    got.clear()
    drive(app, "/q", make_scope("/q"))
    assert got == {
        "q": None,
        "page": 1,
        "flag": False,
        "item_query": "dflt",
        "ids": [],
        "user_agent": None,
        "x_token": "none",
        "session": None,
        "token": "made",
    }


def test_uncaught_exception_propagates() -> None:
    app = CovetPy()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        drive(app, "/ws", make_scope("/ws"))


def test_websocket_exception_closes_with_its_code() -> None:
    app = CovetPy()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        raise WebSocketException(4003, "forbidden thing")

    client = drive(app, "/ws", make_scope("/ws"))
    assert client.sent[-1] == {
        "type": "websocket.close",
        "code": 4003,
        "reason": "forbidden thing",
    }


def test_http_exception_before_accept_is_a_denial_response() -> None:
    app = CovetPy()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, token: str = "") -> None:
        if token != "ok":
            raise HTTPException(401, "bad token")
        await websocket.accept()

    client = drive(app, "/ws", make_scope("/ws"))
    start, body = client.sent
    assert start["type"] == "websocket.http.response.start" and start["status"] == 401
    assert (b"content-type", b"application/json") in start["headers"]
    assert body == {
        "type": "websocket.http.response.body",
        "body": b'{"detail":"bad token"}',
    }


def test_custom_handler_and_denial_response() -> None:
    app = CovetPy()

    class NotAllowed(Exception):
        pass

    @app.exception_handler(NotAllowed)
    def not_allowed(websocket: WebSocket, exc: NotAllowed) -> JSONResponse:
        return JSONResponse({"detail": "nope"}, status_code=403)

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        raise NotAllowed

    client = drive(app, "/ws", make_scope("/ws"))
    assert [m["type"] for m in client.sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert client.sent[0]["status"] == 403
    # A 500 handler is for HTTP requests only (Starlette's ServerErrorMiddleware): not used here.
    app2 = CovetPy(
        exception_handlers={500: lambda r, e: JSONResponse({}, status_code=500)}
    )

    @app2.websocket("/ws")
    async def ws2(websocket: WebSocket) -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        drive(app2, "/ws", make_scope("/ws"))


def test_starlette_style_route_and_state() -> None:
    app = CovetPy()

    async def raw(websocket):  # type: ignore[no-untyped-def]  # no annotation: called positionally
        await websocket.accept()
        await websocket.send_text(websocket.state.db)
        await websocket.close()

    app.add_websocket_route("/raw", raw)
    scope = make_scope("/raw")
    scope["state"] = {"db": "connected"}
    client = drive(app, "/raw", scope)
    assert client.texts() == ["connected"]


def test_chat_broadcast_in_process() -> None:
    app = CovetPy()
    members: set[WebSocket] = set()

    @app.websocket("/chat")
    async def chat(websocket: WebSocket, name: str) -> None:
        await websocket.accept()
        members.add(websocket)
        try:
            async for message in websocket.iter_text():
                for member in members:
                    await member.send_text(f"{name}: {message}")
        finally:
            members.discard(websocket)

    spec = spec_for(app, "/chat")

    async def scenario() -> tuple[FakeClient, FakeClient]:
        alice, bob = FakeClient(), FakeClient()
        tasks = [
            asyncio.create_task(
                spec.asgi(
                    make_scope("/chat", query=b"name=alice"), alice.receive, alice.send
                )
            ),
            asyncio.create_task(
                spec.asgi(make_scope("/chat", query=b"name=bob"), bob.receive, bob.send)
            ),
        ]
        while len(members) < 2:
            await asyncio.sleep(0)
        alice.queue.put_nowait(text("hi"))
        await asyncio.sleep(0.01)
        bob.queue.put_nowait(text("hello"))
        await asyncio.sleep(0.01)
        alice.queue.put_nowait(disconnect())
        bob.queue.put_nowait(disconnect())
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return alice, bob

    alice, bob = asyncio.run(scenario())
    assert alice.texts() == ["alice: hi", "bob: hello"]
    assert bob.texts() == ["alice: hi", "bob: hello"]
    assert not members


# --- end to end: the real server ---------------------------------------------------------------------

TIMEOUT = 10


@pytest.fixture(scope="module")
def server(module_servers: ServerFactory) -> Server:
    return module_servers("native_ws_app:app", "--interface", "covet")


def ws_url(server: Server, path: str) -> str:
    return f"ws://127.0.0.1:{server.port}{path}"


def open_ws(server: Server, path: str, **kwargs: Any) -> ClientConnection:
    return connect(
        ws_url(server, path), open_timeout=TIMEOUT, close_timeout=TIMEOUT, **kwargs
    )


def recv_json(conn: ClientConnection) -> Any:
    return json.loads(conn.recv(timeout=TIMEOUT))


def expect_refused(server: Server, path: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        open_ws(server, path)
    return info.value.response.status_code


def closed_with(conn: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as info:
        conn.recv(timeout=TIMEOUT)
    received = info.value.rcvd
    assert received is not None, "the server closed without a close frame"
    return received.code, received.reason


def test_e2e_http_routes_still_served(server: Server) -> None:
    assert requests.get(server.url("/"), timeout=TIMEOUT).json() == {"hello": "http"}


def test_e2e_echo_text_and_bytes(server: Server) -> None:
    with open_ws(server, "/echo") as conn:
        conn.send("hello")
        assert conn.recv(timeout=TIMEOUT) == "hello"
        conn.send(b"\x00\xffbin")
        assert conn.recv(timeout=TIMEOUT) == b"\x00\xffbin"
        conn.send("ünïcode ✓")
        assert conn.recv(timeout=TIMEOUT) == "ünïcode ✓"


def test_e2e_echo_json(server: Server) -> None:
    with open_ws(server, "/json") as conn:
        conn.send(json.dumps({"a": [1, 2, None]}))
        assert recv_json(conn) == {"got": {"a": [1, 2, None]}}
        conn.send("3.5")
        assert recv_json(conn) == {"got": 3.5}


def test_e2e_path_and_query_params(server: Server) -> None:
    with open_ws(
        server, "/items/42?q=hi+there&flag=yes&color=green&tags=1&tags=2&ratio=0.5"
    ) as conn:
        assert recv_json(conn) == {
            "item_id": 42,
            "q": "hi there",
            "flag": True,
            "color": "green",
            "tags": [1, 2],
            "ratio": 0.5,
            "path_params": {"item_id": "42"},
        }
        assert closed_with(conn) == (1000, "")
    with open_ws(server, "/items/7") as conn:
        data = recv_json(conn)
        assert data["item_id"] == 7 and data["q"] is None and data["color"] == "red"


def test_e2e_convertors_and_uuid(server: Server) -> None:
    ident = uuid.uuid4()
    with open_ws(server, f"/typed/5/{ident}") as conn:
        assert recv_json(conn) == {"key": 5, "ident": str(ident), "is_uuid": True}
    # `{key:int}` does not match a non-integer: no route, refused like an unknown path
    assert expect_refused(server, f"/typed/five/{ident}") == 403


def test_e2e_headers_query_constraints_and_details(server: Server) -> None:
    with open_ws(
        server,
        "/info?limit=3&x=1",
        additional_headers={"X-Token": "tok", "Cookie": "sid=abc"},
        user_agent_header="covet-test",
    ) as conn:
        data = recv_json(conn)
    assert data["x_token"] == "tok"
    assert data["limit"] == 3
    assert data["url"] == f"ws://127.0.0.1:{server.port}/info?limit=3&x=1"
    assert data["path"] == "/info"
    assert data["query"] == {"limit": "3", "x": "1"}
    assert data["cookies"] == {"sid": "abc"}
    assert data["client_host"] == "127.0.0.1"
    assert data["user_agent"] == "covet-test"


def test_e2e_bad_params_refused_with_policy_violation(server: Server) -> None:
    # FastAPI closes with 1008 before accepting; closing before accept refuses the handshake
    # with 403 (as uvicorn does), so that is what a client sees.
    assert expect_refused(server, "/items/abc") == 403
    assert expect_refused(server, "/items/1?color=purple") == 403
    assert expect_refused(server, "/info?limit=99") == 403
    assert expect_refused(server, "/typed/5/not-a-uuid") == 403


def test_e2e_unknown_path_refused(server: Server) -> None:
    assert expect_refused(server, "/no/such/socket") == 403
    # an HTTP-only route does not take WebSocket handshakes either
    assert expect_refused(server, "/") == 403
    assert expect_refused(server, "/refuse") == 403


def test_e2e_subprotocol(server: Server) -> None:
    with open_ws(server, "/proto", subprotocols=["chat.v1", "chat.v2"]) as conn:  # type: ignore[list-item]
        assert conn.subprotocol == "chat.v2"
        assert conn.response.headers["x-served-by"] == "covetpy"
        assert recv_json(conn) == {
            "offered": ["chat.v1", "chat.v2"],
            "chosen": "chat.v2",
        }
    with open_ws(server, "/proto") as conn:
        assert conn.subprotocol is None
        assert recv_json(conn) == {"offered": [], "chosen": None}


def test_e2e_close_code_and_reason(server: Server) -> None:
    with open_ws(server, "/close") as conn:
        assert conn.recv(timeout=TIMEOUT) == "closing"
        assert closed_with(conn) == (4001, "bye now")


def test_e2e_websocket_exception(server: Server) -> None:
    with open_ws(server, "/policy") as conn:
        assert closed_with(conn) == (1008, "not allowed")


def test_e2e_client_disconnect_ends_iter_text(server: Server) -> None:
    with open_ws(server, "/iter") as conn:
        for i in range(3):
            conn.send(f"m{i}")
            assert conn.recv(timeout=TIMEOUT) == f"ack {i + 1}"
        conn.close(code=1001, reason="leaving")
    deadline = time.monotonic() + TIMEOUT
    log: dict[str, Any] = {}
    while time.monotonic() < deadline:
        log = requests.get(server.url("/iter/log"), timeout=TIMEOUT).json()
        if log.get("ended"):
            break
        time.sleep(0.05)
    assert log == {
        "received": ["m0", "m1", "m2"],
        "ended": True,
        "client_state": "DISCONNECTED",
    }




def test_e2e_exception_after_accept_closes_1011(server: Server) -> None:
    start = server.stderr_size()
    with open_ws(server, "/boom") as conn:
        conn.send("go")
        assert closed_with(conn)[0] == 1011
    assert "boom after accept" in server.wait_for_stderr("boom after accept", start)


def test_e2e_exception_before_accept_is_500(server: Server) -> None:
    assert expect_refused(server, "/boom-early") == 500


def test_e2e_router_prefix(server: Server) -> None:
    with open_ws(server, "/v1/api/ping/3") as conn:
        assert [conn.recv(timeout=TIMEOUT) for _ in range(3)] == [
            "pong 0",
            "pong 1",
            "pong 2",
        ]
        assert closed_with(conn) == (1000, "")
    assert expect_refused(server, "/api/ping/3") == 403


def test_e2e_chat_room_broadcast(server: Server) -> None:
    names = ["ann", "bob", "cy"]
    with contextlib.ExitStack() as stack:
        conns: list[ClientConnection] = []
        for count, name in enumerate(names, start=1):
            conn = stack.enter_context(open_ws(server, f"/chat/lobby?name={name}"))
            assert recv_json(conn) == {"event": "joined", "members": count}
            conns.append(conn)
        other_room = stack.enter_context(open_ws(server, "/chat/other?name=zed"))
        assert recv_json(other_room)["members"] == 1

        conns[0].send("hello all")
        for conn in conns:
            assert recv_json(conn) == {"from": "ann", "text": "hello all"}
        conns[2].send("hi ann")
        for conn in conns:
            assert recv_json(conn) == {"from": "cy", "text": "hi ann"}

        # bob leaves; the others keep chatting
        conns[1].close()
        conns[0].send("bye bob")
        for conn in (conns[0], conns[2]):
            assert recv_json(conn) == {"from": "ann", "text": "bye bob"}
        # the other room heard none of it
        with pytest.raises(TimeoutError):
            other_room.recv(timeout=0.3)


def test_e2e_many_concurrent_echo_clients(server: Server) -> None:
    failures: list[BaseException] = []

    def client(index: int) -> None:
        try:
            with open_ws(server, "/echo") as conn:
                for j in range(20):
                    conn.send(f"{index}-{j}")
                    assert conn.recv(timeout=TIMEOUT) == f"{index}-{j}"
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures, failures
