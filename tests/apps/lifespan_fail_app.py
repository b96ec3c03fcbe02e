"""Lifespan app whose startup fails with lifespan.startup.failed."""

from __future__ import annotations

from asgi_helpers import Receive, Scope, Send, send_response

FAILURE_MESSAGE = "covet-test: database unreachable at startup"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        message = await receive()
        assert message["type"] == "lifespan.startup"
        await send({"type": "lifespan.startup.failed", "message": FAILURE_MESSAGE})
        return
    await send_response(send, b"should never be served")
