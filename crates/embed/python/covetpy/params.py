"""Parameter markers as classes: where a path operation's argument comes from and how it is
validated. They are pydantic ``FieldInfo`` objects, as FastAPI's are, so every pydantic field option
(constraints, aliases, examples...) applies. ``covetpy.Query()`` and friends (param_functions) build them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

#: "Not given" for keyword arguments, so that only what the caller set reaches FieldInfo.
_Unset: Any = PydanticUndefined


class ParamTypes(Enum):
    """The request parts a non-body parameter is read from."""

    query = "query"
    header = "header"
    path = "path"
    cookie = "cookie"


#: The keyword arguments Param and Body take in common, by name: their signatures spell them out
#: for editors and type checkers, and ``_init_marker`` reads them from there.
_MARKER_OPTIONS = frozenset(
    {
        "default",
        "default_factory",
        "annotation",
        "alias",
        "alias_priority",
        "validation_alias",
        "serialization_alias",
        "title",
        "description",
        "gt",
        "ge",
        "lt",
        "le",
        "min_length",
        "max_length",
        "pattern",
        "regex",
        "discriminator",
        "strict",
        "multiple_of",
        "allow_inf_nan",
        "max_digits",
        "decimal_places",
        "examples",
        "example",
        "openapi_examples",
        "deprecated",
        "include_in_schema",
        "json_schema_extra",
    }
)


def _init_marker(marker: Param | Body, arguments: dict[str, Any], extra: dict[str, Any]) -> None:
    """What Param and Body do with their common arguments (``arguments`` is their ``locals()``):
    keep the OpenAPI-only ones on the marker and give pydantic only what the caller set."""
    options = {name: value for name, value in arguments.items() if name in _MARKER_OPTIONS}
    if options["default"] is ...:
        options["default"] = PydanticUndefined
    marker.example = example = options.pop("example")
    marker.include_in_schema = options.pop("include_in_schema")
    marker.openapi_examples = options.pop("openapi_examples")
    annotation = options.pop("annotation")
    regex = options.pop("regex")
    if example is not _Unset:
        warnings.warn(
            "`example` is deprecated in OpenAPI 3.1 and JSON Schema; use `examples` instead",
            DeprecationWarning,
            stacklevel=4,
        )
    if regex is not None:
        warnings.warn("`regex` is deprecated; use `pattern` instead", DeprecationWarning, stacklevel=4)
        if options["pattern"] is None:
            options["pattern"] = regex
    alias = options["alias"]
    if options["serialization_alias"] in (_Unset, None) and isinstance(alias, str):
        options["serialization_alias"] = alias
    if options["validation_alias"] in (_Unset, None):
        options["validation_alias"] = alias
    json_schema_extra = options["json_schema_extra"]
    schema_extra: dict[str, Any] = {}
    if isinstance(json_schema_extra, dict):
        schema_extra.update(json_schema_extra)
    schema_extra.update(extra)
    options["json_schema_extra"] = schema_extra or (
        json_schema_extra if callable(json_schema_extra) else None
    )
    kwargs = {k: v for k, v in options.items() if v is not _Unset and v is not None or k == "default"}
    if annotation is not None:
        kwargs["annotation"] = annotation
    FieldInfo.__init__(marker, **kwargs)


class Param(FieldInfo):  # type: ignore[misc]
    """A non-body parameter; ``in_`` says which part of the request holds it."""

    in_: ParamTypes
    #: Kept for OpenAPI, not given to pydantic.
    example: Any
    include_in_schema: bool
    openapi_examples: dict[str, Any] | None

    def __init__(
        self,
        default: Any = PydanticUndefined,
        *,
        default_factory: Callable[[], Any] | None = _Unset,
        annotation: Any | None = None,
        alias: str | None = None,
        alias_priority: int | None = _Unset,
        validation_alias: Any = None,
        serialization_alias: str | None = None,
        title: str | None = None,
        description: str | None = None,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        regex: str | None = None,
        discriminator: str | None = None,
        strict: bool | None = _Unset,
        multiple_of: float | None = _Unset,
        allow_inf_nan: bool | None = _Unset,
        max_digits: int | None = _Unset,
        decimal_places: int | None = _Unset,
        examples: list[Any] | None = None,
        example: Any = _Unset,
        openapi_examples: dict[str, Any] | None = None,
        deprecated: bool | str | None = None,
        include_in_schema: bool = True,
        json_schema_extra: dict[str, Any] | Callable[..., None] | None = None,
        **extra: Any,
    ) -> None:
        _init_marker(self, locals(), extra)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.default})"


class Path(Param):  # type: ignore[misc]
    """A ``{name}`` segment of the path template (always required)."""

    in_ = ParamTypes.path

    def __init__(self, default: Any = ..., **kwargs: Any) -> None:
        if default is not ...:
            raise AssertionError("Path parameters cannot have a default value")
        super().__init__(default, **kwargs)


class Query(Param):  # type: ignore[misc]
    """A query-string key (``list[T]`` gathers repeated keys)."""

    in_ = ParamTypes.query


class Header(Param):  # type: ignore[misc]
    """A request header; ``user_agent`` reads ``user-agent`` unless ``convert_underscores=False``."""

    in_ = ParamTypes.header

    def __init__(
        self, default: Any = PydanticUndefined, *, convert_underscores: bool = True, **kwargs: Any
    ) -> None:
        self.convert_underscores = convert_underscores
        super().__init__(default, **kwargs)


class Cookie(Param):  # type: ignore[misc]
    """A cookie of the ``Cookie`` header."""

    in_ = ParamTypes.cookie


class Body(FieldInfo):  # type: ignore[misc]
    """The request body, or (with ``embed=True`` or several body parameters) one key of it."""

    #: Kept for OpenAPI, not given to pydantic.
    example: Any
    include_in_schema: bool
    openapi_examples: dict[str, Any] | None

    def __init__(
        self,
        default: Any = PydanticUndefined,
        *,
        embed: bool | None = None,
        media_type: str = "application/json",
        default_factory: Callable[[], Any] | None = _Unset,
        annotation: Any | None = None,
        alias: str | None = None,
        alias_priority: int | None = _Unset,
        validation_alias: Any = None,
        serialization_alias: str | None = None,
        title: str | None = None,
        description: str | None = None,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        regex: str | None = None,
        discriminator: str | None = None,
        strict: bool | None = _Unset,
        multiple_of: float | None = _Unset,
        allow_inf_nan: bool | None = _Unset,
        max_digits: int | None = _Unset,
        decimal_places: int | None = _Unset,
        examples: list[Any] | None = None,
        example: Any = _Unset,
        openapi_examples: dict[str, Any] | None = None,
        deprecated: bool | str | None = None,
        include_in_schema: bool = True,
        json_schema_extra: dict[str, Any] | Callable[..., None] | None = None,
        **extra: Any,
    ) -> None:
        self.embed = embed
        self.media_type = media_type
        _init_marker(self, locals(), extra)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.default})"


class Form(Body):  # type: ignore[misc]
    """A field of a URL-encoded or multipart form body."""

    def __init__(
        self,
        default: Any = PydanticUndefined,
        *,
        media_type: str = "application/x-www-form-urlencoded",
        **kwargs: Any,
    ) -> None:
        super().__init__(default, media_type=media_type, **kwargs)


class File(Form):  # type: ignore[misc]
    """A file part of a multipart form (``bytes`` reads it whole, ``UploadFile`` streams it)."""

    def __init__(
        self, default: Any = PydanticUndefined, *, media_type: str = "multipart/form-data", **kwargs: Any
    ) -> None:
        super().__init__(default, media_type=media_type, **kwargs)


@dataclass(frozen=True)
class Depends:
    """A dependency: ``dependency`` is called (its own parameters resolved the same way) and its
    result passed in. ``use_cache`` shares one result per request; ``scope`` decides when the exit
    code of a ``yield`` dependency runs: ``"function"`` before the response is sent, ``"request"``
    (the default) after."""

    dependency: Callable[..., Any] | None = None
    use_cache: bool = True
    scope: Literal["function", "request"] | None = None

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__name__", type(self.dependency).__name__)
        cache = "" if self.use_cache else ", use_cache=False"
        return f"{self.__class__.__name__}({name}{cache})"


@dataclass(frozen=True)
class Security(Depends):
    """A dependency that also declares the OAuth2 ``scopes`` the path operation needs."""

    scopes: Sequence[str] | None = None
