"""FastAPI app with ``CORSMiddleware`` in front of a typed-params route, for the CORS preflight
scenario: ``covetpy serve bench_cors:app --interface covet`` answers the preflight in Rust (its
``fastapi`` imports resolve to covetpy), uvicorn runs the same file under FastAPI.

Preflight request: ``OPTIONS /items/1`` with ``Origin: https://app.example`` and
``Access-Control-Request-Method: GET`` (200 "OK" with the CORS headers).
"""

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

app = FastAPI()
app.add_middleware(
    CORSMiddleware,
    allow_origins=["https://app.example"],
    allow_methods=["GET", "POST"],
    allow_headers=["Authorization", "Content-Type"],
)


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, object]:
    """200 JSON ``{"item_id": <int>, "q": <str or null>}``."""
    return {"item_id": item_id, "q": q}
