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
from typing_extensions import deprecated

from covetpy.exceptions import FastAPIDeprecationWarning
from covetpy.sse import EventSourceResponse as EventSourceResponse


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        return None


_SERIALIZES_ITSELF = (
    "{} is deprecated: covetpy serializes data directly to JSON when a return type or response model "
    "is set, which is faster and needs no custom response class."
)


@deprecated(_SERIALIZES_ITSELF.format("UJSONResponse"), category=FastAPIDeprecationWarning, stacklevel=2)
class UJSONResponse(JSONResponse):
    """JSON rendered with ``ujson`` (install it separately)."""

    def render(self, content: Any) -> bytes:
        ujson = _optional("ujson")
        if ujson is None:
            raise RuntimeError("UJSONResponse needs the ujson package: pip install ujson")
        encoded: bytes = ujson.dumps(content, ensure_ascii=False).encode("utf-8")
        return encoded


@deprecated(_SERIALIZES_ITSELF.format("ORJSONResponse"), category=FastAPIDeprecationWarning, stacklevel=2)
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
