"""CORS, GZip and TrustedHost as the outermost middleware: `--interface covet` runs them in Rust.

Native routes, a dependency route (run on the ASGI side), a miss, a large JSON answer, a streamed
answer and a route that raises, so each path through the server meets the layers. `/asgi-calls`
reports how many HTTP requests reached the app's Python stack, to show a preflight never does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import Receive, Scope, Send

app = FastAPI(title="fidelity layers")

app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6)
app.add_middleware(
    CORSMiddleware,
    allow_origins=["https://allowed.example"],
    allow_credentials=True,
    allow_methods=["GET", "POST", "PUT"],
    allow_headers=["X-Custom", "Content-Type"],
    expose_headers=["X-Process"],
    max_age=321,
)
app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "*.trusted.example"])

ASGI_CALLS = {"http": 0}
# The module is reloaded per test pool: patch the original method only once.
_server_errors_call = ServerErrorMiddleware.__dict__.get("_original_call", ServerErrorMiddleware.__call__)
ServerErrorMiddleware._original_call = _server_errors_call  # type: ignore[attr-defined]


async def _counting_call(self: ServerErrorMiddleware, scope: Scope, receive: Receive, send: Send) -> None:
    # Every Python stack the server may run for a request (the app's, its stack without the Rust
    # layers, a route's own) starts with ServerErrorMiddleware: this counts requests reaching Python.
    if scope["type"] == "http":
        ASGI_CALLS["http"] += 1
    await _server_errors_call(self, scope, receive, send)


ServerErrorMiddleware.__call__ = _counting_call  # type: ignore[method-assign]


def token() -> str:
    return "dep"


@app.get("/asgi-calls")
async def asgi_calls() -> dict[str, int]:
    return dict(ASGI_CALLS)


# Files the server sends itself, through the same layers (GZip compresses the larger ones).
app.mount("/files", StaticFiles(directory=Path(__file__).parent / "static"), name="files")


@app.get("/items/{item_id}")
async def item(item_id: int, q: str | None = None) -> dict[str, Any]:
    return {"item_id": item_id, "q": q}


@app.put("/items/{item_id}")
def put_item(item_id: int) -> dict[str, Any]:
    return {"put": item_id}


@app.get("/dep")
async def with_dep(value: str = Depends(token)) -> dict[str, str]:
    return {"value": value}


@app.get("/large")
def large() -> list[dict[str, Any]]:
    return [{"index": i, "name": f"item number {i}", "tags": ["a", "b", "c"]} for i in range(400)]


@app.get("/large-text", response_class=PlainTextResponse)
def large_text() -> str:
    return "lorem ipsum dolor sit amet " * 100


@app.get("/small")
def small() -> dict[str, str]:
    return {"small": "yes"}


@app.get("/encoded")
def encoded() -> PlainTextResponse:
    return PlainTextResponse("x" * 2000, headers={"content-encoding": "identity", "vary": "Cookie"})


@app.get("/image")
def image() -> PlainTextResponse:
    return PlainTextResponse("p" * 2000, media_type="image/png")


@app.get("/stream")
def stream() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(5):
            yield f"chunk {i}\n".encode() * 50

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/events")
def events() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"data: {i}\n\n".encode() * 100

    return StreamingResponse(chunks(), media_type="text/event-stream")


@app.get("/teapot")
def teapot() -> None:
    raise HTTPException(status_code=418, detail="short and stout")


@app.get("/boom")
def boom() -> None:
    raise RuntimeError("boom")


@app.get("/boom-dep")
def boom_dep(value: str = Depends(token)) -> None:
    raise RuntimeError("boom on the ASGI side")
