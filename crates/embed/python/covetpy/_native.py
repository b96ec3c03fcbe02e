"""The app as the Rust server reads it (CONTRACT.md): the route table of the path operations Rust
can serve itself, and the hooks it calls. Everything else goes to the app's ASGI side."""

from __future__ import annotations

import functools
import inspect
import typing
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, cast

from pydantic.fields import FieldInfo
from starlette import routing
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from covetpy import _native_layers, _route_stack, params
from covetpy._fields import (
    ModelField,
    is_scalar_annotation,
    is_scalar_sequence_annotation,
    is_sequence_annotation,
    is_union,
    param_model,
)
from covetpy.datastructures import DefaultPlaceholder
from covetpy.dependencies.models import is_async_gen_callable, is_gen_callable
from covetpy.dependencies.utils import Undefined, request_body_to_args
from covetpy.encoders import jsonable_encoder
from covetpy.exceptions import RequestValidationError, ResponseValidationError
from covetpy.routing import APIRoute, APIWebSocketRoute, _Serializer
from covetpy.sse import EventSourceResponse

if typing.TYPE_CHECKING:
    from covetpy.applications import FastAPI

_KNOWN_CONVERTORS = {"str", "int", "float", "uuid", "path"}


@dataclass
class ParamSpec:
    """One endpoint argument the server reads and converts (CONTRACT.md)."""

    name: str
    source: str
    alias: str
    kind: str = "any"
    is_list: bool = False
    required: bool = True
    default: Any = None
    enum_type: type | None = None
    #: The server passes the raw string(s); the package validates them with the field.
    python_validated: bool = False
    field: ModelField | None = None


@dataclass
class RouteSpec:
    """One row of the route table (CONTRACT.md). ``asgi=True`` rows are only matched in Rust and
    then handed to the app's ASGI side whole."""

    path: str
    methods: list[str]
    endpoint: Callable[..., Any] | None = None
    is_coroutine: bool = False
    status_code: int = 200
    response_class: type | None = None
    params: list[ParamSpec] = field(default_factory=list)
    body_params: list[ParamSpec] = field(default_factory=list)
    body_validator: Callable[[bytes, str | None], dict[str, object]] | None = None
    asgi: bool = False
    #: For an ``asgi`` row of a path operation: the app's middleware stack around this route alone
    #: (``covetpy._route_stack``), which the server runs instead of the whole app.
    asgi_app: ASGIApp | None = None
    name: str = ""
    #: Whether HEAD is answered where GET is (Starlette routes: yes; FastAPI path operations: no).
    implicit_head: bool = True


@dataclass
class WebSocketRouteSpec:
    """A WebSocket route: matched in Rust, run by the app's ASGI side."""

    path: str
    asgi: ASGIApp


# --- which routes Rust serves -----------------------------------------------------------------


def _kind(annotation: Any) -> str | None:
    if annotation is Any or annotation is inspect.Parameter.empty:
        return "any"
    if annotation is str:
        return "str"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation is uuid.UUID:
        return "uuid"
    if (
        isinstance(annotation, type)
        and issubclass(annotation, Enum)
        and all(isinstance(member.value, str) for member in annotation)
    ):
        return "enum"
    return None


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    if is_union(annotation):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _constrained(info: FieldInfo) -> bool:
    return bool(info.metadata)


def _param_spec(f: ModelField, source: str) -> ParamSpec | None:
    annotation = f.field_info.annotation
    if typing.get_origin(f.annotation) is typing.Annotated:
        # Extra metadata (pydantic constraints, validators) next to the marker: Python validates.
        return _validated_spec(f, source)
    inner, _ = _strip_optional(annotation)
    spec = ParamSpec(
        name=f.name,
        source=source,
        alias=f.alias.lower() if source == "header" else f.alias,
        required=f.required,
        default=None if f.required else f.default,
        field=f,
    )
    if source == "query" and is_scalar_sequence_annotation(annotation):
        if typing.get_origin(inner) is not list:
            return _validated_spec(f, source)
        spec.is_list = True
        args = typing.get_args(inner)
        inner = args[0] if args else Any
        inner, _ = _strip_optional(inner)
    elif source in ("header", "cookie") and is_sequence_annotation(annotation):
        return _validated_spec(f, source)
    elif not is_scalar_annotation(annotation):
        return None
    kind = _kind(inner)
    if kind is None or _constrained(f.field_info):
        return _validated_spec(f, source, is_list=spec.is_list)
    spec.kind = kind
    if kind == "enum":
        spec.enum_type = inner
    return spec


