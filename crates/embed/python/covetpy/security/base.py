"""What every security scheme dependency has, so the OpenAPI generator can find it."""

from __future__ import annotations

from collections.abc import Mapping

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
