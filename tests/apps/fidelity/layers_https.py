"""HTTPSRedirectMiddleware in front of native routes."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.httpsredirect import HTTPSRedirectMiddleware

app = FastAPI(title="fidelity https layers")

app.add_middleware(HTTPSRedirectMiddleware)


@app.get("/hello")
def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.websocket("/ws")
async def ws(websocket) -> None:  # type: ignore[no-untyped-def]
    await websocket.accept()
    await websocket.close()
