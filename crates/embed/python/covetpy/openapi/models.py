"""The OpenAPI 3.1 document as pydantic models, under the names FastAPI gives them
(``fastapi.openapi.models``).

``OpenAPI.model_validate(app.openapi())`` checks a generated document and
``model_dump(by_alias=True, exclude_none=True)`` turns it back into the JSON the spec describes.
Attributes whose OpenAPI name is a Python keyword or starts with ``$`` carry a trailing ``_`` or
a plain name, with the spec's name as the pydantic alias (``in_`` / ``"in"``, ``ref`` /
``"$ref"``, ``schema_`` / ``"schema"``, ``type_`` / ``"type"``...).

Most objects accept unknown keys and keep them, because the spec allows ``x-...`` extensions on
them and apps put vendor keys there; the few that the spec closes (``Reference``,
``Discriminator``) do not.
"""

import importlib.util
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AnyUrl, BaseModel, ConfigDict, Field
from typing_extensions import TypedDict
from typing_extensions import deprecated as _deprecated

# ``EmailStr`` needs the optional email-validator package; without it the contact e-mail is
# accepted as any string (as FastAPI does) rather than making the whole module unimportable.
if importlib.util.find_spec("email_validator") is not None:
    from pydantic import EmailStr
else:
    EmailStr = str  # type: ignore[misc]


class BaseModelWithConfig(BaseModel):
    """Base of the OpenAPI objects that allow specification extensions: unknown keys are kept."""

    model_config = ConfigDict(extra="allow")


class Contact(BaseModelWithConfig):
    """Who to contact about the API (``info.contact``)."""

    name: str | None = None
    url: AnyUrl | None = None
    email: EmailStr | None = None


class License(BaseModelWithConfig):
    """The API's licence (``info.license``): an SPDX ``identifier`` or a ``url``."""

    name: str
    identifier: str | None = None
    url: AnyUrl | None = None


class Info(BaseModelWithConfig):
    """The ``info`` object: title, version and descriptive metadata."""

    title: str
    summary: str | None = None
    description: str | None = None
    termsOfService: str | None = None
    contact: Contact | None = None
    license: License | None = None
    version: str


class ServerVariable(BaseModelWithConfig):
    """One ``{name}`` substitution in a server URL template."""

    enum: Annotated[list[str] | None, Field(min_length=1)] = None
    default: str
    description: str | None = None


class Server(BaseModelWithConfig):
    """A base URL the API is served at; ``url`` may be relative or a template."""

    url: AnyUrl | str
    description: str | None = None
    variables: dict[str, ServerVariable] | None = None


class Reference(BaseModel):
    """A ``{"$ref": "..."}`` pointer to an object elsewhere in the document."""

    ref: str = Field(alias="$ref")


class Discriminator(BaseModel):
    """How to tell the alternatives of a ``oneOf``/``anyOf`` apart by one property."""

    propertyName: str
    mapping: dict[str, str] | None = None


class XML(BaseModelWithConfig):
    """How a schema is represented in XML."""

    name: str | None = None
    namespace: str | None = None
    prefix: str | None = None
    attribute: bool | None = None
    wrapped: bool | None = None


class ExternalDocumentation(BaseModelWithConfig):
    """A link to documentation outside the document."""

    description: str | None = None
    url: AnyUrl


#: The JSON Schema 2020-12 primitive type names.
SchemaType = Literal["array", "boolean", "integer", "null", "number", "object", "string"]


