"""FastAPI app with one ``def`` route and one ``async def`` route, served as ASGI by every
server of the benchmark's ``fastapi`` scenario (covetpy, uvicorn, granian).

``def`` endpoints run on Starlette's thread pool through anyio, so this measures the path that
needs a real current Task; ``async def`` endpoints run on the event loop.
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/sync/{item_id}")
def read_sync(item_id: int, q: str | None = None) -> dict[str, object]:
    """200 JSON ``{"item_id": <int>, "q": <str or null>}`` from a ``def`` endpoint."""
    return {"item_id": item_id, "q": q}


@app.get("/async/{item_id}")
async def read_async(item_id: int, q: str | None = None) -> dict[str, object]:
    """The same from an ``async def`` endpoint."""
    return {"item_id": item_id, "q": q}