def _validated_spec(f: ModelField, source: str, *, is_list: bool | None = None) -> ParamSpec:
    listy = is_sequence_annotation(f.field_info.annotation) if is_list is None else is_list
    return ParamSpec(
        name=f.name,
        source=source,
        alias=f.alias.lower() if source == "header" else f.alias,
        kind="str",
        is_list=listy,
        required=f.required,
        default=None if f.required else f.default,
        python_validated=True,
        field=f,
    )


def _native_route(app: FastAPI, route: APIRoute) -> RouteSpec | None:
    """The Rust-served form of ``route``, or None when only the ASGI side can serve it."""
    dependant = route.dependant
    # A body limit (Starlette's RequestBodyLimitMiddleware semantics) is applied on the ASGI side.
    if type(route) is not APIRoute or dependant.dependencies or route.max_body_size is not None:
        return None
    if (
        dependant.response_param_name
        or dependant.background_tasks_param_name
        or dependant.security_scopes_param_name
        or dependant.websocket_param_name
        or dependant.http_connection_param_name
    ):
        return None
    call = dependant.call
    if call is None or is_gen_callable(call) or is_async_gen_callable(call):
        return None
    response_class = route.response_class
    actual_class = response_class.value if isinstance(response_class, DefaultPlaceholder) else response_class
    if isinstance(actual_class, type) and issubclass(actual_class, EventSourceResponse):
        return None
    if route.body_field is not None and isinstance(route.body_field.field_info, params.Form):
        return None
    specs: list[ParamSpec] = []
    for fields, source in (
        (dependant.path_params, "path"),
        (dependant.query_params, "query"),
        (dependant.header_params, "header"),
        (dependant.cookie_params, "cookie"),
    ):
        if any(param_model(f) is not None for f in fields):
            return None
        for f in fields:
            spec = _param_spec(f, source)
            if spec is None:
                return None
            specs.append(spec)
    if dependant.request_param_name:
        specs.append(ParamSpec(name=dependant.request_param_name, source="request", alias=""))
    status_code = route.status_code or 200
    server_class: type | None = None if actual_class is JSONResponse else cast(type, actual_class)
    endpoint = _wrap_endpoint(route, specs, status_code)
    return RouteSpec(
        path=route.path,
        methods=sorted(route.methods),
        endpoint=endpoint,
        is_coroutine=dependant.is_coroutine_callable,
        status_code=status_code,
        response_class=server_class,
        params=specs,
        body_params=[
            ParamSpec(name=f.name, source="body", alias=f.alias, field=f) for f in dependant.body_params
        ],
        body_validator=_body_validator(route) if dependant.body_params else None,
        name=route.name,
        implicit_head=False,
    )


