"""Routes, routers and the route table the Rust server reads (see CONTRACT.md)."""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import json
import re
import typing
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from covetpy import _typing as t
from covetpy.datastructures import Headers, QueryParams
from covetpy.encoders import jsonable_encoder
from covetpy.exceptions import (
    HTTPException,
    RequestValidationError,
    ResponseValidationError,
    WebSocketRequestValidationError,
)
from covetpy.params import Param
from covetpy.requests import Request
from covetpy.responses import JSONResponse, Response
from covetpy.websockets import WebSocket, WebSocketDisconnect

if t.HAS_PYDANTIC:
    import pydantic
    from pydantic import TypeAdapter
    from pydantic.fields import FieldInfo

Endpoint = Callable[..., Any]
DecoratedCallable = typing.TypeVar("DecoratedCallable", bound=Callable[..., Any])

_PATH_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::([a-zA-Z_][a-zA-Z0-9_]*))?}")
_FACTORY_DEFAULT = object()


class _Undefined:
    def __repr__(self) -> str:
        return "Undefined"


Undefined: Any = _Undefined()


def path_param_names(path: str) -> list[str]:
    return [match.group(1) for match in _PATH_PARAM.finditer(path)]


@dataclass
class ParamSpec:
    """One handler parameter, as the server reads it (CONTRACT.md)."""

    name: str
    source: str
    alias: str
    kind: str = "any"
    is_list: bool = False
    required: bool = True
    default: Any = None
    enum_type: type | None = None
    # Extra, for Python-side validation and OpenAPI:
    annotation: Any = Any
    marker: Param | None = None
    embed: bool = False
    #: Validated in Python (types or constraints the server does not convert); the server passes
    #: the raw value.
    python_validated: bool = False
    default_factory: Callable[[], Any] | None = None
    _adapter: Any = field(default=None, repr=False)

    @property
    def include_in_schema(self) -> bool:
        return self.marker.include_in_schema if self.marker is not None else True

    def field_annotation(self) -> Any:
        """``annotation`` with the marker's constraints attached (for pydantic)."""
        if not t.HAS_PYDANTIC:
            return self.annotation
        marker = self.marker
        kwargs: dict[str, Any] = {}
        if marker is not None:
            kwargs.update(marker.constraints())
            if marker.title is not None:
                kwargs["title"] = marker.title
            if marker.description is not None:
                kwargs["description"] = marker.description
            if marker.examples is not None:
                kwargs["examples"] = marker.examples
            if marker.deprecated:
                kwargs["deprecated"] = True
            if marker.json_schema_extra:
                kwargs["json_schema_extra"] = marker.json_schema_extra
        if not kwargs:
            return self.annotation
        return typing.Annotated[self.annotation, FieldInfo(**kwargs)]

    def adapter(self) -> Any:
        if self._adapter is None:
            self._adapter = TypeAdapter(self.field_annotation())
        return self._adapter


@dataclass
class RouteSpec:
    """One route of the table returned by ``app._covet_routes()`` (CONTRACT.md)."""

    path: str
    methods: list[str]
    endpoint: Endpoint
    is_coroutine: bool
    status_code: int
    response_class: type | None
    params: list[ParamSpec]
    body_params: list[ParamSpec]
    body_validator: Callable[[bytes, str | None], dict[str, object]] | None
    # Extra, for OpenAPI and introspection:
    name: str = ""
    original_endpoint: Endpoint | None = None
    route: APIRoute | None = None


def _is_coroutine_callable(call: Any) -> bool:
    if inspect.iscoroutinefunction(call):
        return True
    if inspect.isclass(call):
        return False
    dunder_call = getattr(call, "__call__", None)  # noqa: B004 - callable objects
    return inspect.iscoroutinefunction(dunder_call)


def _type_hints(call: Any) -> dict[str, Any]:
    target = call
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        target = getattr(call, "__call__", call)  # noqa: B004
    with contextlib.suppress(Exception):
        return typing.get_type_hints(target, include_extras=True)
    # Resolve what can be resolved, one annotation at a time.
    namespace = getattr(target, "__globals__", {})
    hints: dict[str, Any] = {}
    for name, value in getattr(target, "__annotations__", {}).items():
        if isinstance(value, str):
            with contextlib.suppress(Exception):
                # The app's own string annotation, evaluated in its module as get_type_hints does.
                hints[name] = eval(value, namespace)  # noqa: S307
        else:
            hints[name] = value
    return hints


