"""`StaticFiles` mounts, which `--interface covet` serves from Rust where its answer is certain.

The files live in a directory under the temp dir that every import fills the same way, writing a
file only when its bytes differ, so the server process and the in-process reference see the same
files with the same modification times (and so the same `ETag` and `Last-Modified`).
`/python-lookups` counts the requests that reached a `StaticFiles` in Python.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

from covetpy.staticfiles import StaticFiles as PrecompressedStaticFiles
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.staticfiles import StaticFiles as StarletteStaticFiles
from starlette.types import Scope

ROOT = Path(tempfile.gettempdir()) / f"covetpy-fidelity-statics-{os.getuid()}"
OUTSIDE = ROOT.parent / f"covetpy-fidelity-statics-outside-{os.getuid()}"
SCRIPT = b"function hello() { return 'hello from a script that compresses'; }\n" * 40


def _put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_bytes() == data:
        return
    partial = path.with_name(path.name + f".{os.getpid()}.part")
    partial.write_bytes(data)
    partial.replace(path)


def _link(path: Path, target: Path) -> None:
    if not path.is_symlink():
        path.symlink_to(target)


def make_files() -> None:
    _put(ROOT / "hello.txt", b"hello, static world\n")
    _put(ROOT / "css" / "site.css", b"body { color: #333; }\n")
    _put(ROOT / "app.js", SCRIPT)
    _put(ROOT / "app.js.gz", gzip.compress(SCRIPT, mtime=0))
    # Not a real brotli stream: the server sends sibling bytes as they are, and so does Python.
    _put(ROOT / "app.js.br", b"pretend-brotli:" + SCRIPT[:64])
    _put(ROOT / "only-gzip.css", b"p { margin: 0 }\n" * 20)
    _put(ROOT / "only-gzip.css.gz", gzip.compress(b"p { margin: 0 }\n" * 20, mtime=0))
    _put(ROOT / "big.bin", bytes(range(256)) * 1200)  # 300 KiB: streamed in 64 KiB reads
    _put(ROOT / "chunk.bin", bytes(range(256)) * 256)  # exactly one 64 KiB chunk
    _put(ROOT / "empty.txt", b"")
    _put(ROOT / "archive.tar.gz", b"not really a tarball")
    _put(ROOT / "README", b"no extension\n")
    _put(ROOT / "a b.txt", b"a space in the name\n")
    _put(ROOT / "caf\u00e9.txt", b"non-ascii name\n")
    _put(ROOT / "site" / "index.html", b"<h1>index</h1>\n")
    _put(ROOT / "site" / "404.html", b"<h1>not here</h1>\n")
    _put(ROOT / "site" / "page.html", b"<h1>page</h1>\n")
    _put(OUTSIDE / "secret.txt", b"outside the mount\n")
    _link(ROOT / "escape.txt", OUTSIDE / "secret.txt")
    _link(ROOT / "inner-link.txt", ROOT / "hello.txt")


make_files()

LOOKUPS = {"count": 0}
# The module is reloaded per test pool: patch the original method only once.
_get_response = StarletteStaticFiles.__dict__.get("_original_get_response", StarletteStaticFiles.get_response)
StarletteStaticFiles._original_get_response = _get_response  # type: ignore[attr-defined]


async def _counting_get_response(self: StarletteStaticFiles, path: str, scope: Scope) -> object:
    LOOKUPS["count"] += 1
    return await _get_response(self, path, scope)


StarletteStaticFiles.get_response = _counting_get_response  # type: ignore[method-assign, assignment]

app = FastAPI(title="fidelity statics")


@app.get("/python-lookups")
async def python_lookups() -> dict[str, int]:
    return dict(LOOKUPS)


# Declared before the mount: the route answers for its own path, as in Starlette.
@app.get("/static/override.txt")
async def override() -> dict[str, str]:
    return {"from": "route"}


app.mount("/static", StaticFiles(directory=ROOT), name="static")
app.mount("/site", StaticFiles(directory=ROOT / "site", html=True), name="site")
app.mount("/linked", StaticFiles(directory=ROOT, follow_symlink=True), name="linked")
app.mount("/pre", PrecompressedStaticFiles(directory=ROOT, precompressed=True), name="pre")
app.mount("/late", StaticFiles(directory=ROOT), name="late")


# Declared after the mount, so Starlette never reaches it for a path under /late: the server must
# not either (that mount is left to Python).
@app.get("/late/hello.txt")
async def late() -> dict[str, str]:
    return {"from": "route"}


@app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}
