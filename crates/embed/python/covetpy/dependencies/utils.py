"""Building a path operation's dependency graph from signatures (once, when the route is declared)
and solving it for a request: reading and validating parameters, calling dependencies in order with a
per-request cache, entering ``yield`` dependencies on the right exit stack."""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import re
import typing
import weakref
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import AsyncExitStack
from typing import Annotated, Any, cast

import anyio
from pydantic import (
    AliasChoices,
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    GetPydanticSchema,
    Json,
    Tag,
    create_model,
)
from pydantic.fields import FieldInfo
from pydantic_core import CoreSchema, PydanticUndefined
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
    is_union,
    is_uploadfile_or_sequence,
    lenient_issubclass,
    missing_error,
    model_fields,
    param_model,
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
    others: list[Any] = []
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
            if _form_union_models(type_annotation):
                # Each branch of a union of form models reads the form by its own fields.
                type_annotation = _add_form_union_validators(type_annotation)
                use_annotation = Annotated[(type_annotation, *others)] if others else type_annotation
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
            or param_model(field) is not None
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
    """Parameter fields with each parameter model replaced by the model's own fields."""
    out: list[ModelField] = []
    for field in fields:
        model = param_model(field)
        out.extend(model_fields(model) if model is not None else [field])
    return out


def should_embed_body_fields(fields: list[ModelField]) -> bool:
    """Whether the body is an object holding each body parameter under its name."""
    if not fields:
        return False
    if len({f.name for f in fields}) > 1:
        return True
    first = fields[0]
    # Dependencies may reuse one parameter name for different form models.
    if form_models(first) and any(
        not form_models(f) or f.field_info.annotation is not first.field_info.annotation for f in fields[1:]
    ):
        return True
    if getattr(first.field_info, "embed", None):
        return True
    return (
        isinstance(first.field_info, params.Form)
        and not lenient_issubclass(first.field_info.annotation, BaseModel)
        and not form_models(first)
    )


def get_body_field(*, flat_dependant: Dependant, name: str, embed_body_fields: bool) -> ModelField | None:
    """The body as one field: the single body parameter, or a ``Body_<name>`` model of all of them
    (also for a single optional form model, whose fields stand at the top of the form). It decides
    the media type and the OpenAPI schema; each parameter is validated on its own."""
    body_params = flat_dependant.body_params
    if not body_params:
        return None
    first = body_params[0]
    nullable_form_model = any(
        form_models(f) and type(None) in typing.get_args(f.field_info.annotation) for f in body_params
    )
    if not embed_body_fields and not nullable_form_model:
        return first
    definitions: dict[str, Any] = {}
    config: ConfigDict | None = None
    if any(form_models(f) for f in body_params):
        # Form models stand for their fields: the schema is rebuilt from the parameters'.
        for index, f in enumerate(body_params):
            info = copy.copy(f.field_info)
            model = _form_model(f)
            if model is not None:
                form_schema = functools.partial(_form_model_schema, model)
                with_schema: Any = Annotated[model, GetPydanticSchema(get_pydantic_json_schema=form_schema)]
                info.annotation = with_schema if info.annotation is model else with_schema | None
            key = f"field_{index}"
            info.alias = info.validation_alias = info.serialization_alias = key
            info.title = info.title or f.name.replace("_", " ").title()
            definitions[key] = (info.annotation, info)
        config = {"json_schema_extra": functools.partial(_apply_form_body_schema, body_params)}
    else:
        for f in body_params:
            definitions[f.name] = (f.annotation, f.field_info)
    body_model = create_model(f"Body_{name}", __config__=config, **definitions)
    if not embed_body_fields:
        info = copy.copy(first.field_info)
        info.annotation = body_model
        # The parameter itself keeps the validation metadata.
        info.metadata = []
        info.discriminator = None
        return ModelField(field_info=info, name=first.name, annotation=body_model)
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
    if cls is not params.File:
        media_types = [f.field_info.media_type for f in body_params if isinstance(f.field_info, cls)]
        if cls is params.Form and "multipart/form-data" in media_types:
            kwargs["media_type"] = "multipart/form-data"
        elif len(set(media_types)) == 1:
            kwargs["media_type"] = media_types[0]
    info = cls(**kwargs)
    return ModelField(field_info=info, name="body", annotation=body_model)