def _marker_from(extras: tuple[Any, ...]) -> Param | None:
    for extra in extras:
        if isinstance(extra, Param):
            return extra
    return None


def _is_request_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Request)


def _is_response_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Response)


def _is_websocket_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, WebSocket)


def _analyze_param(
    param: inspect.Parameter, annotation: Any, path_names: set[str]
) -> ParamSpec:
    base, extras = t.split_annotated(annotation)
    marker = _marker_from(extras)
    default: Any = param.default
    if isinstance(default, Param):
        if marker is not None:
            raise TypeError(
                f"parameter {param.name!r}: give the marker in Annotated or as the default, not both"
            )
        marker = default
        default = marker.default
    elif marker is not None:
        if default is inspect.Parameter.empty:
            default = marker.default
        elif marker.default is not ...:
            raise TypeError(
                f"parameter {param.name!r}: with Annotated, set the default with `=`, not in the marker"
            )
    if default is inspect.Parameter.empty:
        default = ...
    if param.annotation is inspect.Parameter.empty and annotation is Any:
        base = Any

    if marker is None and _is_request_type(base):
        return ParamSpec(
            name=param.name, source="request", alias=param.name, annotation=base
        )
    if marker is None and _is_response_type(base):
        return ParamSpec(
            name=param.name, source="response", alias=param.name, annotation=base
        )
    if marker is None and _is_websocket_type(base):
        return ParamSpec(
            name=param.name, source="websocket", alias=param.name, annotation=base
        )

    if marker is not None:
        source = marker.source
    elif param.name in path_names:
        source = "path"
    elif t.is_complex(base):
        source = "body"
    else:
        source = "query"

    factory = marker.default_factory if marker is not None else None
    required = default is ... and factory is None
    if source == "path":
        required = True
    spec = ParamSpec(
        name=param.name,
        source=source,
        alias=param.name,
        annotation=base,
        marker=marker,
        required=required,
        default=None if default is ... else default,
        default_factory=factory,
    )
    if factory is not None:
        spec.default = _FACTORY_DEFAULT
    if marker is not None and marker.alias:
        spec.alias = marker.alias
    if source == "header" and marker is not None and marker.alias is None:
        convert = getattr(marker, "convert_underscores", True)
        spec.alias = param.name.replace("_", "-") if convert else param.name
    if source == "header":
        spec.alias = spec.alias.lower()
    if source == "body":
        spec.embed = bool(getattr(marker, "embed", False))
        return spec

    # Scalar (or list-of-scalar) parameter: decide what the server converts natively.
    inner = t.strip_optional(base)[0]
    odd_sequence = False
    if t.is_sequence(inner) and source in ("query", "header", "cookie"):
        spec.is_list = True
        # The server gathers a list; sets, tuples and the like are converted in Python.
        odd_sequence = inner is not list and typing.get_origin(inner) is not list
        inner = t.strip_optional(t.split_annotated(t.sequence_item(inner))[0])[0]
    kind = t.scalar_kind(inner)
    constrained = marker is not None and bool(marker.constraints())
    if kind is None or constrained or odd_sequence:
        if t.HAS_PYDANTIC:
            spec.python_validated = True
            spec.kind = "str"
        else:
            spec.kind = "str" if kind is None else kind
    else:
        spec.kind = kind
        if kind == "enum":
            spec.enum_type = inner
    return spec


def _error_list(exc: Any, loc: tuple[Any, ...]) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors(include_url=False):
        error = dict(error)
        error["loc"] = [*loc, *error.get("loc", ())]
        errors.append(error)
    encoded: list[dict[str, Any]] = jsonable_encoder(errors)
    return encoded


def missing_error(loc: Sequence[Any]) -> dict[str, Any]:
    return {"type": "missing", "loc": list(loc), "msg": "Field required", "input": None}


