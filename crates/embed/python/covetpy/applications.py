"""The ``CovetPy`` application object."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from covetpy import requests as _requests
from covetpy.datastructures import State
from covetpy.encoders import jsonable_encoder
from covetpy.exceptions import (
    HTTPException,
    RequestValidationError,
    WebSocketException,
    WebSocketRequestValidationError,
)
from covetpy.openapi import get_openapi, get_redoc_html, get_swagger_ui_html
from covetpy.requests import Request
from covetpy.responses import JSONResponse, Response
from covetpy.routing import (
    APIRoute,
    APIRouter,
    RouteSpec,
    WebSocketRouteSpec,
    build_route_spec,
    build_websocket_route_spec,
    default_websocket_validation_handler,
)
from covetpy.websockets import WebSocket, WebSocketState

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]
ExceptionHandler = Callable[[Request, Any], Any]


def _body_allowed(status_code: int) -> bool:
    return not (status_code < 200 or status_code in (204, 205, 304))


def http_exception_handler(request: Request | None, exc: HTTPException) -> Response:
    """FastAPI's default: ``{"detail": ...}`` with the exception's status and headers."""
    headers = getattr(exc, "headers", None)
    if not _body_allowed(exc.status_code):
        return Response(status_code=exc.status_code, headers=headers)
    return JSONResponse(
        {"detail": jsonable_encoder(exc.detail)},
        status_code=exc.status_code,
        headers=headers,
    )


def request_validation_exception_handler(
    request: Request | None, exc: RequestValidationError
) -> Response:
    """FastAPI's default: 422 with ``{"detail": [errors]}``."""
    return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


