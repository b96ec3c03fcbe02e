"""Form data, files, UploadFile and multipart requests."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, UploadFile
from pydantic import BaseModel

app = FastAPI(title="fidelity forms")


class Signup(BaseModel):
    username: str
    age: int
    newsletter: bool = False


def login_reply(username: str, password: str) -> dict[str, Any]:
    return {"username": username, "password_length": len(password)}


@app.post("/sync/login")
def sync_login(
    username: Annotated[str, Form()], password: Annotated[str, Form(min_length=3)]
) -> dict[str, Any]:
    return login_reply(username, password)


@app.post("/async/login")
async def async_login(
    username: Annotated[str, Form()], password: Annotated[str, Form(min_length=3)]
) -> dict[str, Any]:
    return login_reply(username, password)


@app.post("/signup")
async def signup(data: Annotated[Signup, Form()]) -> Signup:
    return data


@app.post("/multi-value")
def multi_value(choice: Annotated[list[str], Form()]) -> dict[str, list[str]]:
    return {"choice": choice}


def describe(name: str | None, content_type: str | None, data: bytes) -> dict[str, Any]:
    return {
        "filename": name,
        "content_type": content_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "head": data[:16].decode("latin-1"),
    }


@app.post("/sync/bytes")
def sync_bytes(
    file: Annotated[bytes, File()], note: Annotated[str, Form()] = ""
) -> dict[str, Any]:
    return {"note": note, **describe(None, None, file)}


@app.post("/async/bytes")
async def async_bytes(
    file: Annotated[bytes, File()], note: Annotated[str, Form()] = ""
) -> dict[str, Any]:
    return {"note": note, **describe(None, None, file)}


@app.post("/sync/upload")
def sync_upload(file: UploadFile, title: Annotated[str, Form()]) -> dict[str, Any]:
    data = file.file.read()
    return {
        "title": title,
        "size_attr": file.size,
        **describe(file.filename, file.content_type, data),
    }


@app.post("/async/upload")
async def async_upload(
    file: UploadFile, title: Annotated[str, Form()]
) -> dict[str, Any]:
    data = await file.read()
    await file.seek(0)
    again = await file.read(4)
    return {
        "title": title,
        "size_attr": file.size,
        "again": again.decode("latin-1"),
        **describe(file.filename, file.content_type, data),
    }


@app.post("/uploads")
async def uploads(files: list[UploadFile]) -> list[dict[str, Any]]:
    return [describe(f.filename, f.content_type, await f.read()) for f in files]


@app.post("/optional-upload")
async def optional_upload(file: UploadFile | None = None) -> dict[str, Any]:
    if file is None:
        return {"file": None}
    return {"file": describe(file.filename, file.content_type, await file.read())}
