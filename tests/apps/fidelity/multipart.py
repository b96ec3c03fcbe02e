"""Multipart bodies as the app sees them: every item of the form a `Form`/`File` parameter made the
framework parse, described in full (under `--interface covet` the server parses such bodies itself;
tests/test_native_multipart.py compares each description with real FastAPI's in-process)."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import python_multipart
import python_multipart.multipart
from fastapi import FastAPI, File, Form, Request, UploadFile
from starlette.datastructures import UploadFile as StarletteUploadFile

app = FastAPI(title="fidelity multipart")

PYTHON_PARSES = {"count": 0}


class CountingParser(python_multipart.multipart.MultipartParser):
    """python-multipart's parser, counted: Starlette makes one per form it parses in Python. (Its
    base is the submodule's class, never patched, so that reloading this module counts once.)"""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        PYTHON_PARSES["count"] += 1
        super().__init__(*args, **kwargs)


python_multipart.MultipartParser = CountingParser  # type: ignore[misc]


def describe(key: str, value: str | StarletteUploadFile) -> dict[str, Any]:
    if isinstance(value, str):
        return {"key": key, "value": value}
    position = value.file.tell()
    data = value.file.read()
    value.file.seek(0)
    return {
        "key": key,
        "filename": value.filename,
        "content_type": value.content_type,
        "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in value.headers.raw],
        "size": value.size,
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "head": data[:24].decode("latin-1"),
        "in_memory": value._in_memory,
        "file_type": type(value.file).__name__,
        "position": position,
    }


async def described(request: Request) -> list[dict[str, Any]]:
    form = await request.form()
    return [describe(k, v) for k, v in form.multi_items()]


@app.post("/echo")
async def echo(request: Request, unused: Annotated[str | None, Form(alias="__unused__")] = None) -> Any:
    return await described(request)


@app.post("/echo-sync")
def echo_sync(request: Request, upload: Annotated[UploadFile | None, File()] = None) -> Any:
    # A def endpoint gets the same form; read its items without awaiting.
    form = request._form
    assert form is not None
    items = [describe(k, v) for k, v in form.multi_items()]
    return {"upload": upload.filename if upload else None, "items": items}


@app.post("/echo-limited", form_limits={"max_files": 2, "max_fields": 3, "max_part_size": 100})
async def echo_limited(
    request: Request, unused: Annotated[str | None, Form(alias="__unused__")] = None
) -> Any:
    return await described(request)


@app.post("/upload")
async def upload(file: UploadFile, note: Annotated[str, Form()] = "") -> dict[str, Any]:
    return {"note": note, **describe("file", file)}


@app.post("/digest")
async def digest(file: UploadFile) -> dict[str, Any]:
    """The file read a mebibyte at a time, and the process's peak memory by then."""
    sha = hashlib.sha256()
    while chunk := await file.read(1024 * 1024):
        sha.update(chunk)
    return {"sha256": sha.hexdigest(), "in_memory": file._in_memory, **memory()}


@app.get("/memory")
def memory() -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of the process, in KiB (Linux only)."""
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {"rss_kb": int(fields["VmRSS"].split()[0]), "hwm_kb": int(fields["VmHWM"].split()[0])}


@app.get("/python-parses")
def python_parses() -> dict[str, int]:
    return PYTHON_PARSES
