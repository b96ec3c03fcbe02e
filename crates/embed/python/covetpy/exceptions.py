"""Exceptions raised by path operations and by request validation, with FastAPI's names."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.exceptions import WebSocketException as StarletteWebSocketException


class HTTPException(StarletteHTTPException):
    """Raise from a path operation or a dependency to answer with ``status_code`` and
    ``{"detail": detail}``; ``detail`` may be anything JSON-encodable."""

    def __init__(
        self,
        status_code: int,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)


class WebSocketException(StarletteWebSocketException):
    """Raise from a WebSocket endpoint to close the connection with ``code`` and ``reason``
    (before ``accept()`` the handshake is refused)."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        super().__init__(code=code, reason=reason)


class FastAPIDeprecationWarning(UserWarning):
    """A FastAPI feature that still works but is on its way out."""


class FastAPIError(RuntimeError):
    """A mistake in how the application is declared (found at start-up)."""


class DependencyScopeError(FastAPIError):
    """A dependency with ``scope="function"`` depends on one with ``scope="request"``."""


class ValidationException(Exception):
    """Base of the validation errors; ``errors()`` is the list of FastAPI-shaped error dicts."""

    def __init__(self, errors: Sequence[Any]) -> None:
        super().__init__(errors)
        self._errors = list(errors)

    def errors(self) -> Sequence[Any]:
        return self._errors

    def __str__(self) -> str:
        lines = [f"{len(self._errors)} validation error{'s' if len(self._errors) != 1 else ''}:"]
        for error in self._errors:
            if isinstance(error, Mapping):
                loc = ", ".join(repr(part) for part in error.get("loc", ()))
                lines.append(f"  {{'loc': ({loc}), 'msg': {error.get('msg')!r}}}")
            else:
                lines.append(f"  {error!r}")
        return "\n".join(lines)


class RequestValidationError(ValidationException):
    """The request did not match the path operation's parameters (answered with 422)."""

    def __init__(self, errors: Sequence[Any], *, body: Any = None) -> None:
        super().__init__(errors)
        self.body = body


class WebSocketRequestValidationError(ValidationException):
    """A WebSocket handshake did not match the endpoint's parameters (closed with 1008)."""


class ResponseValidationError(ValidationException):
    """A path operation's return value did not match its ``response_model`` (answered with 500)."""

    def __init__(self, errors: Sequence[Any], *, body: Any = None) -> None:
        super().__init__(errors)
        self.body = body