def _is_json_content_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    maintype, _, subtype = media.partition("/")
    return maintype == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _validate_body_value(
    spec: ParamSpec, value: Any, loc: tuple[Any, ...]
) -> tuple[Any, list[dict[str, Any]]]:
    if value is Undefined:
        if spec.required:
            return None, [missing_error(loc)]
        if spec.default_factory is not None:
            return spec.default_factory(), []
        return copy.deepcopy(spec.default), []
    if t.HAS_PYDANTIC:
        try:
            return spec.adapter().validate_python(value, from_attributes=True), []
        except pydantic.ValidationError as exc:
            return None, _error_list(exc, loc)
    # Without pydantic only the container type is checked.
    inner = t.strip_optional(spec.annotation)[0]
    if value is None and inner is not spec.annotation:
        return None, []
    if t.is_mapping(inner) and not isinstance(value, dict):
        return None, [
            {
                "type": "dict_type",
                "loc": list(loc),
                "msg": "Input should be a valid dictionary",
                "input": jsonable_encoder(value),
            }
        ]
    if t.is_sequence(inner) and not isinstance(value, list):
        return None, [
            {
                "type": "list_type",
                "loc": list(loc),
                "msg": "Input should be a valid list",
                "input": jsonable_encoder(value),
            }
        ]
    return value, []


def make_body_validator(
    body_params: list[ParamSpec], *, strict_content_type: bool = True
) -> Callable[[bytes, str | None], dict[str, object]]:
    """Build the ``body_validator`` of CONTRACT.md for ``body_params`` (FastAPI's rules and error shapes)."""
    embed = len(body_params) > 1 or body_params[0].embed

    def body_validator(body: bytes, content_type: str | None) -> dict[str, object]:
        received: Any = Undefined
        if body:
            if content_type:
                is_json = _is_json_content_type(content_type)
            else:
                is_json = not strict_content_type
            if is_json:
                try:
                    received = json.loads(body)
                except json.JSONDecodeError as exc:
                    raise RequestValidationError(
                        [
                            {
                                "type": "json_invalid",
                                "loc": ["body", exc.pos],
                                "msg": "JSON decode error",
                                "input": {},
                                "ctx": {"error": exc.msg},
                            }
                        ],
                        body=exc.doc,
                    ) from None
                except ValueError:  # not UTF-8/16/32
                    raise HTTPException(
                        400, "There was an error parsing the body"
                    ) from None
            else:
                received = body
        if not embed:
            spec = body_params[0]
            value, errors = _validate_body_value(spec, received, ("body",))
            if errors:
                raise RequestValidationError(errors, body=received)
            return {spec.name: value}
        values: dict[str, object] = {}
        all_errors: list[dict[str, Any]] = []
        for spec in body_params:
            loc = ("body", spec.alias)
            item: Any = Undefined
            if received is not Undefined and not isinstance(received, bytes):
                try:
                    item = received.get(spec.alias, Undefined)
                except AttributeError:
                    all_errors.append(missing_error(loc))
                    continue
            value, errors = _validate_body_value(spec, item, loc)
            if errors:
                all_errors.extend(errors)
            else:
                values[spec.name] = value
        if all_errors:
            raise RequestValidationError(all_errors, body=received)
        return values

    return body_validator


