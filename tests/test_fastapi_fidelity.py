"""FastAPI fidelity: real FastAPI apps (tests/apps/fidelity/), one per tutorial area,
served over the network must answer exactly as the same app object does in-process
through fastapi.testclient.TestClient: same status, body and headers, apart from
the headers a server adds itself (date, server, connection, keep-alive,
transfer-encoding).

The contextvars tests at the end run against the server only; uvicorn's
semantics are the reference there (each request is its own asyncio Task with its
own copy of the context).

FIDELITY_SERVER=uvicorn runs the suite against `python -m uvicorn` instead of
covetpy, to check the tests themselves (needs uvicorn installed in the venv).
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import importlib.util
import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
from conftest import APPS_DIR, Server, ServerFactory, free_port
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

SERVER_KIND = os.environ.get("FIDELITY_SERVER", "covetpy")
APP_NAMES = ("params", "deps", "forms", "middleware", "responses", "runtime", "ctxvars")
# Headers a server legitimately adds or that differ per run.
SERVER_HEADERS = frozenset(
    {"date", "server", "connection", "keep-alive", "transfer-encoding"}
)
CLIENT_HEADERS = {"user-agent": "fidelity-client/1"}
TIMEOUT = 15.0

needs_native_streams = pytest.mark.skipif(
    importlib.util.find_spec("fastapi.sse") is None,
    reason="this FastAPI has no fastapi.sse (EventSourceResponse, yield streaming)",
)


def load_app(name: str) -> FastAPI:
    # Re-executed for every pool (one per --loop), so module state such as counters starts afresh just
    # as it does in the new server process.
    app = importlib.reload(importlib.import_module(f"fidelity.{name}")).app
    assert isinstance(app, FastAPI)
    return app


def start_uvicorn(factory: ServerFactory, target: str, loop: str) -> Server:
    """Like `factory(target)`, but `python -m uvicorn` serves the app."""
    port = free_port()
    args = [
        sys.executable, "-m", "uvicorn", target, "--app-dir", str(APPS_DIR),
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--loop", loop,
    ]  # fmt: skip
    return factory.spawn(args, port=port, name="uvicorn")


@dataclass
class Pair:
    """One app: served by the server under test, and in-process via TestClient."""

    server: Server
    http: httpx.Client
    reference: TestClient

    def stderr_tail(self) -> str:
        return self.server.stderr[-4000:]


@dataclass
class Pool:
    factory: ServerFactory
    loop: str
    #: Extra `covetpy serve` arguments (test_native_fidelity.py serves the apps natively).
    serve_args: tuple[str, ...] = ()
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    pairs: dict[str, Pair] = field(default_factory=dict)

    def get(self, name: str) -> Pair:
        if name not in self.pairs:
            target = f"fidelity.{name}:app"
            if SERVER_KIND == "uvicorn":
                server = start_uvicorn(self.factory, target, self.loop)
            elif SERVER_KIND == "covetpy":
                server = self.factory(target, "--loop", self.loop, *self.serve_args)
            else:
                pytest.fail(f"FIDELITY_SERVER={SERVER_KIND!r}: use covetpy or uvicorn")
            http = self.stack.enter_context(
                httpx.Client(
                    base_url=server.base_url, headers=CLIENT_HEADERS, timeout=TIMEOUT
                )
            )
            reference = self.stack.enter_context(
                TestClient(
                    load_app(name),
                    base_url=server.base_url,
                    raise_server_exceptions=False,
                    follow_redirects=False,
                    headers=CLIENT_HEADERS,
                )
            )
            self.pairs[name] = Pair(server, http, reference)
        return self.pairs[name]


@pytest.fixture(scope="module")
def pool(module_servers: ServerFactory, loop_impl: str) -> Iterator[Pool]:
    apps = Pool(module_servers, loop_impl)
    with apps.stack:
        yield apps


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, list[str]]
    body: bytes

    @classmethod
    def of(cls, response: httpx.Response) -> Reply:
        headers: dict[str, list[str]] = {}
        for name, value in response.headers.multi_items():
            if name.lower() not in SERVER_HEADERS:
                headers.setdefault(name.lower(), []).append(value)
        return cls(response.status_code, headers, response.content)

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def exchange(pair: Pair, method: str, path: str, **kwargs: Any) -> tuple[Reply, Reply]:
    """Send the same request to the server and to the TestClient."""
    got = Reply.of(pair.http.request(method, path, **kwargs))
    want = Reply.of(pair.reference.request(method, path, **kwargs))
    pair.http.cookies.clear()
    pair.reference.cookies.clear()
    return got, want


def assert_same(pair: Pair, method: str, path: str, **kwargs: Any) -> Reply:
    """The server's reply equals the in-process one; returns the latter."""
    got, want = exchange(pair, method, path, **kwargs)
    assert got == want, f"{method} {path} differs; server stderr:\n{pair.stderr_tail()}"
    return want