class Schema(BaseModelWithConfig):
    """A JSON Schema 2020-12 schema plus OpenAPI's additions (``discriminator``, ``xml``...).

    Keywords spelled with ``$`` in JSON Schema have plain attribute names and ``$`` aliases;
    ``not``, ``if`` and ``else`` are ``not_``, ``if_`` and ``else_``.
    """

    # core vocabulary
    schema_: str | None = Field(default=None, alias="$schema")
    vocabulary: str | None = Field(default=None, alias="$vocabulary")
    id: str | None = Field(default=None, alias="$id")
    anchor: str | None = Field(default=None, alias="$anchor")
    dynamicAnchor: str | None = Field(default=None, alias="$dynamicAnchor")
    ref: str | None = Field(default=None, alias="$ref")
    dynamicRef: str | None = Field(default=None, alias="$dynamicRef")
    defs: dict[str, "SchemaOrBool"] | None = Field(default=None, alias="$defs")
    comment: str | None = Field(default=None, alias="$comment")
    # subschema application
    allOf: list["SchemaOrBool"] | None = None
    anyOf: list["SchemaOrBool"] | None = None
    oneOf: list["SchemaOrBool"] | None = None
    not_: "SchemaOrBool | None" = Field(default=None, alias="not")
    if_: "SchemaOrBool | None" = Field(default=None, alias="if")
    then: "SchemaOrBool | None" = None
    else_: "SchemaOrBool | None" = Field(default=None, alias="else")
    dependentSchemas: dict[str, "SchemaOrBool"] | None = None
    prefixItems: list["SchemaOrBool"] | None = None
    items: "SchemaOrBool | None" = None
    contains: "SchemaOrBool | None" = None
    properties: dict[str, "SchemaOrBool"] | None = None
    patternProperties: dict[str, "SchemaOrBool"] | None = None
    additionalProperties: "SchemaOrBool | None" = None
    propertyNames: "SchemaOrBool | None" = None
    unevaluatedItems: "SchemaOrBool | None" = None
    unevaluatedProperties: "SchemaOrBool | None" = None
    # structural validation
    type: SchemaType | list[SchemaType] | None = None
    enum: list[Any] | None = None
    const: Any | None = None
    multipleOf: float | None = Field(default=None, gt=0)
    maximum: float | None = None
    exclusiveMaximum: float | None = None
    minimum: float | None = None
    exclusiveMinimum: float | None = None
    maxLength: int | None = Field(default=None, ge=0)
    minLength: int | None = Field(default=None, ge=0)
    pattern: str | None = None
    maxItems: int | None = Field(default=None, ge=0)
    minItems: int | None = Field(default=None, ge=0)
    uniqueItems: bool | None = None
    maxContains: int | None = Field(default=None, ge=0)
    minContains: int | None = Field(default=None, ge=0)
    maxProperties: int | None = Field(default=None, ge=0)
    minProperties: int | None = Field(default=None, ge=0)
    required: list[str] | None = None
    dependentRequired: dict[str, set[str]] | None = None
    # semantic formats and string-encoded content
    format: str | None = None
    contentEncoding: str | None = None
    contentMediaType: str | None = None
    contentSchema: "SchemaOrBool | None" = None
    # metadata annotations
    title: str | None = None
    description: str | None = None
    default: Any | None = None
    deprecated: bool | None = None
    readOnly: bool | None = None
    writeOnly: bool | None = None
    examples: list[Any] | None = None
    # OpenAPI's own schema keywords
    discriminator: Discriminator | None = None
    xml: XML | None = None
    externalDocs: ExternalDocumentation | None = None
    example: Annotated[
        Any | None,
        _deprecated("OpenAPI 3.1 schemas take `examples` (JSON Schema 2020-12); `example` is still read."),
    ] = None


#: JSON Schema allows ``true`` and ``false`` wherever a schema goes.
SchemaOrBool = Schema | bool


class Example(TypedDict, total=False):
    """A named example of a parameter or media type (extra keys are kept)."""

    summary: str | None
    description: str | None
    value: Any | None
    externalValue: AnyUrl | None

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]


class ParameterInType(Enum):
    """Where a parameter is read from."""

    query = "query"
    header = "header"
    path = "path"
    cookie = "cookie"


class Encoding(BaseModelWithConfig):
    """How one property of a form or multipart body is encoded."""

    contentType: str | None = None
    headers: dict[str, "Header | Reference"] | None = None
    style: str | None = None
    explode: bool | None = None
    allowReserved: bool | None = None


