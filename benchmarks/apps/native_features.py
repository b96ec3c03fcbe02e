"""FastAPI app of the native benchmark scenarios native-sync, native-body, native-multipart and
native-static (``benchmarks/bench.py``).

The module imports ``fastapi``: uvicorn runs it on FastAPI, ``covetpy serve --interface covet`` runs the
same file natively (its ``fastapi`` imports resolve to covetpy). The static files are served from the
directory named by the environment variable ``COVETPY_BENCH_STATIC_DIR``, which the harness fills with
``1mb.bin`` before it starts a server.
"""

from __future__ import annotations

import os

from fastapi import FastAPI, UploadFile
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

STATIC_DIR = os.environ.get("COVETPY_BENCH_STATIC_DIR")
if not STATIC_DIR:
    raise RuntimeError(
        "set COVETPY_BENCH_STATIC_DIR to the directory to serve under /static "
        "(benchmarks/bench.py sets it to the directory where it writes 1mb.bin)"
    )

app = FastAPI()


class Item(BaseModel):
    name: str
    price: float
    quantity: int


@app.get("/items/{item_id:int}")
def read_item(item_id: int, q: str | None = None) -> dict[str, object]:
    """A ``def`` endpoint with the parameters of ``bench_native.read_item``: 200 JSON
    ``{"item_id": <int>, "q": <str or null>}``."""
    return {"item_id": item_id, "q": q}


@app.post("/items")
async def create_item(item: Item) -> Item:
    """A pydantic body; the benchmark sends one that fails validation (422)."""
    return item


@app.post("/upload")
async def upload(file: UploadFile) -> dict[str, object]:
    """A multipart/form-data upload: 200 JSON ``{"size": <bytes>, "filename": <name>}``."""
    size = len(await file.read())
    return {"size": size, "filename": file.filename}


app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
