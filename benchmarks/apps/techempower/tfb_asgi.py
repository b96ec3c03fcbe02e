"""The TechEmpower tests written as a FastAPI app on asyncpg.

The same file is served three ways by ``benchmarks/techempower.py``: on uvicorn and on
Granian (real FastAPI), on ``covetpy --interface asgi`` (real FastAPI on covetpy's ASGI
server) and on ``covetpy --interface covet``, where its ``fastapi`` imports resolve to
covetpy and the routes run natively.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from tfb_rules import (
    HELLO,
    POOL_SIZE,
    TEMPLATES,
    database_url,
    query_count,
    random_id,
    random_ids,
    sorted_fortunes,
)

SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"
SELECT_FORTUNES = "SELECT id, message FROM fortune"
UPDATE_WORLD = "UPDATE world SET randomnumber = $2 WHERE id = $1"

fortune_template = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True
).get_template("fortune.html")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(database_url(), min_size=POOL_SIZE, max_size=POOL_SIZE)
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(lifespan=lifespan)


@app.get("/json")
async def json_serialization() -> dict[str, str]:
    return {"message": HELLO}


@app.get("/db")
async def single_query(request: Request) -> dict[str, int]:
    async with request.app.state.pool.acquire() as conn:
        row = await conn.fetchrow(SELECT_WORLD, random_id())
    return {"id": row[0], "randomNumber": row[1]}


@app.get("/queries")
async def multiple_queries(request: Request, queries: str | None = None) -> list[dict[str, int]]:
    ids = [random_id() for _ in range(query_count(queries))]
    async with request.app.state.pool.acquire() as conn:
        statement = await conn.prepare(SELECT_WORLD)
        rows = [await statement.fetchrow(world_id) for world_id in ids]
    return [{"id": row[0], "randomNumber": row[1]} for row in rows]


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes(request: Request) -> HTMLResponse:
    async with request.app.state.pool.acquire() as conn:
        rows = await conn.fetch(SELECT_FORTUNES)
    page = fortune_template.render(fortunes=sorted_fortunes([tuple(r) for r in rows]))
    return HTMLResponse(page)


@app.get("/updates")
async def updates(request: Request, queries: str | None = None) -> list[dict[str, int]]:
    ids = sorted(random_ids(query_count(queries)))
    async with request.app.state.pool.acquire() as conn:
        statement = await conn.prepare(SELECT_WORLD)
        worlds = [
            {"id": world_id, "randomNumber": random_id()}
            for world_id in ids
            if await statement.fetchval(world_id) is not None
        ]
        await conn.executemany(UPDATE_WORLD, [(w["id"], w["randomNumber"]) for w in worlds])
    return worlds


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> PlainTextResponse:
    return PlainTextResponse(HELLO)