class APIRoute:
    """A route as declared (before the app computes the route table)."""

    def __init__(
        self,
        path: str,
        endpoint: Endpoint,
        *,
        methods: Sequence[str] | None = None,
        status_code: int | None = None,
        response_class: type[Response] | None = None,
        response_model: Any = Undefined,
        tags: Sequence[str] | None = None,
        summary: str | None = None,
        description: str | None = None,
        response_description: str = "Successful Response",
        responses: dict[int | str, dict[str, Any]] | None = None,
        deprecated: bool | None = None,
        operation_id: str | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
        response_model_exclude_unset: bool = False,
        response_model_exclude_defaults: bool = False,
        response_model_exclude_none: bool = False,
        response_model_by_alias: bool = True,
        openapi_extra: dict[str, Any] | None = None,
    ) -> None:
        if not path.startswith("/"):
            raise ValueError(f"route paths must start with '/': {path!r}")
        self.path = path
        self.endpoint = endpoint
        self.methods = sorted({m.upper() for m in (methods or ["GET"])})
        self.status_code = status_code
        self.response_class = response_class
        self.response_model = response_model
        self.tags = list(tags or [])
        self.summary = summary
        self.description = description
        self.response_description = response_description
        self.responses = dict(responses or {})
        self.deprecated = deprecated
        self.operation_id = operation_id
        self.name: str = name or str(getattr(endpoint, "__name__", type(endpoint).__name__))
        self.include_in_schema = include_in_schema
        self.response_model_exclude_unset = response_model_exclude_unset
        self.response_model_exclude_defaults = response_model_exclude_defaults
        self.response_model_exclude_none = response_model_exclude_none
        self.response_model_by_alias = response_model_by_alias
        self.openapi_extra = openapi_extra
        self.signature = inspect.signature(endpoint)
        self.hints = _type_hints(endpoint)
        # Analyse now so that mistakes show up at import time.
        self.analyze(path)

    def with_prefix(
        self, prefix: str, tags: Sequence[str] | None, **overrides: Any
    ) -> APIRoute:
        route = copy.copy(self)
        route.path = prefix + self.path
        route.tags = [*(tags or []), *self.tags]
        route.responses = {**overrides.pop("responses", {}), **self.responses}
        for key, value in overrides.items():
            if value is not None and getattr(route, key, None) is None:
                setattr(route, key, value)
        return route

    def analyze(self, path: str) -> list[ParamSpec]:
        names = set(path_param_names(path))
        specs = []
        for param in self.signature.parameters.values():
            if param.kind in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                continue
            annotation = self.hints.get(param.name, Any)
            specs.append(_analyze_param(param, annotation, names))
        for spec in specs:
            if spec.source == "websocket":
                raise TypeError(
                    f"{self.name}: parameter {spec.name!r} is a WebSocket; "
                    "declare the route with @app.websocket()"
                )
        return specs

    def effective_response_model(self) -> Any:
        """The explicit ``response_model``, else the return annotation (None when it is a Response)."""
        if self.response_model is not Undefined:
            return self.response_model
        annotation = self.hints.get("return", None)
        if annotation is None or annotation is type(None):
            return None
        base = t.split_annotated(annotation)[0]
        if _is_response_type(base):
            return None
        if t.is_union(base) and any(
            _is_response_type(arg) for arg in typing.get_args(base)
        ):
            return None
        return annotation

    def operation_id_for(self, method: str) -> str:
        if self.operation_id:
            return self.operation_id
        path = _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", self.path)
        return re.sub(r"\W", "_", f"{self.name}{path}") + f"_{method.lower()}"

    def __repr__(self) -> str:
        return f"APIRoute(path={self.path!r}, methods={self.methods!r}, name={self.name!r})"


def _wrap_endpoint(
    route: APIRoute,
    specs: list[ParamSpec],
    status_code: int,
    response_class: type[Response] | None,
) -> tuple[Endpoint, type[Response] | None]:
    """Add the Python-side steps a route needs around its endpoint, if any:
    validating parameters the server passes raw, default factories, the ``Response`` parameter,
    and ``response_model`` filtering. Returns the endpoint unchanged when nothing is needed."""
    endpoint = route.endpoint
    checked = [s for s in specs if s.python_validated]
    factories = [
        s for s in specs if s.default_factory is not None and s.source != "body"
    ]
    response_params = [s.name for s in specs if s.source == "response"]
    model = route.effective_response_model() if t.HAS_PYDANTIC else None
    explicit_model = (
        route.response_model is not Undefined and route.response_model is not None
    )
    filter_response = model is not None and (explicit_model or t.contains_model(model))
    if not (checked or factories or response_params or filter_response):
        return endpoint, response_class
    adapter = TypeAdapter(model) if filter_response and model is not None else None

    def before(kwargs: dict[str, Any]) -> Response | None:
        errors: list[dict[str, Any]] = []
        for spec in checked:
            value = kwargs.get(spec.name, Undefined)
            if value is Undefined or value is spec.default:
                continue
            try:
                kwargs[spec.name] = spec.adapter().validate_python(value)
            except pydantic.ValidationError as exc:
                errors.extend(_error_list(exc, (spec.source, spec.alias)))
        if errors:
            raise RequestValidationError(errors)
        for spec in factories:
            if kwargs.get(spec.name, Undefined) is _FACTORY_DEFAULT:
                kwargs[spec.name] = spec.default_factory()  # type: ignore[misc]
        sub = None
        if response_params:
            sub = Response()
            sub.raw_headers.clear()
            sub.status_code = None  # type: ignore[assignment]
            for name in response_params:
                kwargs[name] = sub
        return sub

    def after(result: Any, sub: Response | None) -> Any:
        if isinstance(result, Response):
            return result
        if adapter is not None:
            try:
                value = adapter.validate_python(result, from_attributes=True)
            except pydantic.ValidationError as exc:
                raise ResponseValidationError(_error_list(exc, ("response",))) from exc
            result = adapter.dump_python(
                value,
                mode="json",
                by_alias=route.response_model_by_alias,
                exclude_unset=route.response_model_exclude_unset,
                exclude_defaults=route.response_model_exclude_defaults,
                exclude_none=route.response_model_exclude_none,
            )
        if sub is None:
            return result
        cls = response_class or JSONResponse
        code = sub.status_code if sub.status_code is not None else status_code
        content = jsonable_encoder(result) if issubclass(cls, JSONResponse) else result
        response = cls(content, status_code=code)
        names = {name for name, _ in sub.raw_headers}
        response.raw_headers[:] = [
            h for h in response.raw_headers if h[0] not in names
        ] + sub.raw_headers
        return response

    if _is_coroutine_callable(endpoint):

        @functools.wraps(endpoint)
        async def async_wrapper(**kwargs: Any) -> Any:
            sub = before(kwargs)
            return after(await endpoint(**kwargs), sub)

        wrapper: Endpoint = async_wrapper
    else:

        @functools.wraps(endpoint)
        def sync_wrapper(**kwargs: Any) -> Any:
            sub = before(kwargs)
            return after(endpoint(**kwargs), sub)

        wrapper = sync_wrapper
    return wrapper, response_class


