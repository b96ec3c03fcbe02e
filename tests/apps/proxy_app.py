"""Apps for the proxy-header, concurrency-limit and default-header tests.

`app` (ASGI):
  GET /              {"client", "scheme", "host"} from the scope
  GET /app-headers   a response that sets its own `server` and `date` headers
  POST /hold         sends the response head and "started\\n" at once, then waits for
                     the whole request body before finishing with "done"
  websocket /        accepts and sends {"client", "scheme", "host"}, then closes
`wsgi_app` (WSGI): {"REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "HTTP_HOST"}
`native_app` (CovetPy): GET / gives {"client", "url"}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from asgi_helpers import Receive, Scope, Send, run_lifespan
from covetpy import CovetPy, Request


def _describe(scope: Scope) -> dict[str, Any]:
    headers = dict(scope["headers"])
    client = scope.get("client")
    return {
        "client": list(client) if client else None,
        "scheme": scope["scheme"],
        "host": headers.get(b"host", b"").decode("latin-1"),
    }


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(_describe(scope))})
        await send({"type": "websocket.close", "code": 1000})
        return
    path = scope["path"]
    if path == "/app-headers":
        await _send(send, 200, b"own", [(b"server", b"app-server"), (b"date", b"app-date")])
    elif path == "/hold":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"started\n", "more_body": True})
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        await send({"type": "http.response.body", "body": b"done"})
    else:
        body = json.dumps(_describe(scope)).encode()
        await _send(send, 200, body, [(b"content-type", b"application/json")])


StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def wsgi_app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    keys = ("REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "HTTP_HOST")
    body = json.dumps({key: environ.get(key) for key in keys}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


native_app = CovetPy(openapi_url=None)


@native_app.get("/")
async def native_root(request: Request) -> dict[str, Any]:
    client = request.client
    return {
        "client": [client.host, client.port] if client else None,
        "url": str(request.url),
    }
