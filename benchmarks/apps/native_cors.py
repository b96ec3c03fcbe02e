"""FastAPI app with ``CORSMiddleware``, for the native benchmark scenario native-cors
(``benchmarks/bench.py``): the load is CORS preflight requests (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``), answered by the middleware without reaching the route.

The module imports ``fastapi``: uvicorn runs it on FastAPI, ``covetpy serve --interface covet`` runs the
same file natively (its ``fastapi`` imports resolve to covetpy).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

app = FastAPI()
app.add_middleware(
    CORSMiddleware,
    allow_origins=["https://example.com"],
    allow_methods=["GET", "POST"],
    allow_headers=["Authorization"],
    max_age=600,
)


@app.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, int]:
    """The route the preflight asks about."""
    return {"item_id": item_id}
