"""Checks what receive() returns after the response and on client disconnect.

GET /probe?key=K responds, then awaits receive() and records the message type.
GET /hold?key=K starts a streamed response, then awaits receive() until the
client goes away and records the message type.
GET /until-closed?key=K streams small chunks until send() fails (at most
~20 s) and records the exception type (spec 2.4: an OSError subclass).
GET /sized-then-close?key=K sends its whole content-length body with more_body, waits, then the
closing empty message (as Starlette's BaseHTTPMiddleware does) and records whether that raised.
GET /result?key=K waits (up to 10 s) for the recorded type and returns it.
"""

from __future__ import annotations

import asyncio

from asgi_helpers import (
    Receive,
    Scope,
    Send,
    query_params,
    read_body,
    run_lifespan,
    send_json,
)

WAIT = 30.0

_results: dict[str, str] = {}
_events: dict[str, asyncio.Event] = {}


def _event(key: str) -> asyncio.Event:
    if key not in _events:
        _events[key] = asyncio.Event()
    return _events[key]


def _record(key: str, value: str) -> None:
    _results[key] = value
    _event(key).set()


async def _next_non_request(receive: Receive) -> str:
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return str(message["type"])


async def probe(key: str, receive: Receive, send: Send) -> None:
    await read_body(receive)
    await send_json(send, {"probe": key})
    try:
        message = await asyncio.wait_for(receive(), WAIT)
        _record(key, str(message["type"]))
    except TimeoutError:
        _record(key, "timeout")


async def hold(key: str, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"holding", "more_body": True})
    try:
        _record(key, await asyncio.wait_for(_next_non_request(receive), WAIT))
    except TimeoutError:
        _record(key, "timeout")


async def until_closed(key: str, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    try:
        for _ in range(2000):
            await send(
                {"type": "http.response.body", "body": b"x" * 1024, "more_body": True}
            )
            await asyncio.sleep(0.01)
    except OSError as exc:
        _record(key, f"OSError:{type(exc).__name__}")
        return
    except Exception as exc:  # noqa: BLE001 - the type is the test result
        _record(key, f"other:{type(exc).__name__}:{exc}")
        return
    _record(key, "no-error")
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def sized_then_close(key: str, send: Send) -> None:
    headers = [(b"content-length", b"5"), (b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hello", "more_body": True})
    # By now the connection has written all five declared bytes and finished the response.
    await asyncio.sleep(0.3)
    try:
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except Exception as exc:  # noqa: BLE001 - the type is the test result
        _record(key, f"raised:{type(exc).__name__}")
        return
    _record(key, "no-error")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    key = query_params(scope).get("key", "default")
    if scope["path"] == "/probe":
        await probe(key, receive, send)
    elif scope["path"] == "/hold":
        await hold(key, receive, send)
    elif scope["path"] == "/until-closed":
        await until_closed(key, send)
    elif scope["path"] == "/sized-then-close":
        await sized_then_close(key, send)
    else:
        try:
            await asyncio.wait_for(_event(key).wait(), WAIT)
        except TimeoutError:
            pass
        await send_json(send, {"key": key, "result": _results.get(key)})
