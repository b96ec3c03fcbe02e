"""`covetpy.security` and `covetpy.openapi.models` side by side with FastAPI's own classes.

Every security scheme is called directly, as the dependency resolver would call it, with a
Starlette `Request` built from an ASGI scope; the same call is made on FastAPI's class with the
same arguments, and the two must agree: the returned value, or the raised HTTPException's
status, detail and headers, and the OpenAPI model each scheme exposes. The OpenAPI models must
validate FastAPI-generated documents (and reject broken ones) exactly as FastAPI's do.
"""

import asyncio
import base64
import enum
import importlib.util
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import covetpy.openapi.models as cmodels
import covetpy.security as csec
import covetpy.security.http as chttp
import fastapi.openapi.models as fmodels
import fastapi.security as fsec
import fastapi.security.http as fhttp
import httpx
import jwt
import pydantic
import pytest
from conftest import ServerFactory
from covetpy.exceptions import HTTPException as CovetHTTPException
from covetpy.security.base import SecurityBase as CovetSecurityBase
from covetpy.security.utils import get_authorization_scheme_param
from fastapi import Depends, FastAPI, Security
from fastapi.security.utils import get_authorization_scheme_param as fastapi_scheme_param
from fastapi.testclient import TestClient
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def make_request(
    *,
    authorization: str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    cookie: str | None = None,
) -> Request:
    raw_headers: list[tuple[bytes, bytes]] = []
    if authorization is not None:
        raw_headers.append((b"authorization", authorization.encode("latin-1")))
    for name, value in (headers or {}).items():
        raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    if cookie is not None:
        raw_headers.append((b"cookie", cookie.encode("latin-1")))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": query.encode("latin-1"),
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    return Request(scope)


def plain(value: Any) -> Any:
    """A comparable form of what a scheme returned (pydantic models by class name and fields)."""
    if isinstance(value, pydantic.BaseModel):
        return (type(value).__name__, value.model_dump())
    return value


def outcome(scheme: Any, request: Request) -> tuple[Any, ...]:
    """("ok", value) or ("error", status, detail, headers) of one call of a scheme."""
    try:
        value = asyncio.run(scheme(request))
    except StarletteHTTPException as exc:
        return ("error", exc.status_code, exc.detail, exc.headers)
    return ("ok", plain(value))


def enum_values(value: Any) -> Any:
    """A python-mode dump with every Enum member replaced by its value (the two libraries have
    their own Enum classes, which never compare equal)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {k: enum_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [enum_values(v) for v in value]
    return value


def model_dumps(model: pydantic.BaseModel) -> tuple[Any, Any, str]:
    return (
        enum_values(model.model_dump(by_alias=True, exclude_none=True)),
        model.model_dump(mode="json", by_alias=True, exclude_none=True),
        model.model_dump_json(by_alias=True, exclude_none=True),
    )


# Each scheme configuration, built with the same name and arguments from both libraries.
SCHEMES: list[tuple[str, dict[str, Any]]] = [
    ("APIKeyQuery", {"name": "api_key"}),
    ("APIKeyQuery", {"name": "key", "scheme_name": "QueryKey", "description": "A query key"}),
    ("APIKeyHeader", {"name": "X-API-Key"}),
    ("APIKeyHeader", {"name": "x-key", "description": "Header key", "scheme_name": "Hdr"}),
    ("APIKeyCookie", {"name": "session"}),
    ("APIKeyCookie", {"name": "session", "description": "Session cookie"}),
    ("HTTPBase", {"scheme": "Other"}),
    ("HTTPBase", {"scheme": "custom", "description": "Custom scheme", "scheme_name": "Custom"}),
    ("HTTPBasic", {}),
    ("HTTPBasic", {"realm": "simple"}),
    ("HTTPBasic", {"realm": "simple", "description": "Basic with realm", "scheme_name": "B"}),
    ("HTTPBearer", {}),
    ("HTTPBearer", {"bearerFormat": "JWT", "description": "JWT tokens", "scheme_name": "jwt"}),
    ("HTTPDigest", {}),
    ("HTTPDigest", {"description": "Digest", "scheme_name": "D"}),
    ("OAuth2", {}),
    ("OAuth2", {"flows": {"password": {"tokenUrl": "token", "scopes": {"read": "Read"}}}}),
    (
        "OAuth2",
        {
            "flows": {
                "implicit": {"authorizationUrl": "https://a.example/auth", "scopes": {}},
                "clientCredentials": {"tokenUrl": "/cc", "refreshUrl": "/refresh"},
            },
            "description": "Several flows",
        },
    ),
    ("OAuth2PasswordBearer", {"tokenUrl": "token"}),
    (
        "OAuth2PasswordBearer",
        {
            "tokenUrl": "/token",
            "scopes": {"me": "Read me", "items": "Read items"},
            "refreshUrl": "/refresh",
            "description": "Password flow",
            "scheme_name": "pw",
        },
    ),
    ("OAuth2AuthorizationCodeBearer", {"authorizationUrl": "authorize", "tokenUrl": "token"}),
    (
        "OAuth2AuthorizationCodeBearer",
        {
            "authorizationUrl": "https://id.example/authorize",
            "tokenUrl": "https://id.example/token",
            "refreshUrl": "https://id.example/refresh",
            "scopes": {"openid": "OpenID"},
            "description": "Code flow",
        },
    ),
    ("OpenIdConnect", {"openIdConnectUrl": "/openid"}),
    (
        "OpenIdConnect",
        {"openIdConnectUrl": "https://id.example/.well-known/openid-configuration", "description": "OIDC"},
    ),
]


def ours(class_name: str, /, **kwargs: Any) -> Any:
    """covetpy's scheme class ``class_name`` (``HTTPBase`` lives in ``security.http`` only, as in
    FastAPI) built with ``kwargs``."""
    return (getattr(csec, class_name, None) or getattr(chttp, class_name))(**kwargs)


def theirs(class_name: str, /, **kwargs: Any) -> Any:
    """FastAPI's scheme class ``class_name`` built with ``kwargs``."""
    return (getattr(fsec, class_name, None) or getattr(fhttp, class_name))(**kwargs)


