"""One ASGI app per path operation, for the routes the Rust server matches but does not serve itself.

Starlette answers a request by walking the whole app: ``ServerErrorMiddleware``, the user middleware,
``ExceptionMiddleware``, then the router trying every route in turn. When the Rust server has already
matched the route, most of that walk is known in advance, so each such route gets the same stack built
once with the route itself in the router's place (CONTRACT.md, ``RouteSpec.asgi_app``).

``@app.middleware("http")`` functions run here through :class:`DispatchMiddleware`, which keeps
``BaseHTTPMiddleware``'s behaviour (``call_next`` runs the rest of the app in its own task and hands
back a streaming response; the rest finishes only after the response has been sent) on plain asyncio
primitives instead of anyio task groups and memory streams, which cost more than a typical dispatch
function itself.
"""

from __future__ import annotations

import asyncio
import functools
import typing
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, _CachedRequest, _StreamingResponse
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from covetpy import _native_layers

if typing.TYPE_CHECKING:
    from covetpy.applications import FastAPI
    from covetpy.routing import APIRoute

DispatchFunction = Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]


class _Handoff:
    """An unbuffered channel from the downstream app's ``send`` to ``call_next``'s reader: a send
    returns once the message was taken, as with anyio's zero-size memory stream."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._messages: deque[tuple[Message, asyncio.Future[None] | None]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def send(self, message: Message) -> None:
        if self.closed:
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done() and not self._messages:
            # A reader is waiting: it takes the message now and the sender goes on.
            self._messages.append((message, None))
            waiter.set_result(None)
            return
        taken = self._loop.create_future()
        self._messages.append((message, taken))
        self._wake()
        await taken

    def close(self) -> None:
        self.closed = True
        while self._messages:
            _, taken = self._messages.popleft()
            if taken is not None and not taken.done():
                taken.set_result(None)
        self._wake()

    async def receive(self) -> Message | None:
        """The next message, or None once the sender has finished."""
        while not self._messages:
            if self.closed:
                return None
            self._waiter = self._loop.create_future()
            await self._waiter
            self._waiter = None
        message, taken = self._messages.popleft()
        if taken is not None and not taken.done():
            taken.set_result(None)
        return message


class DispatchMiddleware:
    """``BaseHTTPMiddleware(app, dispatch=...)`` with the same behaviour on asyncio primitives."""

    def __init__(self, app: ASGIApp, dispatch: DispatchFunction) -> None:
        self.app = app
        self.dispatch_func = dispatch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        request = _CachedRequest(scope, receive, send)
        wrapped_receive = request.wrapped_receive
        response_sent = loop.create_future()
        app_exc: Exception | None = None
        exception_already_raised = False
        downstream: asyncio.Task[None] | None = None
        channel = _Handoff()

        async def receive_or_disconnect() -> Message:
            if response_sent.done():
                return {"type": "http.disconnect"}
            getting = asyncio.ensure_future(wrapped_receive())
            if not getting.done():
                await asyncio.wait((getting, response_sent), return_when=asyncio.FIRST_COMPLETED)
            if response_sent.done():
                getting.cancel()
                return {"type": "http.disconnect"}
            return getting.result()

        async def send_no_error(message: Message) -> None:
            await channel.send(message)
            if message["type"] == "http.response.pathsend" or (
                message["type"] == "http.response.body" and not message.get("more_body", False)
            ):
                await asyncio.shield(response_sent)

        async def run_downstream() -> None:
            nonlocal app_exc
            try:
                await self.app(scope, receive_or_disconnect, send_no_error)
            except Exception as exc:  # noqa: BLE001 - re-raised from call_next or after the response
                app_exc = exc
            finally:
                channel.close()

        async def call_next(request: Request) -> Response:
            nonlocal downstream, exception_already_raised
            downstream = loop.create_task(run_downstream())
            info = None
            while True:
                message = await channel.receive()
                if message is None:
                    if app_exc is not None:
                        exception_already_raised = True
                        raise app_exc from app_exc.__cause__ or app_exc.__context__
                    raise RuntimeError("No response returned.")
                if message["type"] == "http.response.debug":
                    info = message["info"]
                    continue
                if message["type"] == "http.response.early_hint":
                    await send(message)
                    continue
                break
            if message["type"] != "http.response.start":
                raise RuntimeError(f"Unexpected message: {message}")

            async def body_stream() -> AsyncIterator[bytes | Any]:
                while True:
                    message = await channel.receive()
                    if message is None:
                        break
                    if message["type"] == "http.response.pathsend":
                        yield message
                        break
                    if message["type"] != "http.response.body":
                        raise RuntimeError(f"Unexpected message: {message}")
                    body = message.get("body", b"")
                    if body:
                        yield body
                    if not message.get("more_body", False):
                        break

            response = _StreamingResponse(status_code=message["status"], content=body_stream(), info=info)
            response.raw_headers = message.get("headers", [])
            return response

        try:
            response = await self.dispatch_func(request, call_next)
            await response(scope, wrapped_receive, send)
        finally:
            if not response_sent.done():
                response_sent.set_result(None)
            channel.close()
            if downstream is not None:
                # As the task group does: the rest of the app finishes (its exit stacks close)
                # before this middleware returns.
                await downstream
        if app_exc is not None and not exception_already_raised:
            raise app_exc


#: Wraps the rest of a route's stack in one middleware.
Layer = Callable[[ASGIApp], ASGIApp]


def route_layers(middleware: list[Middleware]) -> list[Layer] | None:
    """``middleware`` (outermost first) as layers a route's own stack can hold, or None when one of
    them cannot be copied per route. ``@app.middleware("http")`` functions can, and so can Starlette's
    CORS, GZip, TrustedHost and HTTPSRedirect middleware, which keep nothing but their options;
    any other middleware class may keep state of its own, so an app using one runs whole."""
    from starlette.middleware.cors import CORSMiddleware
    from starlette.middleware.gzip import GZipMiddleware
    from starlette.middleware.httpsredirect import HTTPSRedirectMiddleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    stateless: tuple[Any, ...] = (
        CORSMiddleware,
        GZipMiddleware,
        HTTPSRedirectMiddleware,
        TrustedHostMiddleware,
    )
    layers: list[Layer] = []
    for entry in middleware:
        cls: Any = entry.cls
        if _is_dispatch_middleware(entry):
            dispatch = cast(DispatchFunction, entry.kwargs["dispatch"])
            layers.append(functools.partial(DispatchMiddleware, dispatch=dispatch))
        elif cls in stateless:
            layers.append(cast(Layer, functools.partial(cls, *entry.args, **entry.kwargs)))
        else:
            return None
    return layers


def _is_dispatch_middleware(entry: Middleware) -> bool:
    cls: Any = entry.cls
    return (
        cls is BaseHTTPMiddleware
        and not entry.args
        and set(entry.kwargs) == {"dispatch"}
        and callable(entry.kwargs["dispatch"])
    )


def route_app(app: FastAPI, route: APIRoute, layers: list[Layer]) -> ASGIApp:
    """The app's middleware stack (as ``build_middleware_stack`` makes it) around ``route`` alone."""
    error_handler, exception_handlers = app._covet_split_exception_handlers()
    router = app.router

    async def matched(scope: Scope, receive: Receive, send: Send) -> None:
        # What the router does for the route the server matched: Starlette's own matching fills in
        # the endpoint and the converted path parameters.
        if "router" not in scope:
            scope["router"] = router
        _, child_scope = route.matches(scope)
        scope["route"] = route
        scope.update(child_scope)
        await route.handle(scope, receive, send)

    inner: ASGIApp = ExceptionMiddleware(matched, handlers=exception_handlers, debug=app.debug)
    for layer in reversed(layers):
        inner = layer(inner)
    # An app with a body limit runs whole (``_native.asgi_all``), so no route stack needs one.
    stack: ASGIApp = _native_layers.mark_server_errors(
        app, ServerErrorMiddleware(inner, handler=error_handler, debug=app.debug)
    )
    return _native_layers.entry(app, stack)
