"""Parameters, bodies, response models, errors, routers and sub-applications."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Body,
    Cookie,
    FastAPI,
    Header,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    status,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from pydantic import BaseModel, Field

app = FastAPI(title="fidelity params", version="1.2.3")


class Color(str, Enum):
    red = "red"
    green = "green"


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    price: float = Field(gt=0)
    tags: list[str] = []
    description: str | None = None


class ItemOut(BaseModel):
    name: str
    price_with_tax: float
    tags: list[str]


class UserIn(BaseModel):
    username: str
    password: str
    email: str
    nickname: str | None = None


class UserOut(BaseModel):
    username: str
    email: str
    nickname: str | None = None


class Offer(BaseModel):
    title: str
    items: list[Item]


class TeapotError(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


@app.exception_handler(TeapotError)
async def teapot_handler(request: Request, exc: TeapotError) -> JSONResponse:
    return JSONResponse(
        status_code=418,
        content={"message": f"{exc.name} is a teapot", "path": request.url.path},
        headers={"X-Teapot": exc.name},
    )


def describe_item(item_id: int, q: str | None, limit: int) -> dict[str, Any]:
    return {"item_id": item_id, "q": q, "limit": limit}


@app.get("/sync/items/{item_id}")
def sync_item(
    item_id: Annotated[int, Path(ge=1)],
    q: Annotated[str | None, Query(max_length=8)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    return describe_item(item_id, q, limit)


@app.get("/async/items/{item_id}")
async def async_item(
    item_id: Annotated[int, Path(ge=1)],
    q: Annotated[str | None, Query(max_length=8)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    return describe_item(item_id, q, limit)


@app.get("/colors/{color}")
def read_color(color: Color) -> dict[str, str]:
    return {"color": color.value, "name": color.name}


@app.get("/files/{file_path:path}")
async def read_file_path(file_path: str) -> dict[str, str]:
    return {"file_path": file_path}


@app.get("/tags")
def read_tags(
    tag: Annotated[list[str], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    flag: bool = False,
) -> dict[str, Any]:
    return {"tags": tag, "flag": flag}


@app.get("/sync/headers")
def sync_headers(
    user_agent: Annotated[str | None, Header()] = None,
    x_token: Annotated[list[str] | None, Header()] = None,
    strange_header: Annotated[str | None, Header(convert_underscores=False)] = None,
) -> dict[str, Any]:
    return {"ua": user_agent, "x_token": x_token, "strange": strange_header}


@app.get("/async/headers")
async def async_headers(
    user_agent: Annotated[str | None, Header()] = None,
    x_token: Annotated[list[str] | None, Header()] = None,
    strange_header: Annotated[str | None, Header(convert_underscores=False)] = None,
) -> dict[str, Any]:
    return {"ua": user_agent, "x_token": x_token, "strange": strange_header}


@app.get("/sync/cookies")
def sync_cookies(
    session: Annotated[str | None, Cookie()] = None,
    theme: Annotated[str, Cookie()] = "light",
) -> dict[str, Any]:
    return {"session": session, "theme": theme}


@app.get("/async/cookies")
async def async_cookies(
    session: Annotated[str | None, Cookie()] = None,
    theme: Annotated[str, Cookie()] = "light",
) -> dict[str, Any]:
    return {"session": session, "theme": theme}


@app.get("/set-cookies")
def set_cookies(response: Response) -> dict[str, bool]:
    response.set_cookie("session", "fixed-session-value", httponly=True, max_age=60)
    response.set_cookie("theme", "dark", path="/async", samesite="strict")
    response.delete_cookie("stale")
    return {"ok": True}


@app.post("/sync/items", status_code=status.HTTP_201_CREATED)
def sync_create(item: Item, count: int = 1) -> dict[str, Any]:
    return {"item": item.model_dump(), "count": count}


@app.post("/async/items", status_code=status.HTTP_201_CREATED)
async def async_create(item: Item, count: int = 1) -> dict[str, Any]:
    return {"item": item.model_dump(), "count": count}


@app.put("/items/{item_id}")
async def update_item(
    item_id: int,
    item: Item,
    importance: Annotated[int, Body(gt=0)],
    note: Annotated[str | None, Body(embed=False)] = None,
) -> dict[str, Any]:
    return {"item_id": item_id, "item": item, "importance": importance, "note": note}


@app.post("/offers")
def create_offer(offer: Offer) -> dict[str, Any]:
    return {"title": offer.title, "total": sum(item.price for item in offer.items)}


@app.post("/embedded")
async def embedded(item: Annotated[Item, Body(embed=True)]) -> Item:
    return item


@app.post("/sync/users", response_model=UserOut)
def sync_user(user: UserIn) -> Any:
    return user


@app.post("/async/users", response_model=UserOut, response_model_exclude_unset=True)
async def async_user(user: UserIn) -> Any:
    return user.model_dump(exclude_unset=True)


@app.get("/items-out/{name}")
async def item_out(name: str) -> ItemOut:
    return ItemOut(name=name, price_with_tax=round(len(name) * 1.2, 2), tags=["x"])


@app.get("/items-list", response_model=list[ItemOut])
def items_list() -> list[dict[str, Any]]:
    return [
        {"name": "a", "price_with_tax": 1.5, "tags": [], "secret": "dropped"},
        {"name": "b", "price_with_tax": 2.5, "tags": ["t"], "secret": "dropped"},
    ]


@app.get("/broken-response", response_model=ItemOut)
async def broken_response() -> Any:
    return {"name": "no price"}


@app.get("/sync/http-error/{code}")
def sync_http_error(code: int) -> None:
    raise HTTPException(
        status_code=code, detail={"code": code}, headers={"X-Error": f"e{code}"}
    )


@app.get("/async/http-error/{code}")
async def async_http_error(code: int) -> None:
    raise HTTPException(status_code=code, detail="nope", headers={"X-Error": "async"})


@app.get("/sync/teapot/{name}")
def sync_teapot(name: str) -> None:
    raise TeapotError(name)


@app.get("/async/teapot/{name}")
async def async_teapot(name: str) -> None:
    raise TeapotError(name)


@app.get("/no-content", status_code=204)
def no_content() -> None:
    return None


@app.get("/plain", response_class=PlainTextResponse)
async def plain() -> str:
    return "plain text ✓"


@app.get("/redirect")
async def redirect() -> RedirectResponse:
    return RedirectResponse("/plain", status_code=307)


@app.get("/custom-response")
def custom_response() -> Response:
    return Response(
        content=b"<thing/>",
        media_type="application/xml",
        headers={"X-Custom": "1", "Cache-Control": "max-age=5"},
    )


@app.get("/request-info")
async def request_info(request: Request) -> dict[str, Any]:
    return {
        "method": request.method,
        "url": str(request.url),
        "path": request.url.path,
        "query": str(request.query_params),
        "base_url": str(request.base_url),
        "root_path": request.scope.get("root_path"),
        "host": request.headers.get("host"),
        "http_version": request.scope.get("http_version"),
        "scheme": request.url.scheme,
    }


users = APIRouter(prefix="/users", tags=["users"])


@users.get("/")
async def list_users() -> list[str]:
    return ["ann", "bob"]


@users.get("/{username}", responses={404: {"description": "No such user"}})
def get_user(username: str) -> dict[str, str]:
    if username not in {"ann", "bob"}:
        raise HTTPException(status_code=404, detail="user not found")
    return {"username": username}


admin = APIRouter()


@admin.post("/reset", status_code=202)
async def reset() -> dict[str, str]:
    return {"reset": "scheduled"}


app.include_router(users)
app.include_router(
    admin,
    prefix="/admin",
    tags=["admin"],
    responses={418: {"description": "I'm a teapot"}},
)

sub = FastAPI(title="fidelity sub-application")


@sub.exception_handler(RequestValidationError)
async def sub_validation_handler(
    request: Request, exc: RequestValidationError
) -> PlainTextResponse:
    return PlainTextResponse(f"bad request: {len(exc.errors())} error(s)", 400)


@sub.get("/hello/{n}")
async def sub_hello(n: int, request: Request) -> dict[str, Any]:
    return {
        "n": n,
        "root_path": request.scope.get("root_path"),
        "path": request.url.path,
        "url_for": str(request.url_for("sub_hello", n=n)),
    }


@sub.get("/sync")
def sub_sync() -> dict[str, str]:
    return {"sub": "sync"}


app.mount("/sub", sub)