def scheme_id(entry: tuple[str, dict[str, Any]]) -> str:
    name, kwargs = entry
    return name + ("(" + ",".join(sorted(kwargs)) + ")" if kwargs else "()")


# The requests each scheme is called with: no credentials, well-formed ones for every scheme,
# and malformed Authorization headers (no scheme, no credentials, wrong scheme, bad base64,
# not ASCII, no colon, odd spacing and case).
REQUESTS: dict[str, Callable[[], Request]] = {
    "nothing": lambda: make_request(),
    "empty-authorization": lambda: make_request(authorization=""),
    "bearer": lambda: make_request(authorization="Bearer abc.def"),
    "bearer-lowercase": lambda: make_request(authorization="bearer token123"),
    "bearer-no-token": lambda: make_request(authorization="Bearer"),
    "bearer-only-spaces": lambda: make_request(authorization="Bearer    "),
    "bearer-no-space": lambda: make_request(authorization="Bearertoken"),
    "bearer-leading-space": lambda: make_request(authorization=" Bearer token"),
    "bearer-extra-spaces": lambda: make_request(authorization="Bearer   tok  en  "),
    "basic": lambda: make_request(authorization="Basic " + b64(b"john:secret")),
    "basic-uppercase": lambda: make_request(authorization="BASIC " + b64(b"john:s:e:c")),
    "basic-empty-password": lambda: make_request(authorization="Basic " + b64(b"john:")),
    "basic-no-colon": lambda: make_request(authorization="Basic " + b64(b"johnsecret")),
    "basic-bad-base64": lambda: make_request(authorization="Basic not-base64!!"),
    "basic-bad-padding": lambda: make_request(authorization="Basic abc"),
    "basic-not-ascii": lambda: make_request(authorization="Basic " + b64("jöhn:pw".encode())),
    "basic-no-credentials": lambda: make_request(authorization="Basic"),
    "digest": lambda: make_request(authorization='Digest username="u", realm="r", nonce="n"'),
    "other-scheme": lambda: make_request(authorization="Token xyz"),
    "scheme-only": lambda: make_request(authorization="Other"),
    "api-key-everywhere": lambda: make_request(
        query="api_key=q1&key=q2",
        headers={"X-API-Key": "h1", "x-key": "h2"},
        cookie="session=c1; other=x",
    ),
    "api-key-empty": lambda: make_request(
        query="api_key=&key=", headers={"X-API-Key": ""}, cookie="session="
    ),
    "api-key-and-bearer": lambda: make_request(
        authorization="Bearer tok", query="api_key=abc", headers={"x-key": "k"}, cookie="session=s"
    ),
}


@pytest.mark.parametrize("auto_error", [True, False], ids=["auto_error", "no_auto_error"])
@pytest.mark.parametrize("entry", SCHEMES, ids=[scheme_id(e) for e in SCHEMES])
def test_scheme_answers_as_fastapi(entry: tuple[str, dict[str, Any]], auto_error: bool) -> None:
    name, kwargs = entry
    mine = ours(name, **kwargs, auto_error=auto_error)
    reference = theirs(name, **kwargs, auto_error=auto_error)
    for label, build in REQUESTS.items():
        assert outcome(mine, build()) == outcome(reference, build()), label


@pytest.mark.parametrize("entry", SCHEMES, ids=[scheme_id(e) for e in SCHEMES])
def test_scheme_model_and_name_as_fastapi(entry: tuple[str, dict[str, Any]]) -> None:
    name, kwargs = entry
    mine = ours(name, **kwargs)
    reference = theirs(name, **kwargs)
    assert isinstance(mine, CovetSecurityBase)
    assert mine.scheme_name == reference.scheme_name
    assert mine.auto_error is reference.auto_error is True
    assert model_dumps(mine.model) == model_dumps(reference.model)
    # the model is one of covetpy's own OpenAPI classes, under the same name as FastAPI's
    assert type(mine.model).__module__ == "covetpy.openapi.models"
    assert type(mine.model).__name__ == type(reference.model).__name__


def test_errors_are_covetpy_http_exceptions() -> None:
    for name, kwargs in SCHEMES:
        scheme = ours(name, **kwargs)
        with pytest.raises(CovetHTTPException) as caught:
            asyncio.run(scheme(make_request()))
        assert caught.value.status_code == 401, name
        assert caught.value.detail == "Not authenticated", name


