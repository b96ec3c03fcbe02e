"""Each request runs `sh`, which starts a background `sleep` and exits at once with status 7: the
`sleep` is orphaned (a double fork: handler -> sh -> sleep) and, when it ends a moment later, must be
reaped by PID 1. The answer holds the exit status the handler's own `subprocess.run` saw, which a
reaper that steals statuses would turn into 0."""

from __future__ import annotations

import os
import subprocess

from asgi_helpers import Receive, Scope, Send, run_lifespan, send_json


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    done = subprocess.run(["sh", "-c", "sleep 0.3 & exit 7"], check=False)
    await send_json(send, {"returncode": done.returncode, "pid": os.getpid()})