@dataclass(frozen=True)
class Case:
    app: str
    method: str
    path: str
    status: int
    contains: str  # must appear in the (reference) body, so a broken app fails too
    kwargs: dict[str, Any]


def case(
    app: str, method: str, path: str, status: int, contains: str = "", **kwargs: Any
) -> Any:
    hint = f"[{request_hint(kwargs)}]" if kwargs else ""
    native_stream = path.startswith(("/sse/native/", "/jsonl/"))
    return pytest.param(
        Case(app, method, path, status, contains, kwargs),
        id=f"{app}:{method}:{path}{hint}",
        marks=[needs_native_streams] if native_stream else [],
    )


def request_hint(kwargs: dict[str, Any]) -> str:
    """A short test-id suffix telling requests to the same path apart."""
    parts = []
    for key, value in sorted(kwargs.items()):
        if key == "headers":
            pairs = value.items() if isinstance(value, dict) else value
            parts += [f"{name}={text}"[:50] for name, text in pairs]
        elif key in ("json", "data"):
            parts.append(f"{key}={json.dumps(value, separators=(',', ':'))}"[:70])
        else:
            parts.append(key)
    return ",".join(parts)


def run_case(pool: Pool, c: Case) -> Reply:
    want = assert_same(pool.get(c.app), c.method, c.path, **c.kwargs)
    assert want.status == c.status, want.text()
    assert c.contains in want.text()
    return want


# After an unhandled exception a server may close the connection (uvicorn does),
# so those requests ask for that up front instead of racing a keep-alive reuse.
CRASH = {"connection": "close"}
UPLOAD = bytes(range(256)) * 4096  # 1 MiB

PARAMS_CASES = [
    case("params", "GET", "/sync/items/3?q=abc", 200, '"q":"abc"'),
    case("params", "GET", "/async/items/3?q=abc&limit=7", 200, '"limit":7'),
    case("params", "GET", "/sync/items/0", 422, "greater_than_equal"),
    case("params", "GET", "/async/items/zero", 422, "int_parsing"),
    case(
        "params",
        "GET",
        "/sync/items/1?limit=101&q=waytoolongvalue",
        422,
        "less_than_equal",
    ),
    case("params", "GET", "/async/items/1?q=%E2%9C%93%20ok", 200, '"q":"✓ ok"'),
    case("params", "GET", "/colors/green", 200, '"name":"green"'),
    case("params", "GET", "/colors/purple", 422, "enum"),
    case("params", "GET", "/files/a/b%20c/d.txt", 200, '"file_path":"a/b c/d.txt"'),
    case(
        "params",
        "GET",
        "/tags?tag=a&tag=b&flag=yes",
        200,
        '"tags":["a","b"],"flag":true',
    ),
    case("params", "GET", "/tags?flag=maybe", 422, "bool_parsing"),
    case(
        "params",
        "GET",
        "/sync/headers",
        200,
        '"x_token":["t1","t2"]',
        headers=[("x-token", "t1"), ("x-token", "t2"), ("strange_header", "s")],
    ),
    case("params", "GET", "/async/headers", 200, '"ua":"fidelity-client/1"'),
    case(
        "params",
        "GET",
        "/sync/cookies",
        200,
        '"session":"s1"',
        headers={"cookie": "session=s1"},
    ),
    case(
        "params",
        "GET",
        "/async/cookies",
        200,
        '"theme":"dark"',
        headers={"cookie": "session=s2; theme=dark"},
    ),
    case("params", "GET", "/set-cookies", 200, '"ok":true'),
    case(
        "params",
        "POST",
        "/sync/items?count=2",
        201,
        '"count":2',
        json={"name": "pen", "price": 1.5},
    ),
    case(
        "params",
        "POST",
        "/async/items",
        201,
        '"tags":["a"]',
        json={"name": "p", "price": 2, "tags": ["a"]},
    ),
    case("params", "POST", "/sync/items", 422, "missing", json={"name": ""}),
    case(
        "params",
        "POST",
        "/async/items",
        422,
        "json_invalid",
        content=b'{"name": ',
        headers={"content-type": "application/json"},
    ),
    case("params", "POST", "/async/items", 422, "model_attributes_type", json=[1, 2]),
    case("params", "POST", "/sync/items", 422, "missing"),
    case(
        "params",
        "PUT",
        "/items/5",
        200,
        '"importance":3',
        json={"item": {"name": "n", "price": 1}, "importance": 3, "note": "hi"},
    ),
    case(
        "params",
        "PUT",
        "/items/5",
        422,
        "greater_than",
        json={"item": {"name": "n", "price": 1}, "importance": 0},
    ),
    case(
        "params",
        "POST",
        "/offers",
        200,
        '"total":3.5',
        json={
            "title": "o",
            "items": [{"name": "a", "price": 1}, {"name": "b", "price": 2.5}],
        },
    ),
    case(
        "params",
        "POST",
        "/embedded",
        200,
        '"name":"e"',
        json={"item": {"name": "e", "price": 9}},
    ),
    case("params", "POST", "/embedded", 422, "missing", json={"name": "e", "price": 9}),
    case(
        "params",
        "POST",
        "/sync/users",
        200,
        '"nickname":null',
        json={"username": "u", "password": "secret", "email": "u@example.com"},
    ),
    case(
        "params",
        "POST",
        "/async/users",
        200,
        '{"username":"u","email":"u@example.com"}',
        json={"username": "u", "password": "secret", "email": "u@example.com"},
    ),
    case("params", "GET", "/items-out/abcd", 200, '"price_with_tax":4.8'),
    case("params", "GET", "/items-list", 200, '"tags":["t"]'),
    case(
        "params", "GET", "/broken-response", 500, "Internal Server Error", headers=CRASH
    ),
    case("params", "GET", "/sync/http-error/404", 404, '{"detail":{"code":404}}'),
    case("params", "GET", "/async/http-error/401", 401, '"detail":"nope"'),
    case("params", "GET", "/sync/teapot/earl-grey", 418, "earl-grey is a teapot"),
    case("params", "GET", "/async/teapot/oolong", 418, '"path":"/async/teapot/oolong"'),
    case("params", "GET", "/no-content", 204),
    case("params", "GET", "/plain", 200, "plain text ✓"),
    case("params", "HEAD", "/plain", 405),
    case("params", "GET", "/redirect", 307),
    case("params", "GET", "/custom-response", 200, "<thing/>"),
    case("params", "GET", "/request-info?a=1&b=two", 200, '"query":"a=1&b=two"'),
    case("params", "GET", "/users/", 200, '["ann","bob"]'),
    case("params", "GET", "/users", 307),
    case("params", "GET", "/users/bob", 200, '"username":"bob"'),
    case("params", "GET", "/users/eve", 404, "user not found"),
    case("params", "POST", "/admin/reset", 202, "scheduled"),
    case("params", "DELETE", "/admin/reset", 405, "Method Not Allowed"),
    case("params", "GET", "/nowhere", 404, "Not Found"),
    case("params", "GET", "/sub/hello/3", 200, '"root_path":"/sub"'),
    case("params", "GET", "/sub/hello/x", 400, "bad request: 1 error(s)"),
    case("params", "GET", "/sub/sync", 200, '"sub":"sync"'),
    case("params", "GET", "/sub/openapi.json", 200, '"url":"/sub"'),
    case("params", "GET", "/sub/docs", 200, "/sub/openapi.json"),
    case("params", "GET", "/docs", 200, "swagger-ui"),
    case("params", "GET", "/redoc", 200, "redoc"),
]


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


