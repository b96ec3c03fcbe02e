"""Lifespan app: sets state at startup, records shutdown in a marker file.

Environment variables (optional):
  COVET_STARTUP_FILE   file appended with "lifespan.startup" at startup
  COVET_SHUTDOWN_FILE  file appended with "lifespan.shutdown" at shutdown
"""

from __future__ import annotations

import os
from typing import Any

from asgi_helpers import Receive, Scope, Send, send_json, write_marker

LIFESPAN_INFO: dict[str, Any] = {}


async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    LIFESPAN_INFO["asgi"] = scope.get("asgi")
    LIFESPAN_INFO["has_state"] = "state" in scope
    message = await receive()
    LIFESPAN_INFO["first_message"] = message["type"]
    state = scope.get("state")
    if isinstance(state, dict):
        state["greeting"] = "hello from lifespan"
        state["startup_pid"] = os.getpid()
        state["numbers"] = [1, 2, 3]
    write_marker("COVET_STARTUP_FILE", message["type"])
    await send({"type": "lifespan.startup.complete"})
    message = await receive()
    write_marker("COVET_SHUTDOWN_FILE", message["type"])
    await send({"type": "lifespan.shutdown.complete"})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(scope, receive, send)
        return
    state = scope.get("state")
    state_copy = dict(state) if isinstance(state, dict) else None
    if scope["path"] == "/mutate" and isinstance(state, dict):
        state["added_by_request"] = True
    await send_json(
        send,
        {
            "has_state": "state" in scope,
            "state": state_copy,
            "lifespan": LIFESPAN_INFO,
            "pid": os.getpid(),
        },
    )
