"""@app.middleware("http"), CORSMiddleware, GZipMiddleware, TrustedHostMiddleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import PlainTextResponse, StreamingResponse

app = FastAPI(title="fidelity middleware")

app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6)
app.add_middleware(
    CORSMiddleware,
    allow_origins=["https://allowed.example"],
    allow_credentials=True,
    allow_methods=["GET", "POST", "PUT"],
    allow_headers=["X-Custom", "Content-Type"],
    expose_headers=["X-Process"],
    max_age=600,
)
app.add_middleware(
    TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "*.trusted.example"]
)


@app.middleware("http")
async def add_process_header(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    if request.headers.get("x-short-circuit"):
        return PlainTextResponse("short-circuited by middleware", status_code=299)
    request.state.seen_by = "process-middleware"
    response = await call_next(request)
    response.headers["X-Process"] = f"{request.method} {request.url.path}"
    return response


@app.middleware("http")
async def outer_header(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers.append("X-Chain", "outer")
    return response


def payload(size: int) -> dict[str, Any]:
    return {"size": size, "data": "abcdefgh" * size}


@app.get("/sync/data")
def sync_data(request: Request, size: int = 1) -> dict[str, Any]:
    return {"seen_by": request.state.seen_by, **payload(size)}


@app.get("/async/data")
async def async_data(request: Request, size: int = 1) -> dict[str, Any]:
    return {"seen_by": request.state.seen_by, **payload(size)}


@app.post("/echo")
async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(body[::-1], media_type="application/octet-stream")


@app.get("/stream")
async def stream(lines: int = 200) -> StreamingResponse:
    async def numbered() -> Any:
        for n in range(lines):
            yield f"line {n:04d} of a stream that compresses well\n".encode()

    return StreamingResponse(numbered(), media_type="text/plain")


@app.get("/error")
async def error() -> None:
    raise RuntimeError("boom")