# A few answers spelled out, so that this file does not only say "as FastAPI does".
@pytest.mark.parametrize(
    ("scheme", "request_kwargs", "expected"),
    [
        (csec.HTTPBasic(), {}, ("error", 401, "Not authenticated", {"WWW-Authenticate": "Basic"})),
        (
            csec.HTTPBasic(realm="simple"),
            {"authorization": "Bearer x"},
            ("error", 401, "Not authenticated", {"WWW-Authenticate": 'Basic realm="simple"'}),
        ),
        (
            csec.HTTPBasic(auto_error=False),
            {"authorization": "Basic " + b64(b"nocolon")},
            ("error", 401, "Not authenticated", {"WWW-Authenticate": "Basic"}),
        ),
        (csec.HTTPBasic(auto_error=False), {"authorization": "Bearer x"}, ("ok", None)),
        (
            csec.HTTPBasic(),
            {"authorization": "basic " + b64(b"ann:p:w")},
            ("ok", ("HTTPBasicCredentials", {"username": "ann", "password": "p:w"})),
        ),
        (
            csec.HTTPBearer(),
            {"authorization": "bearer tok"},
            ("ok", ("HTTPAuthorizationCredentials", {"scheme": "bearer", "credentials": "tok"})),
        ),
        (
            csec.HTTPBearer(),
            {"authorization": "Basic tok"},
            ("error", 401, "Not authenticated", {"WWW-Authenticate": "Bearer"}),
        ),
        (
            csec.HTTPDigest(),
            {},
            ("error", 401, "Not authenticated", {"WWW-Authenticate": "Digest"}),
        ),
        (
            chttp.HTTPBase(scheme="other"),
            {"authorization": "Whatever abc"},
            ("ok", ("HTTPAuthorizationCredentials", {"scheme": "Whatever", "credentials": "abc"})),
        ),
        (
            chttp.HTTPBase(scheme="other"),
            {},
            ("error", 401, "Not authenticated", {"WWW-Authenticate": "Other"}),
        ),
        (
            csec.APIKeyHeader(name="X-Key"),
            {},
            ("error", 401, "Not authenticated", {"WWW-Authenticate": "APIKey"}),
        ),
        (csec.APIKeyHeader(name="X-Key"), {"headers": {"x-key": "k1"}}, ("ok", "k1")),
        (csec.APIKeyQuery(name="k", auto_error=False), {"query": "k="}, ("ok", None)),
        (csec.APIKeyCookie(name="s"), {"cookie": "s=v; t=w"}, ("ok", "v")),
        (
            csec.OAuth2PasswordBearer(tokenUrl="token"),
            {"authorization": "Token x"},
            ("error", 401, "Not authenticated", {"WWW-Authenticate": "Bearer"}),
        ),
        (csec.OAuth2PasswordBearer(tokenUrl="token"), {"authorization": "Bearer"}, ("ok", "")),
        (csec.OAuth2(), {"authorization": "Anything goes"}, ("ok", "Anything goes")),
        (csec.OpenIdConnect(openIdConnectUrl="/o"), {"authorization": "Bearer t"}, ("ok", "Bearer t")),
        (
            csec.OpenIdConnect(openIdConnectUrl="/o"),
            {},
            ("error", 401, "Not authenticated", {"WWW-Authenticate": "Bearer"}),
        ),
    ],
)
def test_spelled_out_answers(scheme: Any, request_kwargs: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert outcome(scheme, make_request(**request_kwargs)) == expected


def test_subclass_overrides_the_error() -> None:
    class Forbidding(csec.HTTPBearer):
        def make_not_authenticated_error(self) -> CovetHTTPException:
            return CovetHTTPException(status_code=403, detail="Go away")

    assert outcome(Forbidding(), make_request()) == ("error", 403, "Go away", None)


@pytest.mark.parametrize(
    "value",
    [None, "", "Bearer", "Bearer tok", "Bearer  tok  ", " Bearer tok", "Basic a b c", "Bearertok", "a\tb"],
)
def test_get_authorization_scheme_param(value: str | None) -> None:
    assert get_authorization_scheme_param(value) == fastapi_scheme_param(value)


@pytest.mark.parametrize("scopes", [None, [], ["me"], ["me", "items", "admin:write"]])
def test_security_scopes(scopes: list[str] | None) -> None:
    ours = csec.SecurityScopes(scopes=scopes)
    theirs = fsec.SecurityScopes(scopes=scopes)
    assert (ours.scopes, ours.scope_str) == (theirs.scopes, theirs.scope_str)
    assert ours.scope_str == " ".join(scopes or [])


def test_security_scopes_positional() -> None:
    assert csec.SecurityScopes(["a", "b"]).scope_str == "a b"


FORM_CLASSES = ["OAuth2PasswordRequestForm", "OAuth2PasswordRequestFormStrict"]


def form_fields(cls: type) -> dict[str, tuple[Any, Any]]:
    """The pydantic fields a resolver builds from the class's ``__init__`` parameters."""
    fields: dict[str, tuple[Any, Any]] = {}
    for param in inspect.signature(cls).parameters.values():
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (param.annotation, default)
    return fields


@pytest.mark.parametrize("name", FORM_CLASSES)
def test_password_form_signature_as_fastapi(name: str) -> None:
    ours = inspect.signature(getattr(csec, name)).parameters
    theirs = inspect.signature(getattr(fsec, name)).parameters
    assert list(ours) == list(theirs)
    for pname in ours:
        mine, ref = ours[pname], theirs[pname]
        assert mine.kind == ref.kind, pname
        assert mine.default == ref.default, pname
        assert get_origin(mine.annotation) is Annotated, pname
        base, marker, *_ = get_args(mine.annotation)
        ref_base, ref_marker, *_ = get_args(ref.annotation)
        assert base == ref_base, pname
        # the marker is covetpy's own Form, carrying what FastAPI's carries
        assert type(marker).__module__ == "covetpy.params"
        assert type(marker).__name__ == type(ref_marker).__name__ == "Form"
        assert marker.media_type == ref_marker.media_type == "application/x-www-form-urlencoded"
        assert marker.json_schema_extra == ref_marker.json_schema_extra, pname
        assert [repr(m) for m in marker.metadata] == [repr(m) for m in ref_marker.metadata], pname


@pytest.mark.parametrize("name", FORM_CLASSES)
def test_password_form_validates_as_fastapi(name: str) -> None:
    """The same pydantic model built from each class's parameters has the same JSON schema
    (required fields, pattern, password format) and accepts and rejects the same forms."""
    ours = pydantic.create_model("Form", **form_fields(getattr(csec, name)))  # type: ignore[call-overload]
    theirs = pydantic.create_model("Form", **form_fields(getattr(fsec, name)))  # type: ignore[call-overload]
    assert ours.model_json_schema() == theirs.model_json_schema()
    forms: list[dict[str, str]] = [
        {"username": "u", "password": "p"},
        {"username": "u", "password": "p", "grant_type": "password", "scope": "me items"},
        {"username": "u", "password": "p", "grant_type": "refresh_token"},
        {"username": "u"},
        {"grant_type": "password", "password": "p", "client_id": "c", "client_secret": "s"},
    ]
    for form in forms:
        results = []
        for model in (ours, theirs):
            try:
                results.append(("ok", model(**form).model_dump()))
            except pydantic.ValidationError as exc:
                results.append(("invalid", [(e["type"], e["loc"]) for e in exc.errors()]))
        assert results[0] == results[1], form


def test_password_form_instances() -> None:
    for name in FORM_CLASSES:
        kwargs = {
            "grant_type": "password",
            "username": "johndoe",
            "password": "secret",
            "scope": "me  items ",
            "client_id": "cid",
            "client_secret": "csecret",
        }
        ours = getattr(csec, name)(**kwargs)
        theirs = getattr(fsec, name)(**kwargs)
        assert vars(ours) == vars(theirs)
        assert ours.scopes == ["me", "items"]
    relaxed = csec.OAuth2PasswordRequestForm(username="a", password="b")
    assert (relaxed.grant_type, relaxed.scopes, relaxed.client_id, relaxed.client_secret) == (
        None,
        [],
        None,
        None,
    )
    assert isinstance(
        csec.OAuth2PasswordRequestFormStrict("password", "a", "b"), csec.OAuth2PasswordRequestForm
    )


def test_public_names_as_fastapi() -> None:
    assert sorted(csec.__all__) == sorted(n for n in dir(fsec) if not n.startswith("_") and n[0].isupper())
    model_names = [
        "Contact", "License", "Info", "ServerVariable", "Server", "Reference", "Discriminator", "XML",
        "ExternalDocumentation", "Schema", "Example", "ParameterInType", "Encoding", "MediaType",
        "ParameterBase", "Parameter", "Header", "RequestBody", "Link", "Response", "Operation", "PathItem",
        "SecuritySchemeType", "SecurityBase", "APIKeyIn", "APIKey", "HTTPBase", "HTTPBearer", "OAuthFlow",
        "OAuthFlowImplicit", "OAuthFlowPassword", "OAuthFlowClientCredentials", "OAuthFlowAuthorizationCode",
        "OAuthFlows", "OAuth2", "OpenIdConnect", "SecurityScheme", "Components", "Tag", "OpenAPI",
    ]  # fmt: skip
    for name in model_names:
        assert hasattr(cmodels, name), name
        assert hasattr(fmodels, name), name
    for name in model_names:
        ours, theirs = getattr(cmodels, name), getattr(fmodels, name)
        if isinstance(ours, type) and issubclass(ours, pydantic.BaseModel):
            assert {f: (i.alias, i.is_required()) for f, i in ours.model_fields.items()} == {
                f: (i.alias, i.is_required()) for f, i in theirs.model_fields.items()
            }, name
            assert ours.model_config.get("extra") == theirs.model_config.get("extra"), name
        elif isinstance(ours, type) and issubclass(ours, enum.Enum):
            assert [(m.name, m.value) for m in ours] == [(m.name, m.value) for m in theirs], name


# --- OpenAPI documents -----------------------------------------------------------------------


def fastapi_security_app() -> FastAPI:
    """A FastAPI app using every scheme, so its document has every kind of securitySchemes entry."""
    app = FastAPI(
        title="Secured",
        summary="All the schemes",
        version="2.0.0",
        contact={"name": "Ops", "url": "https://ops.example/", "email": "ops@example.com"},
        license_info={"name": "MIT", "identifier": "MIT"},
        servers=[
            {
                "url": "https://{env}.example",
                "variables": {"env": {"default": "api", "enum": ["api", "stg"]}},
            },
            {"url": "/relative", "description": "Relative"},
        ],
        openapi_tags=[{"name": "users", "externalDocs": {"url": "https://docs.example/users"}, "x-tag": 1}],
    )
    oauth2 = fsec.OAuth2PasswordBearer(tokenUrl="token", scopes={"me": "Me", "items": "Items"})

    @app.get("/users/me", tags=["users"])
    def me(token: Annotated[str, Security(oauth2, scopes=["me"])]) -> dict[str, str]:
        return {"token": token}

    @app.get("/basic")
    def basic(creds: Annotated[fsec.HTTPBasicCredentials, Depends(fsec.HTTPBasic(realm="r"))]) -> str:
        return creds.username

    @app.get("/bearer")
    def bearer(c: Annotated[Any, Depends(fsec.HTTPBearer(bearerFormat="JWT", description="JWT"))]) -> None:
        return None

    @app.get("/digest", deprecated=True)
    def digest(c: Annotated[Any, Depends(fsec.HTTPDigest())]) -> None:
        return None

    @app.post("/keys", openapi_extra={"x-internal": True})
    def keys(
        q: Annotated[str, Depends(fsec.APIKeyQuery(name="k"))],
        h: Annotated[str, Depends(fsec.APIKeyHeader(name="X-K", auto_error=False))],
        c: Annotated[str, Depends(fsec.APIKeyCookie(name="s", description="cookie"))],
    ) -> None:
        return None

    @app.get("/oidc")
    def oidc(t: Annotated[str, Depends(fsec.OpenIdConnect(openIdConnectUrl="/.well-known"))]) -> None:
        return None

    @app.get("/code")
    def code(
        t: Annotated[
            str, Security(fsec.OAuth2AuthorizationCodeBearer("auth", "tok", scopes={"a": "A"}), scopes=["a"])
        ],
    ) -> None:
        return None

    @app.post("/token")
    def token(form: Annotated[fsec.OAuth2PasswordRequestForm, Depends()]) -> dict[str, str]:
        return {"access_token": form.username, "token_type": "bearer"}

    return app


class Tag(pydantic.BaseModel):
    name: str = pydantic.Field(min_length=1, max_length=20, examples=["x"])


class Item(pydantic.BaseModel):
    """An item."""

    id: int = pydantic.Field(gt=0, multiple_of=2)
    price: float | None = pydantic.Field(default=None, ge=0, le=1e6)
    tags: list[Tag] = []
    meta: dict[str, int | str] = {}
    kind: str = pydantic.Field(default="a", pattern="^[ab]$", json_schema_extra={"x-kind": True})
    uniq: set[str] = set()


def fastapi_models_app() -> FastAPI:
    """A FastAPI app whose document has schemas with refs, unions, constraints, examples,
    callbacks and webhooks."""

    app = FastAPI()

    @app.webhooks.post("new-item")
    def new_item(body: Item) -> None:
        return None

    callbacks = FastAPI().router

    @callbacks.post("{$callback_url}/events")
    def event(body: Item) -> None:
        return None

    @app.put(
        "/items/{item_id}",
        callbacks=callbacks.routes,
        responses={404: {"description": "Missing", "headers": {"X-Why": {"schema": {"type": "string"}}}}},
    )
    def put_item(
        item_id: int,
        item: Annotated[Item, pydantic.Field(examples=[{"id": 2}])],
        q: Annotated[list[str] | None, pydantic.Field(description="Many")] = None,
    ) -> Item:
        return item

    return app


HAND_WRITTEN: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Hand", "version": "1", "x-logo": {"url": "/logo.png"}},
    "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
    "paths": {
        "/p": {
            "$ref": "#/components/pathItems/P",
            "x-path-extension": "kept",
        },
        "x-paths-extension": {"anything": [1, 2]},
    },
    "components": {
        "schemas": {
            "S": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "s",
                "$defs": {"T": True, "F": False},
                "not": {"type": "null"},
                "if": {"properties": {"a": {"const": 1}}},
                "then": {"required": ["b"]},
                "else": False,
                "type": ["object", "null"],
                "additionalProperties": False,
                "dependentRequired": {"a": ["b"]},
                "discriminator": {"propertyName": "kind", "mapping": {"x": "#/components/schemas/X"}},
                "xml": {"name": "s", "wrapped": True},
                "example": {"a": 1},
                "x-schema-extension": 1,
            },
            "R": {"$ref": "#/components/schemas/S"},
        },
        "pathItems": {
            "P": {
                "get": {
                    "responses": {"200": {"description": "OK"}, "x-responses-ext": 3},
                    "security": [{}, {"k": []}],
                    "parameters": [
                        {
                            "name": "a",
                            "in": "cookie",
                            "schema": {"type": "string"},
                            "examples": {"e": {"value": 1}},
                        },
                        {"$ref": "#/components/parameters/B"},
                    ],
                }
            }
        },
        "parameters": {"B": {"name": "b", "in": "header", "content": {"text/plain": {"schema": {}}}}},
        "securitySchemes": {
            "k": {"type": "apiKey", "in": "header", "name": "K", "x-scheme-extension": "y"},
            "r": {"$ref": "#/components/securitySchemes/k"},
        },
        "examples": {"E": {"summary": "s", "value": {"v": 1}, "x-example": True}},
    },
    "security": [{"k": []}],
    "tags": [{"name": "t", "description": "T"}],
    "externalDocs": {"url": "https://docs.example/"},
    "x-top-level": {"kept": True},
}


