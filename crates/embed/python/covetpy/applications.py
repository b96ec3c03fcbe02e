"""The application classes: ``FastAPI`` (FastAPI's name and defaults) and ``CovetPy`` (the same
class under CovetPy's own name and title). An app is a complete ASGI app built on Starlette, so
any ASGI server or ``TestClient`` runs it; ``covetpy serve`` also answers its plain routes in Rust."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from covetpy import _native, _native_layers, _native_static, params
from covetpy._body_limit import AppBodyLimitMiddleware, FormLimits, validate_max_body_size
from covetpy.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
    websocket_request_validation_exception_handler,
)
from covetpy.exceptions import (
    FastAPIDeprecationWarning,
    RequestValidationError,
    WebSocketRequestValidationError,
)
from covetpy.openapi import docs_assets
from covetpy.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from covetpy.routing import (
    DEFAULT_JSON_RESPONSE,
    DEFAULT_STRICT_CONTENT_TYPE,
    DEFAULT_UNIQUE_ID,
    APIRoute,
    APIRouter,
    deprecated_on_event,
)

AppType = TypeVar("AppType", bound="FastAPI")
DecoratedCallable = TypeVar("DecoratedCallable", bound=Callable[..., Any])


class FastAPI(Starlette):
    """The app: path operations, routers, dependencies, middleware, exception handlers, OpenAPI and
    its documentation pages. Takes every option ``fastapi.FastAPI`` takes, with the same defaults."""

    #: The Rust server looks for this to serve the app natively (crates/embed/python/covetpy/CONTRACT.md).
    __covetpy_native__ = True

    def __init__(
        self: AppType,
        *,
        debug: bool = False,
        routes: list[BaseRoute] | None = None,
        title: str = "FastAPI",
        summary: str | None = None,
        description: str = "",
        version: str = "0.1.0",
        openapi_url: str | None = "/openapi.json",
        openapi_tags: list[dict[str, Any]] | None = None,
        servers: list[dict[str, Any]] | None = None,
        dependencies: Sequence[params.Depends] | None = None,
        default_response_class: type[Response] = DEFAULT_JSON_RESPONSE,
        redirect_slashes: bool = True,
        docs_url: str | None = "/docs",
        redoc_url: str | None = "/redoc",
        swagger_ui_oauth2_redirect_url: str | None = "/docs/oauth2-redirect",
        swagger_ui_init_oauth: dict[str, Any] | None = None,
        middleware: Sequence[Middleware] | None = None,
        exception_handlers: dict[
            int | type[Exception], Callable[[Request, Any], Coroutine[Any, Any, Response]]
        ]
        | None = None,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        lifespan: Lifespan[AppType] | None = None,
        terms_of_service: str | None = None,
        contact: dict[str, str | Any] | None = None,
        license_info: dict[str, str | Any] | None = None,
        openapi_prefix: str = "",
        root_path: str = "",
        root_path_in_servers: bool = True,
        responses: dict[int | str, dict[str, Any]] | None = None,
        callbacks: list[BaseRoute] | None = None,
        webhooks: APIRouter | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        swagger_ui_parameters: dict[str, Any] | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] = DEFAULT_UNIQUE_ID,
        separate_input_output_schemas: bool = True,
        openapi_external_docs: dict[str, Any] | None = None,
        strict_content_type: bool = DEFAULT_STRICT_CONTENT_TYPE,
        max_body_size: int | None = None,
        form_limits: FormLimits | None = None,
        **extra: Any,
    ) -> None:
        validate_max_body_size(max_body_size)
        self.debug = debug
        self.title = title
        self.summary = summary
        self.description = description
        self.version = version
        self.terms_of_service = terms_of_service
        self.contact = contact
        self.license_info = license_info
        self.openapi_url = openapi_url
        self.openapi_tags = openapi_tags
        self.root_path_in_servers = root_path_in_servers
        self.docs_url = docs_url
        self.redoc_url = redoc_url
        self.swagger_ui_oauth2_redirect_url = swagger_ui_oauth2_redirect_url
        self.swagger_ui_init_oauth = swagger_ui_init_oauth
        self.swagger_ui_parameters = swagger_ui_parameters
        self.servers = servers or []
        self.separate_input_output_schemas = separate_input_output_schemas
        self.openapi_external_docs = openapi_external_docs
        self.extra = extra
        self.openapi_version = "3.1.0"
        self.openapi_schema: dict[str, Any] | None = None
        # Which routes the kept document describes (their identities), to notice later changes.
        self._openapi_routes_key: tuple[int, ...] | None = None
        if self.openapi_url:
            if not self.title:
                raise AssertionError("A title must be provided for OpenAPI, e.g.: 'My API'")
            if not self.version:
                raise AssertionError("A version must be provided for OpenAPI, e.g.: '2.1.0'")
        if root_path:
            warnings.warn(
                "The `root_path` parameter is deprecated: give the server the root path instead, for "
                "example `covetpy serve --root-path /api/v1` (with FastAPI's CLI, `fastapi run --root-path "
                "/api/v1`).",
                category=FastAPIDeprecationWarning,
                stacklevel=2,
            )
        self.root_path = root_path or openapi_prefix
        self.state = State()
        #: Replacements for dependencies, ``{original: replacement}`` (tests set it).
        self.dependency_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
        self.router: APIRouter = APIRouter(
            routes=routes,
            redirect_slashes=redirect_slashes,
            dependency_overrides_provider=self,
            on_startup=on_startup,
            on_shutdown=on_shutdown,
            lifespan=lifespan,
            default_response_class=default_response_class,
            dependencies=dependencies,
            callbacks=callbacks,
            deprecated=deprecated,
            include_in_schema=include_in_schema,
            responses=responses,
            generate_unique_id_function=generate_unique_id_function,
            strict_content_type=strict_content_type,
            max_body_size=max_body_size,
            form_limits=form_limits,
        )
        self.webhooks = webhooks or APIRouter()
        self.exception_handlers: dict[Any, Callable[[Request, Any], Response | Awaitable[Response]]] = (
            {} if exception_handlers is None else dict(exception_handlers)
        )
        self.exception_handlers.setdefault(HTTPException, http_exception_handler)
        self.exception_handlers.setdefault(RequestValidationError, request_validation_exception_handler)
        self.exception_handlers.setdefault(
            WebSocketRequestValidationError,
            websocket_request_validation_exception_handler,  # type: ignore[arg-type]
        )
        self.user_middleware: list[Middleware] = [] if middleware is None else list(middleware)
        self.middleware_stack: ASGIApp | None = None
        #: The largest request body the app reads, unless a router or path operation sets its own.
        self.max_body_size = max_body_size
        self.setup()

    def _covet_split_exception_handlers(self) -> tuple[Any, dict[Any, Any]]:
        """The handler ``ServerErrorMiddleware`` gets (for ``500`` or ``Exception``) and the ones
        ``ExceptionMiddleware`` gets (all the others), as Starlette splits them."""
        error_handler = None
        exception_handlers: dict[Any, Any] = {}
        for key, value in self.exception_handlers.items():
            if key in (500, Exception):
                error_handler = value
            else:
                exception_handlers[key] = value
        return error_handler, exception_handlers

    def build_middleware_stack(self) -> ASGIApp:
        """Starlette's stack, with the app's body limit as FastAPI places it: outside user
        middleware, answering a 413 itself when the app is mounted in another that limits bodies."""
        error_handler, exception_handlers = self._covet_split_exception_handlers()
        middleware = [
            Middleware(ServerErrorMiddleware, handler=error_handler, debug=self.debug),
            Middleware(AppBodyLimitMiddleware, max_body_size=self.max_body_size),
            *self.user_middleware,
            Middleware(ExceptionMiddleware, handlers=exception_handlers, debug=self.debug),
        ]
        app: ASGIApp = self.router
        for cls, args, kwargs in reversed(middleware):
            app = cls(app, *args, **kwargs)
        return app

    # -- the documentation routes --

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document, built on first use and kept in ``openapi_schema``; built again
        when routes or webhooks were added or removed since (as FastAPI does)."""
        routes_key = tuple(map(id, [*self.routes, *self.webhooks.routes]))
        if not self.openapi_schema or self._openapi_routes_key != routes_key:
            from covetpy.openapi.utils import get_openapi

            self.openapi_schema = get_openapi(
                title=self.title,
                version=self.version,
                openapi_version=self.openapi_version,
                summary=self.summary,
                description=self.description,
                terms_of_service=self.terms_of_service,
                contact=self.contact,
                license_info=self.license_info,
                routes=self.routes,
                webhooks=self.webhooks.routes,
                tags=self.openapi_tags,
                servers=self.servers,
                separate_input_output_schemas=self.separate_input_output_schemas,
                external_docs=self.openapi_external_docs,
            )
            self._openapi_routes_key = routes_key
        return self.openapi_schema

    def setup(self) -> None:
        """Add the OpenAPI document and documentation page routes the options ask for."""
        if self.openapi_url:

            async def openapi(req: Request) -> JSONResponse:
                root_path = req.scope.get("root_path", "").rstrip("/")
                document = self.openapi()
                if root_path and self.root_path_in_servers:
                    servers = document.get("servers", [])
                    if root_path not in {server.get("url") for server in servers}:
                        # This request's mount point comes first, in this answer only: the
                        # cached document and the app's ``servers`` stay as configured, so one
                        # request's root_path never shows up in another's.
                        document = {**document, "servers": [{"url": root_path}, *servers]}
                return JSONResponse(document)

            self.add_route(self.openapi_url, openapi, include_in_schema=False)
        if self.openapi_url and self.docs_url:
            openapi_url = self.openapi_url
            redirect_url = self.swagger_ui_oauth2_redirect_url
            swagger_assets = docs_assets.asset_prefix(self.docs_url)

            async def swagger_ui_html(req: Request) -> HTMLResponse:
                root_path = req.scope.get("root_path", "").rstrip("/")
                assets = root_path + swagger_assets
                return get_swagger_ui_html(
                    openapi_url=root_path + openapi_url,
                    title=f"{self.title} - Swagger UI",
                    swagger_js_url=docs_assets.asset_url(assets, "swagger-ui-bundle.js"),
                    swagger_css_url=docs_assets.asset_url(assets, "swagger-ui.css"),
                    swagger_favicon_url=docs_assets.asset_url(assets, "favicon.svg"),
                    oauth2_redirect_url=root_path + redirect_url if redirect_url else None,
                    init_oauth=self.swagger_ui_init_oauth,
                    swagger_ui_parameters=self.swagger_ui_parameters,
                )

            self.add_route(self.docs_url, swagger_ui_html, include_in_schema=False)
            self.router.routes.extend(docs_assets.asset_routes(swagger_assets, docs_assets.SWAGGER_UI_FILES))
            if redirect_url:

                async def swagger_ui_redirect(req: Request) -> HTMLResponse:
                    return get_swagger_ui_oauth2_redirect_html()

                self.add_route(redirect_url, swagger_ui_redirect, include_in_schema=False)
        if self.openapi_url and self.redoc_url:
            openapi_url = self.openapi_url
            redoc_assets = docs_assets.asset_prefix(self.redoc_url)

            async def redoc_html(req: Request) -> HTMLResponse:
                root_path = req.scope.get("root_path", "").rstrip("/")
                assets = root_path + redoc_assets
                return get_redoc_html(
                    openapi_url=root_path + openapi_url,
                    title=f"{self.title} - ReDoc",
                    redoc_js_url=docs_assets.asset_url(assets, "redoc.standalone.js"),
                    redoc_favicon_url=docs_assets.asset_url(assets, "favicon.svg"),
                )

            self.add_route(self.redoc_url, redoc_html, include_in_schema=False)
            self.router.routes.extend(docs_assets.asset_routes(redoc_assets, docs_assets.REDOC_FILES))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.root_path:
            scope["root_path"] = self.root_path
        await super().__call__(scope, receive, send)

    # -- the Rust server's view of the app (CONTRACT.md) --

    def _covet_routes(self) -> list[Any]:
        return _native.route_specs(self)

    def _covet_websocket_routes(self) -> list[Any]:
        return _native.websocket_specs(self)

    def _covet_request(self, native: Any) -> Request:
        return _native.request_from_native(self, native)

    def _covet_handle_exception(self, request: Any, exc: BaseException) -> Any:
        return _native.handle_exception(self, request, exc)

    def _covet_static_mounts(self) -> list[Any]:
        return _native_static.static_mounts(self)

    def _covet_mime_table(self) -> Any:
        return _native_static.mime_table()

    def _covet_layers(self) -> list[Any]:
        return _native_layers.layer_specs(self)

    def _covet_asgi_inner(self) -> ASGIApp:
        return _native_layers.inner_app(self)

    @property
    def _covet_asgi_all(self) -> bool:
        return _native.asgi_all(self)

    @property
    def _covet_asgi_on_miss(self) -> bool:
        return _native.asgi_on_miss(self)

    @property
    def _covet_redirect_slashes(self) -> bool:
        return _native.redirect_slashes(self)

    @property
    def _covet_custom_validation_handler(self) -> bool:
        return self.exception_handlers.get(RequestValidationError) is not request_validation_exception_handler

    # -- routes, delegated to the router --

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        """Add a path operation."""
        self.router.add_api_route(path, endpoint, **kwargs)

    def api_route(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Decorator form of ``add_api_route``."""
        return self.router.api_route(path, **kwargs)

    def add_api_websocket_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        name: str | None = None,
        *,
        dependencies: Sequence[params.Depends] | None = None,
    ) -> None:
        """Add a WebSocket endpoint."""
        self.router.add_api_websocket_route(path, endpoint, name=name, dependencies=dependencies)

    def websocket(
        self, path: str, name: str | None = None, *, dependencies: Sequence[params.Depends] | None = None
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a WebSocket endpoint."""
        return self.router.websocket(path, name=name, dependencies=dependencies)

    def include_router(self, router: APIRouter, **kwargs: Any) -> None:
        """Add a router's routes (see ``APIRouter.include_router``)."""
        self.router.include_router(router, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a GET path operation."""
        return self.router.get(path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a PUT path operation."""
        return self.router.put(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a POST path operation."""
        return self.router.post(path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a DELETE path operation."""
        return self.router.delete(path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare an OPTIONS path operation."""
        return self.router.options(path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a HEAD path operation."""
        return self.router.head(path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a PATCH path operation."""
        return self.router.patch(path, **kwargs)

    def trace(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a TRACE path operation."""
        return self.router.trace(path, **kwargs)

    def add_route(
        self,
        path: str,
        route: Callable[[Request], Awaitable[Response] | Response],
        methods: list[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """A plain Starlette route."""
        self.router.add_route(path, route, methods=methods, name=name, include_in_schema=include_in_schema)

    def route(
        self,
        path: str,
        methods: list[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Decorator form of ``add_route``."""
        return self.router.route(path, methods=methods, name=name, include_in_schema=include_in_schema)

    def add_websocket_route(self, path: str, route: Callable[..., Any], name: str | None = None) -> None:
        """A plain Starlette WebSocket route."""
        self.router.add_websocket_route(path, route, name=name)

    def websocket_route(
        self, path: str, name: str | None = None
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Decorator form of ``add_websocket_route``."""
        return self.router.websocket_route(path, name=name)

    def mount(self, path: str, app: ASGIApp, name: str | None = None) -> None:
        """Serve another ASGI app under ``path``."""
        self.router.mount(path, app=app, name=name)

    def host(self, host: str, app: ASGIApp, name: str | None = None) -> None:
        """Serve another ASGI app for requests to ``host``."""
        self.router.host(host, app=app, name=name)

    # -- events, middleware, exception handlers --

    def on_event(self, event_type: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Deprecated: register a startup or shutdown handler (use ``lifespan``)."""
        return deprecated_on_event(self.router, event_type)

    def add_event_handler(self, event_type: str, func: Callable[[], Any]) -> None:
        """Register a ``"startup"`` or ``"shutdown"`` handler."""
        self.router.add_event_handler(event_type, func)

    def middleware(self, middleware_type: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """``@app.middleware("http")``: ``async def f(request, call_next)`` around every request."""
        if middleware_type != "http":
            raise AssertionError(f"unknown middleware type {middleware_type!r}: only 'http' exists")

        def decorator(func: DecoratedCallable) -> DecoratedCallable:
            self.add_middleware(BaseHTTPMiddleware, dispatch=func)
            return func

        return decorator

    def exception_handler(
        self, exc_class_or_status_code: int | type[Exception]
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Handle an exception class (and subclasses) or an HTTPException status code."""

        def decorator(func: DecoratedCallable) -> DecoratedCallable:
            self.add_exception_handler(exc_class_or_status_code, func)
            return func

        return decorator


class CovetPy(FastAPI):
    """The same app class as ``FastAPI``, titled "CovetPy" unless told otherwise."""

    def __init__(self, *, title: str = "CovetPy", **kwargs: Any) -> None:
        super().__init__(title=title, **kwargs)


__all__ = ["CovetPy", "FastAPI"]
