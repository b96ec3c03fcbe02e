"""Slow app for graceful shutdown tests.

GET /gated touches $COVET_STARTED_FILE, then waits (polling) until the file
$COVET_RELEASE_FILE exists before responding. Lifespan shutdown appends
"lifespan.shutdown" to $COVET_SHUTDOWN_FILE.
"""

from __future__ import annotations

import asyncio
import os

from asgi_helpers import Receive, Scope, Send, send_response, write_marker

MAX_WAIT = 60.0


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            write_marker("COVET_SHUTDOWN_FILE", message["type"])
            await send({"type": "lifespan.shutdown.complete"})
            return


async def gated(send: Send) -> None:
    write_marker("COVET_STARTED_FILE", "started")
    release = os.environ.get("COVET_RELEASE_FILE", "")
    waited = 0.0
    while not (release and os.path.exists(release)):
        if waited >= MAX_WAIT:
            await send_response(send, b"release never came", status=504)
            return
        await asyncio.sleep(0.05)
        waited += 0.05
    await send_response(send, b"slow request finished")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    if scope["path"] == "/gated":
        await gated(send)
    else:
        await send_response(send, b"ok")
