"""contextvars isolation between requests, and a contextvar-based library
(asgi-correlation-id). The reference is uvicorn: every request runs in its own
asyncio Task with its own copy of the context, so nothing set while handling
one request, nor in the lifespan, is visible to another request."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
from fastapi import Depends, FastAPI, Request

leak: contextvars.ContextVar[str | None] = contextvars.ContextVar("leak", default=None)
dep_leak: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "dep_leak", default=None
)
startup: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "startup", default=None
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, str]]:
    startup.set("set-in-lifespan")
    yield {"from_lifespan": "lifespan-state"}


app = FastAPI(title="fidelity contextvars", lifespan=lifespan)
app.add_middleware(CorrelationIdMiddleware)


def snapshot() -> dict[str, Any]:
    return {"leak": leak.get(), "dep_leak": dep_leak.get(), "startup": startup.get()}


async def set_in_dependency(value: str) -> str:
    dep_leak.set(f"dep-{value}")
    return value


async def set_in_yield_dependency(value: str) -> AsyncIterator[str]:
    dep_leak.set(f"yield-{value}")
    yield value


@app.get("/set/{value}")
async def set_value(value: str) -> dict[str, Any]:
    before = snapshot()
    leak.set(value)
    return {"before": before, "after": snapshot()}


@app.get("/set-dep")
async def set_dep(value: Annotated[str, Depends(set_in_dependency)]) -> dict[str, Any]:
    return {"value": value, "now": snapshot()}


@app.get("/set-yield-dep")
async def set_yield_dep(
    value: Annotated[str, Depends(set_in_yield_dependency)],
) -> dict[str, Any]:
    return {"value": value, "now": snapshot()}


@app.get("/get")
async def get_value(request: Request) -> dict[str, Any]:
    port = request.client.port if request.client else None
    return {**snapshot(), "state": request.state.from_lifespan, "port": port}


@app.get("/sync/get")
def sync_get_value(request: Request) -> dict[str, Any]:
    port = request.client.port if request.client else None
    return {**snapshot(), "state": request.state.from_lifespan, "port": port}


@app.get("/hold/{value}")
async def hold(value: str, delay: float = 0.1) -> dict[str, Any]:
    """Set, yield to other requests for a while, then read back."""
    before = leak.get()
    leak.set(value)
    await asyncio.sleep(delay)
    return {"before": before, "after": leak.get()}


@app.get("/cid")
async def cid(delay: float = 0.0) -> dict[str, Any]:
    seen = correlation_id.get()
    if delay:
        await asyncio.sleep(delay)
    return {"before": seen, "after": correlation_id.get()}


@app.get("/sync/cid")
def sync_cid() -> dict[str, Any]:
    return {"before": correlation_id.get(), "after": correlation_id.get()}
