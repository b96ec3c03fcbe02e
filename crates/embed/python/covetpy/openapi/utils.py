"""The OpenAPI 3.1 document of an app: ``get_openapi`` walks the path operations (and webhooks)
and describes each one's parameters, body, responses and security, with every model's JSON
schema in ``components.schemas``. The document is the one FastAPI builds for the same app.

All schemas come from one pass of pydantic's JSON schema generator over every field of every
operation, so a model used in several places gets one component name and every ``$ref`` points
at it; a model whose input and output schemas differ becomes ``Name-Input`` and ``Name-Output``.
"""

from __future__ import annotations

import copy
import http.client
import inspect
import typing
import warnings
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, cast

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import CoreSchema, PydanticUndefined
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from covetpy import params
from covetpy._fields import ModelField, lenient_issubclass, model_fields, param_model
from covetpy.datastructures import DefaultPlaceholder
from covetpy.dependencies.models import Dependant, _unwrapped
from covetpy.encoders import jsonable_encoder
from covetpy.openapi.constants import METHODS_WITH_BODY, REF_PREFIX, REF_TEMPLATE
from covetpy.routing import APIRoute, is_body_allowed_for_status_code

Mode = Literal["validation", "serialization"]
#: A field's schema under the mode it was generated in.
FieldMapping = dict[tuple[ModelField, Mode], JsonSchemaValue]

#: One entry of a 422 answer's ``detail`` list, as the validation error handler writes it.
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "ValidationError",
    "type": "object",
    "properties": {
        "loc": {
            "title": "Location",
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        },
        "msg": {"title": "Message", "type": "string"},
        "type": {"title": "Error Type", "type": "string"},
        "input": {"title": "Input"},
        "ctx": {"title": "Context", "type": "object"},
    },
    "required": ["loc", "msg", "type"],
}

#: The body of a 422 answer.
HTTP_VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "properties": {
        "detail": {"title": "Detail", "type": "array", "items": {"$ref": REF_PREFIX + "ValidationError"}},
    },
}

# FastAPI's names for the two schemas, for code that extends the document.
validation_error_definition = VALIDATION_ERROR_SCHEMA
validation_error_response_definition = HTTP_VALIDATION_ERROR_SCHEMA

#: Descriptions of the response keys OpenAPI allows besides status codes (``"2XX"``, ``"default"``).
STATUS_CODE_RANGES: dict[str, str] = {
    "1XX": "Information",
    "2XX": "Success",
    "3XX": "Redirection",
    "4XX": "Client Error",
    "5XX": "Server Error",
    "DEFAULT": "Default Response",
}
status_code_ranges = STATUS_CODE_RANGES

#: What an item of a ``text/event-stream`` response looks like (the SSE wire fields).
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "data": {"type": "string"},
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer", "minimum": 0},
    },
}


class SchemaGenerator(GenerateJsonSchema):
    """pydantic's generator, with ``bytes`` described as raw octets (``contentMediaType``) rather
    than pydantic's ``format: binary``, as OpenAPI 3.1 asks; base64 only when the model's config
    encodes bytes that way."""

    def bytes_schema(self, schema: Any) -> JsonSchemaValue:
        json_schema: JsonSchemaValue = {"type": "string", "contentMediaType": "application/octet-stream"}
        encoding = (
            self._config.ser_json_bytes if self.mode == "serialization" else self._config.val_json_bytes
        )
        if encoding == "base64":
            json_schema["contentEncoding"] = "base64"
        self.update_with_validations(json_schema, schema, self.ValidationsMapping.bytes)
        return json_schema