def build_route_spec(
    route: APIRoute,
    *,
    default_response_class: type[Response] | None = None,
    strict_content_type: bool = True,
) -> RouteSpec:
    specs = route.analyze(route.path)
    params = [s for s in specs if s.source not in ("body", "response")]
    body_params = [s for s in specs if s.source == "body"]
    status_code = route.status_code if route.status_code is not None else 200
    response_class = route.response_class or default_response_class
    server_class: type[Response] | None = (
        None if response_class is JSONResponse else response_class
    )
    endpoint, server_class = _wrap_endpoint(route, specs, status_code, server_class)
    return RouteSpec(
        path=route.path,
        methods=list(route.methods),
        endpoint=endpoint,
        is_coroutine=_is_coroutine_callable(route.endpoint),
        status_code=status_code,
        response_class=server_class,
        params=params,
        body_params=body_params,
        body_validator=make_body_validator(
            body_params, strict_content_type=strict_content_type
        )
        if body_params
        else None,
        name=route.name,
        original_endpoint=route.endpoint,
        route=route,
    )


# --- WebSocket routes -------------------------------------------------------------------------

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
WebSocketErrorHandler = Callable[[WebSocket, Exception], Awaitable[None]]

_WS_SOURCES = ("path", "query", "header", "cookie", "websocket")


class APIWebSocketRoute:
    """A ``@app.websocket(path)`` route as declared.

    With ``raw=True`` (``add_websocket_route``, Starlette style) the endpoint is called as
    ``endpoint(websocket)`` without parameter analysis."""

    def __init__(
        self,
        path: str,
        endpoint: Endpoint,
        *,
        name: str | None = None,
        raw: bool = False,
    ) -> None:
        if not path.startswith("/"):
            raise ValueError(f"route paths must start with '/': {path!r}")
        self.path = path
        self.endpoint = endpoint
        self.name: str = name or str(getattr(endpoint, "__name__", type(endpoint).__name__))
        self.raw = raw
        if not _is_coroutine_callable(endpoint):
            raise TypeError(
                f"websocket endpoint {self.name!r} must be an async function (async def)"
            )
        self.signature = inspect.signature(endpoint)
        self.hints = _type_hints(endpoint)
        self.analyze(path)

    def with_prefix(self, prefix: str) -> APIWebSocketRoute:
        route = copy.copy(self)
        route.path = prefix + self.path
        return route

    def analyze(self, path: str) -> list[ParamSpec]:
        if self.raw:
            return []
        names = set(path_param_names(path))
        specs = []
        for param in self.signature.parameters.values():
            if param.kind in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                continue
            annotation = self.hints.get(param.name, Any)
            spec = _analyze_param(param, annotation, names)
            if spec.source not in _WS_SOURCES:
                raise TypeError(
                    f"websocket endpoint {self.name!r}: parameter {param.name!r} cannot be "
                    f"a {spec.source} parameter (declare the WebSocket with `websocket: WebSocket` "
                    "and read messages from it)"
                )
            specs.append(spec)
        return specs

    def __repr__(self) -> str:
        return f"APIWebSocketRoute(path={self.path!r}, name={self.name!r})"


