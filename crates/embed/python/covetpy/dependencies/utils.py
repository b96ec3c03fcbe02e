"""Building a path operation's dependency graph from signatures (once, when the route is declared)
and solving it for a request: reading and validating parameters, calling dependencies in order with a
per-request cache, entering ``yield`` dependencies on the right exit stack."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from typing import Annotated, Any, cast

import anyio
from pydantic import BaseModel, create_model
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from starlette.background import BackgroundTasks as StarletteBackgroundTasks
from starlette.datastructures import FormData, Headers, ImmutableMultiDict, QueryParams
from starlette.datastructures import UploadFile as StarletteUploadFile
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from covetpy import params
from covetpy._fields import (
    ModelField,
    copied,
    is_bytes_annotation,
    is_bytes_sequence_annotation,
    is_scalar_annotation,
    is_scalar_sequence_annotation,
    is_sequence_annotation,
    is_uploadfile_or_sequence,
    lenient_issubclass,
    missing_error,
    model_class,
    model_fields,
)
from covetpy.background import BackgroundTasks
from covetpy.concurrency import contextmanager_in_threadpool, run_in_threadpool
from covetpy.dependencies.models import CacheKey, Dependant
from covetpy.exceptions import DependencyScopeError, FastAPIError

_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def get_path_param_names(path: str) -> set[str]:
    """The ``{name}`` segments of a path template."""
    return set(_PATH_PARAM.findall(path))


def _security_scopes_type() -> type:
    from covetpy.security.oauth2 import SecurityScopes

    return SecurityScopes


# --- signatures ---------------------------------------------------------------------------------


def _signature(call: Callable[..., Any]) -> inspect.Signature:
    try:
        return inspect.signature(call, eval_str=False)
    except ValueError as exc:  # builtins without a signature
        raise FastAPIError(f"cannot read the parameters of {call!r}: {exc}") from exc


def _hints_target(call: Any) -> Any:
    target = inspect.unwrap(call)
    if inspect.isclass(target):
        return target.__init__
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        return getattr(target, "__call__", target)  # noqa: B004 - callable instances
    return target


def _resolve(annotation: Any, namespace: dict[str, Any]) -> Any:
    if not isinstance(annotation, str):
        return annotation
    ref = typing.ForwardRef(annotation)
    try:
        return typing._eval_type(ref, namespace, namespace)  # type: ignore[attr-defined]
    except NameError as exc:
        raise FastAPIError(f"cannot resolve the annotation {annotation!r}: {exc}") from exc


def get_typed_signature(call: Callable[..., Any]) -> inspect.Signature:
    """``call``'s signature with string annotations evaluated in its module."""
    signature = _signature(call)
    namespace = dict(getattr(inspect.unwrap(_hints_target(call)), "__globals__", {}))
    return signature.replace(
        parameters=[
            p.replace(annotation=_resolve(p.annotation, namespace)) for p in signature.parameters.values()
        ],
        return_annotation=_resolve(signature.return_annotation, namespace),
    )


def get_typed_return_annotation(call: Callable[..., Any]) -> Any:
    """The evaluated return annotation, or None."""
    annotation = get_typed_signature(call).return_annotation
    # `-> None` (also written as a string) declares no response model.
    return None if annotation is inspect.Signature.empty or annotation is type(None) else annotation


# --- analysis -----------------------------------------------------------------------------------

_SPECIAL_TYPES = (Request, WebSocket, HTTPConnection, Response, StarletteBackgroundTasks)


@dataclasses.dataclass
class _ParamDetails:
    type_annotation: Any
    depends: params.Depends | None
    field: ModelField | None


def _copy_marker(marker: FieldInfo) -> FieldInfo:
    # A fresh object per use: one Annotated alias may serve many parameters with different defaults.
    fresh = marker.__class__.__new__(marker.__class__)
    for slot in getattr(marker, "__slots__", ()):
        if hasattr(marker, slot):
            object.__setattr__(fresh, slot, getattr(marker, slot))
    fresh.__dict__.update(getattr(marker, "__dict__", {}))
    fresh._attributes_set = dict(marker._attributes_set)
    return fresh


