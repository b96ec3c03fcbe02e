"""A small FastAPI application used to try CovetPy by hand.

Run it with ``scripts/serve-example.sh`` or
``covetpy serve fastapi_app:app --app-dir pyapp_examples``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel


class Item(BaseModel):
    """Body of ``POST /items``."""

    name: str
    price: float
    tags: list[str] = []


class StoredItem(Item):
    """An item as returned by the API."""

    id: int


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Set up an in-memory store at startup and clear it at shutdown."""
    app.state.started_at = time.time()
    app.state.items = {1: StoredItem(id=1, name="hammer", price=9.5, tags=["tools"])}
    yield
    app.state.items.clear()


app = FastAPI(title="CovetPy example", lifespan=lifespan)


@app.get("/")
async def root(request: Request) -> dict[str, object]:
    """Say hello and report how the request arrived."""
    return {
        "message": "Hello from CovetPy",
        "http_version": request.scope["http_version"],
        "uptime_seconds": round(time.time() - request.app.state.started_at, 3),
    }


@app.get("/items/{item_id}")
async def read_item(
    item_id: int, request: Request, q: str | None = None
) -> dict[str, object]:
    """Return one item; ``q`` is echoed back when given."""
    item: StoredItem | None = request.app.state.items.get(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail=f"item {item_id} not found")
    return {"item": item.model_dump(), "q": q}


@app.post("/items", status_code=201)
async def create_item(item: Item, request: Request) -> StoredItem:
    """Store a new item and return it with its id."""
    items: dict[int, StoredItem] = request.app.state.items
    new_id = max(items, default=0) + 1
    stored = StoredItem(id=new_id, **item.model_dump())
    items[new_id] = stored
    return stored


@app.get("/missing")
async def missing() -> None:
    """Always answer 404."""
    raise HTTPException(status_code=404, detail="nothing here")


@app.get("/stream")
async def stream(
    count: Annotated[int, Query(ge=0, le=1000)] = 5,
    delay: Annotated[float, Query(ge=0.0, le=5.0)] = 0.1,
) -> StreamingResponse:
    """Send ``count`` lines, one every ``delay`` seconds."""

    async def lines() -> AsyncIterator[bytes]:
        for i in range(count):
            yield f"line {i}\n".encode()
            await asyncio.sleep(delay)

    return StreamingResponse(lines(), media_type="text/plain")