# --- form models --------------------------------------------------------------------------------


def _form_union_models(annotation: Any) -> list[type[BaseModel]]:
    """The models of a union of two or more form models (``Person | Company``, maybe ``| None``)."""
    if not is_union(annotation):
        return []
    models: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        if arg is type(None):
            continue
        if typing.get_origin(arg) is Annotated:
            arg = typing.get_args(arg)[0]
        if not lenient_issubclass(arg, BaseModel):
            return []
        models.append(arg)
    # One model, maybe optional, is read as a plain form model.
    return models if len(models) > 1 else []


def _add_form_union_validators(annotation: Any) -> Any:
    """The union with each model branch reading the raw form values by its own fields first, and
    tagged (its own ``Tag`` or the model's name) so that union errors name the branch."""
    choices: list[Any] = []
    for choice in typing.get_args(annotation):
        if choice is type(None):
            choices.append(choice)
            continue
        model = choice
        metadata: typing.Sequence[Any] = ()
        if typing.get_origin(choice) is Annotated:
            model, *metadata = typing.get_args(choice)
        tag = next((item for item in reversed(metadata) if isinstance(item, Tag)), Tag(model.__name__))
        normalize = BeforeValidator(functools.partial(_normalize_form_model, model=model))
        choices.append(Annotated[choice, normalize, tag])
    return typing.Union[tuple(choices)]  # noqa: UP007 - built from a runtime tuple


def _normalize_form_model(value: Any, *, model: type[BaseModel]) -> Any:
    if not isinstance(value, dict):
        return value
    # Each branch reads repeated values by its own fields' shapes.
    form = FormData(
        [
            (key, item)
            for key, items in value.items()
            for item in (items if isinstance(items, list) else [items])
        ]
    )
    normalized = {alias: item for alias, item, _ in _form_items(model_fields(model), form)}
    # Values no browser form sends, but a validator may put there.
    for key, item in value.items():
        if item is None or (isinstance(item, list) and not item):
            normalized[key] = item
    return normalized


def form_models(field: ModelField) -> list[type[BaseModel]]:
    """The model (or the union's models) a ``Form()`` parameter stands for, else ``[]``."""
    info = field.field_info
    if not isinstance(info, params.Form) or getattr(info, "embed", False):
        return []
    if any(type(item) is Json for item in info.metadata):
        return []
    annotation = info.annotation
    if is_union(annotation):
        args = typing.get_args(annotation)
        if len(args) == 2 and type(None) in args:
            annotation = next(a for a in args if a is not type(None))
    if lenient_issubclass(annotation, BaseModel):
        return [cast(type[BaseModel], annotation)]
    return _form_union_models(info.annotation)


def _form_model(field: ModelField) -> type[BaseModel] | None:
    models = form_models(field)
    return models[0] if len(models) == 1 else None


def _form_items(fields: list[ModelField], form: FormData) -> Iterator[tuple[str, Any, ModelField | None]]:
    """(key, value, field) for each field found in the form by its first alias present, then the
    form's other keys (field None)."""
    aliases: set[str] = set()
    for field in fields:
        for alias, _ in _param_aliases(field):
            aliases.add(alias)
            value = _multidict_value(field, form, alias=alias)
            if value is not Undefined:
                yield alias, value, field
                break
    for key, value in _multidict_extras(form, aliases).items():
        yield key, value, None


async def _file_bytes(file: StarletteUploadFile) -> bytes:
    # Reading for a bytes parameter leaves the file where it was, for other parameters sharing it.
    position = file.file.tell()
    try:
        return await file.read()
    finally:
        await file.seek(position)


async def _form_body(fields: list[ModelField], form: FormData) -> list[tuple[str, Any, ModelField | None]]:
    """``_form_items`` with files read into bytes for ``bytes`` parameters."""
    out: list[tuple[str, Any, ModelField | None]] = []
    for alias, value, field in _form_items(fields, form):
        if field is not None and isinstance(field.field_info, params.File):
            annotation = field.field_info.annotation
            if is_bytes_annotation(annotation) and isinstance(value, StarletteUploadFile):
                value = await _file_bytes(value)
            elif is_bytes_sequence_annotation(annotation) and isinstance(value, list | tuple):
                value = [await _file_bytes(v) if isinstance(v, StarletteUploadFile) else v for v in value]
        out.append((alias, value, field))
    return out


