"""Request data structures: Starlette's, plus FastAPI's ``UploadFile`` (usable as a pydantic field
type) and the ``Default`` placeholder that tells an unset option from one set to its default."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from pydantic import GetJsonSchemaHandler
from pydantic_core import core_schema
from starlette.datastructures import URL as URL
from starlette.datastructures import Address as Address
from starlette.datastructures import FormData as FormData
from starlette.datastructures import Headers as Headers
from starlette.datastructures import QueryParams as QueryParams
from starlette.datastructures import State as State
from starlette.datastructures import UploadFile as StarletteUploadFile


class UploadFile(StarletteUploadFile):
    """A file of a multipart request. Parts larger than a megabyte are spooled to a temporary file;
    ``file`` is the blocking file object, the async methods run it on a worker thread."""

    @classmethod
    def _validate(cls, value: Any, _info: Any) -> UploadFile:
        if not isinstance(value, StarletteUploadFile):
            raise ValueError(f"Expected UploadFile, received: {type(value)}")
        return cast(UploadFile, value)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: Mapping[str, Any], handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {"type": "string", "contentMediaType": "application/octet-stream"}

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: Callable[[Any], Mapping[str, Any]]
    ) -> core_schema.CoreSchema:
        return core_schema.with_info_plain_validator_function(cls._validate)


class DefaultPlaceholder:
    """Wraps an option's default so that code can tell "not given" from "given, equal to the default"."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __bool__(self) -> bool:
        return bool(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DefaultPlaceholder) and other.value == self.value

    def __hash__(self) -> int:
        return hash(("DefaultPlaceholder", id(self.value)))


DefaultType = TypeVar("DefaultType")


def Default(value: DefaultType) -> DefaultType:  # noqa: N802 - FastAPI's name
    """Mark ``value`` as a default (see ``DefaultPlaceholder``)."""
    return DefaultPlaceholder(value)  # type: ignore[return-value]


__all__ = [
    "URL",
    "Address",
    "Default",
    "DefaultPlaceholder",
    "FormData",
    "Headers",
    "QueryParams",
    "State",
    "UploadFile",
]
