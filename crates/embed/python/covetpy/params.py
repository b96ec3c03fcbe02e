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


def _field_kwargs(
    *,
    default: Any,
    default_factory: Any,
    alias: Any,
    alias_priority: Any,
    validation_alias: Any,
    serialization_alias: Any,
    title: Any,
    description: Any,
    gt: Any,
    ge: Any,
    lt: Any,
    le: Any,
    min_length: Any,
    max_length: Any,
    pattern: Any,
    regex: Any,
    discriminator: Any,
    strict: Any,
    multiple_of: Any,
    allow_inf_nan: Any,
    max_digits: Any,
    decimal_places: Any,
    examples: Any,
    example: Any,
    deprecated: Any,
    json_schema_extra: Any,
    extra: dict[str, Any],
) -> dict[str, Any]:
    if example is not _Unset:
        warnings.warn(
            "`example` is deprecated in OpenAPI 3.1 and JSON Schema; use `examples` instead",
            DeprecationWarning,
            stacklevel=4,
        )
    if regex is not None:
        warnings.warn("`regex` is deprecated; use `pattern` instead", DeprecationWarning, stacklevel=4)
        if pattern is None:
            pattern = regex
    if serialization_alias in (_Unset, None) and isinstance(alias, str):
        serialization_alias = alias
    if validation_alias in (_Unset, None):
        validation_alias = alias
    schema_extra: dict[str, Any] = {}
    if isinstance(json_schema_extra, dict):
        schema_extra.update(json_schema_extra)
    schema_extra.update(extra)
    kwargs: dict[str, Any] = {
        "default": default,
        "default_factory": default_factory,
        "alias": alias,
        "alias_priority": alias_priority,
        "validation_alias": validation_alias,
        "serialization_alias": serialization_alias,
        "title": title,
        "description": description,
        "gt": gt,
        "ge": ge,
        "lt": lt,
        "le": le,
        "min_length": min_length,
        "max_length": max_length,
        "pattern": pattern,
        "discriminator": discriminator,
        "strict": strict,
        "multiple_of": multiple_of,
        "allow_inf_nan": allow_inf_nan,
        "max_digits": max_digits,
        "decimal_places": decimal_places,
        "examples": examples,
        "deprecated": deprecated,
        "json_schema_extra": schema_extra or (json_schema_extra if callable(json_schema_extra) else None),
    }
    return {k: v for k, v in kwargs.items() if v is not _Unset and v is not None or k == "default"}


class Param(FieldInfo):  # type: ignore[misc]
    """A non-body parameter; ``in_`` says which part of the request holds it."""

    in_: ParamTypes

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
        if default is ...:
            default = PydanticUndefined
        self.example = example
        self.include_in_schema = include_in_schema
        self.openapi_examples = openapi_examples
        kwargs = _field_kwargs(
            default=default,
            default_factory=default_factory,
            alias=alias,
            alias_priority=alias_priority,
            validation_alias=validation_alias,
            serialization_alias=serialization_alias,
            title=title,
            description=description,
            gt=gt,
            ge=ge,
            lt=lt,
            le=le,
            min_length=min_length,
            max_length=max_length,
            pattern=pattern,
            regex=regex,
            discriminator=discriminator,
            strict=strict,
            multiple_of=multiple_of,
            allow_inf_nan=allow_inf_nan,
            max_digits=max_digits,
            decimal_places=decimal_places,
            examples=examples,
            example=example,
            deprecated=deprecated,
            json_schema_extra=json_schema_extra,
            extra=extra,
        )
        if annotation is not None:
            kwargs["annotation"] = annotation
        super().__init__(**kwargs)

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
        if default is ...:
            default = PydanticUndefined
        self.embed = embed
        self.media_type = media_type
        self.example = example
        self.include_in_schema = include_in_schema
        self.openapi_examples = openapi_examples
        kwargs = _field_kwargs(
            default=default,
            default_factory=default_factory,
            alias=alias,
            alias_priority=alias_priority,
            validation_alias=validation_alias,
            serialization_alias=serialization_alias,
            title=title,
            description=description,
            gt=gt,
            ge=ge,
            lt=lt,
            le=le,
            min_length=min_length,
            max_length=max_length,
            pattern=pattern,
            regex=regex,
            discriminator=discriminator,
            strict=strict,
            multiple_of=multiple_of,
            allow_inf_nan=allow_inf_nan,
            max_digits=max_digits,
            decimal_places=decimal_places,
            examples=examples,
            example=example,
            deprecated=deprecated,
            json_schema_extra=json_schema_extra,
            extra=extra,
        )
        if annotation is not None:
            kwargs["annotation"] = annotation
        super().__init__(**kwargs)

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
