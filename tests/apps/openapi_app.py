"""An app whose OpenAPI document test_native_openapi.py fetches from the running binary and
compares with FastAPI's for the same app (``build`` takes the framework module)."""

import importlib
from types import ModuleType
from typing import Annotated, Any

from pydantic import BaseModel, Field


class Item(BaseModel):
    name: str
    price: float = Field(gt=0)
    tags: list[str] = []


class Message(BaseModel):
    message: str


def build(fw: ModuleType) -> Any:
    """The app, written once, with ``fw`` either ``fastapi`` or ``covetpy``."""
    app = fw.FastAPI(title="Shop", version="1.2.3", description="Items for sale")
    router = fw.APIRouter(prefix="/items", tags=["items"], responses={404: {"model": Message}})

    @router.get("/{item_id}")
    async def read_item(item_id: int, q: Annotated[str | None, fw.Query(max_length=20)] = None) -> Item:
        return Item(name="x", price=1)

    @router.post("/", status_code=201)
    async def create_item(item: Item, x_token: Annotated[str, fw.Header()]) -> Item:
        return item

    @app.get("/", summary="The root")
    async def root() -> Message:
        return Message(message="hi")

    app.include_router(router)
    return app


app = build(importlib.import_module("covetpy"))