class CovetPy(APIRouter):
    """A web application served natively by the CovetPy server (FastAPI-style API).

    Declare routes with the ``get``/``post``/... decorators and serve it with
    ``covetpy serve module:app``.
    """

    __covetpy_native__ = True

    def __init__(
        self,
        *,
        title: str = "CovetPy",
        version: str = "0.1.0",
        description: str = "",
        summary: str | None = None,
        openapi_url: str | None = "/openapi.json",
        docs_url: str | None = "/docs",
        redoc_url: str | None = "/redoc",
        openapi_tags: list[dict[str, Any]] | None = None,
        servers: list[dict[str, Any]] | None = None,
        terms_of_service: str | None = None,
        contact: dict[str, Any] | None = None,
        license_info: dict[str, Any] | None = None,
        lifespan: Lifespan | None = None,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        exception_handlers: Mapping[int | type[BaseException], ExceptionHandler]
        | None = None,
        default_response_class: type[Response] | None = None,
        strict_content_type: bool = True,
        responses: dict[int | str, dict[str, Any]] | None = None,
        debug: bool = False,
    ) -> None:
        super().__init__(
            responses=responses, default_response_class=default_response_class
        )
        self.title = title
        self.version = version
        self.description = description
        self.summary = summary
        self.openapi_url = openapi_url
        self.docs_url = docs_url
        self.redoc_url = redoc_url
        self.openapi_tags = openapi_tags
        self.servers = servers
        self.terms_of_service = terms_of_service
        self.contact = contact
        self.license_info = license_info
        self.openapi_version = "3.1.0"
        self.openapi_schema: dict[str, Any] | None = None
        self.strict_content_type = strict_content_type
        self.debug = debug
        self.lifespan_context = lifespan
        self.on_startup = list(on_startup or [])
        self.on_shutdown = list(on_shutdown or [])
        self.exception_handlers: dict[int | type[BaseException], ExceptionHandler] = (
            dict(exception_handlers or {})
        )
        self.state = State()
        self._route_specs: list[RouteSpec] | None = None
        if openapi_url is not None and not openapi_url.startswith("/"):
            raise ValueError("openapi_url must start with '/'")
        if (docs_url or redoc_url) and openapi_url is None:
            docs_url = redoc_url = None
            self.docs_url = self.redoc_url = None

    # --- routes ---------------------------------------------------------------------------------

    def add_api_route(
        self, path: str, endpoint: Callable[..., Any], **kwargs: Any
    ) -> APIRoute:
        self._route_specs = None
        self.openapi_schema = None
        return super().add_api_route(path, endpoint, **kwargs)

    def include_router(self, router: APIRouter, **kwargs: Any) -> None:
        self._route_specs = None
        self.openapi_schema = None
        super().include_router(router, **kwargs)

    def _covet_websocket_routes(self) -> list[WebSocketRouteSpec]:
        """The WebSocket route table for the server (CONTRACT.md): one ASGI app per route."""
        return [
            build_websocket_route_spec(
                route, app=self, on_error=self._handle_websocket_exception
            )
            for route in self.routes
            if not isinstance(route, APIRoute)
        ]

    def _route_spec(self, route: APIRoute) -> RouteSpec:
        return build_route_spec(
            route,
            default_response_class=self.default_response_class,
            strict_content_type=self.strict_content_type,
        )

    def _builtin_routes(self) -> list[APIRoute]:
        routes: list[APIRoute] = []
        openapi_url = self.openapi_url
        if openapi_url is None:
            return routes

        def openapi(request: Request) -> JSONResponse:
            return JSONResponse(self.openapi())

        def swagger_ui_html(request: Request) -> Response:
            return get_swagger_ui_html(
                openapi_url=request.root_path + openapi_url,
                title=f"{self.title} - Swagger UI",
            )

        def redoc_html(request: Request) -> Response:
            return get_redoc_html(
                openapi_url=request.root_path + openapi_url,
                title=f"{self.title} - ReDoc",
            )

        routes.append(APIRoute(openapi_url, openapi, include_in_schema=False))
        if self.docs_url is not None:
            routes.append(
                APIRoute(self.docs_url, swagger_ui_html, include_in_schema=False)
            )
        if self.redoc_url is not None:
            routes.append(APIRoute(self.redoc_url, redoc_html, include_in_schema=False))
        return routes

    def _all_specs(self) -> list[RouteSpec]:
        if self._route_specs is None:
            self._route_specs = [
                self._route_spec(route)
                for route in self.routes
                if isinstance(route, APIRoute)
            ]
        return self._route_specs

    def _covet_routes(self) -> list[RouteSpec]:
        """The route table for the server (CONTRACT.md): user routes, then the docs routes."""
        return [
            *self._all_specs(),
            *(self._route_spec(route) for route in self._builtin_routes()),
        ]

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document (built once, then cached in ``openapi_schema``)."""
        if self.openapi_schema is None:
            self.openapi_schema = get_openapi(
                title=self.title,
                version=self.version,
                openapi_version=self.openapi_version,
                summary=self.summary,
                description=self.description,
                routes=self._all_specs(),
                tags=self.openapi_tags,
                servers=self.servers,
                terms_of_service=self.terms_of_service,
                contact=self.contact,
                license_info=self.license_info,
            )
        return self.openapi_schema

    # --- errors ---------------------------------------------------------------------------------

    def exception_handler(
        self, exc_class_or_status_code: int | type[BaseException]
    ) -> Callable[[ExceptionHandler], ExceptionHandler]:
        """Register ``handler(request, exc)`` (sync or async, returning a Response) for an exception
        class (and its subclasses) or for ``HTTPException``s with a status code."""

        def decorator(func: ExceptionHandler) -> ExceptionHandler:
            self.add_exception_handler(exc_class_or_status_code, func)
            return func

        return decorator

    def add_exception_handler(
        self,
        exc_class_or_status_code: int | type[BaseException],
        handler: ExceptionHandler,
    ) -> None:
        self.exception_handlers[exc_class_or_status_code] = handler

    def _lookup_handler(self, exc: BaseException) -> ExceptionHandler | None:
        handlers = self.exception_handlers
        if isinstance(exc, HTTPException) and exc.status_code in handlers:
            return handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in handlers:
                return handlers[cls]
        if (
            not isinstance(exc, (HTTPException, RequestValidationError))
            and 500 in handlers
        ):
            return handlers[500]
        return None

    def _covet_handle_exception(
        self, request: Request | None, exc: BaseException
    ) -> Any:
        """Called by the server when a handler raised (CONTRACT.md): a Response, an awaitable of one,
        or the exception re-raised when no handler applies."""
        handler = self._lookup_handler(exc)
        if handler is not None:
            return handler(request, exc)  # type: ignore[arg-type]
        if isinstance(exc, HTTPException):
            return http_exception_handler(request, exc)
        if isinstance(exc, RequestValidationError):
            return request_validation_exception_handler(request, exc)
        raise exc

    async def _handle_websocket_exception(
        self, websocket: WebSocket, exc: Exception
    ) -> None:
        """An exception from a WebSocket endpoint (or its parameters), as Starlette/FastAPI treat it:
        the app's handler for it (called with the WebSocket; a Response it returns refuses the
        handshake), else the defaults: 1008 for invalid parameters, the code and reason of a
        ``WebSocketException``, an HTTP denial for an ``HTTPException`` before accept. Anything else
        is re-raised, and the server closes with 1011 (or answers 500 before accept)."""
        handler: Any = None
        handlers = self.exception_handlers
        if isinstance(exc, HTTPException) and exc.status_code in handlers:
            handler = handlers[exc.status_code]
        else:
            for cls in type(exc).__mro__:
                if cls in handlers:
                    handler = handlers[cls]
                    break
        if handler is None:
            if isinstance(exc, WebSocketRequestValidationError):
                await default_websocket_validation_handler(websocket, exc)
                return
            if isinstance(exc, WebSocketException):
                await websocket.close(code=exc.code, reason=exc.reason)
                return
            if not isinstance(exc, HTTPException):
                raise exc

            def handler(ws: WebSocket, error: HTTPException) -> Response:
                return http_exception_handler(None, error)

        result = await _maybe_await(handler(websocket, exc))
        if isinstance(result, Response):
            if websocket.application_state != WebSocketState.CONNECTING:
                raise exc
            await websocket.send_denial_response(result)

    # --- lifespan (ASGI) ------------------------------------------------------------------------

    @asynccontextmanager
    async def _default_lifespan(self, app: Any) -> AsyncIterator[None]:
        for func in self.on_startup:
            await _maybe_await(func())
        try:
            yield None
        finally:
            for func in self.on_shutdown:
                await _maybe_await(func())

    def on_event(
        self, event_type: str
    ) -> Callable[[Callable[[], Any]], Callable[[], Any]]:
        """Deprecated FastAPI style: ``@app.on_event("startup")`` / ``("shutdown")``."""

        def decorator(func: Callable[[], Any]) -> Callable[[], Any]:
            if event_type == "startup":
                self.on_startup.append(func)
            elif event_type == "shutdown":
                self.on_shutdown.append(func)
            else:
                raise ValueError(f"unknown event {event_type!r}")
            return func

        return decorator

    @asynccontextmanager
    async def _lifespan(self) -> AsyncIterator[Any]:
        async with self._default_lifespan(self):
            if self.lifespan_context is None:
                yield None
            else:
                async with self.lifespan_context(self) as state:
                    yield state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point, for the lifespan protocol only (requests are served natively)."""
        if scope.get("type") != "lifespan":
            raise RuntimeError(
                "a CovetPy app is served natively by `covetpy serve`; its ASGI interface handles "
                f"only the lifespan scope, not {scope.get('type')!r}"
            )
        started = False
        await receive()  # lifespan.startup
        try:
            async with self._lifespan() as state:
                if state is not None:
                    if not isinstance(state, Mapping):
                        raise TypeError(
                            "the lifespan must yield a mapping (or nothing)"
                        )
                    if "state" not in scope:
                        raise RuntimeError("the server does not support lifespan state")
                    scope["state"].update(state)
                    _requests.set_lifespan_state(scope["state"])
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
        except BaseException:
            message = traceback.format_exc()
            if started:
                await send({"type": "lifespan.shutdown.failed", "message": message})
            else:
                await send({"type": "lifespan.startup.failed", "message": message})
            raise
        await send({"type": "lifespan.shutdown.complete"})
