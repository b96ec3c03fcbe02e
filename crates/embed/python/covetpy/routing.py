"""Path operations and routers: ``APIRoute``, ``APIWebSocketRoute`` and ``APIRouter``, on Starlette's
routing. Each route builds its dependency graph once, when it is declared; a request runs the
graph, the endpoint, and the response model."""

from __future__ import annotations

import email.message
import enum
import functools
import inspect
import json
import re
import warnings
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Coroutine,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar, cast

import anyio
from pydantic import PydanticSchemaGenerationError
from starlette import routing
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Match, compile_path, get_name
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send
from starlette.websockets import WebSocket

from covetpy import params
from covetpy._body_limit import (
    FormLimits,
    body_limit_error,
    first_limit,
    merge_form_limits,
    validate_form_limits,
    validate_max_body_size,
    with_body_limit,
)
from covetpy._fields import ModelField, lenient_issubclass
from covetpy._multipart import read_form
from covetpy.datastructures import Default, DefaultPlaceholder
from covetpy.dependencies.models import Dependant, is_async_gen_callable, is_gen_callable
from covetpy.dependencies.utils import (
    Undefined,
    get_body_field,
    get_dependant,
    get_flat_dependant,
    get_parameterless_sub_dependant,
    get_typed_return_annotation,
    should_embed_body_fields,
    solve_dependencies,
)
from covetpy.encoders import jsonable_encoder
from covetpy.exceptions import (
    FastAPIError,
    RequestValidationError,
    ResponseValidationError,
    WebSocketRequestValidationError,
)
from covetpy.sse import KEEPALIVE_COMMENT, EventSourceResponse, ServerSentEvent, format_sse_event

DecoratedCallable = TypeVar("DecoratedCallable", bound=Callable[..., Any])
_T = TypeVar("_T")

#: Status codes whose responses carry no body.
_NO_BODY_STATUS = {204, 205, 304}


def is_body_allowed_for_status_code(status_code: int | str | None) -> bool:
    """Whether a response with this status (or OpenAPI range like "2XX") may have a body."""
    if status_code is None:
        return True
    if status_code in {"default", "1XX", "2XX", "3XX", "4XX", "5XX"}:
        return True
    code = int(status_code)
    return not (code < 200 or code in _NO_BODY_STATUS)


def generate_unique_id(route: APIRoute) -> str:
    """The default ``operationId``: name, path and first method, as FastAPI builds it."""
    operation_id = re.sub(r"\W", "_", f"{route.name}{route.path_format}")
    return f"{operation_id}_{next(iter(route.methods)).lower()}"


#: The defaults of route options, as placeholders so that a value set explicitly can be told apart.
DEFAULT_JSON_RESPONSE: Any = Default(JSONResponse)
DEFAULT_UNIQUE_ID: Any = Default(generate_unique_id)
DEFAULT_STRICT_CONTENT_TYPE: Any = Default(True)
DEFAULT_RESPONSE_MODEL: Any = Default(None)


def _value_or_default(first: Any, *others: Any) -> Any:
    """The first of the values that is not a ``Default(...)`` placeholder, else the first's value."""
    items = (first, *others)
    for item in items:
        if not isinstance(item, DefaultPlaceholder):
            return item
    return first


def _unwrap_default(value: Any) -> Any:
    return value.value if isinstance(value, DefaultPlaceholder) else value


# --- ASGI adapters ------------------------------------------------------------------------------


def request_response(func: Callable[[Request], Awaitable[Response]]) -> ASGIApp:
    """An ASGI app calling ``func(request)``, with the two exit stacks yield dependencies use:
    ``scope="function"`` ones close before the response is sent, the others after."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)

        async def inner(scope: Scope, receive: Receive, send: Send) -> None:
            awaited = False
            async with AsyncExitStack() as request_stack:
                scope["fastapi_inner_astack"] = request_stack
                async with AsyncExitStack() as function_stack:
                    scope["fastapi_function_astack"] = function_stack
                    response = await func(request)
                await response(scope, receive, send)
                awaited = True
            if not awaited:
                raise FastAPIError(
                    "Response not awaited: the application code is raising an exception and a dependency "
                    "with yield caught it (a bare except, or except Exception) without raising it again."
                )

        await wrap_app_handling_exceptions(inner, request)(scope, receive, send)

    return app


def websocket_session(func: Callable[[WebSocket], Awaitable[None]]) -> ASGIApp:
    """An ASGI app calling ``func(websocket)`` with the dependency exit stacks."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        session = WebSocket(scope, receive=receive, send=send)

        async def inner(scope: Scope, receive: Receive, send: Send) -> None:
            async with AsyncExitStack() as request_stack:
                scope["fastapi_inner_astack"] = request_stack
                async with AsyncExitStack() as function_stack:
                    scope["fastapi_function_astack"] = function_stack
                    await func(session)

        await wrap_app_handling_exceptions(inner, session)(scope, receive, send)

    return app


