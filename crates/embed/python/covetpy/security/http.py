"""HTTP authentication schemes read from the ``Authorization`` header: Basic, Bearer, Digest
and any other scheme name (``HTTPBase``)."""

from __future__ import annotations

import binascii
from base64 import b64decode

from pydantic import BaseModel
from starlette.requests import HTTPConnection

from covetpy.exceptions import HTTPException
from covetpy.openapi.models import HTTPBase as HTTPBaseModel
from covetpy.openapi.models import HTTPBearer as HTTPBearerModel
from covetpy.security.base import SecurityBase, not_authenticated_error
from covetpy.security.utils import get_authorization_scheme_param


class HTTPBasicCredentials(BaseModel):
    """What ``HTTPBasic`` returns: the decoded user name and password."""

    username: str
    password: str


class HTTPAuthorizationCredentials(BaseModel):
    """What ``HTTPBearer``, ``HTTPDigest`` and ``HTTPBase`` return: the ``Authorization``
    header split into its ``scheme`` (as sent, e.g. ``"Bearer"``) and its ``credentials``."""

    scheme: str
    credentials: str


class HTTPBase(SecurityBase):
    """HTTP authentication with an arbitrary ``scheme``; also the base of the specific schemes.

    It returns the ``Authorization`` header's scheme and credentials whatever the scheme sent,
    and answers 401 when the header, its scheme or its credentials are missing (or returns
    None with ``auto_error=False``).
    """

    model: HTTPBaseModel

    def __init__(
        self,
        *,
        scheme: str,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.model = HTTPBaseModel(scheme=scheme, description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    def make_authenticate_headers(self) -> dict[str, str]:
        """The headers of the 401: a ``WWW-Authenticate`` challenge naming the scheme."""
        return {"WWW-Authenticate": self.model.scheme.title()}

    def make_not_authenticated_error(self) -> HTTPException:
        """The exception raised when the credentials are missing or unusable."""
        return not_authenticated_error(self.make_authenticate_headers())

    def _credentials(
        self, request: HTTPConnection, required_scheme: str | None
    ) -> HTTPAuthorizationCredentials | None:
        """The ``Authorization`` header's scheme and credentials, or None (after raising when
        ``auto_error``) when either part is missing or the scheme is not ``required_scheme``
        (compared case-insensitively; any scheme when None)."""
        authorization = request.headers.get("Authorization")
        scheme, credentials = get_authorization_scheme_param(authorization)
        usable = bool(authorization and scheme and credentials)
        if usable and required_scheme is not None:
            usable = scheme.lower() == required_scheme
        if usable:
            return HTTPAuthorizationCredentials(scheme=scheme, credentials=credentials)
        if self.auto_error:
            raise self.make_not_authenticated_error()
        return None

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        """Return the ``Authorization`` header's scheme and credentials."""
        return self._credentials(request, None)


class HTTPBasic(HTTPBase):
    """HTTP Basic authentication: returns the user name and password of a
    ``Authorization: Basic base64(user:password)`` header.

    Without the header (or with another scheme) it answers 401 with ``WWW-Authenticate: Basic``
    (with ``realm="..."`` when ``realm`` is given), or returns None with ``auto_error=False``.
    A Basic header that does not decode (bad base64, not ASCII, no ``:``) is always a 401: the
    client did try Basic, so there is nothing to fall back to.
    """

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        realm: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(
            scheme="basic", scheme_name=scheme_name, description=description, auto_error=auto_error
        )
        self.realm = realm

    def make_authenticate_headers(self) -> dict[str, str]:
        """``WWW-Authenticate: Basic``, with the realm when one is set."""
        if self.realm:
            return {"WWW-Authenticate": f'Basic realm="{self.realm}"'}
        return {"WWW-Authenticate": "Basic"}

    async def __call__(self, request: HTTPConnection) -> HTTPBasicCredentials | None:  # type: ignore[override]
        """Decode the Basic credentials of the ``Authorization`` header."""
        authorization = request.headers.get("Authorization")
        scheme, param = get_authorization_scheme_param(authorization)
        if not authorization or scheme.lower() != "basic":
            if self.auto_error:
                raise self.make_not_authenticated_error()
            return None
        try:
            decoded = b64decode(param).decode("ascii")
        except (ValueError, binascii.Error) as exc:  # UnicodeDecodeError is a ValueError
            raise self.make_not_authenticated_error() from exc
        username, colon, password = decoded.partition(":")
        if not colon:
            raise self.make_not_authenticated_error()
        return HTTPBasicCredentials(username=username, password=password)


class HTTPBearer(HTTPBase):
    """HTTP bearer tokens: returns the scheme and token of ``Authorization: Bearer <token>``.

    A missing header, a missing token or another scheme answers 401 with
    ``WWW-Authenticate: Bearer``, or returns None with ``auto_error=False``. ``bearerFormat``
    only documents the token's format in OpenAPI.
    """

    def __init__(
        self,
        *,
        bearerFormat: str | None = None,  # OpenAPI's spelling, as FastAPI takes it
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.model = HTTPBearerModel(bearerFormat=bearerFormat, description=description)
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        """Return the bearer token of the ``Authorization`` header."""
        return self._credentials(request, "bearer")


class HTTPDigest(HTTPBase):
    """HTTP Digest authentication, as far as OpenAPI and the header go: it returns the scheme
    and the unparsed credentials of ``Authorization: Digest ...``; checking the digest is the
    application's job (subclass it or check in the path operation).

    A missing header, missing credentials or another scheme answers 401 with
    ``WWW-Authenticate: Digest``, or returns None with ``auto_error=False``.
    """

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(
            scheme="digest", scheme_name=scheme_name, description=description, auto_error=auto_error
        )

    async def __call__(self, request: HTTPConnection) -> HTTPAuthorizationCredentials | None:
        """Return the Digest credentials of the ``Authorization`` header, unparsed."""
        return self._credentials(request, "digest")