def _run_sync(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that never suspends (body validation of JSON, which reads no stream)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("body validation suspended; it must not for JSON bodies")


def _body_validator(route: APIRoute) -> Callable[[bytes, str | None], dict[str, object]]:
    import json

    from covetpy.routing import _is_json_media

    strict = bool(
        route.strict_content_type.value
        if isinstance(route.strict_content_type, DefaultPlaceholder)
        else route.strict_content_type
    )
    fields = route.dependant.body_params
    embed = route._embed_body_fields

    def validate(body: bytes, content_type: str | None) -> dict[str, object]:
        received: Any = Undefined
        if body:
            if (not content_type and not strict) or (content_type and _is_json_media(content_type)):
                try:
                    received = json.loads(body)
                except json.JSONDecodeError as exc:
                    raise RequestValidationError(
                        [
                            {
                                "type": "json_invalid",
                                "loc": ("body", exc.pos),
                                "msg": "JSON decode error",
                                "input": {},
                                "ctx": {"error": exc.msg},
                            }
                        ],
                        body=exc.doc,
                    ) from None
                except ValueError:
                    raise HTTPException(
                        status_code=400, detail="There was an error parsing the body"
                    ) from None
            else:
                received = body
        values, errors = _run_sync(request_body_to_args(fields, received, embed))
        if errors:
            raise RequestValidationError(jsonable_encoder(errors), body=received)
        return cast(dict[str, object], values)

    return validate


def _identity_model(annotation: Any) -> bool:
    """A response model whose validation and dump change nothing the server's JSON encoder would
    not (``dict``, ``list[Any]``...), so the route skips it."""
    if annotation is None or annotation in (dict, list, Any):
        return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is dict:
        return args in ((), (str, Any))
    if origin is list:
        return args in ((), (Any,))
    return False


def _wrap_endpoint(route: APIRoute, specs: list[ParamSpec], status_code: int) -> Callable[..., Any]:
    """The endpoint plus the Python-side steps Rust leaves to the package: validating parameters
    passed raw, and the response model. The endpoint itself when neither is needed."""
    call = cast(Callable[..., Any], route.dependant.call)
    checked = [s for s in specs if s.python_validated]
    serializer = _Serializer(route) if not _identity_model(route.response_model) else None
    if not checked and serializer is None:
        return call

    def before(kwargs: dict[str, Any]) -> None:
        errors: list[Any] = []
        for spec in checked:
            value = kwargs.get(spec.name)
            f = cast(ModelField, spec.field)
            if value is None or (spec.is_list and value == []):
                if f.required:
                    errors.append(
                        {
                            "type": "missing",
                            "loc": (spec.source, spec.alias),
                            "msg": "Field required",
                            "input": None,
                        }
                    )
                else:
                    kwargs[spec.name] = f.default
                continue
            result, found = f.validate(value, {}, loc=(spec.source, spec.alias))
            if found:
                errors.extend(found)
            else:
                kwargs[spec.name] = result
        if errors:
            raise RequestValidationError(jsonable_encoder(errors))

    def after(result: Any) -> Any:
        if serializer is None or isinstance(result, Response):
            return result
        return serializer.content(result)

    if route.dependant.is_coroutine_callable:

        @functools.wraps(call)
        async def async_wrapper(**kwargs: Any) -> Any:
            before(kwargs)
            return after(await call(**kwargs))

        return async_wrapper

    @functools.wraps(call)
    def sync_wrapper(**kwargs: Any) -> Any:
        before(kwargs)
        return after(call(**kwargs))

    return sync_wrapper


def static_path(path: str) -> bool:
    """Whether a route template has no parameters."""
    return "{" not in path


def route_template(route: Any) -> str | None:
    """The path template a route matches (a mount: everything below its path); None when it
    matches on something else (a ``Host``)."""
    if isinstance(route, routing.Mount):
        return route.path + "/{path:path}"
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and isinstance(route, routing.BaseRoute) else None


def may_meet(route: Any, template: str) -> bool:
    """Whether ``route`` may match a path that ``template`` matches, judged on the literal text
    before their first parameters (erring towards yes)."""
    other = route_template(route)
    if other is None:
        return True
    mine, mine_param, _ = template.partition("{")
    theirs, their_param, _ = other.partition("{")
    if not mine_param and not their_param:
        return template == other
    if not mine_param:
        return template.startswith(theirs)
    if not their_param:
        return other.startswith(mine)
    return mine.startswith(theirs) or theirs.startswith(mine)


def convertors_known(path: str) -> bool:
    """Whether every convertor a route template names is one the server knows."""
    import re

    return all(conv in _KNOWN_CONVERTORS for conv in re.findall(r"{[^}:]+:([^}]+)}", path))


@functools.lru_cache(maxsize=64)
def _table(app: FastAPI) -> tuple[list[RouteSpec], bool]:
    specs: list[RouteSpec] = []
    complete = True
    # The middleware the server does not run as layers of its own (covetpy._native_layers).
    remaining = _native_layers.split(app)[1]
    layers = _route_stack.route_layers(remaining)
    # Routes the table does not hold, which Starlette's router still tries in their place.
    opaque: list[Any] = []
    for route in app.router.routes:
        if isinstance(route, APIRoute) and convertors_known(route.path):
            # An earlier mount (or other route the table does not hold) may take this route's
            # requests: then they go to the whole app, whose router tries the routes in order.
            shadowed = any(may_meet(earlier, route.path) for earlier in opaque)
            # Middleware must see every request: with any, no route is served by Rust alone.
            spec = _native_route(app, route) if not remaining and not shadowed else None
            if spec is None:
                own_stack = None if layers is None or shadowed else _route_stack.route_app(app, route, layers)
                spec = RouteSpec(
                    path=route.path,
                    methods=sorted(route.methods),
                    asgi=True,
                    asgi_app=own_stack,
                    name=route.name,
                    implicit_head=False,
                )
            specs.append(spec)
        elif isinstance(route, routing.Route) and static_path(route.path):
            # Run by the whole app, whose router tries the routes in order.
            methods = sorted(route.methods or {"GET", "HEAD"})
            specs.append(RouteSpec(path=route.path, methods=methods, asgi=True, name=route.name))
        elif isinstance(route, APIWebSocketRoute | routing.WebSocketRoute):
            continue
        else:
            complete = False
            opaque.append(route)
    return specs, complete


def route_specs(app: FastAPI) -> list[RouteSpec]:
    """The HTTP route table."""
    return _table(app)[0]


def websocket_specs(app: FastAPI) -> list[WebSocketRouteSpec]:
    """WebSocket routes: each is run by the app's ASGI stack without the Rust-run middleware layers
    (its router matches it again)."""
    return [
        WebSocketRouteSpec(path=route.path, asgi=app._covet_asgi_inner())
        for route in app.router.routes
        if isinstance(route, APIWebSocketRoute | routing.WebSocketRoute) and convertors_known(route.path)
    ]


def asgi_all(app: FastAPI) -> bool:
    """Whether every request must go through the whole app: user middleware (after the layers the
    server runs itself, ``covetpy._native_layers``) that must see them all and cannot be copied into
    each route's own stack (``covetpy._route_stack.route_layers``), or an app-wide body limit (it
    answers 413 to any request announcing a body over it, even a 404)."""
    if app.max_body_size is not None:
        return True
    remaining = _native_layers.split(app)[1]
    return bool(remaining) and _route_stack.route_layers(remaining) is None


def asgi_on_miss(app: FastAPI) -> bool:
    """Whether a request no table row matches goes to the ASGI side rather than a Rust 404:
    when the app has routes the table cannot hold, or handles 404/405 itself."""
    from covetpy.exception_handlers import http_exception_handler

    if not _table(app)[1] or _native_layers.split(app)[1]:
        # A miss goes through the app's middleware too (an http middleware sees 404s).
        return True
    if any(
        isinstance(r, APIWebSocketRoute | routing.WebSocketRoute) and not convertors_known(r.path)
        for r in app.routes
    ):
        return True
    handlers = app.exception_handlers
    return handlers.get(HTTPException) is not http_exception_handler or 404 in handlers or 405 in handlers


def redirect_slashes(app: FastAPI) -> bool:
    """Whether a miss whose path with the trailing slash toggled matches is redirected (Starlette's
    rule); Rust checks the toggled path and hands such requests to the ASGI side."""
    return bool(app.router.redirect_slashes)


# --- hooks ----------------------------------------------------------------------------------


def request_from_native(app: FastAPI, native: Any) -> Request:
    """A Starlette Request for a request Rust parsed (the body already read)."""
    body: bytes = native.body
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": native.http_version,
        "method": native.method,
        "scheme": native.scheme,
        "path": native.path,
        "raw_path": native.path.encode("utf-8"),
        "root_path": native.root_path,
        "query_string": native.query_string,
        "headers": native.headers,
        "client": native.client,
        "server": native.server,
        "path_params": native.path_params,
        "state": native.state,
        "app": app,
        "router": app.router,
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    request = Request(scope, receive)
    request._body = body
    return request


def _lookup(app: FastAPI, exc: BaseException) -> Callable[..., Any] | None:
    handlers = app.exception_handlers
    if isinstance(exc, HTTPException) and exc.status_code in handlers:
        return handlers[exc.status_code]
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return handlers.get(500)


def handle_exception(app: FastAPI, request: Request | None, exc: BaseException) -> Any:
    """The app's exception handler's response for ``exc`` (or an awaitable of it); re-raises when
    no handler applies, so the server logs it and answers 500."""
    if isinstance(exc, ResponseValidationError):
        raise exc
    handler = _lookup(app, exc)
    if handler is None:
        raise exc
    # A coroutine handler's awaitable is awaited by the server; a plain one is simply called.
    return _native_layers.outside_layers(app, handler, handler(request, exc))
