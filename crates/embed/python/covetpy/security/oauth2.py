"""OAuth2: the generic scheme, the password and authorization-code bearer flows, the
password-flow login form, and the scopes a path operation requires."""

from typing import Annotated, Any

from starlette.requests import HTTPConnection

from covetpy.openapi.models import OAuth2 as OAuth2Model
from covetpy.openapi.models import OAuthFlows as OAuthFlowsModel
from covetpy.params import Form
from covetpy.security.base import BearerChallengeScheme
from covetpy.security.utils import get_authorization_scheme_param


class OAuth2PasswordRequestForm:
    """The form an OAuth2 password-flow client posts to the token URL, as a dependency class:
    ``form: Annotated[OAuth2PasswordRequestForm, Depends()]``.

    ``username`` and ``password`` are required; ``grant_type`` may be left out (it must be
    ``password`` when sent); ``scope`` is the space-separated scope string, exposed split as
    ``scopes``. ``OAuth2PasswordRequestFormStrict`` also requires ``grant_type``.
    """

    def __init__(
        self,
        *,
        grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
        username: Annotated[str, Form()],
        password: Annotated[str, Form(json_schema_extra={"format": "password"})],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form(json_schema_extra={"format": "password"})] = None,
    ) -> None:
        self.grant_type = grant_type
        self.username = username
        self.password = password
        self.scopes = scope.split()
        self.client_id = client_id
        self.client_secret = client_secret


class OAuth2PasswordRequestFormStrict(OAuth2PasswordRequestForm):
    """``OAuth2PasswordRequestForm`` with ``grant_type=password`` required, as the OAuth2 spec
    says."""

    def __init__(
        self,
        grant_type: Annotated[str, Form(pattern="^password$")],
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        scope: Annotated[str, Form()] = "",
        client_id: Annotated[str | None, Form()] = None,
        client_secret: Annotated[str | None, Form()] = None,
    ) -> None:
        super().__init__(
            grant_type=grant_type,
            username=username,
            password=password,
            scope=scope,
            client_id=client_id,
            client_secret=client_secret,
        )


class OAuth2(BearerChallengeScheme):
    """An OAuth2 scheme with any ``flows`` (a model or the equivalent dict); also the base of
    the bearer flows.

    As a dependency it returns the whole ``Authorization`` header value, or answers 401 with
    ``WWW-Authenticate: Bearer`` when there is none (None with ``auto_error=False``).
    """

    model: OAuth2Model

    def __init__(
        self,
        *,
        flows: OAuthFlowsModel | dict[str, dict[str, Any]] | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.model = OAuth2Model.model_validate(
            {"flows": OAuthFlowsModel() if flows is None else flows, "description": description}
        )
        self.scheme_name = scheme_name or type(self).__name__
        self.auto_error = auto_error

    def _bearer_token(self, request: HTTPConnection) -> str | None:
        """The token of an ``Authorization: Bearer <token>`` header (possibly empty), or None
        (after raising when ``auto_error``) for a missing header or another scheme."""
        authorization = request.headers.get("Authorization")
        scheme, token = get_authorization_scheme_param(authorization)
        if authorization and scheme.lower() == "bearer":
            return token
        if self.auto_error:
            raise self.make_not_authenticated_error()
        return None


def _flow(scopes: dict[str, str] | None, refresh_url: str | None, **urls: str) -> dict[str, Any]:
    """One OAuth2 flow object: its URLs, the refresh URL and the scopes (none when not given)."""
    return {**urls, "refreshUrl": refresh_url, "scopes": scopes or {}}


class OAuth2PasswordBearer(OAuth2):
    """OAuth2 password flow: clients get a token by posting a username and password to
    ``tokenUrl`` and send it as ``Authorization: Bearer <token>``.

    Returns the token; a missing header or another scheme answers 401 with
    ``WWW-Authenticate: Bearer`` (None with ``auto_error=False``). ``scopes`` maps each scope
    name to its description for the OpenAPI docs.
    """

    def __init__(
        self,
        tokenUrl: str,  # OpenAPI's spelling, as FastAPI takes it
        scheme_name: str | None = None,
        scopes: dict[str, str] | None = None,
        description: str | None = None,
        auto_error: bool = True,
        refreshUrl: str | None = None,
    ) -> None:
        super().__init__(
            flows=OAuthFlowsModel.model_validate({"password": _flow(scopes, refreshUrl, tokenUrl=tokenUrl)}),
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )

    async def __call__(self, request: HTTPConnection) -> str | None:
        """Return the bearer token of the ``Authorization`` header."""
        return self._bearer_token(request)


class OAuth2AuthorizationCodeBearer(OAuth2):
    """OAuth2 authorization-code flow: the user authorizes at ``authorizationUrl``, the client
    exchanges the code for a token at ``tokenUrl`` and sends ``Authorization: Bearer <token>``.

    Returns the token; a missing header or another scheme answers 401 with
    ``WWW-Authenticate: Bearer`` (None with ``auto_error=False``).
    """

    def __init__(
        self,
        authorizationUrl: str,  # OpenAPI's spelling, as FastAPI takes it
        tokenUrl: str,
        refreshUrl: str | None = None,
        scheme_name: str | None = None,
        scopes: dict[str, str] | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        flow = _flow(scopes, refreshUrl, authorizationUrl=authorizationUrl, tokenUrl=tokenUrl)
        super().__init__(
            flows=OAuthFlowsModel.model_validate({"authorizationCode": flow}),
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )

    async def __call__(self, request: HTTPConnection) -> str | None:
        """Return the bearer token of the ``Authorization`` header."""
        return self._bearer_token(request)


class SecurityScopes:
    """Declare a parameter of this type in a dependency to receive every scope required by
    ``Security(..., scopes=[...])`` along the chain that led to it (the path operation's and
    its dependants'), to check them against the token's.

    ``scopes`` is the list, ``scope_str`` the same joined with spaces (as OAuth2 writes scopes,
    e.g. for a ``WWW-Authenticate: Bearer scope="..."`` challenge).
    """

    def __init__(self, scopes: list[str] | None = None) -> None:
        self.scopes: list[str] = scopes or []
        self.scope_str: str = " ".join(self.scopes)
