"""Tiny shared helpers for the raw ASGI test apps (no framework)."""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = Iterable[tuple[bytes, bytes]]


async def send_response(
    send: Send,
    body: bytes,
    status: int = 200,
    content_type: bytes = b"text/plain; charset=utf-8",
    headers: Headers = (),
) -> None:
    """Send a complete response with a Content-Length header."""
    all_headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode("ascii")),
        *headers,
    ]
    await send(
        {"type": "http.response.start", "status": status, "headers": all_headers}
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_json(
    send: Send, data: Any, status: int = 200, headers: Headers = ()
) -> None:
    body = json.dumps(data).encode("utf-8")
    await send_response(send, body, status, b"application/json", headers)


async def read_body(receive: Receive) -> bytes:
    """Read the whole request body (only for small bodies)."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def query_params(scope: Scope) -> dict[str, str]:
    query = scope.get("query_string", b"").decode("latin-1")
    return dict(parse_qsl(query))


async def run_lifespan(scope: Scope, receive: Receive, send: Send) -> None:
    """A minimal, well-behaved lifespan handler that does nothing."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def write_marker(env_var: str, text: str) -> None:
    """Write `text` to the file named by environment variable `env_var`."""
    path = os.environ.get(env_var)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def rss_kb() -> int:
    """Resident set size of this process in KiB, from /proc/self/status."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("VmRSS not found in /proc/self/status")
