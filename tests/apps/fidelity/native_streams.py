"""Path operations that `yield`: Server-Sent Events through EventSourceResponse
and JSON Lines (FastAPI versions that have fastapi.sse)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from fastapi import APIRouter
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

router = APIRouter(tags=["streams"])


class Tick(BaseModel):
    n: int
    square: int


@router.get("/sse/native/async", response_class=EventSourceResponse)
async def sse_native_async(count: int = 3) -> AsyncIterator[Tick]:
    for n in range(count):
        await asyncio.sleep(0.001)
        yield Tick(n=n, square=n * n)


@router.get("/sse/native/sync", response_class=EventSourceResponse)
def sse_native_sync(count: int = 3) -> Iterator[ServerSentEvent]:
    for n in range(count):
        yield ServerSentEvent(data={"n": n}, event="tick", id=str(n))
    yield ServerSentEvent(raw_data="done", event="end", retry=1000)


@router.get("/jsonl/async")
async def jsonl_async(count: int = 3) -> AsyncIterator[Tick]:
    for n in range(count):
        yield Tick(n=n, square=n * n)


@router.get("/jsonl/sync")
def jsonl_sync(count: int = 3) -> Iterator[dict[str, int]]:
    for n in range(count):
        yield {"n": n}
