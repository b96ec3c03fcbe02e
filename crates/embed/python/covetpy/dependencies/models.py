"""The dependency graph of a path operation, built once when the route is declared."""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from covetpy._fields import ModelField

#: What identifies a dependency's result in the per-request cache.
CacheKey = tuple[Callable[..., Any] | None, tuple[str, ...], str]


def _unwrapped(call: Any) -> Any:
    while isinstance(call, functools.partial):
        call = call.func
    return inspect.unwrap(call) if callable(call) else call


def _dunder_call(call: Any) -> Any:
    if inspect.isclass(_unwrapped(call)):
        return None
    return getattr(_unwrapped(call), "__call__", None)  # noqa: B004 - callable instances


def _is(call: Any, test: Callable[[Any], bool]) -> bool:
    if call is None:
        return False
    if test(_unwrapped(call)):
        return True
    dunder = _dunder_call(call)
    return dunder is not None and test(_unwrapped(dunder))


def is_coroutine_callable(call: Any) -> bool:
    """``async def`` function, or an instance whose ``__call__`` is one (a class is not: it is called)."""
    return _is(call, inspect.iscoroutinefunction)


def is_gen_callable(call: Any) -> bool:
    """A generator function (a ``yield`` dependency run on worker threads)."""
    return _is(call, inspect.isgeneratorfunction)


def is_async_gen_callable(call: Any) -> bool:
    """An async generator function (a ``yield`` dependency run on the event loop)."""
    return _is(call, inspect.isasyncgenfunction)


@dataclass(eq=False)
class Dependant:
    """A callable (path operation or dependency) with what it takes from the request."""

    path_params: list[ModelField] = field(default_factory=list)
    query_params: list[ModelField] = field(default_factory=list)
    header_params: list[ModelField] = field(default_factory=list)
    cookie_params: list[ModelField] = field(default_factory=list)
    body_params: list[ModelField] = field(default_factory=list)
    dependencies: list[Dependant] = field(default_factory=list)
    name: str | None = None
    call: Callable[..., Any] | None = None
    request_param_name: str | None = None
    websocket_param_name: str | None = None
    http_connection_param_name: str | None = None
    response_param_name: str | None = None
    background_tasks_param_name: str | None = None
    security_scopes_param_name: str | None = None
    own_oauth_scopes: list[str] | None = None
    parent_oauth_scopes: list[str] | None = None
    use_cache: bool = True
    path: str | None = None
    scope: Literal["function", "request"] | None = None

    @functools.cached_property
    def oauth_scopes(self) -> list[str]:
        """The parents' scopes then this one's own, each once, in declaration order."""
        scopes = list(self.parent_oauth_scopes or [])
        for scope in self.own_oauth_scopes or []:
            if scope not in scopes:
                scopes.append(scope)
        return scopes

    @functools.cached_property
    def computed_scope(self) -> str | None:
        """When a ``yield`` dependency's exit code runs: its ``scope``, else ``"request"``."""
        if self.scope:
            return self.scope
        if self.is_gen_callable or self.is_async_gen_callable:
            return "request"
        return None

    @functools.cached_property
    def is_security_scheme(self) -> bool:
        from covetpy.security.base import SecurityBase

        return isinstance(_unwrapped(self.call), SecurityBase)

    @functools.cached_property
    def uses_scopes(self) -> bool:
        """Whether OAuth2 scopes can change this dependency's result (then they are part of its cache key)."""
        if self.own_oauth_scopes or self.security_scopes_param_name is not None or self.is_security_scheme:
            return True
        return any(sub.uses_scopes for sub in self.dependencies)

    @functools.cached_property
    def uses_response(self) -> bool:
        """Whether this dependant or one below it takes a ``Response`` parameter."""
        return self.response_param_name is not None or any(sub.uses_response for sub in self.dependencies)

    @functools.cached_property
    def cache_key(self) -> CacheKey:
        scopes = tuple(sorted(set(self.oauth_scopes))) if self.uses_scopes else ()
        return (self.call, scopes, self.computed_scope or "")

    @functools.cached_property
    def is_gen_callable(self) -> bool:
        return is_gen_callable(self.call)

    @functools.cached_property
    def is_async_gen_callable(self) -> bool:
        return is_async_gen_callable(self.call)

    @functools.cached_property
    def is_coroutine_callable(self) -> bool:
        return is_coroutine_callable(self.call)

    @functools.cached_property
    def context_manager(self) -> Callable[..., Any]:
        """For a ``yield`` dependency, its function made a (sync or async) context manager factory
        once, rather than on every request."""
        call = cast("Callable[..., Any]", self.call)
        if self.is_gen_callable:
            return contextlib.contextmanager(call)
        return contextlib.asynccontextmanager(call)

    def __hash__(self) -> int:
        return id(self)
