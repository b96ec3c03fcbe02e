"""``jsonable_encoder``: turn Python objects into JSON-compatible data, with FastAPI's rules."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import re
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import Enum
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
from pathlib import PurePath
from types import GeneratorType
from typing import Any
from uuid import UUID

try:
    from pydantic import BaseModel as _BaseModel
except ImportError:  # pydantic is optional
    _BaseModel = None  # type: ignore[assignment,misc]


def _decimal(value: Decimal) -> int | float:
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(value)
    return float(value)


ENCODERS_BY_TYPE: dict[type[Any], Callable[[Any], Any]] = {
    bytes: lambda o: o.decode(),
    bytearray: lambda o: bytes(o).decode(),
    datetime.datetime: lambda o: o.isoformat(),
    datetime.date: lambda o: o.isoformat(),
    datetime.time: lambda o: o.isoformat(),
    datetime.timedelta: lambda o: o.total_seconds(),
    Decimal: _decimal,
    UUID: str,
    IPv4Address: str,
    IPv6Address: str,
    IPv4Interface: str,
    IPv6Interface: str,
    IPv4Network: str,
    IPv6Network: str,
    re.Pattern: lambda o: o.pattern,
}


def jsonable_encoder(
    obj: Any,
    include: set[str] | None = None,
    exclude: set[str] | None = None,
    by_alias: bool = True,
    exclude_unset: bool = False,
    exclude_defaults: bool = False,
    exclude_none: bool = False,
    custom_encoder: Mapping[Any, Callable[[Any], Any]] | None = None,
) -> Any:
    """Convert ``obj`` to data ``json.dumps`` accepts: dicts, lists, str, int, float, bool, None."""
    if custom_encoder:
        if type(obj) in custom_encoder:
            return custom_encoder[type(obj)](obj)
        for encoder_type, encoder in custom_encoder.items():
            if isinstance(obj, encoder_type):
                return encoder(obj)
    if _BaseModel is not None and isinstance(obj, _BaseModel):
        data = obj.model_dump(
            mode="json",
            include=include,
            exclude=exclude,
            by_alias=by_alias,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
        )
        return jsonable_encoder(
            data, exclude_none=exclude_none, custom_encoder=custom_encoder
        )
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable_encoder(
            dataclasses.asdict(obj),
            include=include,
            exclude=exclude,
            by_alias=by_alias,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
            custom_encoder=custom_encoder,
        )
    if isinstance(obj, Enum):
        return jsonable_encoder(obj.value, custom_encoder=custom_encoder)
    if isinstance(obj, PurePath):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, float)):
        return obj
    if isinstance(obj, Mapping):
        result: dict[Any, Any] = {}
        for key, value in obj.items():
            if include is not None and key not in include:
                continue
            if exclude is not None and key in exclude:
                continue
            if exclude_none and value is None:
                continue
            encoded_key = jsonable_encoder(
                key, by_alias=by_alias, custom_encoder=custom_encoder
            )
            result[encoded_key] = jsonable_encoder(
                value,
                by_alias=by_alias,
                exclude_unset=exclude_unset,
                exclude_defaults=exclude_defaults,
                exclude_none=exclude_none,
                custom_encoder=custom_encoder,
            )
        return result
    if isinstance(obj, (list, set, frozenset, GeneratorType, tuple, deque)):
        return [
            jsonable_encoder(
                item,
                by_alias=by_alias,
                exclude_unset=exclude_unset,
                exclude_defaults=exclude_defaults,
                exclude_none=exclude_none,
                custom_encoder=custom_encoder,
            )
            for item in obj
        ]
    by_type = ENCODERS_BY_TYPE.get(type(obj))
    if by_type is not None:
        return by_type(obj)
    for encoder_type, encoder in ENCODERS_BY_TYPE.items():
        if isinstance(obj, encoder_type):
            return encoder(obj)
    if _BaseModel is not None:
        # pydantic's own types (Url, SecretStr, Color, ...) know their JSON form.
        from pydantic_core import to_jsonable_python

        with contextlib.suppress(Exception):
            return to_jsonable_python(obj)
    errors: list[Exception] = []
    try:
        data = dict(obj)
    except Exception as exc:  # noqa: BLE001
        errors.append(exc)
        try:
            data = vars(obj)
        except Exception as exc2:
            errors.append(exc2)
            raise ValueError(
                f"cannot encode {type(obj).__name__} as JSON: {errors}"
            ) from exc2
    return jsonable_encoder(
        data,
        include=include,
        exclude=exclude,
        by_alias=by_alias,
        exclude_unset=exclude_unset,
        exclude_defaults=exclude_defaults,
        exclude_none=exclude_none,
        custom_encoder=custom_encoder,
    )
