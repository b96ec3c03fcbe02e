"""Raw ASGI WebSocket echo application for the ``websocket`` benchmark scenario.

Every WebSocket is accepted and every message echoed back as it came (text or bytes).
Plain HTTP requests get 200 text/plain "Hello, world!", which the harness uses to
check that the server is up. Framework-free so that the server dominates the cost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BODY = b"Hello, world!"
HEADERS = [
    (b"content-type", b"text/plain"),
    (b"content-length", str(len(BODY)).encode("ascii")),
]


async def lifespan(receive: Receive, send: Send) -> None:
    """Complete the lifespan startup and shutdown handshakes."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def echo(receive: Receive, send: Send) -> None:
    """Accept, then echo every message until the client goes away."""
    await receive()  # websocket.connect
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] != "websocket.receive":
            return
        text = message.get("text")
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes")})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """ASGI entry point."""
    kind = scope["type"]
    if kind == "websocket":
        await echo(receive, send)
    elif kind == "http":
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        await send({"type": "http.response.body", "body": BODY})
    elif kind == "lifespan":
        await lifespan(receive, send)
    else:
        raise RuntimeError(f"unsupported scope type {kind!r}")
