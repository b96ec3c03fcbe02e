"""Returns the worker's pid and parent pid, and which socket activation variables
(LISTEN_*) the app can see. GET /block?SECONDS blocks the event loop (and the
worker's Python code) for that long before answering."""

from __future__ import annotations

import os
import time

from asgi_helpers import Receive, Scope, Send, run_lifespan, send_json


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    if scope["path"] == "/block":
        time.sleep(float(scope["query_string"] or b"0"))
    listen_env = sorted(name for name in os.environ if name.startswith("LISTEN_"))
    await send_json(send, {"pid": os.getpid(), "ppid": os.getppid(), "listen_env": listen_env})
