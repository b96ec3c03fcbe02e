"""Forms that the covetpy server parses on its network side.

A ``Form``/``File`` body of a path operation is read with ``request.form()``, which runs Starlette's
``MultiPartParser`` in the interpreter. Under ``covetpy serve``, when the request's ``receive`` is the
server's own (no middleware wrapped it) and nothing has read the body yet, a ``multipart/form-data``
body is instead parsed by the server with the same grammar and rules, and handed over once, finished:
its fields decoded here by the form's charset as Starlette decodes them, its files as
``SpooledTemporaryFile``s (in memory up to ``MultiPartParser.spool_max_size``, otherwise the server's
temporary file), its errors raised as Starlette raises them. Anywhere else (``TestClient``, another
server, a wrapped ``receive``) ``request.form()`` runs as always.
"""

from __future__ import annotations

import codecs
import io
import os
import tempfile
from collections.abc import Awaitable
from typing import Any, cast

from starlette import formparsers
from starlette.datastructures import FormData, Headers, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect, Request

from covetpy._body_limit import FormLimits

try:
    from _covetpy_native import HttpCall
except ImportError:  # not inside the covetpy server
    HttpCall = None

_NO_LIMIT = 2**64 - 1
# The Content-Type reader Starlette's own form parsing uses (python-multipart's), and its decoding of
# names, file names and values (the form's charset, Latin-1 where that fails).
_parse_options_header = formparsers.parse_options_header  # type: ignore[attr-defined]
_decoded = formparsers._user_safe_decode


async def read_form(request: Request, limits: FormLimits) -> FormData:
    """``await request.form(**limits)``, with the body parsed by the server where it can be."""
    if request._form is None:
        parsing = _server_form(request, limits)
        if parsing is not None:
            request._form = await _translated(request, parsing)
    return await request.form(**limits)


def _server_form(request: Request, limits: FormLimits) -> Awaitable[FormData] | None:
    """The server's parse of the body, or None where ``request.form()`` must read it."""
    call = getattr(request.receive, "__self__", None)
    if HttpCall is None or not isinstance(call, HttpCall):
        return None
    content_type, params = _parse_options_header(request.headers.get("Content-Type"))
    if content_type != b"multipart/form-data":
        return None
    charset = _charset(params)
    boundary = params.get(b"boundary")
    spool_max_size = MultiPartParser.spool_max_size
    max_files = limits.get("max_files", 1000)
    max_fields = limits.get("max_fields", 1000)
    max_part_size = limits.get("max_part_size", 1024 * 1024)
    if boundary is None:
        return _failed(MultiPartException("Missing boundary in multipart."))
    reading = call.multipart_form(
        boundary,
        max_files=min(max_files, _NO_LIMIT),
        max_fields=min(max_fields, _NO_LIMIT),
        max_part_size=min(max_part_size, _NO_LIMIT),
        spool_max_size=spool_max_size,
        temp_dir=tempfile.gettempdir(),
    )
    if reading is None:
        return None
    errors = {
        "malformed": "Invalid multipart data.",
        "no_name": 'The Content-Disposition header field "name" must be provided.',
        "too_many_files": f"Too many files. Maximum number of files is {max_files}.",
        "too_many_fields": f"Too many fields. Maximum number of fields is {max_fields}.",
        "part_too_large": f"Part exceeded maximum size of {int(max_part_size / 1024)}KB.",
    }
    return _built(reading, charset, spool_max_size, errors)


async def _failed(exc: Exception) -> FormData:
    raise exc


async def _translated(request: Request, parsing: Awaitable[FormData]) -> FormData:
    """What ``request.form()`` raises for a form it cannot read, raised for the server's parse."""
    try:
        return await parsing
    except MultiPartException as exc:
        if "app" in request.scope:
            raise HTTPException(status_code=400, detail=exc.message) from None
        raise


def _charset(params: dict[bytes, bytes]) -> str:
    """The codec names and values are decoded with: the Content-Type's ``charset``, else UTF-8;
    Latin-1 for a charset Python does not know."""
    found: bytes | str = params.get(b"charset", "utf-8")
    name = found.decode("latin-1") if isinstance(found, bytes) else found
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "latin-1"


async def _built(
    reading: Awaitable[tuple[str | None, list[Any]]],
    charset: str,
    spool_max_size: int,
    errors: dict[str, str],
) -> FormData:
    error, parts = await reading
    if error == "disconnected":
        raise ClientDisconnect()
    if error == "io":
        raise OSError("the server could not write an uploaded file")
    if error is not None:
        raise MultiPartException(errors[error])
    items: list[tuple[str, str | UploadFile]] = []
    for raw_name, raw_filename, headers, content, size in parts:
        name = _decoded(raw_name, charset)
        if raw_filename is None:
            items.append((name, _decoded(content, charset)))
            continue
        file = tempfile.SpooledTemporaryFile(max_size=spool_max_size)
        if isinstance(content, int):
            # The server's temporary file takes the place of the one the spool rolls over to.
            os.dup2(content, file.fileno())
            os.close(content)
        elif type(getattr(file, "_file", None)) is io.BytesIO:
            # The spool's in-memory buffer made over the bytes themselves: a BytesIO shares the bytes
            # it starts from until written to, so the app's read() gets them without a copy, where a
            # write() would copy them in and read() copy them out again.
            file._file = io.BytesIO(content)
        else:
            file.write(content)
        file.seek(0)
        filename = _decoded(raw_filename, charset)
        upload = UploadFile(file=cast(Any, file), size=size, filename=filename, headers=Headers(raw=headers))
        items.append((name, upload))
    return FormData(items)
