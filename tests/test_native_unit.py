"""In-process tests of the `covetpy` package (no server): route specs, body validation against
FastAPI's own answers, responses, exception handling, lifespan, OpenAPI and the encoder."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import uuid
from pathlib import Path
from typing import Annotated, Any

import covetpy
import pytest
from covetpy import (
    Body,
    Cookie,
    CovetPy,
    Header,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Query,
    RedirectResponse,
    Request,
    Response,
)
from covetpy._native import RouteSpec
from covetpy.encoders import jsonable_encoder
from covetpy.exceptions import RequestValidationError
from native_compare import Item

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO_ROOT / "crates" / "embed" / "python"


class Color(str, enum.Enum):
    red = "red"
    green = "green"


def specs_by_path(app: CovetPy) -> dict[str, RouteSpec]:
    return {f"{spec.methods[0]} {spec.path}": spec for spec in app._covet_routes()}


def params(spec: RouteSpec) -> dict[str, Any]:
    return {p.name: p for p in [*spec.params, *spec.body_params]}


def test_exports() -> None:
    for name in [
        "CovetPy",
        "APIRouter",
        "Request",
        "Response",
        "JSONResponse",
        "PlainTextResponse",
        "HTMLResponse",
        "RedirectResponse",
        "StreamingResponse",
        "HTTPException",
        "Query",
        "Path",
        "Header",
        "Cookie",
        "Body",
        "status",
    ]:
        assert hasattr(covetpy, name), name
    assert covetpy.__version__
    assert covetpy.status.HTTP_404_NOT_FOUND == 404
    assert CovetPy.__covetpy_native__ is True


def test_param_analysis() -> None:
    app = CovetPy()

    @app.get("/items/{item_id}")
    async def read(
        item_id: int,
        request: Request,
        q: str | None = None,
        required_opt: str | None = Query(),
        f: float = 1.5,
        flag: bool = False,
        u: uuid.UUID | None = None,
        c: Color = Color.red,
        tags: list[int] = Query([]),  # noqa: B008
        n: Annotated[int, Query(gt=0)] = 1,
        day: datetime.date | None = None,
        user_agent: str | None = Header(None),
        x_raw: str = Header("d", convert_underscores=False),
        session: str = Cookie(),
        item_query: str = Query("z", alias="item-query"),
    ) -> dict[str, Any]:
        return {}

    spec = specs_by_path(app)["GET /items/{item_id}"]
    assert spec.is_coroutine and spec.status_code == 200 and spec.response_class is None
    assert spec.body_params == [] and spec.body_validator is None
    p = params(spec)
    assert (p["item_id"].source, p["item_id"].kind, p["item_id"].required) == (
        "path",
        "int",
        True,
    )
    assert p["request"].source == "request"
    assert (p["q"].source, p["q"].kind, p["q"].required, p["q"].default) == (
        "query",
        "str",
        False,
        None,
    )
    assert (
        p["required_opt"].required is True
    )  # FastAPI: Optional without a default is required
    assert (p["f"].kind, p["f"].default) == ("float", 1.5)
    assert p["flag"].kind == "bool" and p["u"].kind == "uuid"
    assert (p["c"].kind, p["c"].enum_type, p["c"].default) == ("enum", Color, Color.red)
    assert (p["tags"].is_list, p["tags"].kind, p["tags"].default) == (True, "int", [])
    assert p["n"].python_validated and p["n"].kind == "str"
    assert p["day"].python_validated
    assert (p["user_agent"].source, p["user_agent"].alias) == ("header", "user-agent")
    assert p["x_raw"].alias == "x_raw"
    assert (p["session"].source, p["session"].alias, p["session"].required) == (
        "cookie",
        "session",
        True,
    )
    assert p["item_query"].alias == "item-query"


def test_body_param_analysis() -> None:
    app = CovetPy()

    @app.post("/a")
    def a(item: Item, payload: dict[str, int], raw: list[int]) -> None: ...

    @app.post("/b", status_code=201)
    def b(count: int = Body()) -> None: ...

    specs = specs_by_path(app)
    assert [p.name for p in specs["POST /a"].body_params] == ["item", "payload", "raw"]
    assert specs["POST /a"].params == []
    assert specs["POST /b"].status_code == 201
    assert specs["POST /b"].body_params[0].source == "body"






# --- body validation and Python-side parameter validation, compared with FastAPI itself -----------

fastapi_testclient = pytest.importorskip("fastapi.testclient")


@pytest.fixture(scope="module")
def compare() -> Any:
    import native_compare

    return native_compare


@pytest.fixture(scope="module")
def client(compare: Any) -> Any:
    return fastapi_testclient.TestClient(compare.fastapi_app)


def covet_body_result(
    app: CovetPy, path: str, body: bytes, content_type: str | None
) -> Any:
    spec = next(
        s for s in app._covet_routes() if s.path == path and "GET" not in s.methods
    )
    assert spec.body_validator is not None
    try:
        kwargs = spec.body_validator(body, content_type)
    except RequestValidationError as exc:
        return 422, {"detail": exc.errors()}
    return 200, jsonable_encoder(kwargs)


BODY_CASES = [
    ("/items", b"", "application/json"),
    ("/items", b"", None),
    ("/items", b"{", "application/json"),
    ("/items", b'{"name": "pen"', "application/json"),
    ("/items", b'{"name": "pen"}', "application/json"),
    ("/items", b'{"name": "pen", "price": "abc"}', "application/json"),
    ("/items", b'{"name": 1, "price": 2, "color": "purple"}', "application/json"),
    ("/items", b'{"name": "pen", "price": 2, "tags": "x"}', "application/json"),
    ("/items", b"[1, 2]", "application/json"),
    ("/items", b"null", "application/json"),
    ("/items", b'{"name": "pen", "price": 2}', None),
    ("/items", b'{"name": "pen", "price": 2}', "text/plain"),
    (
        "/items",
        b'{"name": "pen", "price": 2}',
        "application/vnd.api+json; charset=utf-8",
    ),
    ("/embed", b'{"name": "pen", "price": 2}', "application/json"),
    ("/embed", b'{"item": {"name": "pen", "price": 2}}', "application/json"),
    ("/multi", b"", "application/json"),
    ("/multi", b"[]", "application/json"),
    (
        "/multi",
        b'{"item": {"name": "pen"}, "user": {}, "importance": "x"}',
        "application/json",
    ),
    ("/dict", b'{"a": 1, "b": "x"}', "application/json"),
    ("/dict", b"[1]", "application/json"),
    ("/scalar-body", b"5", "application/json"),
    ("/scalar-body", b'"five"', "application/json"),
]




PY_VALIDATED = [
    ("/constrained", {"n": "0"}),
    ("/constrained", {"n": "11", "name": "a"}),
    ("/constrained", {"n": "5", "name": "abc"}),
    ("/typed", {"day": "2024-13-01", "amount": "x", "level": "3"}),
    ("/typed", {"day": "2024-01-02", "amount": "1.25", "level": "2"}),
]


@pytest.mark.parametrize(("path", "query"), PY_VALIDATED)
def test_python_validated_params_match_fastapi(
    client: Any, compare: Any, path: str, query: dict[str, str]
) -> None:
    expected = client.get(path, params=query)
    spec = next(s for s in compare.covet_app._covet_routes() if s.path == path)
    kwargs = {p.name: query.get(p.alias, p.default) for p in spec.params}
    try:
        result = spec.endpoint(**kwargs)
    except RequestValidationError as exc:
        assert expected.status_code == 422
        assert {"detail": exc.errors()} == expected.json()
    else:
        assert expected.status_code == 200
        assert jsonable_encoder(result) == expected.json()


def test_response_model_filters(compare: Any, client: Any) -> None:
    for path in ("/model-filter", "/model-list"):
        spec = next(s for s in compare.covet_app._covet_routes() if s.path == path)
        assert jsonable_encoder(spec.endpoint()) == client.get(path).json()


def test_openapi_matches_fastapi_paths(compare: Any) -> None:
    from openapi_spec_validator import validate

    ours = compare.covet_app.openapi()
    validate(ours)
    theirs = compare.fastapi_app.openapi()
    assert ours["openapi"] == "3.1.0"
    assert ours["paths"] == theirs["paths"]
    assert set(ours["components"]["schemas"]) == set(theirs["components"]["schemas"])


def test_jsonable_encoder_matches_fastapi(compare: Any) -> None:
    from fastapi.encoders import jsonable_encoder as fastapi_encoder

    values = [
        datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        datetime.date(2024, 1, 2),
        datetime.time(1, 2),
        datetime.timedelta(seconds=90),
        decimal.Decimal("1.5"),
        decimal.Decimal(10),
        uuid.UUID(int=5),
        Path("/tmp/x"),
        {1, 2},
        frozenset({"a"}),
        b"bytes",
        Color.green,
        compare.Item(name="a", price=1),
        {"k": [compare.User(username="u")], 3: None},
        (1, "two"),
    ]
    for value in values:
        assert jsonable_encoder(value) == fastapi_encoder(value), value
    assert jsonable_encoder({"a": None, "b": 1}, exclude_none=True) == {"b": 1}


# --- responses ------------------------------------------------------------------------------


def run_asgi(app: Any, scope: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope or {"type": "http", "method": "GET"}, receive, send))
    return sent


def test_response_headers() -> None:
    r = Response("héllo", media_type="text/plain", headers={"X-A": "1"})
    assert r.body == "héllo".encode()
    assert r.raw_headers == [
        (b"x-a", b"1"),
        (b"content-length", b"6"),
        (b"content-type", b"text/plain; charset=utf-8"),
    ]
    r.headers["X-B"] = "2"
    assert r.headers["x-b"] == "2" and (b"x-b", b"2") in r.raw_headers
    assert Response(status_code=204).raw_headers == []
    assert HTMLResponse("<p>").raw_headers[-1] == (
        b"content-type",
        b"text/html; charset=utf-8",
    )
    assert PlainTextResponse("x").status_code == 200


def test_json_response_rendering() -> None:
    r = JSONResponse({"a": [1, 2], "é": None}, status_code=201)
    assert r.body == '{"a":[1,2],"é":null}'.encode()
    assert (b"content-type", b"application/json") in r.raw_headers
    assert r.status_code == 201
    with pytest.raises(ValueError):
        JSONResponse({"x": float("nan")})


def test_redirect_and_cookies() -> None:
    r = RedirectResponse("/a b?x=1")
    assert r.status_code == 307 and r.headers["location"] == "/a%20b?x=1"
    r = Response()
    r.set_cookie("session", "abc", max_age=60, httponly=True)
    r.delete_cookie("old")
    cookies = r.headers.getlist("set-cookie")
    assert cookies[0].startswith(
        "session=abc; HttpOnly; Max-Age=60; Path=/; SameSite=lax"
    )
    assert cookies[1].startswith("old=") and "Max-Age=0" in cookies[1]






# --- requests -------------------------------------------------------------------------------


class FakeNative:
    # ruff: noqa: RUF012
    method = "POST"
    scheme = "http"
    http_version = "1.1"
    path = "/items/5"
    root_path = ""
    query_string = b"a=1&a=2&b=x%20y"
    headers = [
        (b"host", b"example.com:8000"),
        (b"x-multi", b"1"),
        (b"x-multi", b"2"),
        (b"cookie", b"c=1; d=two"),
        (b"content-type", b"application/json"),
    ]
    client = ("10.0.0.1", 5555)
    server = ("127.0.0.1", 8000)
    path_params = {"item_id": 5}
    body = b'{"k": [1]}'




# --- errors ---------------------------------------------------------------------------------


class MyError(Exception):
    pass


class SubError(MyError):
    pass




# --- lifespan -------------------------------------------------------------------------------


def run_lifespan(
    app: CovetPy, fail_startup: bool = False
) -> tuple[list[str], dict[str, Any]]:
    scope: dict[str, Any] = {"type": "lifespan", "state": {}}
    incoming = ["lifespan.startup", "lifespan.shutdown"]
    sent: list[str] = []

    async def receive() -> dict[str, Any]:
        return {"type": incoming.pop(0)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message["type"])

    async def main() -> None:
        try:
            await app(scope, receive, send)
        except Exception:
            if not fail_startup:
                raise

    asyncio.run(main())
    return sent, scope["state"]




def test_lifespan_startup_failure() -> None:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: CovetPy) -> Any:
        raise RuntimeError("no db")
        yield

    sent, _ = run_lifespan(CovetPy(lifespan=lifespan), fail_startup=True)
    assert sent == ["lifespan.startup.failed"]




# --- without pydantic -------------------------------------------------------------------------






# --- which StaticFiles mounts the server serves itself (covetpy._native_static) ---------------------


def _static_prefixes(app: covetpy.FastAPI) -> list[str]:
    return [spec.prefix for spec in app._covet_static_mounts()]


def test_static_mounts_served_by_the_server(tmp_path: Path) -> None:
    from covetpy.middleware.gzip import GZipMiddleware
    from covetpy.staticfiles import StaticFiles
    from starlette.routing import Host, Mount
    from starlette.staticfiles import StaticFiles as StarletteStaticFiles

    class Custom(StaticFiles):
        pass

    app = covetpy.FastAPI()
    app.get("/files/first.txt")(lambda: "route")
    app.mount("/files", StaticFiles(directory=tmp_path))
    app.mount("/plain", StarletteStaticFiles(directory=tmp_path))
    app.mount("/custom", Custom(directory=tmp_path))  # a subclass may answer otherwise
    app.mount("/lazy", StaticFiles(directory=tmp_path / "later", check_dir=False))  # Starlette's 500s
    app.get("/files/later.txt")(lambda: "shadowed by the mount")
    assert _static_prefixes(app) == ["/files", "/plain"]
    # A route after a mount that may take its paths is sent to the whole app (its router's order).
    late = next(s for s in app._covet_routes() if s.path == "/files/later.txt")
    assert late.asgi and late.asgi_app is None
    first = next(s for s in app._covet_routes() if s.path == "/files/first.txt")
    assert not first.asgi

    hidden = covetpy.FastAPI()
    hidden.router.routes.append(Host("example.com", app=StarletteStaticFiles(directory=tmp_path)))
    hidden.router.routes.append(Mount("/a", app=StarletteStaticFiles(directory=tmp_path)))
    hidden.mount("/a/b", StaticFiles(directory=tmp_path))  # /a's mount takes /a/b/... first
    assert _static_prefixes(hidden) == []

    layered = covetpy.FastAPI()
    layered.add_middleware(GZipMiddleware)  # run by the server: files still served there
    layered.mount("/s", StaticFiles(directory=tmp_path))
    assert _static_prefixes(layered) == ["/s"]

    wrapped = covetpy.FastAPI()

    @wrapped.middleware("http")
    async def around(request: Any, call_next: Any) -> Any:
        return await call_next(request)

    wrapped.mount("/s", StaticFiles(directory=tmp_path))
    assert _static_prefixes(wrapped) == []


@pytest.mark.parametrize(
    ("template", "other", "meet"),
    [
        ("/static/x", "/static/{path:path}", True),
        ("/stat", "/static/{path:path}", False),
        ("/other/{id}", "/static/{path:path}", False),
        ("/{name}/x", "/static/{path:path}", True),
        ("/a", "/a", True),
        ("/a", "/b", False),
    ],
)
def test_templates_meet(template: str, other: str, meet: bool) -> None:
    from covetpy import _native
    from starlette.routing import Route

    assert _native.may_meet(Route(other, lambda r: None), template) is meet