DEPS_CASES = [
    case("deps", "GET", "/sync/paging?skip=5", 200, '"page":{"skip":5,"limit":10}'),
    case("deps", "GET", "/async/paging?limit=3", 200, '"limit":6'),
    case("deps", "GET", "/async/paging?skip=x", 422, "int_parsing"),
    case("deps", "GET", "/sync/filters?q=z&active=false", 200, '"active":false'),
    case("deps", "GET", "/async/filters?word=w", 200, '"word":"pre-w"'),
    case("deps", "GET", "/sub-deps?q=from-query", 200, "from-query"),
    case(
        "deps",
        "GET",
        "/sub-deps",
        200,
        "from-cookie",
        headers={"cookie": "last_query=from-cookie"},
    ),
    case(
        "deps",
        "GET",
        "/cached",
        200,
        '"first":"c1:1","second":"c1:1","fresh":"c1:2"',
        headers={"x-key": "c1"},
    ),
    case(
        "deps", "GET", "/sync/paging", 400, "refused: yes", headers={"x-refuse": "yes"}
    ),
    case(
        "deps",
        "GET",
        "/guarded/sync",
        200,
        "sync",
        headers={"x-router-key": "open-sesame"},
    ),
    case(
        "deps",
        "GET",
        "/guarded/async",
        200,
        "async",
        headers={"x-router-key": "open-sesame"},
    ),
    case(
        "deps",
        "GET",
        "/guarded/async",
        403,
        "bad router key",
        headers={"x-router-key": "wrong"},
    ),
    case("deps", "GET", "/guarded/sync", 422, "missing"),
    case(
        "deps",
        "POST",
        "/token",
        200,
        "token-alice",
        data={"username": "alice", "password": "wonderland"},
    ),
    case(
        "deps",
        "POST",
        "/token",
        200,
        '"scopes":["me","items"]',
        data={"username": "bob", "password": "builder", "scope": "me items"},
    ),
    case(
        "deps",
        "POST",
        "/token",
        400,
        "Incorrect",
        data={"username": "alice", "password": "nope"},
    ),
    case("deps", "POST", "/token", 422, "missing", data={"username": "alice"}),
    case(
        "deps",
        "GET",
        "/users/me",
        200,
        "Alice Liddell",
        headers={"authorization": "Bearer token-alice"},
    ),
    case("deps", "GET", "/users/me", 401, "Not authenticated"),
    case(
        "deps",
        "GET",
        "/users/me",
        401,
        "Invalid authentication",
        headers={"authorization": "Bearer forged"},
    ),
    case(
        "deps",
        "GET",
        "/users/me/items",
        200,
        "hammer",
        headers={"authorization": "Bearer token-bob"},
    ),
    case(
        "deps",
        "GET",
        "/users/me/items",
        401,
        "Not enough permissions",
        headers={"authorization": "Bearer token-alice"},
    ),
    case(
        "deps",
        "GET",
        "/basic",
        200,
        '"username":"stanley"',
        headers=basic("stanley", "swordfish"),
    ),
    case("deps", "GET", "/basic", 401, "Not authenticated"),
    case("deps", "GET", "/basic", 401, "Incorrect", headers=basic("stanley", "x")),
    case(
        "deps",
        "GET",
        "/basic",
        401,
        "",
        headers={"authorization": "Basic !!!notbase64"},
    ),
    case("deps", "GET", "/api-key", 200, "k-123", headers={"x-api-key": "k-123"}),
    case(
        "deps",
        "GET",
        "/api-key",
        403,
        "Could not validate",
        headers={"x-api-key": "bad"},
    ),
    case("deps", "GET", "/api-key", 401, "Not authenticated"),
    case("deps", "GET", "/api-key-optional", 200, '"key":null'),
    case(
        "deps",
        "GET",
        "/bearer",
        200,
        '"credentials":"abc"',
        headers={"authorization": "Bearer abc"},
    ),
    case(
        "deps",
        "GET",
        "/bearer",
        401,
        "Not authenticated",
        headers={"authorization": "Token abc"},
    ),
]