def analyze_param(*, param_name: str, annotation: Any, value: Any, is_path_param: bool) -> _ParamDetails:
    """Decide where one parameter comes from: a dependency, a request object, or a field."""
    field_info: FieldInfo | None = None
    depends: params.Depends | None = None
    type_annotation: Any = Any
    use_annotation: Any = Any
    if annotation is not inspect.Signature.empty:
        use_annotation = type_annotation = annotation
    if typing.get_origin(annotation) is Annotated:
        args = typing.get_args(annotation)
        type_annotation = args[0]
        markers = [a for a in args[1:] if isinstance(a, params.Param | params.Body | params.Depends)]
        # The field validates against the type with the other metadata (pydantic constraints,
        # validators) kept and the markers, which become the field's own FieldInfo, left out.
        others = [a for a in args[1:] if not isinstance(a, params.Param | params.Body | params.Depends)]
        use_annotation = Annotated[(type_annotation, *others)] if others else type_annotation
        marker = markers[-1] if markers else None
        if isinstance(marker, FieldInfo):
            field_info = _copy_marker(marker)
            if field_info.default not in (PydanticUndefined, ...):
                raise AssertionError(
                    f"`{field_info.__class__.__name__}` default value cannot be set in `Annotated` for "
                    f"{param_name!r}. Set the default value with `=` instead."
                )
            if value is not inspect.Signature.empty:
                if is_path_param:
                    raise AssertionError("Path parameters cannot have default values")
                field_info.default = value
            else:
                field_info.default = PydanticUndefined
        elif isinstance(marker, params.Depends):
            depends = marker
    if isinstance(value, params.Depends):
        if depends is not None:
            raise AssertionError(
                f"Cannot specify `Depends` in `Annotated` and default value together for {param_name!r}"
            )
        if field_info is not None:
            raise AssertionError(
                "Cannot specify a FastAPI annotation in `Annotated` and `Depends` as a default value "
                f"together for {param_name!r}"
            )
        depends = value
    elif isinstance(value, FieldInfo):
        if field_info is not None:
            raise AssertionError(
                "Cannot specify FastAPI annotations in `Annotated` and default value together for "
                f"{param_name!r}"
            )
        field_info = _copy_marker(value)
    if depends is not None and depends.dependency is None:
        depends = dataclasses.replace(depends, dependency=type_annotation)
    if lenient_issubclass(type_annotation, (*_SPECIAL_TYPES, _security_scopes_type())):
        if depends is not None:
            raise AssertionError(f"Cannot specify `Depends` for type {type_annotation!r}")
        if field_info is not None:
            raise AssertionError(f"Cannot specify FastAPI annotation for type {type_annotation!r}")
    elif field_info is None and depends is None:
        default = value if value is not inspect.Signature.empty else PydanticUndefined
        if is_path_param:
            field_info = params.Path()
        elif is_uploadfile_or_sequence(type_annotation):
            field_info = params.File(default)
        elif not is_scalar_annotation(type_annotation):
            field_info = params.Body(default)
        else:
            field_info = params.Query(default)
    field: ModelField | None = None
    if field_info is not None:
        if is_path_param and not isinstance(field_info, params.Path):
            raise AssertionError(
                f"Cannot use `{field_info.__class__.__name__}` for path param {param_name!r}"
            )
        if isinstance(field_info, params.Form):
            _ensure_multipart()
        if not field_info.alias and getattr(field_info, "convert_underscores", None):
            alias = param_name.replace("_", "-")
        else:
            alias = field_info.alias or param_name
        field_info.alias = alias
        field_info.annotation = type_annotation
        field = ModelField(field_info=field_info, name=param_name, annotation=use_annotation)
        if is_path_param and not is_scalar_annotation(type_annotation):
            raise AssertionError("Path params must be of one of the supported types")
        if isinstance(field_info, params.Query) and not (
            is_scalar_annotation(type_annotation)
            or is_scalar_sequence_annotation(type_annotation)
            or model_class(type_annotation) is not None
        ):
            raise AssertionError(f"Query parameter {param_name!r} must be one of the supported types")
    return _ParamDetails(type_annotation=type_annotation, depends=depends, field=field)


def _ensure_multipart() -> None:
    import importlib.util

    if importlib.util.find_spec("python_multipart") is None and importlib.util.find_spec("multipart") is None:
        raise RuntimeError(
            'Form data requires "python-multipart" to be installed: pip install python-multipart'
        )


def _add_special_param(name: str, annotation: Any, dependant: Dependant) -> bool:
    if lenient_issubclass(annotation, Request):
        dependant.request_param_name = name
    elif lenient_issubclass(annotation, WebSocket):
        dependant.websocket_param_name = name
    elif lenient_issubclass(annotation, HTTPConnection):
        dependant.http_connection_param_name = name
    elif lenient_issubclass(annotation, Response):
        dependant.response_param_name = name
    elif lenient_issubclass(annotation, StarletteBackgroundTasks):
        dependant.background_tasks_param_name = name
    elif lenient_issubclass(annotation, _security_scopes_type()):
        dependant.security_scopes_param_name = name
    else:
        return False
    return True