# --- request handling ---------------------------------------------------------------------------


def _is_json_media(content_type: str) -> bool:
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


#: Where routers leave the form limits they set for the routes below them (FastAPI's scope keys).
_FASTAPI_SCOPE_KEY = "fastapi"
_FORM_LIMITS_KEY = "form_limits"


def _scope_form_limits(scope: Scope) -> FormLimits:
    found = scope.get(_FASTAPI_SCOPE_KEY, {})
    return cast(FormLimits, found.get(_FORM_LIMITS_KEY, {})) if isinstance(found, dict) else {}


def _apply_router_form_limits(scope: Scope, limits: FormLimits) -> None:
    """Record a router's form limits for the request, over those of the routers outside it."""
    if limits and scope["type"] == "http":
        fastapi_scope = scope.setdefault(_FASTAPI_SCOPE_KEY, {})
        fastapi_scope[_FORM_LIMITS_KEY] = merge_form_limits(_scope_form_limits(scope), limits)


async def read_body(
    request: Request,
    body_field: ModelField | None,
    strict_content_type: bool,
    form_limits: FormLimits | None = None,
) -> Any:
    """The parsed body: FormData for forms, the decoded JSON for JSON bodies, else the raw bytes
    (``Undefined`` when there is none). Malformed JSON is a 422; an unreadable body a 400; a body
    over its ``max_body_size`` a 413."""
    if body_field is None:
        return Undefined
    try:
        if isinstance(body_field.field_info, params.Form):
            limits = merge_form_limits(_scope_form_limits(request.scope), form_limits)
            form = await read_form(request, limits)
            stack = request.scope.get("fastapi_inner_astack")
            if isinstance(stack, AsyncExitStack):
                stack.push_async_callback(form.close)
            return form
        raw = await request.body()
        if not raw:
            return Undefined
        content_type = request.headers.get("content-type")
        if (not content_type and not strict_content_type) or (content_type and _is_json_media(content_type)):
            return await request.json()
        return raw
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
        ) from exc
    except HTTPException:
        raise
    except Exception as exc:
        if MAX_BODY_SIZE_SCOPE_KEY in request.scope and (error := body_limit_error(exc)):
            raise error from exc
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc


def _response_args(status_code: int | None, solved_response: Response, background: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"background": background}
    if status_code is not None:
        args["status_code"] = status_code
    if solved_response.status_code:
        args["status_code"] = solved_response.status_code
    return args


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if data == data and data not in (float("inf"), float("-inf")) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    return data


@functools.lru_cache(maxsize=1)
def _dump_options_keys() -> tuple[str, ...]:
    return ("include", "exclude", "by_alias", "exclude_unset", "exclude_defaults", "exclude_none")


class _Serializer:
    """Turns return values into JSON-ready content (through the response model when there is one)."""

    def __init__(self, route: APIRoute) -> None:
        self.field = route.response_field
        self.options = {
            "include": route.response_model_include,
            "exclude": route.response_model_exclude,
            "by_alias": route.response_model_by_alias,
            "exclude_unset": route.response_model_exclude_unset,
            "exclude_defaults": route.response_model_exclude_defaults,
            "exclude_none": route.response_model_exclude_none,
        }

    def content(self, value: Any) -> Any:
        if self.field is None:
            return jsonable_encoder(value)
        validated, errors = self.field.validate(value, {}, loc=("response",))
        if errors:
            raise ResponseValidationError(errors, body=value)
        return self.field.serialize(validated, mode="json", **self.options)

    def item_json(self, item: Any, item_field: ModelField | None) -> bytes:
        if item_field is not None:
            validated, errors = item_field.validate(item, {}, loc=("response",))
            if errors:
                raise ResponseValidationError(errors, body=item)
            return item_field.serialize_json(validated, **self.options)
        return json.dumps(_finite(jsonable_encoder(item))).encode("utf-8")


def _sse_bytes(item: Any, serializer: _Serializer, item_field: ModelField | None) -> bytes:
    if isinstance(item, ServerSentEvent):
        data: str | None
        if item.raw_data is not None:
            data = item.raw_data
        elif item.data is not None:
            if hasattr(item.data, "model_dump_json"):
                data = item.data.model_dump_json()
            else:
                data = json.dumps(_finite(jsonable_encoder(item.data)))
        else:
            data = None
        return format_sse_event(
            data_str=data, event=item.event, id=item.id, retry=item.retry, comment=item.comment
        )
    return format_sse_event(data_str=serializer.item_json(item, item_field).decode("utf-8"))