FORMS_CASES = [
    case(
        "forms",
        "POST",
        "/sync/login",
        200,
        '"password_length":6',
        data={"username": "u", "password": "secret"},
    ),
    case(
        "forms",
        "POST",
        "/async/login",
        200,
        '"username":"ü"',
        data={"username": "ü", "password": "secret"},
    ),
    case(
        "forms",
        "POST",
        "/async/login",
        422,
        "string_too_short",
        data={"username": "u", "password": "x"},
    ),
    case(
        "forms",
        "POST",
        "/sync/login",
        422,
        "missing",
        json={"username": "u", "password": "secret"},
    ),
    case(
        "forms",
        "POST",
        "/signup",
        200,
        '"newsletter":true',
        data={"username": "u", "age": "30", "newsletter": "on"},
    ),
    case(
        "forms",
        "POST",
        "/signup",
        422,
        "int_parsing",
        data={"username": "u", "age": "old"},
    ),
    case(
        "forms", "POST", "/multi-value", 200, '["x","y"]', data={"choice": ["x", "y"]}
    ),
    case(
        "forms",
        "POST",
        "/sync/bytes",
        200,
        '"note":"n"',
        files={"file": ("a.bin", b"\x00\x01abc")},
        data={"note": "n"},
    ),
    case(
        "forms",
        "POST",
        "/async/bytes",
        200,
        '"size":1048576',
        files={"file": ("big.bin", UPLOAD)},
    ),
    case(
        "forms",
        "POST",
        "/sync/upload",
        200,
        '"filename":"notes.txt"',
        files={"file": ("notes.txt", b"some notes\n" * 100, "text/plain")},
        data={"title": "t"},
    ),
    case(
        "forms",
        "POST",
        "/async/upload",
        200,
        '"size_attr":1048576',
        files={"file": ("big.dat", UPLOAD, "application/x-big")},
        data={"title": "t"},
    ),
    case("forms", "POST", "/async/upload", 422, "missing", data={"title": "no file"}),
    case(
        "forms",
        "POST",
        "/uploads",
        200,
        '"filename":"two.txt"',
        files=[
            ("files", ("one.txt", b"1", "text/plain")),
            ("files", ("two.txt", b"22", "text/plain")),
        ],
    ),
    case("forms", "POST", "/optional-upload", 200, '{"file":null}'),
    case(
        "forms",
        "POST",
        "/optional-upload",
        200,
        '"filename":"o.txt"',
        files={"file": ("o.txt", b"o")},
    ),
]

ORIGIN = {"origin": "https://allowed.example"}
PREFLIGHT = {**ORIGIN, "access-control-request-method": "PUT"}

