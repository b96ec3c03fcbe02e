"""``Query()``, ``Path()``, ``Depends()``... as FastAPI spells them: functions returning the markers
of ``covetpy.params``. Every keyword the marker classes take is accepted."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic_core import PydanticUndefined

from covetpy import params


def Path(default: Any = ..., **kwargs: Any) -> Any:  # noqa: N802 - FastAPI's name
    """A path parameter (``{name}`` in the template)."""
    return params.Path(default, **kwargs)


def Query(default: Any = PydanticUndefined, **kwargs: Any) -> Any:  # noqa: N802
    """A query parameter."""
    return params.Query(default, **kwargs)


def Header(default: Any = PydanticUndefined, **kwargs: Any) -> Any:  # noqa: N802
    """A header parameter."""
    return params.Header(default, **kwargs)


def Cookie(default: Any = PydanticUndefined, **kwargs: Any) -> Any:  # noqa: N802
    """A cookie parameter."""
    return params.Cookie(default, **kwargs)


def Body(default: Any = PydanticUndefined, **kwargs: Any) -> Any:  # noqa: N802
    """The JSON body, or one key of it (``embed=True``)."""
    return params.Body(default, **kwargs)


def Form(default: Any = PydanticUndefined, **kwargs: Any) -> Any:  # noqa: N802
    """A form field."""
    return params.Form(default, **kwargs)


def File(default: Any = PydanticUndefined, **kwargs: Any) -> Any:  # noqa: N802
    """A file of a multipart form."""
    return params.File(default, **kwargs)


def Depends(  # noqa: N802
    dependency: Callable[..., Any] | None = None,
    *,
    use_cache: bool = True,
    scope: Literal["function", "request"] | None = None,
) -> Any:
    """A dependency (see ``covetpy.params.Depends``)."""
    return params.Depends(dependency=dependency, use_cache=use_cache, scope=scope)


def Security(  # noqa: N802
    dependency: Callable[..., Any] | None = None,
    *,
    scopes: Sequence[str] | None = None,
    use_cache: bool = True,
) -> Any:
    """A dependency that declares OAuth2 scopes."""
    return params.Security(dependency=dependency, scopes=scopes, use_cache=use_cache)
