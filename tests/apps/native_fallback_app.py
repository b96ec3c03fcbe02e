"""Native apps whose ASGI `__call__` is a complete ASGI app (tests/test_native_fallback.py).

Built by hand against the server's contract (crates/embed/python/covetpy/CONTRACT.md) rather than with
`covetpy.FastAPI`, so the test pins down exactly what the Rust server does with each flag:

- `app`: `_covet_asgi_on_miss` is True; routes with `asgi=True` and misses reach `__call__`.
- `plain`: no flags at all; misses get Rust's 404/405/403.
- `everything`: `_covet_asgi_all` is a method returning True; every request reaches `__call__`.

`__call__` answers every HTTP request with a JSON description of its scope and body, so the tests can
tell it apart from the native handlers, whose answers carry `"served_by": "native"`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

from covetpy._native import ParamSpec, RouteSpec, WebSocketRouteSpec, request_from_native
from covetpy.responses import Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CHUNKS = [b"first,", b"second,", b"third"]


class ChunkedResponse(Response):
    """A response with no `body` attribute that streams itself as an ASGI app, the way Starlette's
    StreamingResponse and FileResponse are built (their `__init__` never sets `body`)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.status_code = 200
        self.background = None
        self.chunks = chunks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": [(b"content-type", b"text/plain"), (b"x-streamed", b"yes")],
            }
        )
        for chunk in self.chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class FallbackApp:
    """A native app: a few routes for Rust, and an ASGI `__call__` for everything else."""

    __covetpy_native__ = True

    def __init__(self, *, on_miss: bool = False, everything: bool = False) -> None:
        self._covet_asgi_on_miss = on_miss
        self._everything = everything
        self.exception_handlers: dict[Any, Any] = {}
        #: How many HTTP and WebSocket scopes `__call__` saw, so a test can tell a native route
        #: never reached it.
        self.asgi_calls = 0

    def _covet_asgi_all(self) -> bool:
        return self._everything

    # --- the Rust side's view ---

    def _covet_routes(self) -> list[RouteSpec]:
        item_id = ParamSpec(name="item_id", source="path", alias="item_id", kind="int")
        return [
            RouteSpec(
                path="/native/{item_id}",
                methods=["GET"],
                endpoint=self.native_item,
                is_coroutine=False,
                params=[item_id],
            ),
            RouteSpec(path="/calls", methods=["GET"], endpoint=self.calls, is_coroutine=True),
            RouteSpec(path="/stream", methods=["GET"], endpoint=self.stream, is_coroutine=False),
            RouteSpec(path="/stream-async", methods=["GET"], endpoint=self.stream_async, is_coroutine=True),
            # A route with features the server does not do: only path, methods and `asgi` matter.
            _asgi_route("/deps/{name}", ["GET", "POST", "PUT"]),
        ]

    def _covet_websocket_routes(self) -> list[WebSocketRouteSpec]:
        return [WebSocketRouteSpec(path="/ws/native/{room}", asgi=self.native_ws)]

    def _covet_request(self, native: Any) -> Any:
        return request_from_native(self, native)  # type: ignore[arg-type]

    def _covet_handle_exception(self, request: object, exc: BaseException) -> Any:
        raise exc

    # --- native handlers ---

    def native_item(self, item_id: int) -> dict[str, Any]:
        return {"served_by": "native", "item_id": item_id}

    async def calls(self) -> dict[str, Any]:
        return {"served_by": "native", "asgi_calls": self.asgi_calls}

    def stream(self) -> ChunkedResponse:
        return ChunkedResponse(CHUNKS)

    async def stream_async(self) -> ChunkedResponse:
        return ChunkedResponse(CHUNKS)

    async def native_ws(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        reply = {"served_by": "native", "path_params": scope.get("path_params")}
        await send({"type": "websocket.send", "text": json.dumps(reply)})
        await send({"type": "websocket.close", "code": 1000})

    # --- the ASGI side ---

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        self.asgi_calls += 1
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        chunks = 0
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            chunks += 1
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        answer = {
            "served_by": "asgi",
            "type": scope["type"],
            "method": scope["method"],
            "http_version": scope["http_version"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "root_path": scope["root_path"],
            "query_string": scope["query_string"].decode("latin-1"),
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            "state": dict(scope.get("state", {})),
            "has_path_params": "path_params" in scope,
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "body_messages": chunks,
        }
        payload = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    (b"x-served-by", b"asgi"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        reply = {
            "served_by": "asgi",
            "path": scope["path"],
            "has_path_params": "path_params" in scope,
            "state": dict(scope.get("state", {})),
        }
        await send({"type": "websocket.send", "text": json.dumps(reply)})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await send({"type": "websocket.send", "text": "echo " + str(message.get("text"))})

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async for message in _messages(receive):
            if message["type"] == "lifespan.startup":
                scope["state"]["greeting"] = "hello from lifespan"
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _messages(receive: Receive) -> AsyncIterator[Message]:
    while True:
        yield await receive()


def _asgi_route(path: str, methods: list[str]) -> RouteSpec:
    # The endpoint is a tripwire: the server must hand the request to __call__, never call it.
    return RouteSpec(path=path, methods=methods, endpoint=_never_called, asgi=True)


def _never_called() -> None:
    raise AssertionError("the server must hand asgi=True routes to __call__")


app = FallbackApp(on_miss=True)
plain = FallbackApp()
everything = FallbackApp(everything=True)
