"""CovetPy's native framework: FastAPI's API, served by the CovetPy Rust server.

    from covetpy import FastAPI

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: str | None = None):
        return {"item_id": item_id, "q": q}

Serve it with ``covetpy serve main:app``. Migrating from FastAPI is replacing ``fastapi`` by
``covetpy`` in imports (or keeping them: ``--interface covet`` resolves ``fastapi`` to covetpy). Plain
routes are routed, validated and encoded in Rust; the rest runs as it does under FastAPI.
"""

from __future__ import annotations

from covetpy import _requirements  # noqa: F401 - first: names what the environment lacks
from covetpy import status as status
from covetpy.applications import CovetPy as CovetPy
from covetpy.applications import FastAPI as FastAPI
from covetpy.background import BackgroundTasks as BackgroundTasks

# CovetPy's own earlier API exported these at the top level too; they stay importable from here.
from covetpy.datastructures import URL as URL
from covetpy.datastructures import Address as Address
from covetpy.datastructures import Headers as Headers
from covetpy.datastructures import QueryParams as QueryParams
from covetpy.datastructures import State as State
from covetpy.datastructures import UploadFile as UploadFile
from covetpy.encoders import jsonable_encoder as jsonable_encoder
from covetpy.exceptions import HTTPException as HTTPException
from covetpy.exceptions import RequestValidationError as RequestValidationError
from covetpy.exceptions import WebSocketException as WebSocketException
from covetpy.exceptions import WebSocketRequestValidationError as WebSocketRequestValidationError
from covetpy.param_functions import Body as Body
from covetpy.param_functions import Cookie as Cookie
from covetpy.param_functions import Depends as Depends
from covetpy.param_functions import File as File
from covetpy.param_functions import Form as Form
from covetpy.param_functions import Header as Header
from covetpy.param_functions import Path as Path
from covetpy.param_functions import Query as Query
from covetpy.param_functions import Security as Security
from covetpy.requests import Request as Request
from covetpy.responses import HTMLResponse as HTMLResponse
from covetpy.responses import JSONResponse as JSONResponse
from covetpy.responses import PlainTextResponse as PlainTextResponse
from covetpy.responses import RedirectResponse as RedirectResponse
from covetpy.responses import Response as Response
from covetpy.responses import StreamingResponse as StreamingResponse
from covetpy.routing import APIRouter as APIRouter
from covetpy.websockets import WebSocket as WebSocket
from covetpy.websockets import WebSocketDisconnect as WebSocketDisconnect
from covetpy.websockets import WebSocketState as WebSocketState

#: The FastAPI release whose API this package follows.
__version__ = "0.165.0"

__all__ = [
    "URL",
    "APIRouter",
    "Address",
    "HTMLResponse",
    "Headers",
    "JSONResponse",
    "PlainTextResponse",
    "QueryParams",
    "RedirectResponse",
    "RequestValidationError",
    "State",
    "StreamingResponse",
    "WebSocketRequestValidationError",
    "WebSocketState",
    "jsonable_encoder",
    "BackgroundTasks",
    "Body",
    "Cookie",
    "CovetPy",
    "Depends",
    "FastAPI",
    "File",
    "Form",
    "HTTPException",
    "Header",
    "Path",
    "Query",
    "Request",
    "Response",
    "Security",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketException",
    "__version__",
    "status",
]
