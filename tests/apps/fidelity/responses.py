"""StaticFiles, Jinja2Templates, streaming, SSE, FileResponse and BackgroundTasks."""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from fastapi import BackgroundTasks, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from fidelity.board import Board

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"

app = FastAPI(title="fidelity responses")
app.mount("/static", StaticFiles(directory=STATIC), name="static")
app.mount("/site", StaticFiles(directory=STATIC, html=True), name="site")
templates = Jinja2Templates(directory=HERE / "templates")
board = Board()

if importlib.util.find_spec("fastapi.sse") is not None:  # FastAPI >= 0.135
    from fidelity.native_streams import router as native_streams

    app.include_router(native_streams)


@app.get("/items/{item_id}/page", response_class=HTMLResponse)
def item_page(request: Request, item_id: int, note: str = "<b>escaped</b>") -> Any:
    return templates.TemplateResponse(
        request,
        "item.html",
        {"item_id": item_id, "tags": ["red", "blue"], "note": note},
        headers={"X-Template": "item"},
    )


@app.get("/async/items/{item_id}/page", response_class=HTMLResponse)
async def async_item_page(request: Request, item_id: int) -> Any:
    return templates.TemplateResponse(
        request, "item.html", {"item_id": item_id, "tags": [], "note": "async"}
    )


def sync_chunks(count: int) -> Iterator[bytes]:
    for n in range(count):
        time.sleep(0.001)
        yield f"sync chunk {n}\n".encode()


async def async_chunks(count: int) -> AsyncIterator[bytes]:
    for n in range(count):
        await asyncio.sleep(0.001)
        yield f"async chunk {n}\n".encode()


@app.get("/stream/sync")
def stream_sync(count: int = 5) -> StreamingResponse:
    return StreamingResponse(sync_chunks(count), media_type="text/plain")


@app.get("/stream/async")
async def stream_async(count: int = 5) -> StreamingResponse:
    return StreamingResponse(
        async_chunks(count), media_type="text/csv", headers={"X-Stream": "async"}
    )


@app.get("/stream/big")
async def stream_big() -> StreamingResponse:
    async def blocks() -> AsyncIterator[bytes]:
        for n in range(40):
            yield bytes([n]) * 16384

    return StreamingResponse(blocks(), media_type="application/octet-stream")


def sse_lines(count: int) -> Iterator[str]:
    for n in range(count):
        yield f'id: {n}\nevent: tick\ndata: {{"n": {n}}}\n\n'


@app.get("/sse/manual/sync")
def sse_manual_sync(count: int = 3) -> StreamingResponse:
    return StreamingResponse(
        sse_lines(count),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


@app.get("/sse/manual/async")
async def sse_manual_async(count: int = 3) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        for line in sse_lines(count):
            await asyncio.sleep(0)
            yield line

    return StreamingResponse(events(), media_type="text/event-stream")


@app.get("/file/sync")
def file_sync() -> FileResponse:
    return FileResponse(STATIC / "hello.txt")


@app.get("/file/async")
async def file_async() -> FileResponse:
    return FileResponse(
        STATIC / "blob.bin",
        filename="données.bin",
        media_type="application/octet-stream",
        headers={"X-File": "blob"},
    )


@app.get("/file/inline")
async def file_inline() -> FileResponse:
    return FileResponse(
        STATIC / "index.html", filename="page.html", content_disposition_type="inline"
    )


@app.get("/file/missing")
def file_missing() -> FileResponse:
    return FileResponse(STATIC / "does-not-exist.txt")


def write_note(key: str, note: str) -> None:
    time.sleep(0.01)
    board.pin(key, f"sync:{note}")


async def write_note_async(key: str, note: str) -> None:
    await asyncio.sleep(0.01)
    board.pin(key, f"async:{note}")


def queue_from_dependency(background_tasks: BackgroundTasks, key: str) -> str:
    background_tasks.add_task(board.pin, key, "from-dependency")
    return key


@app.post("/sync/notify/{key}")
def sync_notify(
    key: str, note: str, background_tasks: BackgroundTasks
) -> dict[str, str]:
    background_tasks.add_task(write_note, key, note)
    background_tasks.add_task(write_note_async, key, note)
    return {"queued": note}


@app.post("/async/notify/{key}")
async def async_notify(
    note: str,
    background_tasks: BackgroundTasks,
    key: str = Depends(queue_from_dependency),
) -> dict[str, str]:
    background_tasks.add_task(write_note_async, key, note)
    background_tasks.add_task(write_note, key, note)
    return {"queued": note}


@app.get("/notes/{key}")
async def notes(key: str, count: int) -> list[str]:
    return await board.wait(key, count)
