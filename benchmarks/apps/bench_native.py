"""Native CovetPy app used by the CovetPy benchmark harness (native scenario).

FastAPI-style decorators whose routing, parameter parsing and JSON encoding run in Rust.
``bench_fastapi.py`` is the same app written with FastAPI.
"""

from covetpy import CovetPy, PlainTextResponse

app = CovetPy()


@app.get("/items/{item_id:int}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, object]:
    """200 JSON ``{"item_id": <int>, "q": <str or null>}``."""
    return {"item_id": item_id, "q": q}


@app.get("/plain", response_class=PlainTextResponse)
async def plain() -> str:
    """200 text/plain "Hello, world!"."""
    return "Hello, world!"