@dataclass
class WebSocketRouteSpec:
    """One entry of ``app._covet_websocket_routes()`` (CONTRACT.md)."""

    path: str
    asgi: Callable[[Scope, Receive, Send], Awaitable[None]]
    # Extra, for introspection:
    name: str = ""
    endpoint: Endpoint | None = None
    params: list[ParamSpec] = field(default_factory=list)
    route: APIWebSocketRoute | None = None


def _parse_int(raw: str) -> int | None:
    text = raw.strip()
    digits = text[1:] if text[:1] in ("-", "+") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    return int(text)


_FLOAT_WORDS = re.compile(r"[+-]?(inf|infinity|nan)", re.IGNORECASE)
_FLOAT_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _parse_float(raw: str) -> float | None:
    text = raw.strip()
    if not (_FLOAT_NUMBER.fullmatch(text) or _FLOAT_WORDS.fullmatch(text)):
        return None
    return float(text)


_TRUE = frozenset({"true", "1", "yes", "on", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "off", "f", "n"})


def _enum_expected(enum_type: type) -> str:
    values = [f"'{member.value}'" for member in enum_type]  # type: ignore[attr-defined]
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " or " + values[-1]


def _convert_scalar(
    spec: ParamSpec, raw: str, loc: list[Any]
) -> tuple[Any, dict[str, Any] | None]:
    """One raw string converted by the spec's ``kind``, as the server converts HTTP parameters."""

    def error(kind: str, msg: str, **ctx: str) -> tuple[Any, dict[str, Any]]:
        err: dict[str, Any] = {"type": kind, "loc": loc, "msg": msg, "input": raw}
        if ctx:
            err["ctx"] = ctx
        return None, err

    kind = spec.kind
    if kind == "int":
        number = _parse_int(raw)
        if number is None:
            return error(
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
            )
        return number, None
    if kind == "float":
        real = _parse_float(raw)
        if real is None:
            return error(
                "float_parsing",
                "Input should be a valid number, unable to parse string as a number",
            )
        return real, None
    if kind == "bool":
        word = raw.strip().lower()
        if word in _TRUE:
            return True, None
        if word in _FALSE:
            return False, None
        return error(
            "bool_parsing", "Input should be a valid boolean, unable to interpret input"
        )
    if kind == "uuid":
        try:
            return uuid.UUID(raw), None
        except ValueError:
            detail = "invalid input"
            if t.HAS_PYDANTIC:
                try:
                    return TypeAdapter(uuid.UUID).validate_python(raw), None
                except pydantic.ValidationError as exc:
                    detail = str(exc.errors()[0].get("ctx", {}).get("error", detail))
            return error(
                "uuid_parsing", f"Input should be a valid UUID, {detail}", error=detail
            )
    if kind == "enum" and spec.enum_type is not None:
        enum_type = spec.enum_type
        for member in enum_type:  # type: ignore[attr-defined]
            if member.value == raw:
                return member, None
        expected = _enum_expected(enum_type)
        return error("enum", f"Input should be {expected}", expected=expected)
    return raw, None


