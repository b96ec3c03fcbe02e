"""OpenID Connect, as OpenAPI describes it: a discovery URL and a token in ``Authorization``."""

from __future__ import annotations

from covetpy.openapi.models import OpenIdConnect as OpenIdConnectModel
from covetpy.security.base import BearerChallengeScheme


class OpenIdConnect(BearerChallengeScheme):
    """OpenID Connect with discovery at ``openIdConnectUrl``.

    As a dependency it returns the ``Authorization`` header as sent (validating the token is
    the application's job), or answers 401 with ``WWW-Authenticate: Bearer`` when there is none
    (None with ``auto_error=False``).
    """

    model: OpenIdConnectModel

    def __init__(
        self,
        *,
        openIdConnectUrl: str,  # OpenAPI's spelling, as FastAPI takes it
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.model = OpenIdConnectModel(openIdConnectUrl=openIdConnectUrl, description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error
