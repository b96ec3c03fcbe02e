"""A small FastAPI app to check framework compatibility."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    yield {"db": "connected"}


app = FastAPI(lifespan=lifespan)


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, Any]:
    return {"item_id": item_id, "q": q}


@app.post("/items")
async def create_item(item: Item) -> dict[str, Any]:
    return {
        "name": item.name,
        "price": item.price,
        "tags": item.tags,
        "doubled": item.price * 2,
    }


@app.get("/state")
async def read_state(request: Request) -> dict[str, Any]:
    return {"db": request.state.db, "root_path": request.scope.get("root_path")}


@app.get("/stream")
async def stream() -> StreamingResponse:
    async def numbers() -> AsyncIterator[bytes]:
        for number in range(5):
            yield f"line {number}\n".encode()

    return StreamingResponse(numbers(), media_type="text/plain")
