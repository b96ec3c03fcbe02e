"""Which of an app's middleware the Rust server runs itself, described as plain specs.

``app.user_middleware`` is outermost-first. Its outermost run of Starlette's own ``CORSMiddleware``,
``TrustedHostMiddleware``, ``HTTPSRedirectMiddleware`` and ``GZipMiddleware`` (exactly those classes,
not subclasses, which may change what they do) becomes Rust layers: the server applies them to every
request it answers for the app. What follows that prefix stays Python middleware, run on the ASGI side
by the stack :func:`inner_app` builds, which leaves the prefix out so nothing runs twice.

Each middleware's options are read from an instance built with them, so Starlette computes (and
checks) them exactly as it would: the specs copy its computed attributes.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.httpsredirect import HTTPSRedirectMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from covetpy.applications import FastAPI

#: A response header the ASGI side adds to answers that Starlette sends from outside the user
#: middleware (``ServerErrorMiddleware``'s 500s): the server removes it and applies no layer to them,
#: as Starlette's CORS or GZip never see those answers.
UNLAYERED_HEADER = b"x-covetpy-unlayered"


@dataclass
class CorsSpec:
    """``CORSMiddleware``'s computed options."""

    kind: str = "cors"
    allow_all_origins: bool = False
    allow_origins: list[str] = field(default_factory=list)
    #: The pattern as written; the server compiles it for full matches.
    allow_origin_regex: str | None = None
    allow_methods: list[str] = field(default_factory=list)
    #: Lower-case, the safelisted ones included.
    allow_headers: list[str] = field(default_factory=list)
    allow_all_headers: bool = False
    allow_credentials: bool = False
    allow_private_network: bool = False
    preflight_explicit_allow_origin: bool = True
    #: Header (name, value) pairs added to every answer to a request with an ``Origin``.
    simple_headers: list[tuple[str, str]] = field(default_factory=list)
    #: Header pairs every preflight answer starts with.
    preflight_headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class TrustedHostSpec:
    """``TrustedHostMiddleware``'s options (host patterns lower-case)."""

    kind: str = "trustedhost"
    allowed_hosts: list[str] = field(default_factory=list)
    allow_any: bool = False
    www_redirect: bool = True


@dataclass
class HttpsRedirectSpec:
    """``HTTPSRedirectMiddleware`` (it has no options)."""

    kind: str = "httpsredirect"


@dataclass
class GZipSpec:
    """``GZipMiddleware``'s options (excluded media types normalised as Starlette does)."""

    kind: str = "gzip"
    minimum_size: int = 500
    compresslevel: int = 9
    exclude_content_types: list[str] = field(default_factory=list)


LayerSpec = CorsSpec | TrustedHostSpec | HttpsRedirectSpec | GZipSpec


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:  # pragma: no cover
    raise RuntimeError("a middleware read for its options was called")


def _spec(entry: Middleware) -> LayerSpec | None:
    # Starlette types a Middleware's options by its class's signature, which mypy cannot follow here.
    cls: Any = entry.cls
    args: Any = entry.args
    kwargs: Any = entry.kwargs
    if cls is CORSMiddleware:
        cors = CORSMiddleware(_no_app, *args, **kwargs)
        return CorsSpec(
            allow_all_origins=cors.allow_all_origins,
            allow_origins=[str(o) for o in cors.allow_origins],
            allow_origin_regex=None if cors.allow_origin_regex is None else cors.allow_origin_regex.pattern,
            allow_methods=[str(m) for m in cors.allow_methods],
            allow_headers=list(cors.allow_headers),
            allow_all_headers=cors.allow_all_headers,
            allow_credentials=cors.allow_credentials,
            allow_private_network=cors.allow_private_network,
            preflight_explicit_allow_origin=cors.preflight_explicit_allow_origin,
            simple_headers=list(cors.simple_headers.items()),
            preflight_headers=list(cors.preflight_headers.items()),
        )
    if cls is TrustedHostMiddleware:
        trusted = TrustedHostMiddleware(_no_app, *args, **kwargs)
        return TrustedHostSpec(
            allowed_hosts=list(trusted.allowed_hosts),
            allow_any=trusted.allow_any,
            www_redirect=bool(trusted.www_redirect),
        )
    if cls is HTTPSRedirectMiddleware:
        HTTPSRedirectMiddleware(_no_app, *args, **kwargs)
        return HttpsRedirectSpec()
    if cls is GZipMiddleware:
        gzip = GZipMiddleware(_no_app, *args, **kwargs)
        return GZipSpec(
            minimum_size=int(gzip.minimum_size),
            compresslevel=int(gzip.compresslevel),
            exclude_content_types=list(gzip.exclude_content_types),
        )
    return None


