"""ASGI 2 applications: a class instantiated with the scope, and a function returning a coroutine
function, as uvicorn's `--interface asgi2` serves them."""

from __future__ import annotations

import json
from typing import Any

from asgi_helpers import Receive, Scope, Send

started: list[str] = []


async def _answer(scope: Scope, receive: Receive, send: Send, kind: str) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                started.append(kind)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = json.dumps(
        {"kind": kind, "asgi": scope["asgi"], "path": scope["path"], "started": started}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ClassApp:
    """The ASGI 2 form: one instance per connection scope."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        await _answer(self.scope, receive, send, "class")


def function_app(scope: Scope) -> Any:
    async def instance(receive: Receive, send: Send) -> None:
        await _answer(scope, receive, send, "function")

    return instance


async def asgi3_app(scope: Scope, receive: Receive, send: Send) -> None:
    await _answer(scope, receive, send, "asgi3")
