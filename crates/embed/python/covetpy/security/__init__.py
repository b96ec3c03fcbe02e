"""Security scheme dependencies with FastAPI's names (``fastapi.security``): each reads the
credentials from the request, answers 401 when they are missing (unless ``auto_error=False``)
and describes itself to OpenAPI so the docs page can offer an "Authorize" button."""

from covetpy.security.api_key import APIKeyCookie as APIKeyCookie
from covetpy.security.api_key import APIKeyHeader as APIKeyHeader
from covetpy.security.api_key import APIKeyQuery as APIKeyQuery
from covetpy.security.http import HTTPAuthorizationCredentials as HTTPAuthorizationCredentials
from covetpy.security.http import HTTPBasic as HTTPBasic
from covetpy.security.http import HTTPBasicCredentials as HTTPBasicCredentials
from covetpy.security.http import HTTPBearer as HTTPBearer
from covetpy.security.http import HTTPDigest as HTTPDigest
from covetpy.security.oauth2 import OAuth2 as OAuth2
from covetpy.security.oauth2 import OAuth2AuthorizationCodeBearer as OAuth2AuthorizationCodeBearer
from covetpy.security.oauth2 import OAuth2PasswordBearer as OAuth2PasswordBearer
from covetpy.security.oauth2 import OAuth2PasswordRequestForm as OAuth2PasswordRequestForm
from covetpy.security.oauth2 import OAuth2PasswordRequestFormStrict as OAuth2PasswordRequestFormStrict
from covetpy.security.oauth2 import SecurityScopes as SecurityScopes
from covetpy.security.open_id_connect_url import OpenIdConnect as OpenIdConnect

__all__ = [
    "APIKeyCookie",
    "APIKeyHeader",
    "APIKeyQuery",
    "HTTPAuthorizationCredentials",
    "HTTPBasic",
    "HTTPBasicCredentials",
    "HTTPBearer",
    "HTTPDigest",
    "OAuth2",
    "OAuth2AuthorizationCodeBearer",
    "OAuth2PasswordBearer",
    "OAuth2PasswordRequestForm",
    "OAuth2PasswordRequestFormStrict",
    "OpenIdConnect",
    "SecurityScopes",
]