def validate_both(doc: dict[str, Any]) -> tuple[Any, Any]:
    return cmodels.OpenAPI.model_validate(doc), fmodels.OpenAPI.model_validate(doc)


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param(lambda: fastapi_security_app().openapi(), id="security-app"),
        pytest.param(lambda: fastapi_models_app().openapi(), id="models-app"),
        pytest.param(lambda: FastAPI().openapi(), id="empty-app"),
        pytest.param(lambda: json.loads(json.dumps(HAND_WRITTEN)), id="hand-written"),
    ],
)
def test_openapi_documents_as_fastapi(doc: Callable[[], dict[str, Any]]) -> None:
    document = doc()
    ours, theirs = validate_both(document)
    assert model_dumps(ours) == model_dumps(theirs)


def test_openapi_round_trip_of_generated_documents() -> None:
    for app in (fastapi_security_app(), fastapi_models_app()):
        document = app.openapi()
        dumped = cmodels.OpenAPI.model_validate(document).model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
        assert dumped == json.loads(json.dumps(document))


def test_security_schemes_of_covetpy_classes_validate() -> None:
    """The models covetpy's schemes expose are valid ``components.securitySchemes`` entries
    (of FastAPI's models too) and come back out unchanged."""
    schemes = {f"s{i}": ours(name, **kwargs).model for i, (name, kwargs) in enumerate(SCHEMES)}
    dumped = {
        key: model.model_dump(mode="json", by_alias=True, exclude_none=True) for key, model in schemes.items()
    }
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "components": {"securitySchemes": dumped},
    }
    mine, reference = validate_both(doc)
    assert model_dumps(mine) == model_dumps(reference)
    assert (
        mine.model_dump(mode="json", by_alias=True, exclude_none=True)["components"]["securitySchemes"]
        == dumped
    )