def deep_dict_update(main: dict[Any, Any], update: dict[Any, Any]) -> None:
    """Merge ``update`` into ``main``: nested dicts merge, lists concatenate, anything else replaces."""
    for key, value in update.items():
        current = main.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            deep_dict_update(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            main[key] = current + value
        else:
            main[key] = value


# --- which routes and fields the document covers -----------------------------------------------


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route


def _walk_dependencies(dependant: Dependant) -> Iterator[tuple[Dependant, list[str], bool]]:
    """Each node of the graph once (a dependency used twice with the same cache key is solved once,
    so it is documented once), depth first in declaration order, with the OAuth2 scopes gathered
    on the way down to it and whether it is the root."""
    visited: set[Any] = set()
    stack: list[tuple[Dependant, list[str], bool]] = [(dependant, [], True)]
    while stack:
        node, parent_scopes, is_root = stack.pop()
        if node.cache_key in visited:
            continue
        visited.add(node.cache_key)
        scopes = list(parent_scopes)
        scopes.extend(s for s in node.oauth_scopes if s not in scopes)
        yield node, scopes, is_root
        stack.extend((sub, scopes, False) for sub in reversed(node.dependencies))


@dataclass
class _OperationInputs:
    """The parameters and security schemes a path operation's dependency graph declares."""

    path: list[ModelField] = field(default_factory=list)
    query: list[ModelField] = field(default_factory=list)
    header: list[ModelField] = field(default_factory=list)
    cookie: list[ModelField] = field(default_factory=list)
    security: list[tuple[Any, list[str]]] = field(default_factory=list)

    def groups(self) -> list[tuple[params.ParamTypes, list[ModelField]]]:
        return [
            (params.ParamTypes.path, self.path),
            (params.ParamTypes.query, self.query),
            (params.ParamTypes.header, self.header),
            (params.ParamTypes.cookie, self.cookie),
        ]


def _operation_inputs(dependant: Dependant) -> _OperationInputs:
    inputs = _OperationInputs()
    for node, scopes, is_root in _walk_dependencies(dependant):
        inputs.path.extend(node.path_params)
        inputs.query.extend(node.query_params)
        inputs.header.extend(node.header_params)
        inputs.cookie.extend(node.cookie_params)
        if not is_root and node.is_security_scheme:
            inputs.security.append((_security_scheme(node), scopes))
    return inputs


def _security_scheme(node: Dependant) -> Any:
    # The scheme object itself, also when the app wrapped it in functools.partial or a decorator.
    return _unwrapped(node.call)


def _param_model(param: ModelField) -> type[BaseModel] | None:
    """The model whose fields a parameter stands for (``Annotated[Filters, Query()]``)."""
    return param_model(param)


def _expanded(fields: Sequence[ModelField]) -> list[ModelField]:
    """Parameters with each parameter model replaced by its fields."""
    out: list[ModelField] = []
    for param in fields:
        model = _param_model(param)
        out.extend(_cached_model_fields(model) if model is not None else [param])
    return out


#: A parameter model's fields, made once per model: the schema pass and the parameter list must
#: look up the very same ModelField objects (the schemas are keyed by them).
_MODEL_FIELDS: weakref.WeakKeyDictionary[type[BaseModel], list[ModelField]] = weakref.WeakKeyDictionary()


def _cached_model_fields(model: type[BaseModel]) -> list[ModelField]:
    if model not in _MODEL_FIELDS:
        _MODEL_FIELDS[model] = model_fields(model)
    return _MODEL_FIELDS[model]


def _route_fields(routes: Sequence[BaseRoute]) -> list[ModelField]:
    """Every field the document shows a schema of: bodies, responses, parameters, callbacks'."""
    callbacks: list[ModelField] = []
    bodies: list[ModelField] = []
    responses: list[ModelField] = []
    parameters: list[ModelField] = []
    for route in _api_routes(routes):
        if not route.include_in_schema:
            continue
        if route.body_field is not None:
            bodies.append(route.body_field)
        if route.response_field is not None:
            responses.append(route.response_field)
        responses.extend(route.response_fields.values())
        if route.stream_item_field is not None:
            responses.append(route.stream_item_field)
        if route.callbacks:
            callbacks.extend(_route_fields(route.callbacks))
        inputs = _operation_inputs(route.dependant)
        for _, group in inputs.groups():
            parameters.extend(_expanded(group))
    return callbacks + bodies + responses + parameters


# --- schemas ------------------------------------------------------------------------------------


def _collect_models(annotation: Any, found: dict[type, None]) -> None:
    """The models and enums ``annotation`` mentions, nested ones included (insertion-ordered)."""
    if lenient_issubclass(annotation, BaseModel):
        if annotation in found:
            return
        found[annotation] = None
        for info in annotation.model_fields.values():
            _collect_models(info.annotation, found)
    elif lenient_issubclass(annotation, Enum):
        found[annotation] = None
    else:
        for arg in typing.get_args(annotation):
            _collect_models(arg, found)


def _has_computed_fields(model_field: ModelField) -> bool:
    """Whether the type's output has keys its input lacks (then input and output schemas always
    differ, even when the app asked for one schema per model)."""
    core: Any = model_field.json_schema_adapter().core_schema
    if isinstance(core, dict) and core.get("schema", {}).get("computed_fields"):
        return True
    seen: set[type] = set()

    def check(annotation: Any) -> bool:
        if lenient_issubclass(annotation, BaseModel):
            if annotation in seen:
                return False
            seen.add(annotation)
            if annotation.model_computed_fields:
                return True
            return any(check(info.annotation) for info in annotation.model_fields.values())
        return any(check(arg) for arg in typing.get_args(annotation))

    return check(model_field.field_info.annotation)


def _generation_mode(model_field: ModelField, separate_input_output_schemas: bool) -> Mode:
    if separate_input_output_schemas or _has_computed_fields(model_field):
        return model_field.mode
    return "validation"


def _definitions(
    fields: Sequence[ModelField], separate_input_output_schemas: bool
) -> tuple[FieldMapping, dict[str, dict[str, Any]]]:
    """Every field's schema and the component schemas, from one generator pass."""
    generator = SchemaGenerator(ref_template=REF_TEMPLATE)
    top_level = {f.field_info.annotation for f in fields}
    extra: list[ModelField] = []
    # Nested models (and enums) become inputs too, in the mode of the fields that hold them, so
    # a model only ever seen inside another still gets its own component schema.
    for mode in ("validation", "serialization"):
        found: dict[type, None] = {}
        for f in fields:
            if f.mode == mode:
                _collect_models(f.field_info.annotation, found)
        extra.extend(
            ModelField(
                field_info=FieldInfo(annotation=model), name=model.__name__, annotation=model, mode=mode
            )
            for model in found
            if model not in top_level
        )
    inputs: list[tuple[ModelField, Mode, CoreSchema]] = [
        (f, _generation_mode(f, separate_input_output_schemas), f.json_schema_adapter().core_schema)
        for f in [*fields, *extra]
    ]
    mapping, definitions = generator.generate_definitions(inputs=inputs)
    for schema in definitions.values():
        # A form feed ends what the documentation shows of a model's docstring.
        if isinstance(schema.get("description"), str):
            schema["description"] = schema["description"].split("\f")[0]
    return mapping, cast(dict[str, dict[str, Any]], definitions)


def _field_schema(
    model_field: ModelField,
    mapping: FieldMapping,
    separate_input_output_schemas: bool,
    alias: str | None = None,
) -> dict[str, Any]:
    """The schema of one field (a ``$ref`` for models), titled after its name when inline."""
    schema = dict(mapping[(model_field, _generation_mode(model_field, separate_input_output_schemas))])
    if "$ref" not in schema:
        if alias is None:
            if model_field.mode == "validation":
                alias = model_field.validation_alias or model_field.alias
            else:
                alias = model_field.field_info.serialization_alias or model_field.alias
        schema["title"] = model_field.field_info.title or alias.title().replace("_", " ")
    return schema


# --- one operation ------------------------------------------------------------------------------


def _declared_alias(param: ModelField) -> str:
    """The key the parameter is read under: its validation alias, else its alias (a header's
    name with underscores already converted), else its Python name."""
    info = param.field_info
    if isinstance(info.validation_alias, str) and info.validation_alias:
        return info.validation_alias
    return info.alias or param.name


def _request_name(param: ModelField, alias: str, convert_underscores: bool) -> str:
    if convert_underscores and alias == param.name:
        return alias.replace("_", "-")
    return alias


def _given(value: Any) -> bool:
    return value is not PydanticUndefined and value is not None


def _parameters(inputs: _OperationInputs, mapping: FieldMapping, separate: bool) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    for location, group in inputs.groups():
        for parent in group:
            if not getattr(parent.field_info, "include_in_schema", True):
                continue
            model = _param_model(parent)
            # ``Filters | None = None``: none of the model's fields is required.
            optional_model = (
                model is not None
                and parent.field_info.annotation is not model
                and not parent.field_info.is_required()
            )
            for param in _expanded([parent]):
                info = param.field_info
                convert = location is params.ParamTypes.header and bool(
                    getattr(
                        info, "convert_underscores", getattr(parent.field_info, "convert_underscores", True)
                    )
                )
                alias = _declared_alias(param)
                parameter: dict[str, Any] = {
                    "name": _request_name(param, alias, convert),
                    "in": location.value,
                    "required": info.is_required() and not optional_model,
                    "schema": _field_schema(param, mapping, separate, alias=alias),
                }
                if info.description:
                    parameter["description"] = info.description
                openapi_examples = getattr(info, "openapi_examples", None)
                example = getattr(info, "example", None)
                if openapi_examples:
                    parameter["examples"] = jsonable_encoder(openapi_examples)
                elif _given(example):
                    parameter["example"] = jsonable_encoder(example)
                if getattr(info, "deprecated", None):
                    parameter["deprecated"] = True
                parameters.append(parameter)
    # One entry per (location, name); a required declaration wins over an optional one.
    unique = {(p["in"], p["name"]): p for p in parameters}
    unique.update({(p["in"], p["name"]): p for p in parameters if p.get("required")})
    return list(unique.values())


def _request_body(body_field: ModelField, mapping: FieldMapping, separate: bool) -> dict[str, Any]:
    info = body_field.field_info
    content: dict[str, Any] = {"schema": _field_schema(body_field, mapping, separate)}
    openapi_examples = getattr(info, "openapi_examples", None)
    example = getattr(info, "example", None)
    if openapi_examples:
        content["examples"] = jsonable_encoder(openapi_examples)
    elif _given(example):
        content["example"] = jsonable_encoder(example)
    body: dict[str, Any] = {}
    if info.is_required():
        body["required"] = True
    body["content"] = {getattr(info, "media_type", "application/json"): content}
    return body


def _security(schemes: list[tuple[Any, list[str]]]) -> tuple[dict[str, Any], list[dict[str, list[str]]]]:
    """``components.securitySchemes`` entries and the operation's requirements (scopes merged per scheme)."""
    definitions: dict[str, Any] = {}
    requirements: dict[str, list[str]] = {}
    for scheme, scopes in schemes:
        definitions[scheme.scheme_name] = jsonable_encoder(scheme.model, by_alias=True, exclude_none=True)
        merged = requirements.setdefault(scheme.scheme_name, [])
        merged.extend(s for s in scopes if s not in merged)
    return definitions, [{name: scopes} for name, scopes in requirements.items()]


def _response_class(route: APIRoute) -> type[Response]:
    value = route.response_class
    return cast(type[Response], value.value if isinstance(value, DefaultPlaceholder) else value)


def _default_status(route: APIRoute, response_class: type[Response]) -> str:
    if route.status_code is not None:
        return str(route.status_code)
    parameter = inspect.signature(response_class.__init__).parameters.get("status_code")
    if parameter is not None and isinstance(parameter.default, int):
        return str(parameter.default)
    return "200"


def _is_generator_route(route: APIRoute) -> bool:
    return route.dependant.is_gen_callable or route.dependant.is_async_gen_callable


def _success_content(
    route: APIRoute, response_class: type[Response], mapping: FieldMapping, separate: bool
) -> dict[str, Any] | None:
    """The success response's ``content``, or None when it has none."""
    from covetpy.sse import EventSourceResponse

    if _is_generator_route(route):
        if lenient_issubclass(response_class, EventSourceResponse):
            item = copy.deepcopy(SSE_EVENT_SCHEMA)
            if route.stream_item_field is not None:
                item["required"] = ["data"]
                item["properties"]["data"] = {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": _field_schema(route.stream_item_field, mapping, separate),
                }
            return {"text/event-stream": {"itemSchema": item}}
        if isinstance(route.response_class, DefaultPlaceholder):
            item_schema: dict[str, Any] = {}
            if route.stream_item_field is not None:
                item_schema = _field_schema(route.stream_item_field, mapping, separate)
            return {"application/jsonl": {"itemSchema": item_schema}}
    media_type = response_class.media_type
    if not media_type:
        return None
    schema: dict[str, Any] = {"type": "string"}
    if lenient_issubclass(response_class, JSONResponse):
        schema = _field_schema(route.response_field, mapping, separate) if route.response_field else {}
    return {media_type: {"schema": schema}}


def _additional_responses(
    route: APIRoute, responses: dict[str, Any], media_type: str | None, mapping: FieldMapping, separate: bool
) -> None:
    for code, declared in route.responses.items():
        extra = copy.deepcopy(declared)
        extra.pop("model", None)
        key = str(code).upper()
        if key == "DEFAULT":
            key = "default"
        response = responses.setdefault(key, {})
        model_field = route.response_fields.get(code)
        if model_field is not None:
            schema = extra.setdefault("content", {}).setdefault(media_type or "application/json", {})
            deep_dict_update(schema.setdefault("schema", {}), _field_schema(model_field, mapping, separate))
        status_text = STATUS_CODE_RANGES.get(str(code).upper())
        if status_text is None:
            try:
                status_text = http.client.responses.get(int(code))
            except ValueError:
                raise ValueError(
                    f"responses key {code!r} of {route.path!r}: expected a status code, 'default' "
                    "or a range such as '2XX'"
                ) from None
        description = (
            extra.get("description") or response.get("description") or status_text or "Additional Response"
        )
        deep_dict_update(response, extra)
        response["description"] = description


def _summary(route: APIRoute) -> str:
    return route.summary or route.name.replace("_", " ").title()


def _operation_id(route: APIRoute, operation_ids: set[str]) -> str:
    operation_id = route.operation_id or route.unique_id
    if operation_id in operation_ids:
        endpoint_name = getattr(route.endpoint, "__name__", "<unnamed_endpoint>")
        message = f"Duplicate Operation ID {operation_id} for function {endpoint_name}"
        file_name = getattr(route.endpoint, "__globals__", {}).get("__file__")
        if file_name:
            message += f" at {file_name}"
        warnings.warn(message, stacklevel=2)
    operation_ids.add(operation_id)
    return operation_id


@dataclass
class _Context:
    """What every operation of one document shares."""

    mapping: FieldMapping
    separate: bool
    operation_ids: set[str] = field(default_factory=set)


def _openapi_path(*, route: APIRoute, ctx: _Context) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The path item of ``route`` (one operation per method), the security schemes it uses and
    the extra component schemas it needs (the validation error ones)."""
    path: dict[str, Any] = {}
    security_schemes: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    if not route.include_in_schema:
        return path, security_schemes, definitions
    response_class = _response_class(route)
    inputs = _operation_inputs(route.dependant)
    has_params = any(_expanded(group) for _, group in inputs.groups())
    for method in route.methods:
        operation: dict[str, Any] = {}
        if route.tags:
            operation["tags"] = route.tags
        operation["summary"] = _summary(route)
        if route.description:
            operation["description"] = route.description
        operation["operationId"] = _operation_id(route, ctx.operation_ids)
        if route.deprecated:
            operation["deprecated"] = route.deprecated
        schemes, requirements = _security(inputs.security)
        if requirements:
            operation.setdefault("security", []).extend(requirements)
        security_schemes.update(schemes)
        parameters = _parameters(inputs, ctx.mapping, ctx.separate)
        if parameters:
            operation["parameters"] = parameters
        if method in METHODS_WITH_BODY and route.body_field is not None:
            operation["requestBody"] = _request_body(route.body_field, ctx.mapping, ctx.separate)
        if route.callbacks:
            callbacks: dict[str, Any] = {}
            for callback in _api_routes(route.callbacks):
                # A callback's own schemes and components are not added to the document.
                callback_path, _, _ = _openapi_path(route=callback, ctx=ctx)
                callbacks[callback.name] = {callback.path: callback_path}
            operation["callbacks"] = callbacks
        status = _default_status(route, response_class)
        responses: dict[str, Any] = operation.setdefault("responses", {})
        responses.setdefault(status, {})["description"] = route.response_description
        if is_body_allowed_for_status_code(route.status_code):
            content = _success_content(route, response_class, ctx.mapping, ctx.separate)
            if content is not None:
                target = responses[status].setdefault("content", {})
                for media_type, value in content.items():
                    target.setdefault(media_type, {}).update(value)
        if route.responses:
            _additional_responses(route, responses, response_class.media_type, ctx.mapping, ctx.separate)
        if (has_params or route.body_field is not None) and not any(
            key in responses for key in ("422", "4XX", "default")
        ):
            responses["422"] = {
                "description": "Validation Error",
                "content": {"application/json": {"schema": {"$ref": REF_PREFIX + "HTTPValidationError"}}},
            }
            definitions.setdefault("ValidationError", VALIDATION_ERROR_SCHEMA)
            definitions.setdefault("HTTPValidationError", HTTP_VALIDATION_ERROR_SCHEMA)
        if route.openapi_extra:
            deep_dict_update(operation, route.openapi_extra)
        path[method.lower()] = operation
    return path, security_schemes, definitions


def get_fields_from_routes(routes: Sequence[BaseRoute]) -> list[ModelField]:
    """Every field of ``routes`` whose schema the document shows."""
    return _route_fields(routes)


def _validated(document: dict[str, Any]) -> Any:
    """The document through the OpenAPI models (checked, keys under their spec names, unset ones
    left out, numbers and URLs in the types the spec gives them), or only made JSON-ready when
    the models (the security branch's ``covetpy.openapi.models``) are not part of this tree."""
    try:
        from covetpy.openapi.models import OpenAPI  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return jsonable_encoder(document, by_alias=True, exclude_none=True)
    return jsonable_encoder(OpenAPI(**document), by_alias=True, exclude_none=True)


def get_openapi(
    *,
    title: str,
    version: str,
    openapi_version: str = "3.1.0",
    summary: str | None = None,
    description: str | None = None,
    routes: Sequence[BaseRoute],
    webhooks: Sequence[BaseRoute] | None = None,
    tags: list[dict[str, Any]] | None = None,
    servers: list[dict[str, str | Any]] | None = None,
    terms_of_service: str | None = None,
    contact: dict[str, str | Any] | None = None,
    license_info: dict[str, str | Any] | None = None,
    separate_input_output_schemas: bool = True,
    external_docs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenAPI document of ``routes`` (and ``webhooks``), JSON-ready."""
    info: dict[str, Any] = {"title": title, "version": version}
    if summary:
        info["summary"] = summary
    if description:
        info["description"] = description
    if terms_of_service:
        info["termsOfService"] = terms_of_service
    if contact:
        info["contact"] = contact
    if license_info:
        info["license"] = license_info
    document: dict[str, Any] = {"openapi": openapi_version, "info": info}
    if servers:
        document["servers"] = servers
    all_routes = [*routes, *(webhooks or [])]
    mapping, definitions = _definitions(_route_fields(all_routes), separate_input_output_schemas)
    ctx = _Context(mapping=mapping, separate=separate_input_output_schemas)
    components: dict[str, dict[str, Any]] = {}
    sections: list[tuple[dict[str, dict[str, Any]], Sequence[BaseRoute]]] = []
    paths: dict[str, dict[str, Any]] = {}
    webhook_paths: dict[str, dict[str, Any]] = {}
    sections = [(paths, routes), (webhook_paths, webhooks or [])]
    for target, section_routes in sections:
        for route in _api_routes(section_routes):
            path, schemes, extra_definitions = _openapi_path(route=route, ctx=ctx)
            if path:
                target.setdefault(route.path_format, {}).update(path)
            if schemes:
                components.setdefault("securitySchemes", {}).update(schemes)
            definitions.update(extra_definitions)
    if definitions:
        components["schemas"] = {name: definitions[name] for name in sorted(definitions)}
    if components:
        document["components"] = components
    document["paths"] = paths
    if webhook_paths:
        document["webhooks"] = webhook_paths
    if tags:
        document["tags"] = tags
    if external_docs:
        document["externalDocs"] = external_docs
    return cast(dict[str, Any], _validated(document))


__all__ = [
    "HTTP_VALIDATION_ERROR_SCHEMA",
    "SSE_EVENT_SCHEMA",
    "STATUS_CODE_RANGES",
    "VALIDATION_ERROR_SCHEMA",
    "SchemaGenerator",
    "deep_dict_update",
    "get_fields_from_routes",
    "get_openapi",
    "status_code_ranges",
    "validation_error_definition",
    "validation_error_response_definition",
]