def _form_model_supplied(model: type[BaseModel], form: FormData) -> bool:
    own = {alias for item in model_fields(model) for alias, _ in _param_aliases(item)}
    return bool(own.intersection(form) or (model.model_config.get("extra") in ("allow", "forbid") and form))


async def _form_model_value(field: ModelField, models: list[type[BaseModel]], form: FormData) -> Any:
    """What a form-model parameter validates: its fields' values and the other keys; Undefined for
    an optional one none of whose fields came."""
    if type(None) in typing.get_args(field.field_info.annotation) and not any(
        _form_model_supplied(model, form) for model in models
    ):
        return Undefined
    # A union's branches each read the raw values themselves (``_normalize_form_model``).
    fields = model_fields(models[0]) if len(models) == 1 else []
    return {alias: item for alias, item, _ in await _form_body(fields, form)}


def _form_model_schema(model: type[BaseModel], core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> Any:
    """A form model's schema with its properties named as the form sends them (alias choices)."""
    schema = handler(core_schema)
    model_schema = handler.resolve_ref_schema(schema)
    properties = model_schema.get("properties", {})
    required = model_schema.get("required", [])
    renamed: dict[str, list[str]] = {}
    for item in model_fields(model):
        choices = item.field_info.validation_alias
        schema_name = choices.choices[0] if isinstance(choices, AliasChoices) else item.validation_alias
        names = [alias for alias, _ in _param_aliases(item)]
        if (
            isinstance(schema_name, str)
            and schema_name in properties
            and (names[0] != schema_name or (len(names) > 1 and schema_name in required))
        ):
            renamed[schema_name] = names
    if not renamed:
        return schema
    # A copy: the model's shared component schema stays as it is.
    model_schema = copy.deepcopy(model_schema)
    model_schema["properties"] = {renamed.get(k, [k])[0]: v for k, v in model_schema["properties"].items()}
    model_schema["required"] = []
    for key in required:
        names = renamed.get(key, [key])
        if len(names) == 1:
            model_schema["required"].append(names[0])
        else:
            model_schema.setdefault("allOf", []).append({"anyOf": [{"required": [n]} for n in names]})
    return model_schema


def _apply_form_body_schema(body_params: list[ModelField], schema: dict[str, Any]) -> None:
    """The form body's schema: plain fields as properties, each form model as an ``allOf`` member
    (an optional one: either none of its fields, or the model)."""
    parameter_schemas = schema.pop("properties")
    schema.pop("required", None)
    properties: dict[str, Any] = {}
    required: list[str] = []
    conditions: list[dict[str, Any]] = []
    for index, param in enumerate(body_params):
        field_schema = parameter_schemas[f"field_{index}"]
        models = form_models(param)
        if not models:
            alias = _param_aliases(param)[0][0]
            if alias in properties:
                conditions.append({"properties": {alias: field_schema}})
            else:
                properties[alias] = field_schema
            if param.field_info.is_required() and alias not in required:
                required.append(alias)
            continue
        field_schema.pop("default", None)
        if type(None) in typing.get_args(param.field_info.annotation):
            # An optional form model is left out by sending none of its fields, not a null.
            field_schema["anyOf"] = [c for c in field_schema["anyOf"] if c.get("type") != "null"]
            absent: dict[str, Any]
            if any(model.model_config.get("extra") in ("allow", "forbid") for model in models):
                absent = {"maxProperties": 0}
            else:
                names = sorted(
                    {
                        alias
                        for model in models
                        for item in model_fields(model)
                        for alias, _ in _param_aliases(item)
                    }
                )
                absent = {"not": {"anyOf": [{"required": [n]} for n in names]}} if names else {}
            if param.field_info.is_required():
                conditions.append({"not": absent})
            else:
                field_schema = {"anyOf": [absent, field_schema]}
        conditions.append(field_schema)
    if properties:
        schema["properties"] = properties
    if required:
        schema["required"] = required
    schema["allOf"] = conditions


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


def _multidict_value(
    field: ModelField, values: Mapping[str, Any], alias: str | None = None, sequence: bool | None = None
) -> Any:
    alias = alias or field.validation_alias
    if sequence is None:
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


def _param_aliases(
    field: ModelField, *, convert_underscores: bool = False, config: Mapping[str, Any] | None = None
) -> list[tuple[str, str]]:
    """(validation alias, request key) pairs a parameter is looked up by, preferred first: its alias
    (hyphenated for headers), the literal ``AliasChoices`` names, the field name when the model's
    config validates by name."""
    alias = field.validation_alias
    request_alias = alias.replace("_", "-") if convert_underscores and alias == field.name else alias
    choices = field.field_info.validation_alias
    if isinstance(field.field_info, params.Path) or isinstance(choices, AliasPath):
        return [(alias, request_alias)]
    aliases = [(alias, request_alias)]
    if isinstance(choices, AliasChoices):
        if any(isinstance(choice, AliasPath) for choice in choices.choices):
            return aliases
        # Choices are literal names, underscores and all, also for headers.
        aliases = [(choice, choice) for choice in cast(list[str], choices.choices)]
    config = config or {}
    by_name = config.get("validate_by_name", config.get("populate_by_name", False))
    if config.get("validate_by_alias") is False or by_name:
        request_name = field.name.replace("_", "-") if convert_underscores else field.name
        if config.get("validate_by_alias") is False:
            return [(field.name, request_name)]
        if field.name not in [a for a, _ in aliases]:
            aliases.append((field.name, request_name))
    return aliases


def _multidict_extras(received: Mapping[str, Any], processed: set[str]) -> dict[str, Any]:
    """What the source holds besides the keys a model read, repeated keys as lists (so that a
    model's ``extra`` policy sees every input)."""
    if isinstance(received, ImmutableMultiDict):
        items: Any = received.multi_items()
    elif isinstance(received, Headers):
        items = received.items()
    else:
        return {key: received.get(key) for key in received if key not in processed}
    grouped: dict[str, list[Any]] = {}
    for key, value in items:
        if key not in processed:
            grouped.setdefault(key, []).append(value)
    return {key: got[0] if len(got) == 1 else got for key, got in grouped.items()}


def _param_model_to_args(
    field: ModelField, model: type[BaseModel], received: Mapping[str, Any]
) -> tuple[Any, list[Any]]:
    """Validate one parameter model: its fields read from the source, the other keys passed along
    (so ``extra="forbid"`` can refuse them). An optional model none of whose keys came is None."""
    is_headers = isinstance(received, Headers)
    default_convert = getattr(field.field_info, "convert_underscores", True)
    to_process: dict[str, Any] = {}
    header_aliases: dict[str, str] = {}
    processed: set[str] = set()
    own_names: set[str] = set()
    for sub in model_fields(model):
        convert = is_headers and bool(getattr(sub.field_info, "convert_underscores", default_convert))
        aliases = _param_aliases(sub, convert_underscores=convert, config=model.model_config)
        own_names.update(name.lower() if is_headers else name for _, name in aliases)
        alias, request_alias = next((pair for pair in aliases if pair[1] in received), aliases[0])
        value = _multidict_value(sub, received, alias=request_alias)
        if value is not Undefined:
            to_process[alias] = value
        if is_headers:
            processed.add(request_alias.lower())
            # The unconverted field name is not an extra header either.
            processed.update(va.lower() for va, ha in aliases if va != ha)
            if alias != request_alias:
                header_aliases[sub.name] = request_alias
        else:
            processed.add(request_alias)
    to_process.update(_multidict_extras(received, processed))
    info = cast(params.Param, field.field_info)
    whole: Any = to_process
    supplied = bool(own_names.intersection(received)) or (
        model.model_config.get("extra") in ("allow", "forbid") and bool(to_process)
    )
    if info.annotation is not model and not supplied:
        whole = Undefined
    result, errors = _validate_field(field, whole, {}, (info.in_.value,))
    if header_aliases and model.model_config.get("loc_by_alias", True):
        # Errors name the header as sent, not the model's field.
        for error in errors:
            loc = error["loc"]
            if len(loc) > 1 and loc[1] in header_aliases:
                error["loc"] = (loc[0], header_aliases[loc[1]], *loc[2:])
    return result, errors


@dataclasses.dataclass(frozen=True)
class _ParamReading:
    """How a path, query, header or cookie parameter is read, worked out from its declaration once."""

    model: type[BaseModel] | None
    #: The request keys it is looked up by, preferred first.
    keys: tuple[str, ...]
    sequence: bool
    source: str


#: Per parameter, filled on its first request; weak, so that apps made and dropped (tests) go.
_readings: weakref.WeakKeyDictionary[ModelField, _ParamReading] = weakref.WeakKeyDictionary()


def _param_reading(field: ModelField) -> _ParamReading:
    reading = _readings.get(field)
    if reading is None:
        reading = _ParamReading(
            model=param_model(field),
            keys=tuple(key for _, key in _param_aliases(field)),
            sequence=is_sequence_annotation(field.annotation),
            source=cast(params.Param, field.field_info).in_.value,
        )
        _readings[field] = reading
    return reading


def request_params_to_args(
    fields: list[ModelField], received: Mapping[str, Any]
) -> tuple[dict[str, Any], list[Any]]:
    """Validate the fields of one source (path, query, headers or cookies); each may be a
    parameter model."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    for field in fields:
        reading = _param_reading(field)
        if reading.model is not None:
            result, field_errors = _param_model_to_args(field, reading.model, received)
        else:
            keys = reading.keys
            alias = keys[0] if len(keys) == 1 else next((key for key in keys if key in received), keys[0])
            value = _multidict_value(field, received, alias=alias, sequence=reading.sequence)
            result, field_errors = _validate_field(field, value, values, (reading.source, alias))
        if field_errors:
            errors.extend(field_errors)
        else:
            values[field.name] = result
    return values, errors


async def request_body_to_args(
    body_fields: list[ModelField], received_body: Any, embed_body_fields: bool
) -> tuple[dict[str, Any], list[Any]]:
    """Validate the body parameters of one dependant against the parsed body."""
    values: dict[str, Any] = {}
    errors: list[Any] = []
    first = body_fields[0]
    single = (
        len(body_fields) == 1
        and not embed_body_fields
        and not should_embed_body_fields(body_fields)
        and not form_models(first)
    )
    to_process: Any = received_body
    form_values: dict[str, tuple[str, Any]] = {}
    is_form = isinstance(received_body, FormData)
    if is_form:
        to_process = {}
        plain = [f for f in body_fields if not form_models(f)]
        if plain:
            for alias, value, field in await _form_body(plain, received_body):
                to_process[alias] = value
                if field is not None:
                    # The alias it was found by, and its value's shape, for this parameter.
                    form_values[field.name] = (alias, value)
    if single:
        value, errors = _validate_field(first, to_process, values, ("body",))
        return {first.name: value}, errors
    for field in body_fields:
        aliases = [alias for alias, _ in _param_aliases(field)]
        loc: tuple[Any, ...] = ("body", aliases[0])
        value = Undefined
        if is_form and (models := form_models(field)):
            # Each form model reads the form's original values by itself.
            value = await _form_model_value(field, models, received_body)
            loc = ("body",)
        elif is_form:
            alias, value = form_values.get(field.name, (aliases[0], Undefined))
            loc = ("body", alias)
        elif to_process is not Undefined and not isinstance(to_process, bytes):
            try:
                for alias in aliases:
                    value = to_process.get(alias, Undefined)
                    if value is not Undefined:
                        loc = ("body", alias)
                        break
            except AttributeError:
                # Embedded fields need an object, not a list, a scalar or null.
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
    manager = dependant.context_manager(**values)
    if dependant.is_gen_callable:
        return await stack.enter_async_context(contextmanager_in_threadpool(manager))
    return await stack.enter_async_context(manager)


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
            result = await cast("Callable[..., Coroutine[Any, Any, Any]]", call)(**solved.values)
        else:
            result = await run_in_threadpool(cast("Callable[..., Any]", call), **solved.values)
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
                fields, cast("Mapping[str, Any]", getattr(request, source))
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
