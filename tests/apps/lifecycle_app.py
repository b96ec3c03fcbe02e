"""For tests/test_lifecycle.py: an ASGI app whose requests can wait or hold memory.

/               the worker's pid
/sleep?S        awaits asyncio.sleep(S) (the event loop stays free), then answers
/block?S        time.sleep(S) inside the handler: the event loop is stuck too
/grow?MB        allocates MB mebibytes, keeps them for the worker's life, answers
"""

from __future__ import annotations

import asyncio
import os
import time

from asgi_helpers import Receive, Scope, Send, run_lifespan, send_json

KEPT: list[bytearray] = []


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    arg = (scope["query_string"] or b"0").decode()
    path = scope["path"]
    if path == "/sleep":
        await asyncio.sleep(float(arg))
    elif path == "/block":
        time.sleep(float(arg))
    elif path == "/grow":
        chunk = bytearray(int(arg) * 1024 * 1024)
        # Touch every page, so the memory is resident and not only reserved.
        for offset in range(0, len(chunk), 4096):
            chunk[offset] = 1
        KEPT.append(chunk)
    await send_json(send, {"pid": os.getpid(), "path": path})
