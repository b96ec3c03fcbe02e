"""Exceptions raised by handlers and by request validation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from covetpy.status import phrase


class HTTPException(Exception):
    """Raise from a handler to answer with ``status_code`` and ``{"detail": detail}``."""

    def __init__(
        self,
        status_code: int,
        detail: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if detail is None:
            detail = phrase(status_code)
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers) if headers is not None else None
        super().__init__(status_code, detail)

    def __str__(self) -> str:
        return f"{self.status_code}: {self.detail}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code!r}, detail={self.detail!r})"


class ValidationException(Exception):
    """Base of the validation errors; ``errors()`` is a list of FastAPI-shaped dicts."""

    def __init__(self, errors: Sequence[Any]) -> None:
        super().__init__(errors)
        self._errors = list(errors)

    def errors(self) -> list[Any]:
        return self._errors


class RequestValidationError(ValidationException):
    """The request did not match the handler's parameters (answered with 422)."""

    def __init__(self, errors: Sequence[Any], *, body: Any = None) -> None:
        super().__init__(errors)
        self.body = body

    def __str__(self) -> str:
        lines = [f"{len(self._errors)} validation error(s):"]
        for error in self._errors:
            if isinstance(error, Mapping):
                loc = ".".join(str(part) for part in error.get("loc", ()))
                lines.append(f"  {loc}: {error.get('msg')}")
            else:
                lines.append(f"  {error!r}")
        return "\n".join(lines)


class ResponseValidationError(ValidationException):
    """A handler's return value did not match its ``response_model`` (answered with 500)."""

    def __str__(self) -> str:
        return f"{len(self._errors)} validation error(s) for the response: {self._errors!r}"


class WebSocketRequestValidationError(ValidationException):
    """A WebSocket handshake did not match the endpoint's parameters (closed with 1008)."""

    def __str__(self) -> str:
        return f"{len(self._errors)} validation error(s) for the websocket: {self._errors!r}"


class WebSocketException(Exception):
    """Raise from a WebSocket endpoint to close the connection with ``code`` and ``reason``
    (before ``accept()`` the handshake is refused)."""

    def __init__(self, code: int, reason: str | None = None) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason or ""

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"
