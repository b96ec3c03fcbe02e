"""Returns the worker's pid and parent pid."""

from __future__ import annotations

import os

from asgi_helpers import Receive, Scope, Send, run_lifespan, send_json


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    await send_json(send, {"pid": os.getpid(), "ppid": os.getppid()})
