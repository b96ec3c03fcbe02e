"""App for the operations tests (metrics, probes, drain).

ASGI `app`:
  GET /status/N   answers status N
  GET /gated      touches $COVET_STARTED_FILE, then waits (without blocking the loop) until
                  $COVET_RELEASE_FILE exists
  GET /block      touches $COVET_STARTED_FILE, then blocks the event-loop thread itself
                  (time.sleep) until $COVET_RELEASE_FILE exists: nothing else runs in Python
  GET /pid        the worker's pid
  WebSocket /ws   echo
Lifespan startup waits $COVET_STARTUP_DELAY seconds (default 0).

WSGI `wsgi`: GET /status/N answers status N.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from asgi_helpers import Receive, Scope, Send, send_response

MAX_WAIT = 60.0


def _touch_started() -> None:
    started = os.environ.get("COVET_STARTED_FILE")
    if started:
        Path(started).touch()


def _released() -> bool:
    release = os.environ.get("COVET_RELEASE_FILE", "")
    return bool(release) and os.path.exists(release)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await asyncio.sleep(float(os.environ.get("COVET_STARTUP_DELAY", "0")))
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _websocket(receive: Receive, send: Send) -> None:
    message = await receive()
    assert message["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message.get("text") or ""})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] == "websocket":
        await _websocket(receive, send)
        return
    path: str = scope["path"]
    if path.startswith("/status/"):
        code = int(path.removeprefix("/status/"))
        await send_response(send, b"status", status=code)
    elif path == "/gated":
        _touch_started()
        deadline = time.monotonic() + MAX_WAIT
        while not _released() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await send_response(send, b"gated request finished")
    elif path == "/block":
        _touch_started()
        deadline = time.monotonic() + MAX_WAIT
        while not _released() and time.monotonic() < deadline:
            time.sleep(0.05)  # deliberately blocks the event loop
        await send_response(send, b"unblocked")
    elif path == "/pid":
        await send_response(send, str(os.getpid()).encode())
    else:
        await send_response(send, b"ok")


StartResponse = Callable[..., Any]


def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path: str = environ["PATH_INFO"]
    code = int(path.removeprefix("/status/")) if path.startswith("/status/") else 200
    start_response(f"{code} Status", [("Content-Type", "text/plain")])
    return [b"status"]
