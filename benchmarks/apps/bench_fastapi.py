"""FastAPI app used by the CovetPy benchmark harness (native scenario).

The same two routes as ``bench_native.py``, written with FastAPI and served by uvicorn.
"""

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.get("/items/{item_id:int}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, object]:
    """200 JSON ``{"item_id": <int>, "q": <str or null>}``."""
    return {"item_id": item_id, "q": q}


@app.get("/plain", response_class=PlainTextResponse)
async def plain() -> str:
    """200 text/plain "Hello, world!"."""
    return "Hello, world!"
