"""App that does not support lifespan: it raises on the lifespan scope."""

from __future__ import annotations

from asgi_helpers import Receive, Scope, Send, send_response


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        raise RuntimeError(f"covet-test: unsupported scope type {scope['type']}")
    await send_response(send, b"served without lifespan")