def _call_name(call: Any) -> str:
    return str(getattr(call, "__name__", type(call).__name__))


def get_dependant(
    *,
    path: str,
    call: Callable[..., Any],
    name: str | None = None,
    own_oauth_scopes: list[str] | None = None,
    parent_oauth_scopes: list[str] | None = None,
    use_cache: bool = True,
    scope: typing.Literal["function", "request"] | None = None,
) -> Dependant:
    """The graph of ``call``: its own parameters and, recursively, its dependencies'."""
    dependant = Dependant(
        call=call,
        name=name,
        path=path,
        use_cache=use_cache,
        own_oauth_scopes=own_oauth_scopes,
        parent_oauth_scopes=parent_oauth_scopes,
        scope=scope,
    )
    current_scopes = (parent_oauth_scopes or []) + (own_oauth_scopes or [])
    path_names = get_path_param_names(path)
    for param_name, param in get_typed_signature(call).parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        details = analyze_param(
            param_name=param_name,
            annotation=param.annotation,
            value=param.default,
            is_path_param=param_name in path_names,
        )
        if details.depends is not None:
            sub_call = details.depends.dependency
            if sub_call is None:
                raise FastAPIError(
                    f"parameter {param_name!r}: Depends() needs a dependency or a type annotation"
                )
            if dependant.computed_scope == "request" and details.depends.scope == "function":
                raise DependencyScopeError(
                    f'The dependency "{_call_name(call)}" has a scope of "request", it cannot depend on '
                    'dependencies with scope "function".'
                )
            sub_scopes: list[str] = []
            if isinstance(details.depends, params.Security) and details.depends.scopes:
                sub_scopes = list(details.depends.scopes)
            dependant.dependencies.append(
                get_dependant(
                    path=path,
                    call=sub_call,
                    name=param_name,
                    own_oauth_scopes=sub_scopes,
                    parent_oauth_scopes=current_scopes,
                    use_cache=details.depends.use_cache,
                    scope=details.depends.scope,
                )
            )
            continue
        if _add_special_param(param_name, details.type_annotation, dependant):
            continue
        field = details.field
        if field is None:
            raise FastAPIError(f"parameter {param_name!r} of {_call_name(call)} has no source")
        info = field.field_info
        if isinstance(info, params.Body):
            dependant.body_params.append(field)
        elif isinstance(info, params.Param):
            {
                params.ParamTypes.path: dependant.path_params,
                params.ParamTypes.query: dependant.query_params,
                params.ParamTypes.header: dependant.header_params,
                params.ParamTypes.cookie: dependant.cookie_params,
            }[info.in_].append(field)
    return dependant


def get_parameterless_sub_dependant(*, depends: params.Depends, path: str) -> Dependant:
    """A dependency given in ``dependencies=[...]``: run for its effect, its value unused."""
    if depends.dependency is None:
        raise FastAPIError("A parameter-less dependency must have a callable dependency")
    own = list(depends.scopes or []) if isinstance(depends, params.Security) else []
    return get_dependant(
        path=path,
        call=depends.dependency,
        own_oauth_scopes=own,
        use_cache=depends.use_cache,
        scope=depends.scope,
    )


def get_flat_dependant(dependant: Dependant, *, skip_repeats: bool = False) -> Dependant:
    """All parameters of the graph in one Dependant (for OpenAPI and the body field)."""
    visited: list[CacheKey] = []

    def walk(node: Dependant) -> Dependant:
        flat = Dependant(
            path_params=list(node.path_params),
            query_params=list(node.query_params),
            header_params=list(node.header_params),
            cookie_params=list(node.cookie_params),
            body_params=list(node.body_params),
            name=node.name,
            call=node.call,
            path=node.path,
            use_cache=node.use_cache,
            own_oauth_scopes=node.own_oauth_scopes,
            parent_oauth_scopes=node.parent_oauth_scopes,
            scope=node.scope,
        )
        visited.append(node.cache_key)
        for sub in node.dependencies:
            if skip_repeats and sub.cache_key in visited:
                continue
            sub_flat = walk(sub)
            flat.path_params.extend(sub_flat.path_params)
            flat.query_params.extend(sub_flat.query_params)
            flat.header_params.extend(sub_flat.header_params)
            flat.cookie_params.extend(sub_flat.cookie_params)
            flat.body_params.extend(sub_flat.body_params)
        return flat

    return walk(dependant)