async def _with_keepalive(items: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    from covetpy import sse

    send, receive = anyio.create_memory_object_stream[bytes](max_buffer_size=1)

    async def produce() -> None:
        async with send:
            async for chunk in items:
                await send.send(chunk)

    async with anyio.create_task_group() as tg:
        tg.start_soon(produce)
        async with receive:
            while True:
                try:
                    with anyio.fail_after(sse.PING_INTERVAL):
                        chunk = await receive.receive()
                except TimeoutError:
                    yield KEEPALIVE_COMMENT
                    continue
                except anyio.EndOfStream:
                    break
                yield chunk
        tg.cancel_scope.cancel()


def _aiter(call_result: Any, is_async: bool) -> AsyncIterator[Any]:
    if is_async:
        return cast(AsyncIterator[Any], call_result)
    return iterate_in_threadpool(cast(Iterator[Any], call_result))


def get_request_handler(route: APIRoute) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """The function that answers one request for ``route``."""
    dependant = route.dependant
    call = cast(Callable[..., Any], dependant.call)
    is_coroutine = dependant.is_coroutine_callable
    is_stream = is_gen_callable(call) or is_async_gen_callable(call)
    is_async_stream = is_async_gen_callable(call)
    response_class = _unwrap_default(route.response_class)
    is_sse = lenient_issubclass(response_class, EventSourceResponse)
    is_jsonl = is_stream and isinstance(route.response_class, DefaultPlaceholder)
    strict = bool(_unwrap_default(route.strict_content_type))
    serializer = _Serializer(route)

    async def app(request: Request) -> Response:
        form_limits = merge_form_limits(route._include_form_limits, route.form_limits)
        body = await read_body(request, route.body_field, strict, form_limits)
        solved = await solve_dependencies(
            request=request,
            dependant=dependant,
            body=body,
            dependency_overrides_provider=route.dependency_overrides_provider,
            embed_body_fields=route._embed_body_fields,
        )
        if solved.errors:
            raise RequestValidationError(solved.errors, body=body)
        response: Response
        if is_stream:
            args = _response_args(route.status_code, solved.response, solved.background_tasks)
            produced = _aiter(call(**solved.values), is_async_stream)
            if is_sse:

                async def events() -> AsyncIterator[bytes]:
                    async for item in produced:
                        yield _sse_bytes(item, serializer, route.stream_item_field)

                response = StreamingResponse(
                    _with_keepalive(events()), media_type="text/event-stream", **args
                )
                response.headers["Cache-Control"] = "no-cache"
                response.headers["X-Accel-Buffering"] = "no"
            elif is_jsonl:

                async def lines() -> AsyncIterator[bytes]:
                    async for item in produced:
                        yield serializer.item_json(item, route.stream_item_field) + b"\n"

                response = StreamingResponse(lines(), media_type="application/jsonl", **args)
            else:
                response = response_class(content=produced, **args)
            response.headers.raw.extend(solved.response.headers.raw)
            return response
        if is_coroutine:
            raw = await call(**solved.values)
        else:
            raw = await run_in_threadpool(call, **solved.values)
        if isinstance(raw, Response):
            if raw.background is None:
                raw.background = solved.background_tasks
            return raw
        if is_coroutine:
            content = serializer.content(raw)
        else:
            content = await run_in_threadpool(serializer.content, raw)
        # After the call: the endpoint may have set the status on its Response parameter.
        args = _response_args(route.status_code, solved.response, solved.background_tasks)
        response = response_class(content, **args)
        if not is_body_allowed_for_status_code(response.status_code):
            response.body = b""
        response.headers.raw.extend(solved.response.headers.raw)
        return response

    return app


def get_websocket_app(
    dependant: Dependant, dependency_overrides_provider: Any | None, embed_body_fields: bool
) -> Callable[[WebSocket], Coroutine[Any, Any, Any]]:
    """The function that runs one WebSocket session."""

    async def app(websocket: WebSocket) -> None:
        solved = await solve_dependencies(
            request=websocket,
            dependant=dependant,
            dependency_overrides_provider=dependency_overrides_provider,
            embed_body_fields=embed_body_fields,
        )
        if solved.errors:
            raise WebSocketRequestValidationError(solved.errors)
        await cast("Callable[..., Awaitable[Any]]", dependant.call)(**solved.values)

    return app


# --- routes -------------------------------------------------------------------------------------


def _stream_item_annotation(return_annotation: Any) -> Any:
    import collections.abc as abc
    import typing

    origin = typing.get_origin(return_annotation)
    if origin in (
        abc.AsyncIterator,
        abc.AsyncIterable,
        abc.AsyncGenerator,
        abc.Iterator,
        abc.Iterable,
        abc.Generator,
    ):
        args = typing.get_args(return_annotation)
        return args[0] if args else None
    return None


def _response_field(name: str, annotation: Any) -> ModelField:
    from pydantic.fields import FieldInfo

    field = ModelField(
        field_info=FieldInfo(annotation=annotation), name=name, annotation=annotation, mode="serialization"
    )
    try:
        field.json_schema_adapter()
    except PydanticSchemaGenerationError as exc:
        raise FastAPIError(
            f"Invalid args for response field! Hint: check that {annotation} is a valid Pydantic field "
            "type. If you are using a return type annotation that is not a valid Pydantic field (e.g. "
            "Union[Response, dict, None]) you can disable generating the response model from the type "
            "annotation with the path operation decorator parameter response_model=None."
        ) from exc
    return field


class APIRoute(routing.Route):
    """A path operation: the endpoint with its dependency graph, response model and OpenAPI data."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        response_model: Any = DEFAULT_RESPONSE_MODEL,
        status_code: int | None = None,
        tags: list[str | enum.Enum] | None = None,
        dependencies: Sequence[params.Depends] | None = None,
        summary: str | None = None,
        description: str | None = None,
        response_description: str = "Successful Response",
        responses: dict[int | str, dict[str, Any]] | None = None,
        deprecated: bool | None = None,
        name: str | None = None,
        methods: set[str] | list[str] | None = None,
        operation_id: str | None = None,
        response_model_include: Any = None,
        response_model_exclude: Any = None,
        response_model_by_alias: bool = True,
        response_model_exclude_unset: bool = False,
        response_model_exclude_defaults: bool = False,
        response_model_exclude_none: bool = False,
        include_in_schema: bool = True,
        response_class: type[Response] | DefaultPlaceholder = DEFAULT_JSON_RESPONSE,
        dependency_overrides_provider: Any | None = None,
        callbacks: list[BaseRoute] | None = None,
        openapi_extra: dict[str, Any] | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] | DefaultPlaceholder = DEFAULT_UNIQUE_ID,
        strict_content_type: bool | DefaultPlaceholder = DEFAULT_STRICT_CONTENT_TYPE,
        max_body_size: int | None = None,
        form_limits: FormLimits | None = None,
    ) -> None:
        validate_max_body_size(max_body_size)
        #: The largest request body this path operation reads (None: no limit of its own).
        self.max_body_size = max_body_size
        #: Its own form parsing limits, over those of the routers it is in.
        self.form_limits = validate_form_limits(form_limits)
        #: The form limits of the routers it was added to and copied through, outermost first.
        self._include_form_limits: FormLimits = {}
        self.path = path
        self.endpoint = endpoint
        return_annotation = get_typed_return_annotation(endpoint)
        self.stream_item_annotation = _stream_item_annotation(return_annotation)
        if isinstance(response_model, DefaultPlaceholder):
            if lenient_issubclass(return_annotation, Response) or self.stream_item_annotation is not None:
                response_model = None
            else:
                response_model = return_annotation
        self.response_model = response_model
        self.summary = summary
        self.response_description = response_description
        self.deprecated = deprecated
        self.operation_id = operation_id
        self.response_model_include = response_model_include
        self.response_model_exclude = response_model_exclude
        self.response_model_by_alias = response_model_by_alias
        self.response_model_exclude_unset = response_model_exclude_unset
        self.response_model_exclude_defaults = response_model_exclude_defaults
        self.response_model_exclude_none = response_model_exclude_none
        self.include_in_schema = include_in_schema
        self.response_class = response_class
        self.dependency_overrides_provider = dependency_overrides_provider
        self.callbacks = callbacks
        self.openapi_extra = openapi_extra
        self.generate_unique_id_function = generate_unique_id_function
        self.strict_content_type = strict_content_type
        self.tags = tags or []
        self.responses = responses or {}
        self.name = get_name(endpoint) if name is None else name
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)
        self.methods: set[str] = {m.upper() for m in (methods or ["GET"])}
        self.unique_id = self.operation_id or _unwrap_default(generate_unique_id_function)(self)
        if isinstance(status_code, enum.IntEnum):
            status_code = int(status_code)
        self.status_code = status_code
        self.response_field: ModelField | None = None
        if self.response_model:
            if not is_body_allowed_for_status_code(status_code):
                raise AssertionError(f"Status code {status_code} must not have a response body")
            self.response_field = _response_field("Response_" + self.unique_id, self.response_model)
        self.stream_item_field: ModelField | None = None
        if (
            self.stream_item_annotation is not None
            and self.stream_item_annotation is not Any
            and not lenient_issubclass(self.stream_item_annotation, ServerSentEvent)
        ):
            self.stream_item_field = _response_field(
                "StreamItem_" + self.unique_id, self.stream_item_annotation
            )
        self.dependencies = list(dependencies or [])
        self.description = description
        if self.description is None:
            self.description = inspect.cleandoc(self.endpoint.__doc__ or "")
        # A form feed ends what OpenAPI shows of the docstring.
        self.description = self.description.split("\f")[0].strip()
        self.response_fields: dict[int | str, ModelField] = {}
        for code, response in self.responses.items():
            if not isinstance(response, dict):
                raise AssertionError("An additional response must be a dict")
            model = response.get("model")
            if model:
                if not is_body_allowed_for_status_code(code):
                    raise AssertionError(f"Status code {code} must not have a response body")
                self.response_fields[code] = _response_field(f"Response_{code}_{self.unique_id}", model)
        self.dependant = get_dependant(path=self.path_format, call=self.endpoint, scope="function")
        for depends in self.dependencies[::-1]:
            self.dependant.dependencies.insert(
                0, get_parameterless_sub_dependant(depends=depends, path=self.path_format)
            )
        self._flat_dependant = get_flat_dependant(self.dependant)
        self._embed_body_fields = should_embed_body_fields(self._flat_dependant.body_params)
        self.body_field = get_body_field(
            flat_dependant=self._flat_dependant,
            name=self.unique_id,
            embed_body_fields=self._embed_body_fields,
        )
        self.app = with_body_limit(request_response(self.get_route_handler()), max_body_size)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The request handler; override it in a ``route_class`` to customise request handling."""
        return get_request_handler(self)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


class APIWebSocketRoute(routing.WebSocketRoute):
    """A WebSocket endpoint with dependency injection."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        name: str | None = None,
        dependencies: Sequence[params.Depends] | None = None,
        dependency_overrides_provider: Any | None = None,
    ) -> None:
        self.path = path
        self.endpoint = endpoint
        self.name = get_name(endpoint) if name is None else name
        self.dependencies = list(dependencies or [])
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)
        self.dependant = get_dependant(path=self.path_format, call=self.endpoint, scope="function")
        for depends in self.dependencies[::-1]:
            self.dependant.dependencies.insert(
                0, get_parameterless_sub_dependant(depends=depends, path=self.path_format)
            )
        self._flat_dependant = get_flat_dependant(self.dependant)
        self._embed_body_fields = should_embed_body_fields(self._flat_dependant.body_params)
        self.app = websocket_session(
            get_websocket_app(self.dependant, dependency_overrides_provider, self._embed_body_fields)
        )

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


class _RouterLifespan:
    """The router's lifespan: ``on_startup`` handlers, then its own and its included routers'
    lifespans nested (their states merged), then ``on_shutdown`` handlers."""

    def __init__(self, router: APIRouter) -> None:
        self.router = router

    @asynccontextmanager
    async def __call__(self, app: Any) -> AsyncIterator[Mapping[str, Any] | None]:
        for handler in self.router.on_startup:
            result = handler()
            if inspect.isawaitable(result):
                await result
        async with AsyncExitStack() as stack:
            state: dict[str, Any] = {}
            for lifespan in self.router.lifespans:
                got = await stack.enter_async_context(cast(AbstractAsyncContextManager[Any], lifespan(app)))
                if got:
                    state.update(got)
            yield state or None
        for handler in self.router.on_shutdown:
            result = handler()
            if inspect.isawaitable(result):
                await result


def deprecated_on_event(
    router: APIRouter, event_type: str
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """``on_event``, for routers and apps alike: warns at the caller of their ``on_event`` and
    returns the decorator registering the handler on ``router``."""
    warnings.warn(
        "on_event is deprecated, use lifespan event handlers instead "
        "(https://fastapi.tiangolo.com/advanced/events/).",
        DeprecationWarning,
        stacklevel=3,
    )

    def decorator(func: DecoratedCallable) -> DecoratedCallable:
        router.add_event_handler(event_type, func)
        return func

    return decorator


class APIRouter(routing.Router):
    """A group of path operations with shared prefix, tags, dependencies and responses; include it
    in an app (or another router) with ``include_router``."""

    def __init__(
        self,
        *,
        prefix: str = "",
        tags: list[str | enum.Enum] | None = None,
        dependencies: Sequence[params.Depends] | None = None,
        default_response_class: type[Response] = DEFAULT_JSON_RESPONSE,
        responses: dict[int | str, dict[str, Any]] | None = None,
        callbacks: list[BaseRoute] | None = None,
        routes: list[BaseRoute] | None = None,
        redirect_slashes: bool = True,
        default: ASGIApp | None = None,
        dependency_overrides_provider: Any | None = None,
        route_class: type[APIRoute] = APIRoute,
        on_startup: Sequence[Callable[[], Any]] | None = None,
        on_shutdown: Sequence[Callable[[], Any]] | None = None,
        lifespan: Lifespan[Any] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        generate_unique_id_function: Callable[[APIRoute], str] = DEFAULT_UNIQUE_ID,
        strict_content_type: bool = DEFAULT_STRICT_CONTENT_TYPE,
        max_body_size: int | None = None,
        form_limits: FormLimits | None = None,
    ) -> None:
        validate_max_body_size(max_body_size)
        super().__init__(
            routes=routes,
            redirect_slashes=redirect_slashes,
            default=default,
            lifespan=lifespan,
            # Also limits what no route answers (a 404 or 405 still reads no more than this).
            middleware=[Middleware(with_body_limit, max_body_size=max_body_size)]
            if max_body_size is not None
            else None,
        )
        #: The largest request body of its path operations, unless they set their own.
        self.max_body_size = max_body_size
        #: Form parsing limits of its path operations (each key unless they set it).
        self.form_limits = validate_form_limits(form_limits)
        self.on_startup: list[Callable[[], Any]] = list(on_startup or [])
        self.on_shutdown: list[Callable[[], Any]] = list(on_shutdown or [])
        #: The lifespan context managers this router runs (its own, then included routers').
        self.lifespans: list[Lifespan[Any]] = [] if lifespan is None else [self.lifespan_context]
        self.lifespan_context = cast(Any, _RouterLifespan(self))
        if prefix:
            if not prefix.startswith("/"):
                raise AssertionError("A path prefix must start with '/'")
            if prefix.endswith("/"):
                raise AssertionError("A path prefix must not end with '/', as the routes will start with '/'")
        self.prefix = prefix
        self.tags: list[str | enum.Enum] = tags or []
        self.dependencies = list(dependencies or [])
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.responses = responses or {}
        self.callbacks = callbacks or []
        self.dependency_overrides_provider = dependency_overrides_provider
        self.route_class = route_class
        self.default_response_class = default_response_class
        self.generate_unique_id_function = generate_unique_id_function
        self.strict_content_type = strict_content_type

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        _apply_router_form_limits(scope, self.form_limits)
        await super().app(scope, receive, send)

    # -- adding routes --

    def add_api_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        response_model: Any = DEFAULT_RESPONSE_MODEL,
        status_code: int | None = None,
        tags: list[str | enum.Enum] | None = None,
        dependencies: Sequence[params.Depends] | None = None,
        summary: str | None = None,
        description: str | None = None,
        response_description: str = "Successful Response",
        responses: dict[int | str, dict[str, Any]] | None = None,
        deprecated: bool | None = None,
        methods: set[str] | list[str] | None = None,
        operation_id: str | None = None,
        response_model_include: Any = None,
        response_model_exclude: Any = None,
        response_model_by_alias: bool = True,
        response_model_exclude_unset: bool = False,
        response_model_exclude_defaults: bool = False,
        response_model_exclude_none: bool = False,
        include_in_schema: bool = True,
        response_class: type[Response] | DefaultPlaceholder = DEFAULT_JSON_RESPONSE,
        name: str | None = None,
        route_class_override: type[APIRoute] | None = None,
        callbacks: list[BaseRoute] | None = None,
        openapi_extra: dict[str, Any] | None = None,
        generate_unique_id_function: Callable[[APIRoute], str] | DefaultPlaceholder = DEFAULT_UNIQUE_ID,
        strict_content_type: bool | DefaultPlaceholder = DEFAULT_STRICT_CONTENT_TYPE,
        max_body_size: int | None = None,
        form_limits: FormLimits | None = None,
    ) -> None:
        """Add a path operation (what the ``@router.get(...)`` decorators do)."""
        route_class = route_class_override or self.route_class
        # A route_class written for older FastAPI may not take form_limits: pass it only when set.
        route_options: dict[str, Any] = {} if form_limits is None else {"form_limits": form_limits}
        current_tags: list[str | enum.Enum] = [*self.tags, *(tags or [])]
        current_dependencies = [*self.dependencies, *(dependencies or [])]
        current_callbacks = [*self.callbacks, *(callbacks or [])]
        route = route_class(
            self.prefix + path,
            endpoint=endpoint,
            response_model=response_model,
            status_code=status_code,
            tags=current_tags,
            dependencies=current_dependencies,
            summary=summary,
            description=description,
            response_description=response_description,
            responses={**self.responses, **(responses or {})},
            deprecated=deprecated or self.deprecated,
            methods=methods,
            operation_id=operation_id,
            response_model_include=response_model_include,
            response_model_exclude=response_model_exclude,
            response_model_by_alias=response_model_by_alias,
            response_model_exclude_unset=response_model_exclude_unset,
            response_model_exclude_defaults=response_model_exclude_defaults,
            response_model_exclude_none=response_model_exclude_none,
            include_in_schema=include_in_schema and self.include_in_schema,
            response_class=_value_or_default(response_class, self.default_response_class),
            name=name,
            dependency_overrides_provider=self.dependency_overrides_provider,
            callbacks=current_callbacks,
            openapi_extra=openapi_extra,
            generate_unique_id_function=_value_or_default(
                generate_unique_id_function, self.generate_unique_id_function
            ),
            strict_content_type=_value_or_default(strict_content_type, self.strict_content_type),
            max_body_size=first_limit(max_body_size, self.max_body_size),
            **route_options,
        )
        if isinstance(route, APIRoute):
            # This router's form limits, recorded on the route as well: the server may run the route
            # through its own stack (covetpy._route_stack) without entering the router.
            route._include_form_limits = merge_form_limits(self.form_limits, route._include_form_limits)
        self.routes.append(route)

    def api_route(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Decorator form of ``add_api_route``."""

        def decorator(func: DecoratedCallable) -> DecoratedCallable:
            self.add_api_route(path, func, **kwargs)
            return func

        return decorator

    def _method(
        self, method: str, path: str, kwargs: dict[str, Any]
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        return self.api_route(path, methods=[method], **kwargs)

    def get(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a GET path operation."""
        return self._method("GET", path, kwargs)

    def put(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a PUT path operation."""
        return self._method("PUT", path, kwargs)

    def post(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a POST path operation."""
        return self._method("POST", path, kwargs)

    def delete(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a DELETE path operation."""
        return self._method("DELETE", path, kwargs)

    def options(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare an OPTIONS path operation."""
        return self._method("OPTIONS", path, kwargs)

    def head(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a HEAD path operation."""
        return self._method("HEAD", path, kwargs)

    def patch(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a PATCH path operation."""
        return self._method("PATCH", path, kwargs)

    def trace(self, path: str, **kwargs: Any) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a TRACE path operation."""
        return self._method("TRACE", path, kwargs)

    def add_api_websocket_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        name: str | None = None,
        *,
        dependencies: Sequence[params.Depends] | None = None,
    ) -> None:
        """Add a WebSocket endpoint with dependency injection."""
        self.routes.append(
            APIWebSocketRoute(
                self.prefix + path,
                endpoint=endpoint,
                name=name,
                dependencies=[*self.dependencies, *(dependencies or [])],
                dependency_overrides_provider=self.dependency_overrides_provider,
            )
        )

    def websocket(
        self, path: str, name: str | None = None, *, dependencies: Sequence[params.Depends] | None = None
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Declare a WebSocket endpoint."""

        def decorator(func: DecoratedCallable) -> DecoratedCallable:
            self.add_api_websocket_route(path, func, name=name, dependencies=dependencies)
            return func

        return decorator

    def route(
        self,
        path: str,
        methods: list[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Starlette-style route: the function takes the request and returns a response."""

        def decorator(func: DecoratedCallable) -> DecoratedCallable:
            self.add_route(path, func, methods=methods, name=name, include_in_schema=include_in_schema)
            return func

        return decorator

    def websocket_route(
        self, path: str, name: str | None = None
    ) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Starlette-style WebSocket route: the function takes the WebSocket."""

        def decorator(func: DecoratedCallable) -> DecoratedCallable:
            self.add_websocket_route(path, func, name=name)
            return func

        return decorator

    def add_route(
        self,
        path: str,
        endpoint: Callable[[Request], Awaitable[Response] | Response],
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """A plain Starlette route."""
        self.routes.append(
            routing.Route(
                self.prefix + path,
                endpoint=endpoint,
                methods=list(methods) if methods is not None else None,
                name=name,
                include_in_schema=include_in_schema,
            )
        )

    def add_websocket_route(
        self, path: str, endpoint: Callable[[WebSocket], Awaitable[None]], name: str | None = None
    ) -> None:
        """A plain Starlette WebSocket route."""
        self.routes.append(routing.WebSocketRoute(self.prefix + path, endpoint=endpoint, name=name))

    def mount(self, path: str, app: ASGIApp, name: str | None = None) -> None:
        """Serve another ASGI app (a Starlette or FastAPI app, ``StaticFiles``...) under ``path``."""
        self.routes.append(routing.Mount(self.prefix + path, app=app, name=name))

    def host(self, host: str, app: ASGIApp, name: str | None = None) -> None:
        """Serve another ASGI app for requests to ``host``."""
        self.routes.append(routing.Host(host, app=app, name=name))

    def on_event(self, event_type: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
        """Deprecated: register a startup or shutdown handler (use ``lifespan``)."""
        return deprecated_on_event(self, event_type)

    def add_event_handler(self, event_type: str, func: Callable[[], Any]) -> None:
        """Register a ``"startup"`` or ``"shutdown"`` handler."""
        if event_type == "startup":
            self.on_startup.append(func)
        elif event_type == "shutdown":
            self.on_shutdown.append(func)
        else:
            raise AssertionError(f"unknown event type {event_type!r}: use 'startup' or 'shutdown'")

    # -- including routers --

    def include_router(
        self,
        router: APIRouter,
        *,
        prefix: str = "",
        tags: list[str | enum.Enum] | None = None,
        dependencies: Sequence[params.Depends] | None = None,
        default_response_class: type[Response] = DEFAULT_JSON_RESPONSE,
        responses: dict[int | str, dict[str, Any]] | None = None,
        callbacks: list[BaseRoute] | None = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        generate_unique_id_function: Callable[[APIRoute], str] = DEFAULT_UNIQUE_ID,
        max_body_size: int | None = None,
        form_limits: FormLimits | None = None,
    ) -> None:
        """Add every route of ``router`` under ``prefix`` with these extra settings."""
        validate_max_body_size(max_body_size)
        # The form limits this include adds, under the included router's own.
        include_form_limits = merge_form_limits(validate_form_limits(form_limits), router.form_limits)
        if prefix:
            if not prefix.startswith("/"):
                raise AssertionError("A path prefix must start with '/'")
            if prefix.endswith("/"):
                raise AssertionError("A path prefix must not end with '/', as the routes will start with '/'")
        else:
            for r in router.routes:
                path = getattr(r, "path", None)
                name = getattr(r, "name", "unknown")
                if path is not None and not path:
                    raise FastAPIError(f"Prefix and path cannot be both empty (path operation: {name})")
        responses = responses or {}
        for route in router.routes:
            if isinstance(route, APIRoute):
                self.add_api_route(
                    prefix + route.path,
                    route.endpoint,
                    response_model=route.response_model,
                    status_code=route.status_code,
                    tags=[*(tags or []), *route.tags],
                    dependencies=[*(dependencies or []), *route.dependencies],
                    summary=route.summary,
                    description=route.description,
                    response_description=route.response_description,
                    responses={**responses, **route.responses},
                    deprecated=route.deprecated or deprecated or self.deprecated,
                    methods=route.methods,
                    operation_id=route.operation_id,
                    response_model_include=route.response_model_include,
                    response_model_exclude=route.response_model_exclude,
                    response_model_by_alias=route.response_model_by_alias,
                    response_model_exclude_unset=route.response_model_exclude_unset,
                    response_model_exclude_defaults=route.response_model_exclude_defaults,
                    response_model_exclude_none=route.response_model_exclude_none,
                    include_in_schema=route.include_in_schema
                    and self.include_in_schema
                    and include_in_schema,
                    response_class=_value_or_default(
                        route.response_class,
                        router.default_response_class,
                        default_response_class,
                        self.default_response_class,
                    ),
                    name=route.name,
                    route_class_override=type(route),
                    callbacks=[*(callbacks or []), *(route.callbacks or [])],
                    openapi_extra=route.openapi_extra,
                    generate_unique_id_function=_value_or_default(
                        route.generate_unique_id_function,
                        router.generate_unique_id_function,
                        generate_unique_id_function,
                        self.generate_unique_id_function,
                    ),
                    strict_content_type=_value_or_default(
                        route.strict_content_type, router.strict_content_type, self.strict_content_type
                    ),
                    max_body_size=first_limit(route.max_body_size, router.max_body_size, max_body_size),
                    form_limits=route.form_limits or None,
                )
                copied_route = self.routes[-1]
                if isinstance(copied_route, APIRoute):
                    copied_route._include_form_limits = merge_form_limits(
                        self.form_limits, include_form_limits, route._include_form_limits
                    )
            elif isinstance(route, APIWebSocketRoute):
                self.add_api_websocket_route(
                    prefix + route.path,
                    route.endpoint,
                    name=route.name,
                    dependencies=[*(dependencies or []), *route.dependencies],
                )
            elif isinstance(route, routing.Route):
                self.add_route(
                    prefix + route.path,
                    route.endpoint,
                    methods=sorted(route.methods or []),
                    include_in_schema=route.include_in_schema,
                    name=route.name,
                )
                # The included router's limit, which its own middleware applied before the copy.
                limit = first_limit(
                    getattr(route, "_include_max_body_size", None), router.max_body_size, max_body_size
                )
                if limit is not None:
                    plain = self.routes[-1]
                    cast(Any, plain).app = with_body_limit(cast(Any, plain).app, limit)
                    cast(Any, plain)._include_max_body_size = limit
            elif isinstance(route, routing.WebSocketRoute):
                self.add_websocket_route(prefix + route.path, route.endpoint, name=route.name)
            elif isinstance(route, routing.Mount):
                mounted = with_body_limit(route.app, first_limit(router.max_body_size, max_body_size))
                self.routes.append(
                    routing.Mount(self.prefix + prefix + route.path, app=mounted, name=route.name)
                )
        self.on_startup.extend(router.on_startup)
        self.on_shutdown.extend(router.on_shutdown)
        self.lifespans.extend(router.lifespans)


__all__ = [
    "APIRoute",
    "APIRouter",
    "APIWebSocketRoute",
    "FormData",
    "generate_unique_id",
    "get_request_handler",
    "get_websocket_app",
    "request_response",
    "websocket_session",
]
