"""One declared value (a parameter, a body field, a response model) with its pydantic validator."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from functools import cached_property
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from starlette.datastructures import UploadFile as StarletteUploadFile

_UNION_TYPES: tuple[Any, ...] = (typing.Union, type(int | str))
_SEQUENCE_ORIGINS: tuple[type, ...] = (list, set, frozenset, tuple, Sequence)


@dataclasses.dataclass(eq=False)
class ModelField:
    """``name`` as declared, ``annotation`` its type, ``field_info`` its marker and options."""

    field_info: FieldInfo
    name: str
    annotation: Any = None
    mode: Literal["validation", "serialization"] = "validation"

    def __post_init__(self) -> None:
        if self.annotation is None:
            self.annotation = self.field_info.annotation

    @cached_property
    def _adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(cast(Any, Annotated[self.annotation, self.field_info]))

    @property
    def alias(self) -> str:
        return self.field_info.alias or self.name

    @property
    def validation_alias(self) -> str:
        va = self.field_info.validation_alias
        return va if isinstance(va, str) else self.alias

    @property
    def required(self) -> bool:
        return self.field_info.is_required()

    @property
    def default(self) -> Any:
        if self.field_info.default_factory is not None:
            return self.field_info.default_factory()  # type: ignore[call-arg]
        value = self.field_info.default
        return None if value is PydanticUndefined else value

    @property
    def type_(self) -> Any:
        return self.annotation

    def validate(
        self, value: Any, values: Mapping[str, Any] | None = None, *, loc: tuple[Any, ...] = ()
    ) -> tuple[Any, list[dict[str, Any]]]:
        """The validated value and no errors, or None and FastAPI-shaped errors under ``loc``."""
        try:
            return self._adapter.validate_python(value, from_attributes=True), []
        except ValidationError as exc:
            return None, errors_at(exc, loc)

    def serialize(self, value: Any, *, mode: Literal["json", "python"] = "json", **options: Any) -> Any:
        """``value`` dumped as the response model says (include/exclude/by_alias/exclude_unset...)."""
        return self._adapter.dump_python(value, mode=mode, **options)

    def serialize_json(self, value: Any, **options: Any) -> bytes:
        """``value`` as JSON bytes."""
        return self._adapter.dump_json(value, **options)

    def json_schema_adapter(self) -> TypeAdapter[Any]:
        """The adapter whose JSON schema OpenAPI documents."""
        return self._adapter

    def __hash__(self) -> int:
        return id(self)


def errors_at(exc: ValidationError, loc: tuple[Any, ...]) -> list[dict[str, Any]]:
    """pydantic's errors with ``loc`` prefixed and without documentation links."""
    return [{**err, "loc": (*loc, *err.get("loc", ()))} for err in exc.errors(include_url=False)]


def missing_error(loc: tuple[Any, ...]) -> dict[str, Any]:
    """The error of a required value that is absent."""
    return {"type": "missing", "loc": loc, "msg": "Field required", "input": None}


def copied(value: Any) -> Any:
    """A default as handed to a call: a fresh copy, so calls never share a mutable default."""
    return copy.deepcopy(value)


# --- what kind of type a field has -------------------------------------------------------------


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def is_union(annotation: Any) -> bool:
    """``X | Y`` or ``Optional[X]``."""
    return typing.get_origin(_strip_annotated(annotation)) in _UNION_TYPES


def lenient_issubclass(cls: Any, parent: type | tuple[type, ...]) -> bool:
    """issubclass that answers False for things that are not classes."""
    return isinstance(cls, type) and issubclass(cls, parent)


def _is_sequence_type(annotation: Any) -> bool:
    annotation = _strip_annotated(annotation)
    origin = typing.get_origin(annotation) or annotation
    if lenient_issubclass(origin, (str, bytes, bytearray)):
        return False
    return lenient_issubclass(origin, _SEQUENCE_ORIGINS)