def flat_fields(fields: list[ModelField]) -> list[ModelField]:
    """Parameter fields with a parameter model replaced by the model's own fields."""
    if len(fields) == 1 and model_class(fields[0].annotation) is not None:
        model = cast(type[BaseModel], model_class(fields[0].annotation))
        return model_fields(model)
    return fields


def should_embed_body_fields(fields: list[ModelField]) -> bool:
    """Whether the body is an object holding each body parameter under its name."""
    if not fields:
        return False
    if len({f.name for f in fields}) > 1:
        return True
    first = fields[0]
    if getattr(first.field_info, "embed", None):
        return True
    return isinstance(first.field_info, params.Form) and model_class(first.annotation) is None


def get_body_field(*, flat_dependant: Dependant, name: str, embed_body_fields: bool) -> ModelField | None:
    """The body as one field: the single body parameter, or a ``Body_<name>`` model of all of them."""
    body_params = flat_dependant.body_params
    if not body_params:
        return None
    if not embed_body_fields:
        return body_params[0]
    definitions: dict[str, Any] = {}
    for f in body_params:
        definitions[f.name] = (f.annotation, f.field_info)
    body_model = create_model(f"Body_{name}", **definitions)
    required = any(f.required for f in body_params)
    kwargs: dict[str, Any] = {"alias": "body"}
    if not required:
        kwargs["default"] = None
    cls: type[params.Body]
    if any(isinstance(f.field_info, params.File) for f in body_params):
        cls = params.File
    elif any(isinstance(f.field_info, params.Form) for f in body_params):
        cls = params.Form
    else:
        cls = params.Body
        media_types = {f.field_info.media_type for f in body_params if isinstance(f.field_info, params.Body)}
        if len(media_types) == 1:
            kwargs["media_type"] = media_types.pop()
    info = cls(**kwargs)
    return ModelField(field_info=info, name="body", annotation=body_model)


# --- solving ------------------------------------------------------------------------------------


@dataclasses.dataclass
class SolvedDependency:
    """What solving produced: the call's arguments, or the validation errors."""

    values: dict[str, Any]
    errors: list[Any]
    background_tasks: StarletteBackgroundTasks | None
    response: Response
    dependency_cache: dict[CacheKey, Any]


#: "Not in the request" (JSON ``null`` is a value and is validated).
Undefined: Any = PydanticUndefined


def _is_empty_file_input(value: Any) -> bool:
    # Browsers send an empty filename and no content when no file was chosen.
    return isinstance(value, StarletteUploadFile) and value.filename == "" and value.size == 0


def _multidict_value(field: ModelField, values: Mapping[str, Any], alias: str | None = None) -> Any:
    alias = alias or field.validation_alias
    sequence = is_sequence_annotation(field.annotation)
    value: Any
    if sequence and isinstance(values, ImmutableMultiDict | Headers):
        value = values.getlist(alias)
        if isinstance(values, FormData):
            value = [item for item in value if not _is_empty_file_input(item)]
    else:
        value = values.get(alias, None)
    if (
        value is None
        or (
            isinstance(values, FormData)
            and ((isinstance(value, str) and value == "") or _is_empty_file_input(value))
        )
        or (sequence and len(value) == 0)
    ):
        # Defaults are applied by validation, not while reading the request.
        return Undefined
    return value


def _validate_field(
    field: ModelField, value: Any, values: dict[str, Any], loc: tuple[Any, ...]
) -> tuple[Any, list[Any]]:
    if value is Undefined:
        if field.required:
            return None, [missing_error(loc)]
        default = copied(field.default)
        if not field.field_info.validate_default:
            return default, []
        value = default
    return field.validate(value, values, loc=loc)


