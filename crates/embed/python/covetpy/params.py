"""Parameter markers: ``Query``, ``Path``, ``Header``, ``Cookie``, ``Body``.

Use them as defaults (``q: str = Query("x", max_length=5)``) or in ``Annotated[...]``
(``q: Annotated[str, Query(max_length=5)] = "x"``), as with FastAPI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Marks a parameter as required when given as the default (``Query(...)``).
Required: Any = ...

_CONSTRAINTS = (
    "gt",
    "ge",
    "lt",
    "le",
    "multiple_of",
    "min_length",
    "max_length",
    "pattern",
    "strict",
    "allow_inf_nan",
    "max_digits",
    "decimal_places",
)


class Param:
    """Base class of the markers; ``source`` says where the value comes from."""

    source = "query"

    def __init__(
        self,
        default: Any = ...,
        *,
        default_factory: Callable[[], Any] | None = None,
        alias: str | None = None,
        title: str | None = None,
        description: str | None = None,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
        multiple_of: float | None = None,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        regex: str | None = None,
        strict: bool | None = None,
        allow_inf_nan: bool | None = None,
        max_digits: int | None = None,
        decimal_places: int | None = None,
        examples: list[Any] | None = None,
        example: Any = None,
        deprecated: bool | None = None,
        include_in_schema: bool = True,
        json_schema_extra: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        self.default = default
        self.default_factory = default_factory
        self.alias = alias
        self.title = title
        self.description = description
        self.gt = gt
        self.ge = ge
        self.lt = lt
        self.le = le
        self.multiple_of = multiple_of
        self.min_length = min_length
        self.max_length = max_length
        self.pattern = pattern if pattern is not None else regex
        self.strict = strict
        self.allow_inf_nan = allow_inf_nan
        self.max_digits = max_digits
        self.decimal_places = decimal_places
        self.examples = (
            examples
            if examples is not None
            else ([example] if example is not None else None)
        )
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.json_schema_extra = dict(json_schema_extra or {}, **extra) or None

    @property
    def is_required(self) -> bool:
        return self.default is ... and self.default_factory is None

    def constraints(self) -> dict[str, Any]:
        """The validation constraints that were set (``gt``, ``max_length``, ...)."""
        return {
            name: getattr(self, name)
            for name in _CONSTRAINTS
            if getattr(self, name) is not None
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.default!r})"


class QueryParam(Param):
    source = "query"


class PathParam(Param):
    source = "path"


class HeaderParam(Param):
    source = "header"

    def __init__(
        self, default: Any = ..., *, convert_underscores: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(default, **kwargs)
        self.convert_underscores = convert_underscores


class CookieParam(Param):
    source = "cookie"


class BodyParam(Param):
    source = "body"

    def __init__(
        self,
        default: Any = ...,
        *,
        embed: bool | None = None,
        media_type: str = "application/json",
        **kwargs: Any,
    ) -> None:
        super().__init__(default, **kwargs)
        self.embed = embed
        self.media_type = media_type


# The public names are functions returning the marker objects, so that ``q: str = Query()``
# type-checks like FastAPI's (the marker stands in for the default value).


def Query(default: Any = ..., **kwargs: Any) -> Any:
    """A query string parameter (``?name=value``; ``list[T]`` gathers repeated keys)."""
    return QueryParam(default, **kwargs)


def Path(default: Any = ..., **kwargs: Any) -> Any:
    """A ``{name}`` path segment (always required)."""
    return PathParam(default, **kwargs)


def Header(
    default: Any = ..., *, convert_underscores: bool = True, **kwargs: Any
) -> Any:
    """A request header; ``user_agent`` reads ``user-agent`` unless ``convert_underscores=False``."""
    return HeaderParam(default, convert_underscores=convert_underscores, **kwargs)


def Cookie(default: Any = ..., **kwargs: Any) -> Any:
    """A cookie from the ``Cookie`` header."""
    return CookieParam(default, **kwargs)


def Body(
    default: Any = ...,
    *,
    embed: bool | None = None,
    media_type: str = "application/json",
    **kwargs: Any,
) -> Any:
    """A value from the JSON body (``embed=True`` reads it from a key named after the parameter)."""
    return BodyParam(default, embed=embed, media_type=media_type, **kwargs)
