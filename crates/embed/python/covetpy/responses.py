"""Response classes: Starlette's, plus ``ORJSONResponse``/``UJSONResponse`` and the server-sent
events response, under FastAPI's names."""

from __future__ import annotations

import importlib
from typing import Any

from starlette.responses import FileResponse as FileResponse
from starlette.responses import HTMLResponse as HTMLResponse
from starlette.responses import JSONResponse as JSONResponse
from starlette.responses import PlainTextResponse as PlainTextResponse
from starlette.responses import RedirectResponse as RedirectResponse
from starlette.responses import Response as Response
from starlette.responses import StreamingResponse as StreamingResponse

from covetpy.sse import EventSourceResponse as EventSourceResponse


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        return None


class UJSONResponse(JSONResponse):
    """JSON rendered with ``ujson`` (install it separately)."""

    def render(self, content: Any) -> bytes:
        ujson = _optional("ujson")
        if ujson is None:
            raise RuntimeError("UJSONResponse needs the ujson package: pip install ujson")
        encoded: bytes = ujson.dumps(content, ensure_ascii=False).encode("utf-8")
        return encoded


class ORJSONResponse(JSONResponse):
    """JSON rendered with ``orjson`` (install it separately): non-string keys and numpy values allowed."""

    def render(self, content: Any) -> bytes:
        orjson = _optional("orjson")
        if orjson is None:
            raise RuntimeError("ORJSONResponse needs the orjson package: pip install orjson")
        encoded: bytes = orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
        return encoded


__all__ = [
    "EventSourceResponse",
    "FileResponse",
    "HTMLResponse",
    "JSONResponse",
    "ORJSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
    "UJSONResponse",
]
