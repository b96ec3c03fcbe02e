"""CovetPy's native framework API: FastAPI-style apps served by the CovetPy Rust server.

    from covetpy import CovetPy

    app = CovetPy()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: str | None = None):
        return {"item_id": item_id, "q": q}

Serve it with ``covetpy serve main:app``. Routing, parameter parsing and JSON encoding run in Rust.
"""

from __future__ import annotations

from covetpy import status
from covetpy.applications import CovetPy
from covetpy.datastructures import URL, Address, Headers, QueryParams, State
from covetpy.encoders import jsonable_encoder
from covetpy.exceptions import (
    HTTPException,
    RequestValidationError,
    WebSocketException,
    WebSocketRequestValidationError,
)
from covetpy.params import Body, Cookie, Header, Path, Query
from covetpy.requests import Request
from covetpy.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from covetpy.routing import APIRouter
from covetpy.websockets import WebSocket, WebSocketDisconnect, WebSocketState

__version__ = "0.1.0"

__all__ = [
    "URL",
    "APIRouter",
    "Address",
    "Body",
    "Cookie",
    "CovetPy",
    "HTMLResponse",
    "HTTPException",
    "Header",
    "Headers",
    "JSONResponse",
    "Path",
    "PlainTextResponse",
    "Query",
    "QueryParams",
    "RedirectResponse",
    "Request",
    "RequestValidationError",
    "Response",
    "State",
    "StreamingResponse",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "WebSocketRequestValidationError",
    "WebSocketState",
    "__version__",
    "jsonable_encoder",
    "status",
]
