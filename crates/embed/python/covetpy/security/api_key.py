"""API keys sent in the query string, a header or a cookie."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from covetpy.exceptions import HTTPException
from covetpy.openapi.models import APIKey, APIKeyIn
from covetpy.security.base import SecurityBase, not_authenticated_error


class APIKeyBase(SecurityBase):
    """What the three API key schemes share: the OpenAPI model, ``auto_error`` and the 401."""

    model: APIKey

    def __init__(
        self,
        location: APIKeyIn,
        name: str,
        description: str | None,
        scheme_name: str | None,
        auto_error: bool,
    ) -> None:
        self.auto_error = auto_error
        self.model = APIKey.model_validate({"in": location, "name": name, "description": description})
        self.scheme_name = scheme_name or type(self).__name__

    def make_not_authenticated_error(self) -> HTTPException:
        """The exception raised when the key is missing (override to change status or detail)."""
        return not_authenticated_error({"WWW-Authenticate": "APIKey"})

    def check_api_key(self, api_key: str | None) -> str | None:
        """Return the key, or (when it is missing or empty) raise, or return None without
        ``auto_error``."""
        if api_key:
            return api_key
        if self.auto_error:
            raise self.make_not_authenticated_error()
        return None


class APIKeyQuery(APIKeyBase):
    """A dependency returning the API key from the query parameter ``name``.

    Without the parameter it answers 401 (``WWW-Authenticate: APIKey``), or returns None when
    ``auto_error=False`` so that another scheme may be tried.
    """

    def __init__(
        self,
        *,
        name: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(APIKeyIn.query, name, description, scheme_name, auto_error)

    async def __call__(self, request: HTTPConnection) -> str | None:
        """Read the key from the request's query string."""
        return self.check_api_key(request.query_params.get(self.model.name))


class APIKeyHeader(APIKeyBase):
    """A dependency returning the API key from the request header ``name``.

    Without the header it answers 401 (``WWW-Authenticate: APIKey``), or returns None when
    ``auto_error=False``.
    """

    def __init__(
        self,
        *,
        name: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(APIKeyIn.header, name, description, scheme_name, auto_error)

    async def __call__(self, request: HTTPConnection) -> str | None:
        """Read the key from the request's headers (the name is case-insensitive)."""
        return self.check_api_key(request.headers.get(self.model.name))


class APIKeyCookie(APIKeyBase):
    """A dependency returning the API key from the cookie ``name``.

    Without the cookie it answers 401 (``WWW-Authenticate: APIKey``), or returns None when
    ``auto_error=False``.
    """

    def __init__(
        self,
        *,
        name: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(APIKeyIn.cookie, name, description, scheme_name, auto_error)

    async def __call__(self, request: HTTPConnection) -> str | None:
        """Read the key from the request's ``Cookie`` header."""
        return self.check_api_key(request.cookies.get(self.model.name))
