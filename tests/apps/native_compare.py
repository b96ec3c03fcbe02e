"""One set of route functions built twice: as a FastAPI app and as a CovetPy app.

`fastapi_app` runs with `--interface asgi`, `covet_app` with `--interface covet`; the comparison test
requests the same URLs from both and expects the same answers. Only the framework names differ, so
this module deliberately does not use `from __future__ import annotations` (the route functions are
defined inside `build`, and their annotations must be real objects).
"""

import datetime
import decimal
import enum
import uuid
from types import SimpleNamespace
from typing import Annotated, Any

from pydantic import BaseModel


def fastapi_names() -> SimpleNamespace:
    import fastapi
    import fastapi.responses

    return SimpleNamespace(
        App=fastapi.FastAPI,
        APIRouter=fastapi.APIRouter,
        Query=fastapi.Query,
        Path=fastapi.Path,
        Header=fastapi.Header,
        Cookie=fastapi.Cookie,
        Body=fastapi.Body,
        Request=fastapi.Request,
        HTTPException=fastapi.HTTPException,
        JSONResponse=fastapi.responses.JSONResponse,
        HTMLResponse=fastapi.responses.HTMLResponse,
        PlainTextResponse=fastapi.responses.PlainTextResponse,
        RedirectResponse=fastapi.responses.RedirectResponse,
        Response=fastapi.responses.Response,
    )


def covet_names() -> SimpleNamespace:
    import covetpy

    return SimpleNamespace(
        App=covetpy.CovetPy,
        APIRouter=covetpy.APIRouter,
        Query=covetpy.Query,
        Path=covetpy.Path,
        Header=covetpy.Header,
        Cookie=covetpy.Cookie,
        Body=covetpy.Body,
        Request=covetpy.Request,
        HTTPException=covetpy.HTTPException,
        JSONResponse=covetpy.JSONResponse,
        HTMLResponse=covetpy.HTMLResponse,
        PlainTextResponse=covetpy.PlainTextResponse,
        RedirectResponse=covetpy.RedirectResponse,
        Response=covetpy.Response,
    )


class Color(str, enum.Enum):
    red = "red"
    green = "green"
    blue = "blue"


class Level(enum.IntEnum):
    low = 1
    high = 2


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []
    color: Color = Color.red


class User(BaseModel):
    username: str
    age: int | None = None


class ItemOut(BaseModel):
    name: str
    price: float


