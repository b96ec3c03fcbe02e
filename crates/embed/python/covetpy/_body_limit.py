"""Request body limits as FastAPI 0.165 has them: ``max_body_size=`` on the app, routers, includes
and path operations (the innermost one set wins), built on Starlette's ``RequestBodyLimitMiddleware``,
and ``form_limits=`` for the automatic parsing of ``Form``/``File`` parameters."""

from __future__ import annotations

from pydantic import ConfigDict, NonNegativeInt, TypeAdapter, with_config
from starlette.exceptions import HTTPException
from starlette.middleware import body_limit
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY, RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from typing_extensions import TypedDict


@with_config(ConfigDict(strict=True, extra="forbid"))
class _FormLimits(TypedDict, total=False):
    """Limits of the automatic form parsing (``request.form(**limits)``); a key left out keeps
    Starlette's default. (FastAPI's name, which its validation errors show.)"""

    #: How many non-file fields a form may have.
    max_fields: NonNegativeInt
    #: How many files a multipart form may carry.
    max_files: NonNegativeInt
    #: The largest non-file field, in bytes.
    max_part_size: NonNegativeInt


#: The type of ``form_limits=`` arguments.
FormLimits = _FormLimits
_FORM_LIMITS = TypeAdapter(_FormLimits)


def validate_form_limits(limits: FormLimits | None) -> FormLimits:
    """``limits`` checked (unknown keys and negative or non-integer values are refused), ``{}`` for None."""
    return {} if limits is None else _FORM_LIMITS.validate_python(limits)


def merge_form_limits(*layers: FormLimits | None) -> FormLimits:
    """The limits in force: each layer, outermost first, overrides the keys it sets."""
    merged: FormLimits = {}
    for layer in layers:
        if layer:
            merged.update(layer)
    return merged


def validate_max_body_size(max_body_size: int | None) -> None:
    """Refuse anything but None or a non-negative int (``True`` is not a size)."""
    if max_body_size is None:
        return
    if isinstance(max_body_size, bool) or not isinstance(max_body_size, int) or max_body_size < 0:
        raise ValueError("max_body_size must be a non-negative integer or None")


def first_limit(*limits: int | None) -> int | None:
    """The innermost limit that is set (callers pass the innermost first)."""
    return next((limit for limit in limits if limit is not None), None)


# Starlette signals "too large" with these two private classes; look them up defensively so that
# a Starlette without them leaves every exception to its normal handling.
_RESPONSE_SENT: tuple[type[BaseException], ...] = tuple(
    c for c in (getattr(body_limit, "_RequestBodyLimitResponseSent", None),) if c is not None
)
_LIMIT_ERRORS: tuple[type[BaseException], ...] = (
    tuple(c for c in (getattr(body_limit, "_RequestBodyTooLarge", None),) if c is not None) + _RESPONSE_SENT
)


def body_limit_error(exc: BaseException) -> BaseException | None:
    """The body limiter's signal carried by ``exc`` (possibly inside an exception group raised by
    concurrent tasks, when every member of the group is the limiter's), else None."""
    if isinstance(exc, BaseExceptionGroup):
        _, rest = exc.split(_LIMIT_ERRORS)
        if rest is not None:
            return None
        # When Starlette already sent its 413, let that answer stand.
        found: BaseException = exc.subgroup(_RESPONSE_SENT) or exc
        while isinstance(found, BaseExceptionGroup):
            found = found.exceptions[0]
        exc = found
    return exc if isinstance(exc, _LIMIT_ERRORS) else None


class _UnwrapLimitGroups:
    """Raise the limiter's signal itself when it arrives wrapped in an exception group, so that
    ``RequestBodyLimitMiddleware`` around this recognises it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except BaseExceptionGroup as group:
            error = body_limit_error(group) if scope["type"] == "http" else None
            if error is None:
                raise
            raise error from group


def with_body_limit(app: ASGIApp, max_body_size: int | None) -> ASGIApp:
    """``app`` with its request bodies limited to ``max_body_size`` bytes (unchanged for None). An
    inner limit replaces an outer one for the request it applies to."""
    if max_body_size is None:
        return app
    return RequestBodyLimitMiddleware(_UnwrapLimitGroups(app), max_body_size=max_body_size)


class AppBodyLimitMiddleware:
    """The app-level limit, placed outside user middleware. Inside a parent app that limits bodies
    too (a mount), the parent's byte counter is shared and a 413 raised here is answered here,
    before this app's error middleware would turn it into a 500."""

    def __init__(self, app: ASGIApp, max_body_size: int | None) -> None:
        self.app = with_body_limit(app, max_body_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if MAX_BODY_SIZE_SCOPE_KEY not in scope:
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            error = body_limit_error(exc)
            if started or not isinstance(error, HTTPException):
                raise
            from covetpy.exception_handlers import http_exception_handler

            response = await http_exception_handler(Request(scope, receive), error)
            await response(scope, receive, send)