MIDDLEWARE_CASES = [
    case("middleware", "GET", "/sync/data", 200, '"seen_by":"process-middleware"'),
    case("middleware", "GET", "/async/data?size=2", 200, "abcdefgh"),
    case("middleware", "GET", "/sync/data?size=500", 200, '"size":500'),
    case(
        "middleware",
        "GET",
        "/async/data?size=500",
        200,
        '"size":500',
        headers={"accept-encoding": "gzip"},
    ),
    case(
        "middleware",
        "GET",
        "/async/data?size=500",
        200,
        '"size":500',
        headers={"accept-encoding": "identity"},
    ),
    case("middleware", "GET", "/stream?lines=300", 200, "line 0299"),
    case("middleware", "POST", "/echo", 200, "cba", content=b"abc" + b"x" * 2000),
    case(
        "middleware",
        "GET",
        "/async/data",
        299,
        "short-circuited",
        headers={"x-short-circuit": "1"},
    ),
    case("middleware", "GET", "/async/data", 200, "abcdefgh", headers=ORIGIN),
    case(
        "middleware",
        "GET",
        "/sync/data",
        200,
        "abcdefgh",
        headers={"origin": "https://evil.example"},
    ),
    case(
        "middleware",
        "OPTIONS",
        "/async/data",
        200,
        "OK",
        headers={**PREFLIGHT, "access-control-request-headers": "X-Custom"},
    ),
    case(
        "middleware",
        "OPTIONS",
        "/async/data",
        400,
        "Disallowed CORS",
        headers={**PREFLIGHT, "access-control-request-method": "DELETE"},
    ),
    case(
        "middleware",
        "OPTIONS",
        "/async/data",
        400,
        "Disallowed CORS origin",
        headers={**PREFLIGHT, "origin": "https://evil.example"},
    ),
    case("middleware", "OPTIONS", "/async/data", 405, "Method Not Allowed"),
    case(
        "middleware",
        "GET",
        "/async/data",
        400,
        "Invalid host header",
        headers={"host": "evil.example"},
    ),
    case(
        "middleware",
        "GET",
        "/async/data",
        200,
        "abcdefgh",
        headers={"host": "api.trusted.example"},
    ),
    case("middleware", "GET", "/error", 500, "Internal Server Error", headers=CRASH),
    case("middleware", "GET", "/missing", 404, "Not Found"),
]

RESPONSES_CASES = [
    case("responses", "GET", "/static/hello.txt", 200, "Hello from a static file."),
    case("responses", "HEAD", "/static/hello.txt", 200),
    case("responses", "GET", "/static/css/site.css", 200, "font-family"),
    case("responses", "GET", "/static/blob.bin", 200),
    case(
        "responses", "GET", "/static/blob.bin", 206, headers={"range": "bytes=100-1099"}
    ),
    case(
        "responses", "GET", "/static/blob.bin", 416, headers={"range": "bytes=90000-"}
    ),
    case("responses", "GET", "/static/nope.txt", 404, "Not Found"),
    case("responses", "GET", "/static/../responses.py", 404),
    case("responses", "POST", "/static/hello.txt", 405),
    case("responses", "GET", "/site/", 200, "static index"),
    case("responses", "GET", "/site", 307),
    case(
        "responses", "GET", "/items/7/page?note=<i>x</i>", 200, "&lt;i&gt;x&lt;/i&gt;"
    ),
    case("responses", "GET", "/async/items/8/page", 200, "/items/9/page"),
    case("responses", "GET", "/stream/sync?count=20", 200, "sync chunk 19\n"),
    case("responses", "GET", "/stream/async?count=20", 200, "async chunk 19\n"),
    case("responses", "GET", "/stream/big", 200),
    case(
        "responses", "GET", "/sse/manual/sync", 200, 'event: tick\ndata: {"n": 2}\n\n'
    ),
    case("responses", "GET", "/sse/manual/async?count=4", 200, "id: 3\n"),
    case("responses", "GET", "/sse/native/async", 200, 'data: {"n":2,"square":4}\n\n'),
    case(
        "responses",
        "GET",
        "/sse/native/sync",
        200,
        "event: end\ndata: done\nretry: 1000",
    ),
    case("responses", "GET", "/jsonl/async", 200, '{"n":1,"square":1}\n'),
    case("responses", "GET", "/jsonl/sync", 200, '{"n":2}\n'),
    case("responses", "GET", "/file/sync", 200, "Hello from a static file."),
    case("responses", "HEAD", "/file/sync", 405),
    case("responses", "GET", "/file/async", 200),
    case("responses", "GET", "/file/async", 206, headers={"range": "bytes=-10"}),
    case("responses", "GET", "/file/inline", 200, "static index"),
    case(
        "responses", "GET", "/file/missing", 500, "Internal Server Error", headers=CRASH
    ),
]

