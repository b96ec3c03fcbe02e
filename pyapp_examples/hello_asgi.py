"""A minimal raw ASGI application with no dependencies.

Run it with ``covetpy serve hello_asgi:app --app-dir pyapp_examples``.
It answers every HTTP request with a plain-text greeting that includes the
HTTP version, and it takes part in the lifespan protocol.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """Handle startup and shutdown events until the server says shutdown."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Anything put in scope["state"] here is copied into every request scope.
            state = scope.get("state")
            if state is not None:
                state["greeting"] = "Hello"
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def read_body(receive: Receive) -> bytes:
    """Collect the whole request body."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI entry point."""
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
        return
    if scope["type"] != "http":
        raise RuntimeError(f"unsupported scope type {scope['type']!r}")

    await read_body(receive)
    greeting = scope.get("state", {}).get("greeting", "Hello")
    text = f"{greeting}, world! (HTTP/{scope['http_version']} {scope['path']})\n"
    body = text.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
