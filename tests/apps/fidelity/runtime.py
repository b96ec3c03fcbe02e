"""Lifespan state, the thread pool, anyio and asyncio inside endpoints, WebSockets."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
import sniffio
from fastapi import (
    Depends,
    FastAPI,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    status,
)
from starlette.concurrency import run_in_threadpool

from fidelity.board import Board

board = Board()
request_label: contextvars.ContextVar[str] = contextvars.ContextVar("request_label")
background: set[asyncio.Task[None]] = set()


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    yield {"db": {"name": "fidelity-db", "tables": 3}, "greeting": "hello"}


app = FastAPI(title="fidelity runtime", lifespan=lifespan)


def loop_facts() -> dict[str, Any]:
    return {
        "library": sniffio.current_async_library(),
        "has_task": asyncio.current_task() is not None,
    }


@app.get("/state")
async def state(request: Request) -> dict[str, Any]:
    return {"db": request.state.db, "greeting": request.state.greeting}


@app.get("/sync/state")
def sync_state(request: Request) -> dict[str, Any]:
    return {
        "db": request.state.db["name"],
        "scope_state": sorted(request.scope["state"]),
    }


@app.get("/loop")
async def loop() -> dict[str, Any]:
    return loop_facts()


async def loop_thread() -> int:
    return threading.get_ident()


@app.get("/sync/thread")
def sync_thread(loop_ident: Annotated[int, Depends(loop_thread)]) -> dict[str, Any]:
    return {"worker_thread": threading.get_ident() != loop_ident}


def label_in_thread(prefix: str) -> str:
    return (
        f"{prefix}:{request_label.get('unset')}:{threading.get_ident() != main_ident}"
    )


main_ident = 0


@app.get("/threadpool")
async def threadpool(label: str) -> dict[str, Any]:
    global main_ident
    main_ident = threading.get_ident()
    request_label.set(label)
    seen = await run_in_threadpool(label_in_thread, "pool")
    offloaded = await anyio.to_thread.run_sync(label_in_thread, "anyio")
    return {"seen": seen, "offloaded": offloaded, **loop_facts()}


@app.get("/task-group")
async def task_group(n: int = 4) -> dict[str, Any]:
    results: dict[int, int] = {}

    async def square(i: int) -> None:
        await anyio.sleep(0.01 * (n - i))
        results[i] = i * i

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(square, i)
    with anyio.move_on_after(0.02) as scope:
        await anyio.sleep(5)
    return {"results": [results[i] for i in range(n)], "cancelled": scope.cancel_called}


@app.get("/timeout")
async def timeout(delay: float, limit: float = 0.05) -> dict[str, Any]:
    try:
        async with asyncio.timeout(limit):
            await asyncio.sleep(delay)
    except TimeoutError:
        return {"timed_out": True}
    return {"timed_out": False}


@app.get("/wait-for")
async def wait_for() -> dict[str, Any]:
    try:
        await asyncio.wait_for(asyncio.sleep(5), timeout=0.02)
    except TimeoutError:
        return {"wait_for": "timed out"}
    return {"wait_for": "finished"}


@app.get("/create-task/{key}")
async def create_task(key: str) -> dict[str, Any]:
    request_label.set(key)

    async def child() -> str:
        await asyncio.sleep(0.01)
        return f"child saw {request_label.get()}"

    async def detached() -> None:
        await asyncio.sleep(0.02)
        board.pin(key, f"detached saw {request_label.get()}")

    awaited = await asyncio.create_task(child())
    task = asyncio.create_task(detached())
    background.add(task)
    task.add_done_callback(background.discard)
    gathered = await asyncio.gather(child(), asyncio.sleep(0, "slept"))
    return {"awaited": awaited, "gathered": gathered, **loop_facts()}


@app.get("/detached/{key}")
async def detached_notes(key: str) -> list[str]:
    return await board.wait(key, 1)


@app.get("/sync/loop")
def sync_loop() -> dict[str, Any]:
    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return {"library": None}
    return {"library": "unexpected"}


def ws_token(token: Annotated[str | None, Query()] = None) -> str:
    if token != "secret":
        raise WebSocketException(
            code=status.WS_1008_POLICY_VIOLATION, reason="bad token"
        )
    return token


async def room_prefix(websocket: WebSocket) -> str:
    return websocket.path_params["room"].upper()


@app.websocket("/ws/{room}")
async def ws_room(
    websocket: WebSocket,
    room: str,
    token: Annotated[str, Depends(ws_token)],
    prefix: Annotated[str, Depends(room_prefix)],
    repeat: int = 1,
) -> None:
    await websocket.accept()
    await websocket.send_json(
        {"room": room, "prefix": prefix, "token": token, **loop_facts()}
    )
    try:
        while True:
            message = await websocket.receive_text()
            if message == "bytes":
                await websocket.send_bytes(b"\x00\x01binary")
                continue
            if message == "close":
                await websocket.close(code=4001, reason="asked to close")
                return
            for _ in range(repeat):
                await websocket.send_text(f"{prefix}: {message}")
    except WebSocketDisconnect:
        return


@app.websocket("/ws-state")
async def ws_state(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"greeting": websocket.state.greeting})
    await websocket.close()