RUNTIME_CASES = [
    case("runtime", "GET", "/state", 200, '"tables":3'),
    case("runtime", "GET", "/sync/state", 200, '"scope_state":["db","greeting"]'),
    case("runtime", "GET", "/loop", 200, '{"library":"asyncio","has_task":true}'),
    case("runtime", "GET", "/sync/thread", 200, '{"worker_thread":true}'),
    case("runtime", "GET", "/sync/loop", 200, '{"library":null}'),
    case(
        "runtime",
        "GET",
        "/threadpool?label=L1",
        200,
        '"seen":"pool:L1:True","offloaded":"anyio:L1:True"',
    ),
    case(
        "runtime",
        "GET",
        "/task-group?n=5",
        200,
        '{"results":[0,1,4,9,16],"cancelled":true}',
    ),
    case("runtime", "GET", "/timeout?delay=5", 200, '{"timed_out":true}'),
    case("runtime", "GET", "/timeout?delay=0", 200, '{"timed_out":false}'),
    case("runtime", "GET", "/wait-for", 200, "timed out"),
    case(
        "runtime",
        "GET",
        "/create-task/k0",
        200,
        '"awaited":"child saw k0","gathered":["child saw k0","slept"]',
    ),
]

ALL_CASES = (
    PARAMS_CASES
    + DEPS_CASES
    + FORMS_CASES
    + MIDDLEWARE_CASES
    + RESPONSES_CASES
    + RUNTIME_CASES
)


@pytest.mark.parametrize("c", ALL_CASES)
def test_same_response(pool: Pool, c: Case) -> None:
    run_case(pool, c)


@pytest.mark.parametrize("name", APP_NAMES)
def test_openapi_identical(pool: Pool, name: str) -> None:
    # a fixed X-Request-ID keeps CorrelationIdMiddleware's reply deterministic
    headers = {"x-request-id": "7d4c4b3e-5a3f-4d7e-9a8b-2f1e0c9d8b7a"}
    want = assert_same(pool.get(name), "GET", "/openapi.json", headers=headers)
    assert json.loads(want.body)["info"]["title"].startswith("fidelity")


def test_gzip_really_compresses(pool: Pool) -> None:
    want = run_case(
        pool, Case("middleware", "GET", "/async/data?size=500", 200, "", {})
    )
    assert want.headers["content-encoding"] == ["gzip"]
    assert int(want.headers["content-length"][0]) < 500


def test_cors_headers(pool: Pool) -> None:
    want = run_case(
        pool,
        Case("middleware", "OPTIONS", "/sync/data", 200, "OK", {"headers": PREFLIGHT}),
    )
    assert want.headers["access-control-allow-origin"] == ["https://allowed.example"]
    assert want.headers["access-control-max-age"] == ["600"]
    simple = run_case(
        pool, Case("middleware", "GET", "/sync/data", 200, "", {"headers": ORIGIN})
    )
    assert simple.headers["access-control-expose-headers"] == ["X-Process"]
    assert simple.headers["x-process"] == ["GET /sync/data"]
    assert simple.headers["x-chain"] == ["outer"]


def test_set_cookie_headers(pool: Pool) -> None:
    want = run_case(pool, Case("params", "GET", "/set-cookies", 200, "", {}))
    cookies = want.headers["set-cookie"]
    assert len(cookies) == 3
    assert cookies[0].startswith("session=fixed-session-value; HttpOnly; Max-Age=60")


def test_http_exception_headers(pool: Pool) -> None:
    want = run_case(pool, Case("params", "GET", "/sync/http-error/409", 409, "409", {}))
    assert want.headers["x-error"] == ["e409"]


def test_file_response_headers(pool: Pool) -> None:
    want = run_case(pool, Case("responses", "GET", "/file/async", 200, "", {}))
    assert want.body == (APPS_DIR / "fidelity" / "static" / "blob.bin").read_bytes()
    assert want.headers["content-disposition"] == [
        "attachment; filename*=utf-8''donn%C3%A9es.bin"
    ]
    assert want.headers["x-file"] == ["blob"]
    assert "etag" in want.headers and "last-modified" in want.headers


@needs_native_streams
def test_sse_headers(pool: Pool) -> None:
    want = run_case(pool, Case("responses", "GET", "/sse/native/async", 200, "", {}))
    assert want.headers["content-type"] == ["text/event-stream; charset=utf-8"]
    assert want.headers["cache-control"] == ["no-cache"]


