"""Every other scheme as a dependency: API keys in a header, the query string and a cookie,
HTTP Bearer and Digest, OpenID Connect, the OAuth2 authorization-code flow, optional
authentication (``auto_error=False``) falling back from one scheme to another, and schemes
attached to a router or a decorator's ``dependencies`` (they still appear in OpenAPI)."""

from typing import Annotated

from covetpy import APIRouter, Depends, FastAPI, HTTPException, Security
from covetpy.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBearer,
    HTTPDigest,
    OAuth2AuthorizationCodeBearer,
    OpenIdConnect,
)

header_key = APIKeyHeader(name="X-API-Key", description="Key issued to integrations")
query_key = APIKeyQuery(name="api_key", auto_error=False)
cookie_key = APIKeyCookie(name="session", auto_error=False, scheme_name="SessionCookie")
bearer = HTTPBearer(bearerFormat="JWT", auto_error=False)
digest = HTTPDigest(description="Digest, checked by the app")
oidc = OpenIdConnect(openIdConnectUrl="https://id.example/.well-known/openid-configuration")
code_flow = OAuth2AuthorizationCodeBearer(
    authorizationUrl="https://id.example/authorize",
    tokenUrl="https://id.example/token",
    scopes={"read": "Read things", "write": "Write things"},
)

app = FastAPI()


def caller(
    from_query: Annotated[str | None, Depends(query_key)],
    from_cookie: Annotated[str | None, Depends(cookie_key)],
    from_bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    if from_query:
        return f"query:{from_query}"
    if from_cookie:
        return f"cookie:{from_cookie}"
    if from_bearer:
        return f"bearer:{from_bearer.credentials}"
    raise HTTPException(status_code=403, detail="Send a key, a session cookie or a token")


@app.get("/integrations/ping")
def ping(key: Annotated[str, Depends(header_key)]) -> dict[str, str]:
    return {"key": key}


@app.get("/whoami")
def whoami(who: Annotated[str, Depends(caller)]) -> dict[str, str]:
    return {"caller": who}


@app.get("/digest")
def digest_echo(credentials: Annotated[HTTPAuthorizationCredentials, Depends(digest)]) -> dict[str, str]:
    return {"scheme": credentials.scheme, "credentials": credentials.credentials}


@app.get("/oidc")
def oidc_echo(authorization: Annotated[str, Depends(oidc)]) -> dict[str, str]:
    return {"authorization": authorization}


@app.post("/things", dependencies=[Security(code_flow, scopes=["write"])])
def create_thing() -> dict[str, bool]:
    return {"created": True}


admin = APIRouter(prefix="/admin", dependencies=[Depends(header_key)])


@admin.get("/stats")
def stats(token: Annotated[str, Security(code_flow, scopes=["read"])]) -> dict[str, str]:
    return {"token": token}


app.include_router(admin)
