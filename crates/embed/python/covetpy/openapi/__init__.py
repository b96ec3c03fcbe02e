"""OpenAPI 3.1 document for a CovetPy app, plus the Swagger UI and ReDoc pages."""

from __future__ import annotations

import html
import inspect
import json
import re
import uuid
from collections.abc import Sequence
from enum import Enum
from typing import Any, Literal

from covetpy import _typing as t
from covetpy.encoders import jsonable_encoder
from covetpy.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from covetpy.routing import ParamSpec, RouteSpec

if t.HAS_PYDANTIC:
    from pydantic import TypeAdapter

_CONVERTOR = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*):[a-zA-Z_]+}")
REF_PREFIX = "#/components/schemas/"
METHODS_WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}

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
HTTP_VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "title": "HTTPValidationError",
    "type": "object",
    "properties": {
        "detail": {
            "title": "Detail",
            "type": "array",
            "items": {"$ref": REF_PREFIX + "ValidationError"},
        }
    },
}


def _plain_schema(annotation: Any) -> dict[str, Any]:
    """A JSON schema without pydantic, for the common annotations."""
    base = t.split_annotated(annotation)[0]
    inner, optional = t.strip_optional(base)
    schema: dict[str, Any]
    if inner is bool:
        schema = {"type": "boolean"}
    elif inner is int:
        schema = {"type": "integer"}
    elif inner is float:
        schema = {"type": "number"}
    elif inner is str:
        schema = {"type": "string"}
    elif inner is uuid.UUID:
        schema = {"type": "string", "format": "uuid"}
    elif isinstance(inner, type) and issubclass(inner, Enum):
        schema = {"enum": [jsonable_encoder(m.value) for m in inner]}
    elif t.is_sequence(inner):
        schema = {"type": "array", "items": _plain_schema(t.sequence_item(inner))}
    elif t.is_mapping(inner):
        schema = {"type": "object", "additionalProperties": True}
    else:
        schema = {}
    if optional and schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


SchemaMode = Literal["validation", "serialization"]


class _SchemaBuilder:
    """Collects JSON schemas for many annotations, sharing one set of component definitions."""

    def __init__(self) -> None:
        self._inputs: list[tuple[Any, SchemaMode, Any]] = []
        self._results: dict[tuple[Any, SchemaMode], dict[str, Any]] = {}
        self.definitions: dict[str, Any] = {}

    def add(self, key: Any, annotation: Any, mode: SchemaMode = "validation") -> None:
        if t.HAS_PYDANTIC:
            try:
                adapter = TypeAdapter(annotation)
            except Exception:  # noqa: BLE001 - an annotation pydantic cannot handle gets an empty schema
                self._results[(key, mode)] = {}
                return
            self._inputs.append((key, mode, adapter))
        else:
            self._results[(key, mode)] = _plain_schema(annotation)

    def build(self) -> None:
        if not (t.HAS_PYDANTIC and self._inputs):
            return
        try:
            results, definitions = TypeAdapter.json_schemas(
                self._inputs, ref_template=REF_PREFIX + "{model}"
            )
        except Exception:  # noqa: BLE001 - fall back to one schema at a time
            results, definitions = {}, {}
            for key, mode, adapter in self._inputs:
                try:
                    schema = adapter.json_schema(
                        mode=mode, ref_template=REF_PREFIX + "{model}"
                    )
                except Exception:  # noqa: BLE001
                    schema = {}
                definitions.update(schema.pop("$defs", {}))
                results[(key, mode)] = schema
            definitions = {"$defs": definitions}
        self._results.update(results)
        self.definitions.update(definitions.get("$defs", {}))

    def get(self, key: Any, mode: SchemaMode = "validation") -> dict[str, Any]:
        return dict(self._results.get((key, mode), {}))


def _param_schema(spec: ParamSpec) -> Any:
    return spec.field_annotation() if spec.marker is not None else spec.annotation


def _response_media_type(response_class: type[Response] | None) -> str:
    if response_class is None:
        return "application/json"
    return response_class.media_type or "application/json"


