"""What every security scheme dependency has, so the OpenAPI generator can find it."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import HTTPConnection
from starlette.status import HTTP_401_UNAUTHORIZED

from covetpy.exceptions import HTTPException
from covetpy.openapi.models import SecurityBase as SecurityBaseModel


class SecurityBase:
    """Base of the security scheme dependencies.

    ``model`` is the scheme's OpenAPI object (it goes into ``components.securitySchemes``) and
    ``scheme_name`` the key it is filed under there and in each operation's ``security`` list.
    """

    model: SecurityBaseModel
    scheme_name: str


def not_authenticated_error(headers: Mapping[str, str]) -> HTTPException:
    """The 401 every scheme answers with when the credentials are missing or unusable.

    ``headers`` carry the ``WWW-Authenticate`` challenge, which HTTP requires on a 401 and which
    tells the client what kind of credentials to send.
    """
    return HTTPException(status_code=HTTP_401_UNAUTHORIZED, detail="Not authenticated", headers=dict(headers))


class BearerChallengeScheme(SecurityBase):
    """The OAuth2 and OpenID Connect schemes' shared behaviour: as a dependency it returns the
    ``Authorization`` header as sent, or answers 401 with ``WWW-Authenticate: Bearer`` when there is
    none (None with ``auto_error=False``)."""

    auto_error: bool

    def make_not_authenticated_error(self) -> HTTPException:
        """The exception raised when no usable credentials were sent (override to answer otherwise)."""
        return not_authenticated_error({"WWW-Authenticate": "Bearer"})

    async def __call__(self, request: HTTPConnection) -> str | None:
        """Return the ``Authorization`` header as sent."""
        authorization = request.headers.get("Authorization")
        if authorization:
            return authorization
        if self.auto_error:
            raise self.make_not_authenticated_error()
        return None
