"""Streaming app: streamed responses, request-body echo, gates and barriers."""

from __future__ import annotations

import asyncio
import hashlib

from asgi_helpers import (
    Receive,
    Scope,
    Send,
    query_params,
    rss_kb,
    run_lifespan,
    send_json,
    send_response,
)

GATE_TIMEOUT = 20.0

_gates: dict[str, asyncio.Event] = {}
_barrier_counts: dict[str, int] = {}
_barriers: dict[str, asyncio.Event] = {}
_floods: dict[str, dict[str, int]] = {}


def _gate(key: str) -> asyncio.Event:
    if key not in _gates:
        _gates[key] = asyncio.Event()
    return _gates[key]


def pattern(index: int, size: int) -> bytes:
    """Deterministic chunk content, also computed by the tests."""
    seed = f"chunk-{index:06d}|".encode("ascii")
    return (seed * (size // len(seed) + 1))[:size]


async def start_streaming(send: Send, status: int = 200) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/octet-stream")],
        }
    )


async def chunks(scope: Scope, send: Send) -> None:
    params = query_params(scope)
    count = int(params.get("n", "10"))
    size = int(params.get("size", "1024"))
    await start_streaming(send)
    digest = hashlib.sha256()
    for index in range(count):
        data = pattern(index, size)
        digest.update(data)
        await send({"type": "http.response.body", "body": data, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def gated(scope: Scope, send: Send) -> None:
    """Send a first chunk, wait for /release?key=..., then send the rest."""
    key = query_params(scope).get("key", "default")
    gate = _gate(key)
    await start_streaming(send)
    await send(
        {"type": "http.response.body", "body": b"first-chunk\n", "more_body": True}
    )
    try:
        await asyncio.wait_for(gate.wait(), GATE_TIMEOUT)
        tail = b"second-chunk\n"
    except TimeoutError:
        tail = b"gate-timeout\n"
    await send({"type": "http.response.body", "body": tail, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def echo(receive: Receive, send: Send) -> None:
    """Echo each request body chunk back as soon as it arrives."""
    await start_streaming(send)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        body = message.get("body", b"")
        more = message.get("more_body", False)
        if body:
            await send({"type": "http.response.body", "body": body, "more_body": True})
        if not more:
            break
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def barrier(scope: Scope, send: Send) -> None:
    """Each request waits until `n` requests with the same key have arrived."""
    params = query_params(scope)
    key = params.get("key", "default")
    needed = int(params.get("n", "2"))
    event = _barriers.setdefault(key, asyncio.Event())
    _barrier_counts[key] = _barrier_counts.get(key, 0) + 1
    if _barrier_counts[key] >= needed:
        event.set()
    try:
        await asyncio.wait_for(event.wait(), GATE_TIMEOUT)
        result = b"barrier-passed"
    except TimeoutError:
        result = b"barrier-timeout"
    await send_response(send, result)


async def flood(scope: Scope, send: Send) -> None:
    """Send n chunks of `size` bytes as fast as send() allows, sampling the
    process RSS after each send; /flood-status reports the samples."""
    params = query_params(scope)
    count = int(params.get("n", "256"))
    size = int(params.get("size", str(1024 * 1024)))
    status = {"rss_before_kb": rss_kb(), "rss_max_kb": 0, "sent": 0, "done": 0}
    _floods[params.get("key", "default")] = status
    block = b"f" * size
    await start_streaming(send)
    for _ in range(count):
        await send({"type": "http.response.body", "body": block, "more_body": True})
        status["sent"] += 1
        status["rss_max_kb"] = max(status["rss_max_kb"], rss_kb())
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    status["done"] = 1


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    path = scope["path"]
    if path == "/chunks":
        await chunks(scope, send)
    elif path == "/gated":
        await gated(scope, send)
    elif path == "/release":
        _gate(query_params(scope).get("key", "default")).set()
        await send_response(send, b"released")
    elif path == "/echo":
        await echo(receive, send)
    elif path == "/barrier":
        await barrier(scope, send)
    elif path == "/flood":
        await flood(scope, send)
    elif path == "/flood-status":
        await send_json(send, _floods.get(query_params(scope).get("key", "default")))
    else:
        await send_response(send, b"not found", status=404)
