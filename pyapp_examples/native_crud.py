"""A small CRUD API with CovetPy's native API: routers, pydantic models, errors, status codes.

    covetpy serve native_crud:app --app-dir pyapp_examples

    curl -X POST localhost:8000/api/items -H 'content-type: application/json' \\
         -d '{"name": "pen", "price": 1.5}'
    curl localhost:8000/api/items?limit=10
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from covetpy import (
    APIRouter,
    CovetPy,
    HTTPException,
    JSONResponse,
    Query,
    Request,
    Response,
    status,
)
from pydantic import BaseModel, Field


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    price: float = Field(gt=0)
    tags: list[str] = []


class Item(ItemIn):
    id: int


class Store:
    """An in-memory store; sync handlers run on worker threads, hence the lock."""

    def __init__(self) -> None:
        self.items: dict[int, Item] = {}
        self.ids = itertools.count(1)
        self.lock = threading.Lock()

    def add(self, data: ItemIn) -> Item:
        with self.lock:
            item = Item(id=next(self.ids), **data.model_dump())
            self.items[item.id] = item
            return item

    def get(self, item_id: int) -> Item:
        try:
            return self.items[item_id]
        except KeyError:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND, f"item {item_id} not found"
            ) from None


class PriceTooHigh(Exception):
    def __init__(self, price: float) -> None:
        self.price = price


@asynccontextmanager
async def lifespan(app: CovetPy) -> AsyncIterator[dict[str, Any]]:
    store = Store()
    store.add(ItemIn(name="example", price=1.0))
    yield {"store": store}


app = CovetPy(title="Inventory", version="1.0.0", lifespan=lifespan)
items = APIRouter(prefix="/items", tags=["items"])
admin = APIRouter(prefix="/admin", tags=["admin"])


@app.exception_handler(PriceTooHigh)
async def price_too_high(request: Request, exc: PriceTooHigh) -> Response:
    return JSONResponse(
        {"detail": f"price {exc.price} is over the limit"}, status_code=400
    )


@items.get("")
def list_items(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    tag: str | None = None,
) -> list[Item]:
    found = request.state.store.items.values()
    if tag is not None:
        found = [item for item in found if tag in item.tags]
    return list(found)[:limit]


@items.post("", status_code=status.HTTP_201_CREATED)
def create_item(request: Request, item: ItemIn) -> Item:
    if item.price > 10_000:
        raise PriceTooHigh(item.price)
    return request.state.store.add(item)


@items.get("/{item_id}")
def read_item(request: Request, item_id: int) -> Item:
    return request.state.store.get(item_id)


@items.put("/{item_id}")
def replace_item(request: Request, item_id: int, item: ItemIn) -> Item:
    store: Store = request.state.store
    store.get(item_id)
    updated = Item(id=item_id, **item.model_dump())
    store.items[item_id] = updated
    return updated


@items.delete("/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_item(request: Request, item_id: int) -> Response:
    store: Store = request.state.store
    store.get(item_id)
    del store.items[item_id]
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@admin.get("/stats")
async def stats(request: Request) -> dict[str, Any]:
    store: Store = request.state.store
    return {
        "count": len(store.items),
        "total": sum(i.price for i in store.items.values()),
    }


api = APIRouter(prefix="/api")
api.include_router(items)
api.include_router(admin)
app.include_router(api)