def unique_key(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def assert_followup(pair: Pair, path: str, expected: list[str]) -> None:
    """A later request sees what work done after the first response left behind."""
    want = assert_same(pair, "GET", path)
    assert json.loads(want.body) == expected


def test_background_tasks_sync_endpoint(pool: Pool) -> None:
    pair, key = pool.get("responses"), unique_key("bg-sync")
    assert_same(pair, "POST", f"/sync/notify/{key}?note=hello")
    assert_followup(pair, f"/notes/{key}?count=2", ["sync:hello", "async:hello"])


def test_background_tasks_async_endpoint_and_dependency(pool: Pool) -> None:
    pair, key = pool.get("responses"), unique_key("bg-async")
    assert_same(pair, "POST", f"/async/notify/{key}?note=hi")
    assert_followup(
        pair, f"/notes/{key}?count=3", ["from-dependency", "async:hi", "sync:hi"]
    )


def test_yield_dependency_teardown_sync_endpoint(pool: Pool) -> None:
    pair, key = pool.get("deps"), unique_key("yield-sync")
    want = assert_same(pair, "GET", "/sync/yield", headers={"x-key": key})
    assert json.loads(want.body)["resource"] == f"sync-resource-{key}"
    expected = [
        "sync-open",
        "async-open",
        "function-close",
        "async-close",
        "sync-close",
    ]
    assert_followup(pair, f"/teardown/{key}?count=5", expected)


def test_yield_dependency_teardown_async_endpoint_error(pool: Pool) -> None:
    pair, key = pool.get("deps"), unique_key("yield-async")
    want = assert_same(pair, "GET", "/async/yield?fail=true", headers={"x-key": key})
    assert want.status == 409
    expected = [
        "async-open",
        "sync-open",
        "sync-saw-http-error",
        "sync-close",
        "async-close",
    ]
    assert_followup(pair, f"/teardown/{key}?count=5", expected)


def test_detached_asyncio_task(pool: Pool) -> None:
    pair, key = pool.get("runtime"), unique_key("task")
    assert_same(pair, "GET", f"/create-task/{key}")
    assert_followup(pair, f"/detached/{key}", [f"detached saw {key}"])


# --- WebSockets ---------------------------------------------------------------

Event = tuple[Any, ...]
# ("send", text) sends; ("recv",) receives one message or the close.
Script = list[tuple[str, ...]]

CHAT: Script = [
    ("recv",), ("send", "hi"), ("recv",), ("recv",),
    ("send", "bytes"), ("recv",), ("send", "close"), ("recv",),
]  # fmt: skip


def ws_events_from_server(server: Server, path: str, script: Script) -> list[Event]:
    events: list[Event] = []
    url = f"ws://127.0.0.1:{server.port}{path}"
    with ws_connect(url, open_timeout=TIMEOUT, proxy=None, compression=None) as ws:
        for step in script:
            if step[0] == "send":
                ws.send(step[1])
                continue
            try:
                message = ws.recv(timeout=TIMEOUT)
            except ConnectionClosed as exc:
                assert exc.rcvd is not None
                events.append(("close", exc.rcvd.code, exc.rcvd.reason))
            else:
                kind = "text" if isinstance(message, str) else "bytes"
                events.append((kind, message))
    return events


def ws_events_in_process(client: TestClient, path: str, script: Script) -> list[Event]:
    events: list[Event] = []
    with client.websocket_connect(path) as ws:
        for step in script:
            if step[0] == "send":
                ws.send_text(step[1])
                continue
            message = ws.receive()
            if message["type"] == "websocket.close":
                events.append(
                    ("close", message.get("code", 1000), message.get("reason", ""))
                )
            elif message.get("text") is not None:
                events.append(("text", message["text"]))
            else:
                events.append(("bytes", message["bytes"]))
    return events


@pytest.mark.parametrize(
    "path", ["/ws/lobby?token=secret&repeat=2", "/ws/r%C3%BCm?repeat=2&token=secret"]
)
def test_websocket_same_messages(pool: Pool, path: str) -> None:
    pair = pool.get("runtime")
    want = ws_events_in_process(pair.reference, path, CHAT)
    assert json.loads(want[0][1])["token"] == "secret"
    assert want[-1] == ("close", 4001, "asked to close")
    got = ws_events_from_server(pair.server, path, CHAT)
    assert got == want, pair.stderr_tail()


def test_websocket_lifespan_state(pool: Pool) -> None:
    pair = pool.get("runtime")
    script: Script = [("recv",), ("recv",)]
    want = ws_events_in_process(pair.reference, "/ws-state", script)
    assert want == [("text", '{"greeting":"hello"}'), ("close", 1000, "")]
    assert ws_events_from_server(pair.server, "/ws-state", script) == want, (
        pair.stderr_tail()
    )


def test_websocket_dependency_rejects(pool: Pool) -> None:
    pair = pool.get("runtime")
    with pytest.raises(WebSocketDisconnect) as rejected:
        ws_events_in_process(pair.reference, "/ws/lobby?token=wrong", [("recv",)])
    assert rejected.value.code == 1008
    # Closing before accept: the ASGI server turns it into an HTTP 403.
    with pytest.raises(InvalidStatus) as refused:
        ws_events_from_server(pair.server, "/ws/lobby?token=wrong", [("recv",)])
    assert refused.value.response.status_code == 403, pair.stderr_tail()


# --- contextvars isolation (against the server only; uvicorn is the reference) ----


def get_json(client: httpx.Client | requests.Session, url: str) -> dict[str, Any]:
    response = client.get(url, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


CLEAN = {"leak": None, "dep_leak": None, "startup": None}


@pytest.fixture(scope="module")
def ctx(pool: Pool) -> Pair:
    return pool.get("ctxvars")


def assert_clean(pair: Pair, seen: dict[str, Any], what: str) -> int:
    """`seen` is a /get reply; returns the client port it reports."""
    port = seen.pop("port")
    assert isinstance(port, int)
    assert seen == {**CLEAN, "state": "lifespan-state"}, (
        f"a contextvar is visible after {what}; server stderr:\n{pair.stderr_tail()}"
    )
    return port


@pytest.mark.parametrize(
    "setter", ["/set/first", "/set-dep?value=d", "/set-yield-dep?value=y"]
)
def test_contextvar_not_leaked_on_keepalive(ctx: Pair, setter: str) -> None:
    with httpx.Client(base_url=ctx.server.base_url, timeout=TIMEOUT) as client:
        first = get_json(client, setter)
        assert first.get("before", CLEAN) == CLEAN
        port = assert_clean(ctx, get_json(client, "/get"), setter)
        assert assert_clean(ctx, get_json(client, "/sync/get"), setter) == port, (
            "the client did not keep the connection alive"
        )
        again = get_json(client, setter)
        assert again.get("before", CLEAN) == CLEAN, f"{setter} leaked into itself"


def test_contextvar_not_leaked_on_requests_session(ctx: Pair) -> None:
    with requests.Session() as session:
        ports = set()
        for n in range(3):
            seen = get_json(session, ctx.server.url(f"/set/s{n}"))
            assert seen["before"] == CLEAN, ctx.stderr_tail()
            assert seen["after"]["leak"] == f"s{n}"
            after = get_json(session, ctx.server.url("/get"))
            ports.add(assert_clean(ctx, after, f"/set/s{n}"))
        assert len(ports) == 1, "the session did not keep the connection alive"


def test_contextvar_not_leaked_across_connections(ctx: Pair) -> None:
    ports = set()
    for n in range(3):
        with httpx.Client(base_url=ctx.server.base_url, timeout=TIMEOUT) as client:
            seen = get_json(client, f"/set/c{n}")
            assert seen["before"] == CLEAN, ctx.stderr_tail()
            ports.add(assert_clean(ctx, get_json(client, "/get"), f"/set/c{n}"))
    with httpx.Client(base_url=ctx.server.base_url, timeout=TIMEOUT) as client:
        ports.add(
            assert_clean(ctx, get_json(client, "/get"), "/set on another connection")
        )
    assert len(ports) == 4, "expected a new connection each time"


def test_lifespan_contextvar_not_visible_in_requests(ctx: Pair) -> None:
    for path in ("/get", "/sync/get"):
        assert_clean(ctx, get_json(ctx.http, path), f"lifespan contextvar in {path}")


def parallel(count: int, call: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(count) as executor:
        return list(executor.map(call, range(count)))


def test_contextvar_concurrent_requests_isolated(ctx: Pair) -> None:
    def hold(n: int) -> dict[str, Any]:
        with httpx.Client(base_url=ctx.server.base_url, timeout=TIMEOUT) as client:
            return get_json(client, f"/hold/v{n}?delay=0.2")

    results = parallel(8, hold)
    assert results == [{"before": None, "after": f"v{n}"} for n in range(8)], (
        ctx.stderr_tail()
    )


UUID4_HEX = re.compile(r"^[0-9a-f]{32}$")


def correlation(client: httpx.Client, path: str, incoming: str | None = None) -> str:
    headers = {} if incoming is None else {"x-request-id": incoming}
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    header = response.headers["x-request-id"]
    body = response.json()
    assert body == {"before": header, "after": header}, "handler saw another id"
    return header


@pytest.mark.parametrize("path", ["/cid", "/sync/cid"])
def test_correlation_id_fresh_per_request(ctx: Pair, path: str) -> None:
    seen = [correlation(ctx.http, path) for _ in range(4)]
    with httpx.Client(base_url=ctx.server.base_url, timeout=TIMEOUT) as other:
        seen.append(correlation(other, path))
    assert all(UUID4_HEX.match(value) for value in seen), seen
    assert len(set(seen)) == len(seen), f"an id was reused: {seen}"


def test_correlation_id_incoming_is_kept(ctx: Pair) -> None:
    incoming = str(uuid.uuid4())
    assert correlation(ctx.http, "/cid", incoming) == incoming
    after = correlation(ctx.http, "/cid")
    assert after != incoming and UUID4_HEX.match(after)


def test_correlation_id_concurrent(ctx: Pair) -> None:
    ids = [str(uuid.uuid4()) for _ in range(8)]

    def call(n: int) -> dict[str, Any]:
        with httpx.Client(base_url=ctx.server.base_url, timeout=TIMEOUT) as client:
            return {
                "sent": ids[n],
                "got": correlation(client, "/cid?delay=0.1", ids[n]),
            }

    for result in parallel(len(ids), call):
        assert result["got"] == result["sent"]