class TeapotError(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def build(fw: SimpleNamespace) -> Any:
    app = fw.App(title="Compare")

    @app.exception_handler(TeapotError)
    def teapot_handler(request: Any, exc: TeapotError) -> Any:
        return fw.JSONResponse({"teapot": exc.name}, status_code=418)

    @app.get("/")
    def root():
        return {"hello": "world"}

    @app.get("/int/{item_id}")
    def path_int(item_id: int):
        return {"item_id": item_id}

    @app.get("/float/{value}")
    async def path_float(value: float):
        return {"value": value}

    @app.get("/uuid/{value}")
    def path_uuid(value: uuid.UUID):
        return {"value": value}

    @app.get("/color/{color}")
    def path_enum(color: Color):
        return {"color": color, "is_red": color is Color.red}

    @app.get("/files/{rest:path}")
    def path_rest(rest: str):
        return {"rest": rest}

    @app.get("/query")
    def query(
        i: int,
        f: float = 1.5,
        b: bool = False,
        s: str = "x",
        c: Color = Color.red,
        u: uuid.UUID | None = None,
        o: int | None = None,
    ):
        return {"i": i, "f": f, "b": b, "s": s, "c": c, "u": u, "o": o}

    @app.get("/optional-required")
    def optional_required(q: str | None):
        return {"q": q}

    @app.get("/list")
    def query_list(
        q: list[int] = fw.Query([]),  # noqa: B008
        s: Annotated[list[str] | None, fw.Query()] = None,
    ):
        return {"q": q, "s": s}

    @app.get("/constrained")
    def constrained(
        n: Annotated[int, fw.Query(gt=0, le=10)] = 1,
        name: Annotated[str, fw.Query(min_length=2, max_length=4)] = "ab",
    ):
        return {"n": n, "name": name}

    @app.get("/typed")
    def typed(
        day: datetime.date | None = None,
        amount: decimal.Decimal | None = None,
        level: Level = Level.low,
    ):
        return {"day": day, "amount": amount, "level": level}

    @app.get("/alias")
    def alias(item_query: str = fw.Query(alias="item-query")):
        return {"item_query": item_query}

    @app.get("/headers")
    def headers(
        x_token: str = fw.Header(),
        user_agent: str | None = fw.Header(None),
        x_num: int = fw.Header(0),
    ):
        return {"x_token": x_token, "user_agent": user_agent, "x_num": x_num}

    @app.get("/headers-raw")
    def headers_raw(
        x_under: Annotated[str, fw.Header(convert_underscores=False)] = "none",
    ):
        return {"x_under": x_under}

    @app.get("/cookies")
    def cookies(session: str = fw.Cookie(), theme: str = fw.Cookie("light")):
        return {"session": session, "theme": theme}

    @app.post("/items", status_code=201)
    def create_item(item: Item) -> Item:
        return item

    @app.put("/items/{item_id}")
    async def update_item(item_id: int, item: Item, q: str | None = None):
        return {"item_id": item_id, "item": item, "q": q}

    @app.post("/embed")
    def embed(item: Item = fw.Body(embed=True)):  # noqa: B008
        return {"item": item}

    @app.post("/multi")
    def multi(item: Item, user: User, importance: int = fw.Body()):
        return {"item": item, "user": user, "importance": importance}

    @app.post("/dict")
    def dict_body(payload: dict[str, int]):
        return {"sum": sum(payload.values())}

    @app.post("/scalar-body")
    def scalar_body(count: int = fw.Body()):
        return {"count": count}

    @app.get("/http-error")
    def http_error():
        raise fw.HTTPException(
            status_code=404, detail="Item not found", headers={"X-Error": "yes"}
        )

    @app.get("/http-error-detail")
    def http_error_detail():
        raise fw.HTTPException(status_code=400, detail={"code": 7, "why": ["a", "b"]})

    @app.get("/teapot/{name}")
    async def teapot(name: str):
        raise TeapotError(name)

    @app.get("/html", response_class=fw.HTMLResponse)
    def html():
        return "<h1>hi</h1>"

    @app.get("/text", response_class=fw.PlainTextResponse)
    def text():
        return "plain text"

    @app.get("/redirect")
    def redirect():
        return fw.RedirectResponse("/query?i=1")

    @app.get("/json-response")
    def json_response():
        return fw.JSONResponse(
            {"a": 1, "é": "ü"}, status_code=202, headers={"X-Custom": "y"}
        )

    @app.get("/raw-response")
    def raw_response():
        return fw.Response(content=b"raw bytes", media_type="application/octet-stream")

    @app.get("/encoded")
    def encoded():
        return {
            "when": datetime.datetime(2024, 1, 2, 3, 4, 5),
            "day": datetime.date(2024, 1, 2),
            "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "dec": decimal.Decimal("1.5"),
            "whole": decimal.Decimal(3),
            "tuple": (1, 2),
            "enum": Color.green,
            "model": Item(name="pen", price=1.0),
            "nested": [{"d": datetime.time(1, 2, 3)}],
            "none": None,
        }

    @app.get("/model-filter", response_model=ItemOut)
    def model_filter():
        return {"name": "pen", "price": 2.5, "secret": "hidden"}

    @app.get("/model-list")
    def model_list() -> list[ItemOut]:
        return [Item(name="a", price=1), Item(name="b", price=2)]

    @app.delete("/items/{item_id}", status_code=204)
    def delete_item(item_id: int):
        return None

    @app.get("/request")
    async def request_info(request: fw.Request):
        return {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "x_test": request.headers.get("x-test"),
            "cookie": request.cookies.get("c"),
        }

    router = fw.APIRouter(prefix="/r", tags=["r"])
    sub = fw.APIRouter(prefix="/sub")

    @router.get("/")
    def router_root():
        return {"router": True}

    @sub.get("/{x}")
    def sub_item(x: int, y: str = "why"):
        return {"x": x, "y": y}

    router.include_router(sub)
    app.include_router(router, prefix="/v1")
    return app


fastapi_app = build(fastapi_names())
covet_app = build(covet_names())