def test_extra_keys_kept_where_fastapi_keeps_them() -> None:
    ours, theirs = validate_both(json.loads(json.dumps(HAND_WRITTEN)))
    dumped = ours.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["x-top-level"] == {"kept": True}
    assert dumped["info"]["x-logo"] == {"url": "/logo.png"}
    assert dumped["components"]["schemas"]["S"]["x-schema-extension"] == 1
    assert dumped["components"]["securitySchemes"]["k"]["x-scheme-extension"] == "y"
    assert dumped["paths"]["x-paths-extension"] == {"anything": [1, 2]}
    assert dumped["components"]["schemas"]["S"]["else"] is False
    # Reference and Discriminator are closed objects: unknown keys are dropped, as in FastAPI
    closed = {"$ref": "#/x", "summary": "dropped"}
    assert cmodels.Reference.model_validate(closed).model_dump(by_alias=True) == {"$ref": "#/x"}
    assert fmodels.Reference.model_validate(closed).model_dump(by_alias=True) == {"$ref": "#/x"}


def test_attribute_names_for_aliased_keys() -> None:
    param = cmodels.Parameter.model_validate({"name": "a", "in": "query", "schema": {"$ref": "#/r"}})
    assert param.in_ is cmodels.ParameterInType.query
    assert isinstance(param.schema_, cmodels.Schema)
    assert param.schema_.ref == "#/r"
    key = cmodels.APIKey.model_validate({"in": "cookie", "name": "n"})
    assert (key.type_, key.in_) == (cmodels.SecuritySchemeType.apiKey, cmodels.APIKeyIn.cookie)
    schema = cmodels.Schema.model_validate(
        {"not": {"type": "string"}, "if": True, "else": False, "$schema": "x"}
    )
    assert (schema.if_, schema.else_, schema.schema_) == (True, False, "x")
    assert isinstance(schema.not_, cmodels.Schema)
    bearer = cmodels.HTTPBearer()
    assert bearer.model_dump(mode="json", by_alias=True, exclude_none=True) == {
        "type": "http",
        "scheme": "bearer",
    }