def convert_websocket_params(
    specs: Sequence[ParamSpec],
    *,
    path_params: Mapping[str, Any],
    query_params: QueryParams,
    headers: Headers,
    cookies: Mapping[str, str],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Keyword arguments for a WebSocket endpoint from the handshake, with the server's conversion
    rules and FastAPI's error shapes (as for HTTP routes). Returns ``(values, errors)``."""
    values: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for spec in specs:
        if spec.source == "websocket":
            continue
        raws: list[str]
        if spec.source == "path":
            raws = [str(path_params[spec.alias])] if spec.alias in path_params else []
        elif spec.source == "query":
            raws = query_params.getlist(spec.alias)
        elif spec.source == "header":
            raws = headers.getlist(spec.alias)
        else:
            raws = [cookies[spec.alias]] if spec.alias in cookies else []
        loc: list[Any] = [spec.source, spec.alias]
        if not raws:
            if spec.required:
                errors.append(missing_error(loc))
            elif spec.default_factory is not None:
                values[spec.name] = spec.default_factory()
            else:
                values[spec.name] = copy.deepcopy(spec.default)
            continue
        if spec.python_validated:
            raw_value: Any = raws if spec.is_list else raws[-1]
            try:
                values[spec.name] = spec.adapter().validate_python(raw_value)
            except pydantic.ValidationError as exc:
                errors.extend(_error_list(exc, (spec.source, spec.alias)))
            continue
        if spec.is_list:
            items = []
            failed = False
            for index, raw in enumerate(raws):
                value, err = _convert_scalar(spec, raw, [*loc, index])
                if err is not None:
                    errors.append(err)
                    failed = True
                items.append(value)
            if not failed:
                values[spec.name] = items
            continue
        value, err = _convert_scalar(spec, raws[-1], loc)
        if err is not None:
            errors.append(err)
        else:
            values[spec.name] = value
    return values, errors


_CONVERTORS: dict[str, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "uuid": uuid.UUID,
}


def _typed_path_params(path: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """``websocket.path_params``: the raw values, with ``{x:int}``-style convertors applied."""
    params = dict(raw)
    for match in _PATH_PARAM.finditer(path):
        name, convertor = match.group(1), match.group(2)
        convert = _CONVERTORS.get(convertor or "")
        if convert is not None and isinstance(params.get(name), str):
            with contextlib.suppress(ValueError):
                params[name] = convert(params[name])
    return params


def _close_reason(errors: list[dict[str, Any]]) -> str:
    """The validation errors as a close reason (a close frame holds at most 123 bytes of reason)."""
    text = json.dumps(
        jsonable_encoder(errors), separators=(",", ":"), ensure_ascii=False
    )
    data = text.encode("utf-8")
    if len(data) <= 123:
        return text
    return data[:120].decode("utf-8", errors="ignore") + "..."


async def default_websocket_validation_handler(
    websocket: WebSocket, exc: WebSocketRequestValidationError
) -> None:
    """FastAPI's default: close with 1008 (policy violation); before accept() that refuses the
    handshake."""
    await websocket.close(code=1008, reason=_close_reason(exc.errors()))


def build_websocket_route_spec(
    route: APIWebSocketRoute,
    *,
    app: Any = None,
    on_error: WebSocketErrorHandler | None = None,
) -> WebSocketRouteSpec:
    """The ASGI app for one WebSocket route: build the ``WebSocket``, convert the parameters
    (closing with 1008 when they are invalid), call the endpoint. ``WebSocketDisconnect`` from the
    endpoint ends the connection quietly; other exceptions go to ``on_error``, which re-raises the
    ones it does not handle (the server then closes with 1011, or answers 500 before accept)."""
    specs = route.analyze(route.path)
    socket_names = [spec.name for spec in specs if spec.source == "websocket"]
    endpoint = route.endpoint
    path = route.path
    raw = route.raw

    async def handle(websocket: WebSocket, exc: Exception) -> None:
        if on_error is not None:
            await on_error(websocket, exc)
        elif isinstance(exc, WebSocketRequestValidationError):
            await default_websocket_validation_handler(websocket, exc)
        else:
            raise exc

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if app is not None:
            scope.setdefault("app", app)
        websocket = WebSocket(scope, receive, send)
        websocket.path_params = _typed_path_params(path, scope.get("path_params") or {})
        try:
            if raw:
                await endpoint(websocket)
                return
            values, errors = convert_websocket_params(
                specs,
                path_params=scope.get("path_params") or {},
                query_params=websocket.query_params,
                headers=websocket.headers,
                cookies=websocket.cookies,
            )
            if errors:
                raise WebSocketRequestValidationError(errors)
            for name in socket_names:
                values[name] = websocket
            await endpoint(**values)
        except WebSocketDisconnect:
            return
        except Exception as exc:  # noqa: BLE001 - unhandled ones are re-raised
            await handle(websocket, exc)

    return WebSocketRouteSpec(
        path=path,
        asgi=asgi,
        name=route.name,
        endpoint=endpoint,
        params=specs,
        route=route,
    )


class APIRouter:
    """A group of routes with a common prefix and tags, included into an app with ``include_router``."""

    def __init__(
        self,
        *,
        prefix: str = "",
        tags: Sequence[str] | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
        default_response_class: type[Response] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError("a router prefix must start with '/' and not end with '/'")
        self.prefix = prefix
        self.tags = list(tags or [])
        self.responses = dict(responses or {})
        self.default_response_class = default_response_class
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.routes: list[APIRoute | APIWebSocketRoute] = []

    def add_api_route(self, path: str, endpoint: Endpoint, **kwargs: Any) -> APIRoute:
        kwargs["tags"] = [*self.tags, *(kwargs.get("tags") or [])]
        kwargs["responses"] = {**self.responses, **(kwargs.get("responses") or {})}
        if (
            kwargs.get("response_class") is None
            and self.default_response_class is not None
        ):
            kwargs["response_class"] = self.default_response_class
        if kwargs.get("deprecated") is None and self.deprecated is not None:
            kwargs["deprecated"] = self.deprecated
        if not self.include_in_schema:
            kwargs["include_in_schema"] = False
        route = APIRoute(self.prefix + path, endpoint, **kwargs)
        self.routes.append(route)
        return route

    def api_route(
        self, path: str, *, methods: Sequence[str] | None = None, **kwargs: Any
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        def decorator(func: DecoratedCallable) -> DecoratedCallable:
            self.add_api_route(path, func, methods=methods, **kwargs)
            return func

        return decorator

    def _method(
        self, method: str, path: str, kwargs: dict[str, Any]
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        return self.api_route(path, methods=[method], **kwargs)

    def get(
        self, path: str, **kwargs: Any
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        return self._method("GET", path, kwargs)

    def post(
        self, path: str, **kwargs: Any
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        return self._method("POST", path, kwargs)

    def put(
        self, path: str, **kwargs: Any
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        return self._method("PUT", path, kwargs)

    def patch(
        self, path: str, **kwargs: Any
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        return self._method("PATCH", path, kwargs)

    def delete(
        self, path: str, **kwargs: Any
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        return self._method("DELETE", path, kwargs)

    def options(
        self, path: str, **kwargs: Any
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        return self._method("OPTIONS", path, kwargs)

    def head(
        self, path: str, **kwargs: Any
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        return self._method("HEAD", path, kwargs)

    def add_api_websocket_route(
        self, path: str, endpoint: Endpoint, *, name: str | None = None
    ) -> APIWebSocketRoute:
        """Add a WebSocket route; ``endpoint`` is an ``async def`` taking a ``WebSocket`` parameter
        and path/query/header/cookie parameters like an HTTP endpoint."""
        route = APIWebSocketRoute(self.prefix + path, endpoint, name=name)
        self.routes.append(route)
        return route

    def websocket(
        self, path: str, *, name: str | None = None
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a WebSocket endpoint (FastAPI's ``@app.websocket("/ws")``)."""

        def decorator(func: DecoratedCallable) -> DecoratedCallable:
            self.add_api_websocket_route(path, func, name=name)
            return func

        return decorator

    def add_websocket_route(
        self, path: str, endpoint: Endpoint, name: str | None = None
    ) -> APIWebSocketRoute:
        """Starlette style: ``endpoint(websocket)`` is called with the WebSocket only."""
        route = APIWebSocketRoute(self.prefix + path, endpoint, name=name, raw=True)
        self.routes.append(route)
        return route

    def websocket_route(
        self, path: str, name: str | None = None
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        def decorator(func: DecoratedCallable) -> DecoratedCallable:
            self.add_websocket_route(path, func, name=name)
            return func

        return decorator

    def include_router(
        self,
        router: APIRouter,
        *,
        prefix: str = "",
        tags: Sequence[str] | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
        default_response_class: type[Response] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ValueError("a prefix must start with '/' and not end with '/'")
        if router is self:
            raise ValueError("a router cannot include itself")
        for route in router.routes:
            if isinstance(route, APIWebSocketRoute):
                ws_included = route.with_prefix(self.prefix + prefix)
                ws_included.analyze(ws_included.path)
                self.routes.append(ws_included)
                continue
            included = route.with_prefix(
                self.prefix + prefix,
                [*self.tags, *(tags or [])],
                responses={**self.responses, **(responses or {})},
                response_class=default_response_class or self.default_response_class,
                deprecated=deprecated if deprecated is not None else self.deprecated,
            )
            if not include_in_schema or not self.include_in_schema:
                included.include_in_schema = False
            included.analyze(included.path)
            self.routes.append(included)
