"""`@app.middleware("http")` around path operations with dependencies: what covetpy runs in each
route's own stack (covetpy/_route_stack.py) must behave as Starlette's BaseHTTPMiddleware does.

The app keeps an event log so a test can compare the order in which middleware, dependencies,
endpoints and background tasks ran, on the server and in-process.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Annotated, Any

from fastapi import BackgroundTasks, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

app = FastAPI(title="fidelity route stack")
bearer = HTTPBearer(auto_error=False)
events: list[str] = []
from_middleware: contextvars.ContextVar[str] = contextvars.ContextVar("from_middleware", default="unset")
from_endpoint: contextvars.ContextVar[str] = contextvars.ContextVar("from_endpoint", default="unset")


class Teapot(Exception):
    pass


@app.exception_handler(Teapot)
async def teapot_handler(request: Request, exc: Teapot) -> JSONResponse:
    events.append("teapot-handler")
    return JSONResponse({"teapot": str(exc)}, status_code=418)


@app.middleware("http")
async def inner(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    if request.url.path == "/events":
        return await call_next(request)
    events.append(f"inner-before {request.url.path}")
    request.state.task = id(asyncio.current_task())
    from_middleware.set("inner")
    if request.headers.get("x-raise") == "http":
        raise HTTPException(status_code=409, detail="raised in middleware")
    if request.headers.get("x-read-body"):
        events.append(f"inner-read {len(await request.body())}")
    try:
        response = await call_next(request)
    except ValueError as exc:
        events.append("inner-caught")
        return JSONResponse({"caught": str(exc)}, status_code=500)
    events.append(f"inner-after {response.status_code} endpoint-var={from_endpoint.get()}")
    response.headers["X-Inner"] = from_middleware.get()
    return response


@app.middleware("http")
async def outer(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    if request.url.path == "/events":
        # Reading the log must not add to it.
        return await call_next(request)
    events.append("outer-before")
    if request.headers.get("x-short-circuit"):
        return Response("short", status_code=299, media_type="text/plain")
    response = await call_next(request)
    response.headers.append("X-Chain", "outer")
    events.append("outer-after")
    return response


async def session() -> AsyncIterator[str]:
    events.append("session-open")
    try:
        yield "session"
    except Exception as exc:
        events.append(f"session-saw {type(exc).__name__}")
        raise
    finally:
        events.append("session-close")


def sync_session() -> Iterator[str]:
    events.append("sync-session-open")
    yield "sync-session"
    events.append("sync-session-close")


async def user(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    if credentials is None:
        raise HTTPException(status_code=401, detail="no token", headers={"WWW-Authenticate": "Bearer"})
    return credentials.credentials


class ItemOut(BaseModel):
    id: int
    name: str


@app.get("/items/{item_id}", response_model=ItemOut)
async def item(
    item_id: int,
    who: Annotated[str, Depends(user)],
    db: Annotated[str, Depends(session)],
    q: str | None = None,
) -> dict[str, Any]:
    events.append(f"endpoint {item_id} {who} {db}")
    from_endpoint.set("endpoint")
    if item_id == 0:
        raise HTTPException(status_code=404, detail="no item 0")
    if item_id == 1:
        raise ValueError("one is not allowed")
    if item_id == 2:
        raise Teapot("short and stout")
    if item_id == 3:
        raise RuntimeError("crash")
    return {"id": item_id, "name": q or "thing", "secret": "dropped by the response model"}


@app.get("/sync/{item_id}")
def sync_item(item_id: int, db: Annotated[str, Depends(sync_session)], request: Request) -> dict[str, Any]:
    events.append(f"sync-endpoint {item_id} {db}")
    return {"id": item_id, "same_task_as_middleware": False, "state": request.state.task is not None}


@app.get("/task")
async def task(request: Request) -> dict[str, Any]:
    return {
        "same_task_as_middleware": request.state.task == id(asyncio.current_task()),
        "middleware_var": from_middleware.get(),
    }


@app.post("/echo")
async def echo(request: Request) -> Response:
    body = await request.body()
    events.append(f"echo {len(body)}")
    return Response(body[::-1], media_type="application/octet-stream")


@app.get("/stream")
async def stream(db: Annotated[str, Depends(session)]) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for n in range(5):
            events.append(f"chunk {n} {db}")
            yield f"chunk {n}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/background")
async def background(tasks: BackgroundTasks, db: Annotated[str, Depends(session)]) -> dict[str, str]:
    tasks.add_task(events.append, "background ran")
    return {"scheduled": db}


@app.get("/response-param")
async def response_param(response: Response) -> dict[str, str]:
    response.status_code = 201
    response.headers["X-From-Endpoint"] = "yes"
    response.set_cookie("flavour", "oat")
    return {"ok": "yes"}


# Counts the requests that go through the whole app (its router walk) rather than a route's own stack.
whole_app_calls = 0
_build_whole_stack = app.build_middleware_stack


def _counting_whole_stack() -> Any:
    stack = _build_whole_stack()

    async def counted(scope: Any, receive: Any, send: Any) -> None:
        global whole_app_calls
        whole_app_calls += 1
        await stack(scope, receive, send)

    return counted


app.build_middleware_stack = _counting_whole_stack  # type: ignore[method-assign]


@app.get("/whole-app-calls")
async def read_whole_app_calls() -> dict[str, int]:
    return {"calls": whole_app_calls}


@app.get("/events")
async def read_events() -> list[str]:
    found = list(events)
    events.clear()
    return found