INVALID_DOCS: dict[str, dict[str, Any]] = {
    "no-info-title": {"openapi": "3.1.0", "info": {"version": "1"}},
    "no-openapi": {"info": {"title": "t", "version": "1"}},
    "unknown-scheme-type": {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "components": {"securitySchemes": {"k": {"type": "magic", "in": "header", "name": "k"}}},
    },
    "parameter-without-in": {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "components": {"pathItems": {"P": {"get": {"parameters": [{"name": "a"}]}}}},
    },
    "empty-server-enum": {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "/", "variables": {"v": {"default": "a", "enum": []}}}],
    },
    "negative-min-length": {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "components": {"schemas": {"S": {"minLength": -1}}},
    },
    "unknown-schema-type": {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "components": {"schemas": {"S": {"type": "date"}}},
    },
    "request-body-without-content": {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "webhooks": {"w": {"post": {"requestBody": {"description": "x"}}}},
    },
}


@pytest.mark.parametrize("label", list(INVALID_DOCS))
def test_invalid_documents_rejected_as_fastapi(label: str) -> None:
    doc = INVALID_DOCS[label]
    with pytest.raises(pydantic.ValidationError):
        fmodels.OpenAPI.model_validate(doc)
    with pytest.raises(pydantic.ValidationError):
        cmodels.OpenAPI.model_validate(doc)


# --- End to end: tutorial-style apps served by the real binary ------------------------------
#
# The apps in tests/apps/security_tutorial import from covetpy, as a user's app moved from
# FastAPI would. Each is served with `--interface covet` and asked the same questions as the
# same source with its imports pointed back at fastapi (run by FastAPI's TestClient): status,
# challenge header, content type and JSON must agree, and so must the OpenAPI
# `components.securitySchemes` and every operation's `security` list.

TUTORIAL_DIR = Path(__file__).resolve().parent / "apps" / "security_tutorial"
TUTORIAL_APPS = ["bearer_first_steps", "password_login", "jwt_scopes", "http_basic", "many_schemes"]
_IMPORT_LINE = re.compile(r"^(from|import) covetpy\b", re.MULTILINE)