def is_sequence_annotation(annotation: Any) -> bool:
    """A list/set/tuple/Sequence, or a union containing one."""
    annotation = _strip_annotated(annotation)
    if is_union(annotation):
        return any(is_sequence_annotation(arg) for arg in typing.get_args(annotation))
    return _is_sequence_type(annotation)


def is_scalar_annotation(annotation: Any) -> bool:
    """A value a query string, header or cookie can carry as one string."""
    annotation = _strip_annotated(annotation)
    origin = typing.get_origin(annotation)
    if is_union(annotation):
        return all(is_scalar_annotation(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    if origin is Literal:
        return True
    if annotation is Any or annotation is inspect.Parameter.empty:
        return True
    if lenient_issubclass(annotation, (BaseModel, Mapping, StarletteUploadFile)):
        return False
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return False
    if origin is not None:
        return not (lenient_issubclass(origin, Mapping) or _is_sequence_type(annotation))
    return not _is_sequence_type(annotation) and not lenient_issubclass(annotation, dict)


def is_scalar_sequence_annotation(annotation: Any) -> bool:
    """A sequence of scalars (``list[int]``), or a union of such and None."""
    annotation = _strip_annotated(annotation)
    if is_union(annotation):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return bool(args) and all(is_scalar_sequence_annotation(a) for a in args)
    if not _is_sequence_type(annotation):
        return False
    return all(is_scalar_annotation(arg) for arg in typing.get_args(annotation) if arg is not Ellipsis)


def is_bytes_annotation(annotation: Any) -> bool:
    """``bytes``, or a union containing it."""
    annotation = _strip_annotated(annotation)
    if is_union(annotation):
        return any(is_bytes_annotation(a) for a in typing.get_args(annotation))
    return annotation is bytes


def is_bytes_sequence_annotation(annotation: Any) -> bool:
    """``list[bytes]`` and the like."""
    annotation = _strip_annotated(annotation)
    if is_union(annotation):
        return any(is_bytes_sequence_annotation(a) for a in typing.get_args(annotation))
    return _is_sequence_type(annotation) and any(is_bytes_annotation(a) for a in typing.get_args(annotation))


def is_uploadfile_or_sequence(annotation: Any) -> bool:
    """An ``UploadFile`` or a sequence of them (used to pick multipart over URL-encoded forms)."""
    annotation = _strip_annotated(annotation)
    if is_union(annotation) or _is_sequence_type(annotation):
        return any(is_uploadfile_or_sequence(a) for a in typing.get_args(annotation))
    return lenient_issubclass(annotation, StarletteUploadFile)


def model_class(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model class ``annotation`` is, if it is one."""
    annotation = _strip_annotated(annotation)
    return annotation if lenient_issubclass(annotation, BaseModel) else None


def param_model(field: ModelField) -> type[BaseModel] | None:
    """The model a parameter stands for: ``Annotated[Filters, Query()]``, also optional
    (``Filters | None``) for query, header and cookie models; a ``Json`` field is no model."""
    from pydantic import Json

    from covetpy import params

    annotation = field.field_info.annotation
    if isinstance(field.field_info, params.Query | params.Header | params.Cookie) and is_union(annotation):
        args = typing.get_args(_strip_annotated(annotation))
        if len(args) == 2 and type(None) in args:
            annotation = next(a for a in args if a is not type(None))
    if not lenient_issubclass(annotation, BaseModel):
        return None
    if any(type(item) is Json for item in field.field_info.metadata):
        return None
    return cast(type[BaseModel], annotation)


def model_fields(model: type[BaseModel]) -> list[ModelField]:
    """A model's fields as ModelFields (for parameter and form models)."""
    return [
        ModelField(field_info=info, name=name, annotation=info.rebuild_annotation())
        for name, info in model.model_fields.items()
    ]


def is_enum(annotation: Any) -> bool:
    """An Enum class."""
    return lenient_issubclass(_strip_annotated(annotation), Enum)