def split(app: FastAPI) -> tuple[list[LayerSpec], list[Middleware]]:
    """The Rust layers (outermost first) and the middleware left for the ASGI side."""
    middleware: Sequence[Middleware] = app.user_middleware
    specs: list[LayerSpec] = []
    for index, entry in enumerate(middleware):
        spec = _spec(entry)
        if spec is None:
            return specs, list(middleware[index:])
        specs.append(spec)
    return specs, []


#: Set per request by the ASGI side's outermost wrapper: whether a response was started from inside
#: ``ServerErrorMiddleware`` (by the user middleware or the app) rather than by it.
_inner_started: contextvars.ContextVar[list[bool]] = contextvars.ContextVar("covetpy_inner_started")


class _MarkServerErrors:
    """Wraps ``ServerErrorMiddleware`` so the answers it makes itself carry :data:`UNLAYERED_HEADER`."""

    def __init__(self, errors: ServerErrorMiddleware) -> None:
        self.errors = errors
        errors.app = functools.partial(self._inner, errors.app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.errors(scope, receive, send)
            return
        started = [False]
        _inner_started.set(started)

        async def marking_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not started[0]:
                message = {**message, "headers": [*message.get("headers", []), (UNLAYERED_HEADER, b"1")]}
            await send(message)

        await self.errors(scope, receive, marking_send)

    @staticmethod
    async def _inner(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        started = _inner_started.get(None)

        async def noting_send(message: Message) -> None:
            if started is not None and message["type"] == "http.response.start":
                started[0] = True
            await send(message)

        await app(scope, receive, noting_send if started is not None else send)


def _mark(response: Any) -> Any:
    if isinstance(response, Response):
        response.raw_headers.append((UNLAYERED_HEADER, b"1"))
    return response


def outside_layers(app: FastAPI, handler: Any, result: Any) -> Any:
    """An exception handler's answer (or awaitable of it), marked for the server when Starlette would
    run that handler in ``ServerErrorMiddleware`` (a ``500`` or ``Exception`` handler), outside the
    user middleware, so the Rust layers leave it alone as Starlette's would."""
    handlers = app.exception_handlers
    if handler not in (handlers.get(500), handlers.get(Exception)) or not layer_specs(app):
        return result
    if inspect.isawaitable(result):

        async def marked() -> Any:
            return _mark(await result)

        return marked()
    return _mark(result)


@functools.lru_cache(maxsize=64)
def inner_app(app: FastAPI) -> ASGIApp:
    """``app`` as an ASGI app whose middleware stack leaves out the Rust-served layers: the same
    stack Starlette's ``build_middleware_stack`` makes, with only the remaining user middleware."""
    specs, remaining = split(app)
    if not specs:
        return app
    saved = app.user_middleware
    app.user_middleware = remaining
    try:
        stack = app.build_middleware_stack()
    finally:
        app.user_middleware = saved
    if isinstance(stack, ServerErrorMiddleware):
        stack = _MarkServerErrors(stack)
    return entry(app, stack)


def mark_server_errors(app: FastAPI, errors: ServerErrorMiddleware) -> ASGIApp:
    """``errors`` (a stack's outermost middleware) marking its own answers for the server when the
    app has layers the server runs (see :data:`UNLAYERED_HEADER`); ``errors`` itself otherwise."""
    return _MarkServerErrors(errors) if layer_specs(app) else errors


def entry(app: FastAPI, stack: ASGIApp) -> ASGIApp:
    """``stack`` preceded by what ``app.__call__`` does before running its own stack."""
    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        # What ``app.__call__`` does before running its stack.
        if app.root_path:
            scope["root_path"] = app.root_path
        scope["app"] = app
        await stack(scope, receive, send)

    return inner


def layer_specs(app: FastAPI) -> list[Any]:
    """The Rust layers, outermost first."""
    return list(split(app)[0])
