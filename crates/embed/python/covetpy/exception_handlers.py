"""The default exception handlers, as FastAPI installs them; call them from your own handlers to
keep the default answer after doing something extra."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from covetpy.encoders import jsonable_encoder
from covetpy.exceptions import RequestValidationError, WebSocketRequestValidationError
from covetpy.routing import is_body_allowed_for_status_code
from covetpy.status import HTTP_422_UNPROCESSABLE_CONTENT, WS_1008_POLICY_VIOLATION


async def http_exception_handler(request: Request, exc: HTTPException) -> Response:
    """``{"detail": ...}`` with the exception's status and headers (no body where none is allowed)."""
    headers = getattr(exc, "headers", None)
    if not is_body_allowed_for_status_code(exc.status_code):
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


async def request_validation_exception_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 with ``{"detail": [errors...]}``."""
    return JSONResponse(
        status_code=HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": jsonable_encoder(exc.errors())}
    )


async def websocket_request_validation_exception_handler(
    websocket: WebSocket, exc: WebSocketRequestValidationError
) -> None:
    """Close the WebSocket with 1008 and the errors as the reason."""
    await websocket.close(
        code=WS_1008_POLICY_VIOLATION, reason=jsonable_encoder(exc.errors())
    )  # FastAPI passes the list itself