def get_openapi(
    *,
    title: str,
    version: str,
    routes: Sequence[RouteSpec],
    openapi_version: str = "3.1.0",
    summary: str | None = None,
    description: str | None = None,
    tags: list[dict[str, Any]] | None = None,
    servers: list[dict[str, Any]] | None = None,
    terms_of_service: str | None = None,
    contact: dict[str, Any] | None = None,
    license_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the OpenAPI document for ``routes`` (as FastAPI lays it out)."""
    info: dict[str, Any] = {"title": title}
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
    info["version"] = version
    document: dict[str, Any] = {"openapi": openapi_version, "info": info}
    if servers:
        document["servers"] = servers

    included = [
        (spec, spec.route)
        for spec in routes
        if spec.route is not None and spec.route.include_in_schema
    ]
    builder = _SchemaBuilder()
    for index, (spec, route) in enumerate(included):
        for param in spec.params:
            if param.source != "request":
                builder.add(("param", index, param.name), _param_schema(param))
        for param in spec.body_params:
            builder.add(("body", index, param.name), _param_schema(param))
        model = route.effective_response_model()
        if model is not None:
            builder.add(("response", index), model, "serialization")
    builder.build()

    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = dict(builder.definitions)
    needs_validation_schemas = False
    for index, (spec, route) in enumerate(included):
        path_item = paths.setdefault(_CONVERTOR.sub(r"{\1}", spec.path), {})
        for method in route.methods:
            operation: dict[str, Any] = {}
            if route.tags:
                operation["tags"] = list(route.tags)
            operation["summary"] = route.summary or t.title_case(route.name)
            doc = route.description or inspect.getdoc(route.endpoint)
            if doc:
                operation["description"] = doc
            operation_id = route.operation_id_for(method)
            operation["operationId"] = operation_id
            if route.deprecated:
                operation["deprecated"] = True

            parameters = []
            for param in spec.params:
                if param.source == "request" or not param.include_in_schema:
                    continue
                schema = builder.get(("param", index, param.name))
                if "$ref" not in schema:
                    schema.setdefault("title", t.title_case(param.alias))
                if (
                    not param.required
                    and param.default is not None
                    and param.default_factory is None
                ):
                    try:
                        schema.setdefault("default", jsonable_encoder(param.default))
                    except ValueError:
                        pass
                entry: dict[str, Any] = {
                    "name": param.alias,
                    "in": param.source,
                    "required": param.required,
                    "schema": schema,
                }
                if param.marker is not None and param.marker.description:
                    entry["description"] = param.marker.description
                if param.marker is not None and param.marker.deprecated:
                    entry["deprecated"] = True
                parameters.append(entry)
            if parameters:
                operation["parameters"] = parameters

            if spec.body_params:
                embed = len(spec.body_params) > 1 or spec.body_params[0].embed
                media_type = getattr(
                    spec.body_params[0].marker, "media_type", "application/json"
                )
                if embed:
                    body_name = f"Body_{operation_id}"
                    properties = {}
                    required = []
                    for param in spec.body_params:
                        prop = builder.get(("body", index, param.name))
                        if "$ref" not in prop:
                            prop.setdefault("title", t.title_case(param.alias))
                        properties[param.alias] = prop
                        if param.required:
                            required.append(param.alias)
                    body_schema: dict[str, Any] = {
                        "properties": properties,
                        "type": "object",
                        "title": body_name,
                    }
                    if required:
                        body_schema["required"] = required
                    schemas[body_name] = body_schema
                    schema = {"$ref": REF_PREFIX + body_name}
                    body_required = bool(required)
                else:
                    param = spec.body_params[0]
                    schema = builder.get(("body", index, param.name))
                    if "$ref" not in schema:
                        schema.setdefault("title", t.title_case(param.alias))
                    body_required = param.required
                request_body: dict[str, Any] = {
                    "content": {media_type: {"schema": schema}}
                }
                if body_required:
                    request_body["required"] = True
                operation["requestBody"] = request_body

            responses: dict[str, Any] = {}
            status = str(spec.status_code)
            ok: dict[str, Any] = {"description": route.response_description}
            if spec.status_code not in (204, 304) and spec.status_code >= 200:
                response_class = route.response_class
                media = _response_media_type(response_class)
                if response_class is None or issubclass(response_class, JSONResponse):
                    model = route.effective_response_model()
                    response_schema = (
                        builder.get(("response", index), "serialization")
                        if model is not None
                        else {}
                    )
                    if (
                        model is not None
                        and "$ref" not in response_schema
                        and response_schema
                    ):
                        response_schema.setdefault(
                            "title", f"Response {t.title_case(operation_id)}"
                        )
                elif response_class is not None and issubclass(
                    response_class, (HTMLResponse, PlainTextResponse)
                ):
                    response_schema = {"type": "string"}
                else:
                    response_schema = {}
                ok["content"] = {media: {"schema": response_schema}}
            responses[status] = ok
            if any(p.source != "request" for p in spec.params) or spec.body_params:
                needs_validation_schemas = True
                responses["422"] = {
                    "description": "Validation Error",
                    "content": {
                        "application/json": {
                            "schema": {"$ref": REF_PREFIX + "HTTPValidationError"}
                        }
                    },
                }
            for code, extra in route.responses.items():
                entry = dict(responses.get(str(code), {}))
                entry.update(jsonable_encoder(extra))
                entry.setdefault("description", "Additional Response")
                responses[str(code)] = entry
            operation["responses"] = responses
            if route.openapi_extra:
                operation.update(route.openapi_extra)
            path_item[method.lower()] = operation

    document["paths"] = paths
    if needs_validation_schemas:
        schemas.setdefault("ValidationError", VALIDATION_ERROR_SCHEMA)
        schemas.setdefault("HTTPValidationError", HTTP_VALIDATION_ERROR_SCHEMA)
    if schemas:
        document["components"] = {"schemas": dict(sorted(schemas.items()))}
    if tags:
        document["tags"] = tags
    encoded: dict[str, Any] = jsonable_encoder(document)
    return encoded


SWAGGER_JS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
SWAGGER_CSS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
REDOC_JS = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"
FAVICON = "https://fastapi.tiangolo.com/img/favicon.png"


def get_swagger_ui_html(*, openapi_url: str, title: str) -> HTMLResponse:
    """A Swagger UI page for the document at ``openapi_url`` (scripts from the jsDelivr CDN)."""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" type="text/css" href="{SWAGGER_CSS}">
<link rel="shortcut icon" href="{FAVICON}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{SWAGGER_JS}"></script>
<script>
const ui = SwaggerUIBundle({{
  url: {json.dumps(openapi_url)},
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}});
</script>
</body>
</html>
"""
    return HTMLResponse(page)


def get_redoc_html(*, openapi_url: str, title: str) -> HTMLResponse:
    """A ReDoc page for the document at ``openapi_url`` (script from the jsDelivr CDN)."""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="shortcut icon" href="{FAVICON}">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc requires JavaScript to render this page.</noscript>
<redoc spec-url="{html.escape(openapi_url, quote=True)}"></redoc>
<script src="{REDOC_JS}"></script>
</body>
</html>
"""
    return HTMLResponse(page)


__all__ = ["get_openapi", "get_redoc_html", "get_swagger_ui_html"]