def request_params_to_args(
    fields: list[ModelField], received: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    """Validate the fields of one source (path, query, headers or cookies)."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    if not fields:
        return values, errors
    first = fields[0]
    model = model_class(first.annotation) if len(fields) == 1 else None
    if model is not None:
        # A parameter model: its fields are read from the source and the model validated as a whole,
        # with the keys the model does not name passed along (so `extra="forbid"` can refuse them).
        default_convert = getattr(first.field_info, "convert_underscores", True)
        to_process: dict[str, Any] = {}
        processed: set[str] = set()
        for sub in model_fields(model):
            alias: str | None = None
            if isinstance(received, Headers):
                convert = getattr(sub.field_info, "convert_underscores", default_convert)
                if convert:
                    alias = sub.alias if sub.alias != sub.name else sub.name.replace("_", "-")
            value = _multidict_value(sub, received, alias=alias)
            if value is not Undefined:
                to_process[sub.validation_alias] = value
            processed.add(alias or sub.validation_alias)
        for key in received:
            if key not in processed:
                if isinstance(received, ImmutableMultiDict | Headers):
                    got = received.getlist(key)
                    to_process[key] = got[0] if len(got) == 1 else got
                else:
                    to_process[key] = received.get(key)
        info = cast(params.Param, first.field_info)
        value, errors = _validate_field(first, to_process, values, (info.in_.value,))
        return {first.name: value}, errors
    for field in fields:
        info = cast(params.Param, field.field_info)
        value = _multidict_value(field, received)
        result, field_errors = _validate_field(field, value, values, (info.in_.value, field.alias))
        if field_errors:
            errors.extend(field_errors)
        else:
            values[field.name] = result
    return values, errors


async def _form_values(fields: list[ModelField], form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in fields:
        value = _multidict_value(field, form)
        if isinstance(field.field_info, params.File):
            if is_bytes_annotation(field.annotation) and isinstance(value, StarletteUploadFile):
                value = await value.read()
            elif (
                is_bytes_sequence_annotation(field.annotation)
                and isinstance(value, list | tuple)
                and all(isinstance(v, StarletteUploadFile) for v in value)
            ):
                value = [await v.read() for v in value]
        if value is not Undefined:
            values[field.validation_alias] = value
    aliases = {field.validation_alias for field in fields}
    for key in form:
        if key not in aliases:
            got = form.getlist(key)
            values[key] = got[0] if len(got) == 1 else got
    return values


async def request_body_to_args(
    body_fields: list[ModelField], received_body: Any, embed_body_fields: bool
) -> tuple[dict[str, Any], list[Any]]:
    """Validate the body parameters of one dependant against the parsed body."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    single = len(body_fields) == 1 and not embed_body_fields
    first = body_fields[0]
    to_process: Any = received_body
    fields_to_extract = body_fields
    model = model_class(first.annotation)
    if single and model is not None and isinstance(received_body, FormData):
        fields_to_extract = model_fields(model)
    if isinstance(received_body, FormData):
        to_process = await _form_values(fields_to_extract, received_body)
    if single:
        value, errors = _validate_field(first, to_process, values, ("body",))
        return {first.name: value}, errors
    for field in body_fields:
        loc = ("body", field.validation_alias)
        value = Undefined
        if to_process is not Undefined and to_process is not None:
            try:
                value = to_process.get(field.validation_alias, Undefined)
            except AttributeError:
                errors.append(missing_error(loc))
                continue
        result, field_errors = _validate_field(field, value, values, loc)
        if field_errors:
            errors.extend(field_errors)
        else:
            values[field.name] = result
    return values, errors


def _stacks(connection: HTTPConnection) -> tuple[AsyncExitStack, AsyncExitStack]:
    scope = connection.scope
    request_stack = scope.get("fastapi_inner_astack")
    function_stack = scope.get("fastapi_function_astack")
    if not isinstance(request_stack, AsyncExitStack) or not isinstance(function_stack, AsyncExitStack):
        raise FastAPIError(
            "the request scope has no dependency exit stacks (not called through a covetpy route)"
        )
    return request_stack, function_stack


async def _enter_generator(dependant: Dependant, stack: AsyncExitStack, values: dict[str, Any]) -> Any:
    call = cast(Callable[..., Any], dependant.call)
    if dependant.is_gen_callable:
        return await stack.enter_async_context(contextmanager_in_threadpool(contextmanager(call)(**values)))
    return await stack.enter_async_context(asynccontextmanager(call)(**values))


#: Dependants for overrides, built once per (original dependant, override) pair.
_override_dependants: dict[tuple[int, Any], Dependant] = {}


def _override_dependant(sub: Dependant, override: Callable[..., Any]) -> Dependant:
    key = (id(sub), override)
    found = _override_dependants.get(key)
    if found is None:
        found = get_dependant(
            path=sub.path or "",
            call=override,
            name=sub.name,
            parent_oauth_scopes=sub.oauth_scopes,
            scope=sub.scope,
        )
        _override_dependants[key] = found
    return found


def _new_sub_response() -> Response:
    response = Response()
    del response.headers["content-length"]
    response.status_code = None  # type: ignore[assignment]
    return response


#: Stands in for the sub-response of a graph without `Response` parameters: nothing can change it.
_UNUSED_SUB_RESPONSE = _new_sub_response()


async def solve_dependencies(
    *,
    request: Request | WebSocket,
    dependant: Dependant,
    body: Any = PydanticUndefined,
    background_tasks: StarletteBackgroundTasks | None = None,
    response: Response | None = None,
    dependency_overrides_provider: Any | None = None,
    dependency_cache: dict[CacheKey, Any] | None = None,
    async_exit_stack: AsyncExitStack | None = None,
    embed_body_fields: bool = False,
) -> SolvedDependency:
    """Run ``dependant``'s dependencies and validate its parameters for this request."""
    overrides: Mapping[Any, Any] = getattr(dependency_overrides_provider, "dependency_overrides", None) or {}
    if response is None:
        # The sub-response only a `Response` parameter can change; an override may declare one.
        response = _new_sub_response() if overrides or dependant.uses_response else _UNUSED_SUB_RESPONSE
    cache: dict[CacheKey, Any] = dependency_cache if dependency_cache is not None else {}
    values: dict[str, Any] = {}
    errors: list[Any] = []
    for sub in dependant.dependencies:
        call = sub.call
        use_sub = sub
        if overrides and call in overrides:
            call = overrides[call]
            use_sub = _override_dependant(sub, call)
        solved = await solve_dependencies(
            request=request,
            dependant=use_sub,
            body=body,
            background_tasks=background_tasks,
            response=response,
            dependency_overrides_provider=dependency_overrides_provider,
            dependency_cache=cache,
            embed_body_fields=embed_body_fields,
        )
        background_tasks = solved.background_tasks
        if solved.errors:
            errors.extend(solved.errors)
            continue
        key = use_sub.cache_key
        if sub.use_cache and key in cache:
            result = cache[key]
        elif use_sub.is_gen_callable or use_sub.is_async_gen_callable:
            request_stack, function_stack = _stacks(request)
            stack = function_stack if use_sub.computed_scope == "function" else request_stack
            result = await _enter_generator(use_sub, stack, solved.values)
        elif use_sub.is_coroutine_callable:
            result = await cast(Callable[..., Coroutine[Any, Any, Any]], call)(**solved.values)
        else:
            result = await run_in_threadpool(cast(Callable[..., Any], call), **solved.values)
        if sub.name is not None:
            values[sub.name] = result
        if key not in cache:
            cache[key] = result
    # Each source is read only when this dependant has parameters from it (reading parses it).
    for fields, source in (
        (dependant.path_params, "path_params"),
        (dependant.query_params, "query_params"),
        (dependant.header_params, "headers"),
        (dependant.cookie_params, "cookies"),
    ):
        if fields:
            got, found_errors = request_params_to_args(
                fields, cast(Mapping[str, Any], getattr(request, source))
            )
            values.update(got)
            errors.extend(found_errors)
    if dependant.body_params:
        got, found_errors = await request_body_to_args(dependant.body_params, body, embed_body_fields)
        values.update(got)
        errors.extend(found_errors)
    if dependant.http_connection_param_name:
        values[dependant.http_connection_param_name] = request
    if dependant.request_param_name and isinstance(request, Request):
        values[dependant.request_param_name] = request
    elif dependant.websocket_param_name and isinstance(request, WebSocket):
        values[dependant.websocket_param_name] = request
    if dependant.background_tasks_param_name:
        if background_tasks is None:
            background_tasks = BackgroundTasks()
        values[dependant.background_tasks_param_name] = background_tasks
    if dependant.response_param_name:
        values[dependant.response_param_name] = response
    if dependant.security_scopes_param_name:
        values[dependant.security_scopes_param_name] = _security_scopes_type()(scopes=dependant.oauth_scopes)
    return SolvedDependency(
        values=values,
        errors=errors,
        background_tasks=background_tasks,
        response=response,
        dependency_cache=cache,
    )


__all__ = [
    "Dependant",
    "SolvedDependency",
    "analyze_param",
    "anyio",
    "flat_fields",
    "get_body_field",
    "get_dependant",
    "get_flat_dependant",
    "get_parameterless_sub_dependant",
    "get_path_param_names",
    "get_typed_return_annotation",
    "get_typed_signature",
    "request_body_to_args",
    "request_params_to_args",
    "should_embed_body_fields",
    "solve_dependencies",
]
_ = QueryParams  # re-exported type of Request.query_params, used in annotations by callers
