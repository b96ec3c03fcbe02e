"""Helpers for reading handler annotations."""

from __future__ import annotations

import collections
import collections.abc
import dataclasses
import types
import typing
import uuid
from enum import Enum
from typing import Annotated, Any, Union, get_args, get_origin

try:
    from pydantic import BaseModel
except ImportError:  # pydantic is optional
    BaseModel = None  # type: ignore[assignment,misc]

HAS_PYDANTIC = BaseModel is not None

_UNION_TYPES: tuple[Any, ...] = (Union, types.UnionType)
_SEQUENCE_ORIGINS: tuple[Any, ...] = (
    list,
    set,
    frozenset,
    tuple,
    collections.deque,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Set,
    collections.abc.MutableSet,
)
_MAPPING_ORIGINS: tuple[Any, ...] = (
    dict,
    collections.abc.Mapping,
    collections.abc.MutableMapping,
    collections.OrderedDict,
    collections.defaultdict,
)


def split_annotated(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[T, a, b]`` -> ``(T, (a, b))``; anything else -> ``(annotation, ())``."""
    if get_origin(annotation) is Annotated:
        args = get_args(annotation)
        inner, extras = split_annotated(args[0])
        return inner, tuple(args[1:]) + extras
    return annotation, ()


def is_union(annotation: Any) -> bool:
    return get_origin(annotation) in _UNION_TYPES


def strip_optional(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> ``(X, True)``; a union of several non-None types stays a union."""
    if is_union(annotation):
        args = get_args(annotation)
        rest = [arg for arg in args if arg is not type(None)]
        if len(rest) < len(args):
            if len(rest) == 1:
                return rest[0], True
            return Union[tuple(rest)], True  # noqa: UP007 - built from a tuple
    return annotation, False


def is_model_class(annotation: Any) -> bool:
    return (
        HAS_PYDANTIC
        and isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
    )


def is_sequence(annotation: Any) -> bool:
    annotation = split_annotated(annotation)[0]
    if annotation in (list, set, frozenset, tuple):
        return True
    origin = get_origin(annotation)
    return origin in _SEQUENCE_ORIGINS


def is_mapping(annotation: Any) -> bool:
    annotation = split_annotated(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, collections.abc.Mapping):
        return True
    if typing.is_typeddict(annotation):
        return True
    return get_origin(annotation) in _MAPPING_ORIGINS


def is_complex(annotation: Any) -> bool:
    """True for annotations FastAPI reads from the body by default (models, mappings, sequences)."""
    annotation = split_annotated(annotation)[0]
    if is_union(annotation):
        return any(is_complex(arg) for arg in get_args(annotation))
    if is_model_class(annotation):
        return True
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return True
    return is_mapping(annotation) or is_sequence(annotation)


def contains_model(annotation: Any) -> bool:
    """True when a pydantic model or dataclass appears anywhere in ``annotation``."""
    annotation = split_annotated(annotation)[0]
    if is_model_class(annotation):
        return True
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        return True
    return any(
        contains_model(arg) for arg in get_args(annotation) if arg is not Ellipsis
    )


def sequence_item(annotation: Any) -> Any:
    args = get_args(annotation)
    if not args:
        return Any
    return args[0]


def scalar_kind(annotation: Any) -> str | None:
    """The CONTRACT.md ``kind`` the server can convert natively, or None if Python must validate."""
    if annotation is Any or annotation is str:
        return "any" if annotation is Any else "str"
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation is uuid.UUID:
        return "uuid"
    if (
        isinstance(annotation, type)
        and issubclass(annotation, Enum)
        and all(isinstance(member.value, str) for member in annotation)
    ):
        return "enum"
    return None


def title_case(name: str) -> str:
    return name.replace("_", " ").title()
