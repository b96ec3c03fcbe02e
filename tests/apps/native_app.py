"""A CovetPy native app exercising what the comparison app does not: lifespan state, streaming,
cookies, request details, exception handlers, blocking sync handlers, docs pages."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

from covetpy import (
    APIRouter,
    CovetPy,
    HTTPException,
    JSONResponse,
    PlainTextResponse,
    Request,
    Response,
    StreamingResponse,
)
from covetpy.exceptions import RequestValidationError


@asynccontextmanager
async def lifespan(app: CovetPy) -> AsyncIterator[dict[str, Any]]:
    yield {"db": "connected"}


app = CovetPy(title="Native test app", version="1.2.3", lifespan=lifespan)
released = threading.Event()


class OutOfStock(Exception):
    def __init__(self, item: str) -> None:
        self.item = item


@app.exception_handler(OutOfStock)
async def out_of_stock(request: Request, exc: OutOfStock) -> Response:
    return JSONResponse(
        {"out_of_stock": exc.item, "path": request.url.path}, status_code=409
    )


@app.exception_handler(HTTPException)
def http_exception(request: Request, exc: HTTPException) -> Response:
    return JSONResponse(
        {"error": exc.detail, "custom": True},
        status_code=exc.status_code,
        headers=exc.headers,
    )


@app.get("/state")
def state(request: Request) -> dict[str, Any]:
    return {"db": request.state.db}


@app.get("/request/{name}")
async def request_info(request: Request, name: str) -> dict[str, Any]:
    return {
        "method": request.method,
        "url": str(request.url),
        "path": request.url.path,
        "query": request.url.query,
        "path_params": request.path_params,
        "multi": request.headers.getlist("x-multi"),
        "query_list": request.query_params.getlist("a"),
        "client_host": request.client.host if request.client else None,
        "cookies": request.cookies,
    }


@app.post("/echo")
async def echo(request: Request) -> dict[str, Any]:
    return {"body": (await request.body()).decode(), "json": await request.json()}


@app.get("/stream")
def stream() -> StreamingResponse:
    def chunks() -> Iterator[str]:
        for i in range(3):
            yield f"chunk {i}\n"

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/astream")
async def astream() -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"a{i};".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


@app.get("/cookie")
def cookie() -> Response:
    response = PlainTextResponse("cookie set")
    response.set_cookie("session", "abc", httponly=True)
    return response


@app.get("/stock/{item}")
async def stock(item: str) -> dict[str, str]:
    raise OutOfStock(item)


@app.get("/forbidden")
def forbidden() -> dict[str, str]:
    raise HTTPException(403, "no", headers={"X-Reason": "test"})


@app.get("/crash")
def crash() -> dict[str, str]:
    raise RuntimeError("boom")


@app.get("/block")
def block() -> dict[str, bool]:
    # A blocking sync handler: it sleeps until /release has been served (or gives up).
    deadline = time.monotonic() + 10
    while not released.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"released": released.is_set()}


@app.get("/release")
def release() -> dict[str, bool]:
    released.set()
    return {"ok": True}


@app.post("/created", status_code=201)
def created(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


router = APIRouter(prefix="/api", tags=["api"])
inner = APIRouter(prefix="/inner")


@inner.get("/{x}")
def inner_item(x: int) -> dict[str, int]:
    return {"x": x}


router.include_router(inner)
app.include_router(router, prefix="/v2")

# A second app with its own validation-error handler.
validation_app = CovetPy(openapi_url=None)


@validation_app.exception_handler(RequestValidationError)
def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
    return JSONResponse(
        {"errors": len(exc.errors()), "first": exc.errors()[0]["loc"]}, status_code=400
    )


@validation_app.get("/n/{n}")
def n_route(n: int) -> dict[str, int]:
    return {"n": n}