def fastapi_twin(name: str, directory: Path) -> Any:
    """The tutorial app ``name`` built by FastAPI: its source with the covetpy imports pointed at
    fastapi, written to ``directory`` and imported from there as a module of its own."""
    source = (TUTORIAL_DIR / f"{name}.py").read_text(encoding="utf-8")
    assert _IMPORT_LINE.search(source), f"{name} does not import covetpy"
    path = directory / f"fastapi_twin_{name}.py"
    path.write_text(_IMPORT_LINE.sub(r"\1 fastapi", source), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module.app


@dataclass
class Twins:
    """One tutorial app under both frameworks: FastAPI in process, covetpy behind the binary."""

    name: str
    fastapi: httpx.Client
    covet: httpx.Client


@pytest.fixture(scope="module", params=TUTORIAL_APPS)
def twins(
    request: pytest.FixtureRequest, module_servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Twins]:
    name = request.param
    server = module_servers(f"security_tutorial.{name}:app", "--interface", "covet")
    reference_app = fastapi_twin(name, tmp_path_factory.mktemp("fastapi_twins"))
    with (
        TestClient(reference_app) as reference,
        httpx.Client(base_url=server.base_url, timeout=15) as ours,
    ):
        yield Twins(name=name, fastapi=reference, covet=ours)
    server.stop()  # one tutorial server at a time


def summary(response: httpx.Response) -> dict[str, Any]:
    """What must agree between the two: status, challenge, content type and body (a JWT is
    replaced by its claims without the expiry, as the two servers sign at different times)."""
    result: dict[str, Any] = {
        "status": response.status_code,
        "www-authenticate": response.headers.get("www-authenticate"),
        "content-type": response.headers.get("content-type"),
    }
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        if (
            isinstance(body, dict)
            and isinstance(body.get("access_token"), str)
            and body["access_token"].count(".") == 2
        ):
            claims = jwt.decode(body["access_token"], options={"verify_signature": False})
            claims.pop("exp", None)
            body = {**body, "access_token": {"jwt": claims}}
        result["json"] = body
    else:
        result["text"] = response.text
    return result


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + b64(f"{user}:{password}".encode())}


def login(client: httpx.Client, user: str, password: str, scope: str = "") -> dict[str, str]:
    """Log in through ``POST /token`` and return the Authorization header for the token."""
    response = client.post("/token", data={"username": user, "password": password, "scope": scope})
    assert response.status_code == 200, response.text
    return {"Authorization": "Bearer " + response.json()["access_token"]}


# A step takes a client and returns the response to compare; it may log in first on that
# client, so that each server is handed its own token.
Step = Callable[[httpx.Client], httpx.Response]

