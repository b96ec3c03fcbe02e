"""Apps that report what a call sees of asyncio and contextvars: its Task, its loop, its context.

Served three ways by tests/test_task_semantics.py: `asgi_app` (a raw ASGI callable, HTTP and
WebSocket), `native_app` (CovetPy native, `async def` and `def` endpoints) and `wsgi_app`.
Every call sets the module's ContextVar to the value it was given and reports what it found first,
so a value leaking from one request into the next shows up as a non-default `seen`.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import threading
from typing import Any
from urllib.parse import parse_qs

import anyio.to_thread
import sniffio
from covetpy import CovetPy

request_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="unset")
import_var: contextvars.ContextVar[str] = contextvars.ContextVar("import_var", default="unset")
lifespan_var: contextvars.ContextVar[str] = contextvars.ContextVar("lifespan_var", default="unset")
import_var.set("set-at-import")

#: Set by the shutdown test's endpoint once its Task has been cancelled.
cancelled_with: list[str] = []


def observe(value: str) -> dict[str, Any]:
    """What the caller sees, then set the ContextVar for the rest of the call."""
    seen = request_var.get()
    request_var.set(value)
    return {"seen": seen, "import_var": import_var.get(), "lifespan_var": lifespan_var.get()}


async def observe_async(value: str) -> dict[str, Any]:
    report = observe(value)
    task = asyncio.current_task()
    report["has_task"] = task is not None
    report["task_is_asyncio_task"] = isinstance(task, asyncio.Task)
    report["library"] = sniffio.current_async_library()
    report["loop_running"] = asyncio.get_running_loop().is_running()
    # A value set before an await must survive the await, in this Task only.
    await asyncio.sleep(0)
    report["after_await"] = request_var.get()
    return report


def _query(scope: dict[str, Any]) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode()
    return {k: v[0] for k, v in parse_qs(raw).items()}


async def _respond(send: Any, status: int, payload: object) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                lifespan_var.set("set-in-lifespan")
                scope["state"]["task_in_lifespan"] = asyncio.current_task() is not None
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            report = await observe_async(message["text"])
            await send({"type": "websocket.send", "text": json.dumps(report)})
    query = _query(scope)
    path = scope["path"]
    if path == "/observe":
        report = await observe_async(query.get("v", ""))
        report["task_in_lifespan"] = scope["state"].get("task_in_lifespan")
        await _respond(send, 200, report)
    elif path == "/timeout":
        # asyncio.timeout cancels the Task it runs in; that needs a real current Task.
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(5)
            outcome = "not cancelled"
        except TimeoutError:
            outcome = "timed out"
        await _respond(send, 200, {"outcome": outcome})
    elif path == "/taskgroup":
        results: list[int] = []

        async def child(n: int) -> None:
            await asyncio.sleep(0.01 * n)
            results.append(n)

        async with asyncio.TaskGroup() as group:
            for n in (3, 1, 2):
                group.create_task(child(n))
        await _respond(send, 200, {"results": results})
    elif path == "/spawn":
        # A Task created from a handler inherits a copy of the handler's context.
        request_var.set("parent")
        spawned = await asyncio.create_task(_read_var())
        await _respond(send, 200, {"child_saw": spawned})
    elif path == "/done-callback":
        task = asyncio.current_task()
        assert task is not None
        fired = asyncio.get_running_loop().create_future()
        task.add_done_callback(lambda _t: None)
        other = asyncio.ensure_future(asyncio.sleep(0))
        other.add_done_callback(lambda _t: fired.set_result("fired"))
        await _respond(send, 200, {"callback": await fired, "name": task.get_name() != ""})
    elif path == "/threadpool":
        # Starlette's run_in_threadpool: anyio keeps its worker threads for the server's lifetime.
        calls = await anyio.to_thread.run_sync(_count_calls_on_this_thread)
        await _respond(send, 200, {"calls_on_thread": calls})
    elif path == "/hang":
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError as exc:
            cancelled_with.append(str(exc.args[0]) if exc.args else "")
            with open(query["marker"], "w", encoding="utf-8") as handle:
                handle.write(cancelled_with[-1])
            raise
    else:
        await _respond(send, 404, {"path": path})


_thread_state = threading.local()


def _count_calls_on_this_thread() -> int:
    _thread_state.calls = getattr(_thread_state, "calls", 0) + 1
    return int(_thread_state.calls)


async def _read_var() -> str:
    return request_var.get()


native_app = CovetPy()


@native_app.get("/async")
async def native_async(v: str) -> dict[str, Any]:
    return await observe_async(v)


@native_app.get("/sync")
def native_sync(v: str) -> dict[str, Any]:
    return observe(v)


def wsgi_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    value = parse_qs(environ.get("QUERY_STRING", "")).get("v", [""])[0]
    body = json.dumps(observe(value)).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
