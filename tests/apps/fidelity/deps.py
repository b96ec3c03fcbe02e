"""Dependencies (plain, async, yield, class, sub-, router and global) and security."""

from __future__ import annotations

import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Cookie,
    Depends,
    FastAPI,
    Header,
    HTTPException,
    Request,
    Response,
    Security,
    status,
)
from fastapi.security import (
    APIKeyHeader,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    SecurityScopes,
)
from pydantic import BaseModel

from fidelity.board import Board

board = Board()


async def refuse_flagged(x_refuse: Annotated[str | None, Header()] = None) -> None:
    """Global dependency: every route answers 400 when X-Refuse is sent."""
    if x_refuse is not None:
        raise HTTPException(status_code=400, detail=f"refused: {x_refuse}")


app = FastAPI(title="fidelity deps", dependencies=[Depends(refuse_flagged)])


def paging(skip: int = 0, limit: int = 10) -> dict[str, int]:
    return {"skip": skip, "limit": limit}


async def async_paging(skip: int = 0, limit: int = 10) -> dict[str, int]:
    return {"skip": skip, "limit": limit * 2}


class Filters:
    def __init__(self, q: str | None = None, active: bool = True) -> None:
        self.q = q
        self.active = active


class Prefixed:
    """A callable instance as a dependency."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __call__(self, word: str = "x") -> str:
        return self.prefix + word


def query_part(q: str | None = None) -> str | None:
    return q


def query_or_cookie(
    q: Annotated[str | None, Depends(query_part)],
    last_query: Annotated[str | None, Cookie()] = None,
) -> str | None:
    return q or last_query


calls_lock = threading.Lock()
calls: dict[str, int] = {}


def counted(request: Request) -> str:
    """Used twice by one route: cached, so it runs once per request."""
    key = request.headers.get("x-key", "none")
    with calls_lock:
        calls[key] = calls.get(key, 0) + 1
        return f"{key}:{calls[key]}"


def sync_resource(x_key: Annotated[str, Header()] = "none") -> Iterator[str]:
    board.pin(x_key, "sync-open")
    try:
        yield f"sync-resource-{x_key}"
    except HTTPException:
        board.pin(x_key, "sync-saw-http-error")
        raise
    finally:
        board.pin(x_key, "sync-close")


async def async_resource(
    x_key: Annotated[str, Header()] = "none",
) -> AsyncIterator[str]:
    board.pin(x_key, "async-open")
    try:
        yield f"async-resource-{x_key}"
    finally:
        board.pin(x_key, "async-close")


def function_scoped(x_key: Annotated[str, Header()] = "none") -> Iterator[str]:
    yield "function-scoped"
    board.pin(x_key, "function-close")


@app.get("/sync/paging")
def sync_paging(page: Annotated[dict[str, int], Depends(paging)]) -> dict[str, Any]:
    return {"page": page}


@app.get("/async/paging")
async def async_paging_route(
    page: Annotated[dict[str, int], Depends(async_paging)],
    legacy: dict[str, int] = Depends(paging),  # noqa: B008 - the classic style
) -> dict[str, Any]:
    return {"page": page, "legacy": legacy}


@app.get("/sync/filters")
def sync_filters(filters: Annotated[Filters, Depends()]) -> dict[str, Any]:
    return {"q": filters.q, "active": filters.active}


@app.get("/async/filters")
async def async_filters(
    filters: Annotated[Filters, Depends(Filters)],
    word: Annotated[str, Depends(Prefixed("pre-"))],
) -> dict[str, Any]:
    return {"q": filters.q, "active": filters.active, "word": word}


@app.get("/sub-deps")
def sub_deps(query: Annotated[str | None, Depends(query_or_cookie)]) -> dict[str, Any]:
    return {"query": query}


@app.get("/cached")
async def cached(
    first: Annotated[str, Depends(counted)],
    second: Annotated[str, Depends(counted)],
    fresh: Annotated[str, Depends(counted, use_cache=False)],
) -> dict[str, str]:
    return {"first": first, "second": second, "fresh": fresh}


@app.get("/sync/yield")
def sync_yield(
    resource: Annotated[str, Depends(sync_resource)],
    other: str = Depends(async_resource),
    scoped: Annotated[str, Depends(function_scoped, scope="function")] = "",
) -> dict[str, str]:
    return {"resource": resource, "other": other, "scoped": scoped}


@app.get("/async/yield")
async def async_yield(
    resource: Annotated[str, Depends(async_resource)],
    other: str = Depends(sync_resource),
    fail: bool = False,
) -> dict[str, str]:
    if fail:
        raise HTTPException(status_code=409, detail="conflict inside yield deps")
    return {"resource": resource, "other": other}


@app.get("/teardown/{key}")
async def teardown(key: str, count: int) -> list[str]:
    return await board.wait(key, count)


def verify_key(x_router_key: Annotated[str, Header()]) -> None:
    if x_router_key != "open-sesame":
        raise HTTPException(status_code=403, detail="bad router key")


def stamp(response: Response) -> None:
    response.headers["X-Router"] = "guarded"


guarded = APIRouter(
    prefix="/guarded", tags=["guarded"], dependencies=[Depends(verify_key)]
)


@guarded.get("/sync")
def guarded_sync() -> dict[str, str]:
    return {"guarded": "sync"}


@guarded.get("/async", dependencies=[Depends(stamp)])
async def guarded_async() -> dict[str, str]:
    return {"guarded": "async"}


app.include_router(guarded)

# --- security ---------------------------------------------------------------

USERS = {
    "alice": {"password": "wonderland", "full_name": "Alice Liddell", "scopes": ["me"]},
    "bob": {"password": "builder", "full_name": "Bob", "scopes": ["me", "items"]},
}


class User(BaseModel):
    username: str
    full_name: str
    scopes: list[str]


oauth2 = OAuth2PasswordBearer(
    tokenUrl="token", scopes={"me": "Read yourself", "items": "Read items"}
)


@app.post("/token")
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> dict[str, Any]:
    user = USERS.get(form.username)
    if user is None or form.password != user["password"]:
        raise HTTPException(status_code=400, detail="Incorrect username or password")
    return {
        "access_token": f"token-{form.username}",
        "token_type": "bearer",
        "scopes": form.scopes,
    }


def current_user(
    scopes: SecurityScopes, token: Annotated[str, Depends(oauth2)]
) -> User:
    username = token.removeprefix("token-")
    if username not in USERS or not token.startswith("token-"):
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Invalid authentication credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = User(
        username=username,
        **{k: v for k, v in USERS[username].items() if k != "password"},
    )
    for scope in scopes.scopes:
        if scope not in user.scopes:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Not enough permissions",
                headers={"WWW-Authenticate": f'Bearer scope="{scopes.scope_str}"'},
            )
    return user


async def async_current_user(
    user: Annotated[User, Security(current_user, scopes=["me"])],
) -> User:
    return user


@app.get("/users/me")
async def users_me(user: Annotated[User, Depends(async_current_user)]) -> User:
    return user


@app.get("/users/me/items")
def users_me_items(
    user: Annotated[User, Security(current_user, scopes=["items"])],
) -> list[dict[str, str]]:
    return [{"item": "hammer", "owner": user.username}]


basic = HTTPBasic(realm="fidelity")


@app.get("/basic")
def basic_auth(
    creds: Annotated[HTTPBasicCredentials, Depends(basic)],
) -> dict[str, str]:
    good_user = secrets.compare_digest(creds.username.encode(), b"stanley")
    good_pass = secrets.compare_digest(creds.password.encode(), b"swordfish")
    if not (good_user and good_pass):
        raise HTTPException(
            status_code=401,
            detail="Incorrect username or password",
            headers={"WWW-Authenticate": "Basic"},
        )
    return {"username": creds.username}


api_key = APIKeyHeader(name="X-API-Key")
optional_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


async def checked_key(key: Annotated[str, Security(api_key)]) -> str:
    if key != "k-123":
        raise HTTPException(status_code=403, detail="Could not validate API key")
    return key


@app.get("/api-key")
async def api_key_route(key: Annotated[str, Depends(checked_key)]) -> dict[str, str]:
    return {"key": key}


@app.get("/api-key-optional")
def api_key_optional(
    key: Annotated[str | None, Security(optional_api_key)],
) -> dict[str, str | None]:
    return {"key": key}


bearer = HTTPBearer()


@app.get("/bearer")
async def bearer_route(
    creds: Annotated[HTTPAuthorizationCredentials, Depends(bearer)],
) -> dict[str, str]:
    return {"scheme": creds.scheme, "credentials": creds.credentials}