class MediaType(BaseModelWithConfig):
    """The schema and examples of one content type of a body or response."""

    schema_: Schema | Reference | None = Field(default=None, alias="schema")
    example: Any | None = None
    examples: dict[str, Example | Reference] | None = None
    encoding: dict[str, Encoding] | None = None


class ParameterBase(BaseModelWithConfig):
    """What parameters and headers share: schema (or content), serialisation style, examples."""

    description: str | None = None
    required: bool | None = None
    deprecated: bool | None = None
    style: str | None = None
    explode: bool | None = None
    allowReserved: bool | None = None
    schema_: Schema | Reference | None = Field(default=None, alias="schema")
    example: Any | None = None
    examples: dict[str, Example | Reference] | None = None
    content: dict[str, MediaType] | None = None


class Parameter(ParameterBase):
    """A path, query, header or cookie parameter of an operation."""

    name: str
    in_: ParameterInType = Field(alias="in")


class Header(ParameterBase):
    """A response or encoding header (a parameter whose name is the map key)."""


class RequestBody(BaseModelWithConfig):
    """An operation's request body, by content type."""

    description: str | None = None
    content: dict[str, MediaType]
    required: bool | None = None


class Link(BaseModelWithConfig):
    """A design-time link from a response to another operation."""

    operationRef: str | None = None
    operationId: str | None = None
    parameters: dict[str, Any | str] | None = None
    requestBody: Any | str | None = None
    description: str | None = None
    server: Server | None = None


class Response(BaseModelWithConfig):
    """One response of an operation: description, headers, content and links."""

    description: str
    headers: dict[str, Header | Reference] | None = None
    content: dict[str, MediaType] | None = None
    links: dict[str, Link | Reference] | None = None


class Operation(BaseModelWithConfig):
    """One method of a path: parameters, body, responses, security."""

    tags: list[str] | None = None
    summary: str | None = None
    description: str | None = None
    externalDocs: ExternalDocumentation | None = None
    operationId: str | None = None
    parameters: list[Parameter | Reference] | None = None
    requestBody: RequestBody | Reference | None = None
    # the responses map also holds ``x-...`` extension keys, whose values are anything
    responses: dict[str, Response | Any] | None = None
    callbacks: dict[str, "dict[str, PathItem] | Reference"] | None = None
    deprecated: bool | None = None
    security: list[dict[str, list[str]]] | None = None
    servers: list[Server] | None = None


class PathItem(BaseModelWithConfig):
    """The operations available on one path."""

    ref: str | None = Field(default=None, alias="$ref")
    summary: str | None = None
    description: str | None = None
    get: Operation | None = None
    put: Operation | None = None
    post: Operation | None = None
    delete: Operation | None = None
    options: Operation | None = None
    head: Operation | None = None
    patch: Operation | None = None
    trace: Operation | None = None
    servers: list[Server] | None = None
    parameters: list[Parameter | Reference] | None = None


class SecuritySchemeType(Enum):
    """The kinds of security scheme OpenAPI knows."""

    apiKey = "apiKey"
    http = "http"
    oauth2 = "oauth2"
    openIdConnect = "openIdConnect"


class SecurityBase(BaseModelWithConfig):
    """What every security scheme has: its ``type`` and a description."""

    type_: SecuritySchemeType = Field(alias="type")
    description: str | None = None


class APIKeyIn(Enum):
    """Where an API key is sent."""

    query = "query"
    header = "header"
    cookie = "cookie"


class APIKey(SecurityBase):
    """An API key sent in the query string, a header or a cookie named ``name``."""

    type_: SecuritySchemeType = Field(default=SecuritySchemeType.apiKey, alias="type")
    in_: APIKeyIn = Field(alias="in")
    name: str


class HTTPBase(SecurityBase):
    """HTTP ``Authorization`` header authentication with the given ``scheme`` (basic, digest...)."""

    type_: SecuritySchemeType = Field(default=SecuritySchemeType.http, alias="type")
    scheme: str