STEPS: dict[str, list[tuple[str, Step]]] = {
    "bearer_first_steps": [
        ("no token", lambda c: c.get("/items/")),
        ("token", lambda c: c.get("/items/", headers={"Authorization": "Bearer abc123"})),
        ("lower-case scheme", lambda c: c.get("/items/", headers={"Authorization": "bearer abc123"})),
        ("basic instead", lambda c: c.get("/items/", headers=basic_auth("a", "b"))),
        ("scheme without token", lambda c: c.get("/items/", headers={"Authorization": "Bearer"})),
        ("user", lambda c: c.get("/users/me", headers={"Authorization": "Bearer tok"})),
        ("user without token", lambda c: c.get("/users/me")),
    ],
    "password_login": [
        ("login", lambda c: c.post("/token", data={"username": "ada", "password": "analytical"})),
        (
            "login with everything",
            lambda c: c.post(
                "/token",
                data={
                    "username": "ada",
                    "password": "analytical",
                    "grant_type": "password",
                    "scope": "me  items",
                    "client_id": "cli",
                    "client_secret": "sec",
                },
            ),
        ),
        ("wrong password", lambda c: c.post("/token", data={"username": "ada", "password": "x"})),
        ("unknown user", lambda c: c.post("/token", data={"username": "eve", "password": "x"})),
        ("no password", lambda c: c.post("/token", data={"username": "ada"})),
        ("empty form", lambda c: c.post("/token")),
        (
            "bad grant type",
            lambda c: c.post("/token", data={"username": "ada", "password": "p", "grant_type": "x"}),
        ),
        (
            "strict without grant",
            lambda c: c.post("/token-strict", data={"username": "ada", "password": "analytical"}),
        ),
        (
            "strict",
            lambda c: c.post(
                "/token-strict", data={"username": "ada", "password": "analytical", "grant_type": "password"}
            ),
        ),
        ("me", lambda c: c.get("/users/me", headers=login(c, "ada", "analytical"))),
        ("me locked", lambda c: c.get("/users/me", headers=login(c, "bob", "builder"))),
        ("me unknown token", lambda c: c.get("/users/me", headers={"Authorization": "Bearer eve"})),
        ("me no token", lambda c: c.get("/users/me")),
        ("me other scheme", lambda c: c.get("/users/me", headers={"Authorization": "Token ada"})),
    ],
    "jwt_scopes": [
        (
            "login",
            lambda c: c.post("/token", data={"username": "ada", "password": "engine", "scope": "me items"}),
        ),
        ("login wrong password", lambda c: c.post("/token", data={"username": "ada", "password": "engin"})),
        ("me", lambda c: c.get("/users/me/", headers=login(c, "ada", "engine", "me"))),
        ("me without scope", lambda c: c.get("/users/me/", headers=login(c, "ada", "engine"))),
        ("items", lambda c: c.get("/users/me/items/", headers=login(c, "ada", "engine", "me items"))),
        (
            "items without items scope",
            lambda c: c.get("/users/me/items/", headers=login(c, "ada", "engine", "me")),
        ),
        ("locked", lambda c: c.get("/users/me/", headers=login(c, "bob", "builder", "me"))),
        ("status no scope needed", lambda c: c.get("/status/", headers=login(c, "ada", "engine"))),
        ("garbage token", lambda c: c.get("/users/me/", headers={"Authorization": "Bearer not.a.jwt"})),
        ("no token", lambda c: c.get("/users/me/items/")),
        ("wrong scheme", lambda c: c.get("/status/", headers={"Authorization": "Basic abc"})),
        (
            "token without sub",
            lambda c: c.get(
                "/status/",
                headers={
                    "Authorization": "Bearer " + jwt.encode({"x": 1}, jwt_scopes_key(), algorithm="HS256")
                },
            ),
        ),
    ],
    "http_basic": [
        ("echo", lambda c: c.get("/users/me", headers=basic_auth("grace", "p:w"))),
        ("echo no header", lambda c: c.get("/users/me")),
        ("echo bearer", lambda c: c.get("/users/me", headers={"Authorization": "Bearer x"})),
        ("echo bad base64", lambda c: c.get("/users/me", headers={"Authorization": "Basic %%%"})),
        ("echo no colon", lambda c: c.get("/users/me", headers={"Authorization": "Basic " + b64(b"grace")})),
        ("echo empty", lambda c: c.get("/users/me", headers={"Authorization": "Basic"})),
        ("staff", lambda c: c.get("/staff/me", headers=basic_auth("grace", "cobol-1959"))),
        ("staff wrong password", lambda c: c.get("/staff/me", headers=basic_auth("grace", "cobol"))),
        ("staff no header", lambda c: c.get("/staff/me")),
    ],
    "many_schemes": [
        ("header key", lambda c: c.get("/integrations/ping", headers={"X-API-Key": "k-1"})),
        ("header key lower-case name", lambda c: c.get("/integrations/ping", headers={"x-api-key": "k-2"})),
        ("no header key", lambda c: c.get("/integrations/ping")),
        ("empty header key", lambda c: c.get("/integrations/ping", headers={"X-API-Key": ""})),
        ("query key", lambda c: c.get("/whoami?api_key=q-1")),
        ("cookie", lambda c: c.get("/whoami", headers={"Cookie": "session=s-1"})),
        ("bearer", lambda c: c.get("/whoami", headers={"Authorization": "Bearer t-1"})),
        ("basic is not bearer", lambda c: c.get("/whoami", headers=basic_auth("a", "b"))),
        ("nothing", lambda c: c.get("/whoami")),
        ("digest", lambda c: c.get("/digest", headers={"Authorization": 'Digest username="u", nonce="n"'})),
        ("digest missing", lambda c: c.get("/digest")),
        ("digest wrong scheme", lambda c: c.get("/digest", headers={"Authorization": "Bearer x"})),
        ("oidc", lambda c: c.get("/oidc", headers={"Authorization": "Bearer id-token"})),
        ("oidc missing", lambda c: c.get("/oidc")),
        ("code flow in dependencies", lambda c: c.post("/things", headers={"Authorization": "Bearer c-1"})),
        ("code flow missing", lambda c: c.post("/things")),
        (
            "router key and token",
            lambda c: c.get("/admin/stats", headers={"X-API-Key": "k", "Authorization": "Bearer c-2"}),
        ),
        ("router key missing", lambda c: c.get("/admin/stats", headers={"Authorization": "Bearer c-2"})),
    ],
}


def jwt_scopes_key() -> str:
    """The tutorial app's signing key, to forge tokens it accepts as signed but finds lacking."""
    return str(sys.modules["fastapi_twin_jwt_scopes"].SIGNING_KEY)


def test_every_tutorial_app_has_steps() -> None:
    assert sorted(STEPS) == sorted(TUTORIAL_APPS)
    assert sorted(p.stem for p in TUTORIAL_DIR.glob("*.py") if p.stem != "__init__") == sorted(TUTORIAL_APPS)


def test_tutorial_apps_answer_as_fastapi(twins: Twins) -> None:
    for label, step in STEPS[twins.name]:
        expected = summary(step(twins.fastapi))
        actual = summary(step(twins.covet))
        assert actual == expected, f"{twins.name}: {label}"


def security_view(document: dict[str, Any]) -> dict[str, Any]:
    """The parts of an OpenAPI document security decides: the schemes and each operation's list."""
    operations = {
        f"{method.upper()} {path}": operation.get("security")
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
        if isinstance(operation, dict)
    }
    return {
        "securitySchemes": document.get("components", {}).get("securitySchemes"),
        "operations": operations,
    }


def test_tutorial_apps_openapi_security_as_fastapi(twins: Twins) -> None:
    expected = twins.fastapi.get("/openapi.json").json()
    response = twins.covet.get("/openapi.json")
    assert response.status_code == 200
    actual = response.json()
    assert security_view(actual) == security_view(expected)
    # and covetpy's own models accept the document the server generated
    cmodels.OpenAPI.model_validate(actual)