class HTTPBearer(HTTPBase):
    """HTTP bearer tokens; ``bearerFormat`` hints at what the token is (``JWT``...)."""

    scheme: Literal["bearer"] = "bearer"
    bearerFormat: str | None = None


class OAuthFlow(BaseModelWithConfig):
    """What every OAuth2 flow has: an optional refresh URL and the scopes it grants."""

    refreshUrl: str | None = None
    scopes: dict[str, str] = Field(default_factory=dict)


class OAuthFlowImplicit(OAuthFlow):
    """The implicit flow: the token comes straight from the authorization URL."""

    authorizationUrl: str


class OAuthFlowPassword(OAuthFlow):
    """The resource-owner password flow: username and password are posted to ``tokenUrl``."""

    tokenUrl: str


class OAuthFlowClientCredentials(OAuthFlow):
    """The client-credentials flow: the client authenticates itself at ``tokenUrl``."""

    tokenUrl: str


class OAuthFlowAuthorizationCode(OAuthFlow):
    """The authorization-code flow: a code from ``authorizationUrl`` is exchanged at ``tokenUrl``."""

    authorizationUrl: str
    tokenUrl: str


class OAuthFlows(BaseModelWithConfig):
    """The OAuth2 flows a scheme supports, at most one of each kind."""

    implicit: OAuthFlowImplicit | None = None
    password: OAuthFlowPassword | None = None
    clientCredentials: OAuthFlowClientCredentials | None = None
    authorizationCode: OAuthFlowAuthorizationCode | None = None


class OAuth2(SecurityBase):
    """An OAuth2 security scheme and its flows."""

    type_: SecuritySchemeType = Field(default=SecuritySchemeType.oauth2, alias="type")
    flows: OAuthFlows


class OpenIdConnect(SecurityBase):
    """OpenID Connect discovery at ``openIdConnectUrl``."""

    type_: SecuritySchemeType = Field(default=SecuritySchemeType.openIdConnect, alias="type")
    openIdConnectUrl: str


#: Any of the security scheme objects (``components.securitySchemes`` values).
SecurityScheme = APIKey | HTTPBase | OAuth2 | OpenIdConnect | HTTPBearer


class Components(BaseModelWithConfig):
    """Reusable objects that the rest of the document points at with ``$ref``."""

    schemas: dict[str, Schema | Reference] | None = None
    responses: dict[str, Response | Reference] | None = None
    parameters: dict[str, Parameter | Reference] | None = None
    examples: dict[str, Example | Reference] | None = None
    requestBodies: dict[str, RequestBody | Reference] | None = None
    headers: dict[str, Header | Reference] | None = None
    securitySchemes: dict[str, SecurityScheme | Reference] | None = None
    links: dict[str, Link | Reference] | None = None
    # callbacks may also hold ``x-...`` extension values
    callbacks: dict[str, dict[str, PathItem] | Reference | Any] | None = None
    pathItems: dict[str, PathItem | Reference] | None = None


class Tag(BaseModelWithConfig):
    """Metadata for one tag operations are grouped by."""

    name: str
    description: str | None = None
    externalDocs: ExternalDocumentation | None = None


class OpenAPI(BaseModelWithConfig):
    """The whole OpenAPI document."""

    openapi: str
    info: Info
    jsonSchemaDialect: str | None = None
    servers: list[Server] | None = None
    # the paths map also holds ``x-...`` extension keys, whose values are anything
    paths: dict[str, PathItem | Any] | None = None
    webhooks: dict[str, PathItem | Reference] | None = None
    components: Components | None = None
    security: list[dict[str, list[str]]] | None = None
    tags: list[Tag] | None = None
    externalDocs: ExternalDocumentation | None = None


# Resolve the forward references (``SchemaOrBool``, ``Header``, ``PathItem``) now that every
# class exists.
Schema.model_rebuild()
Encoding.model_rebuild()
Operation.model_rebuild()
