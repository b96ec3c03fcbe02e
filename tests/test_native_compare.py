"""The same route functions served as a FastAPI app (`--interface asgi`) and as a CovetPy app
(`--interface covet`) must give the same status codes, JSON bodies and key headers."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from conftest import Server, ServerFactory

VALID_UUID = "12345678-1234-5678-1234-567812345678"

# (method, path, keyword arguments for requests)
CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/", {}),
    ("GET", "/int/42", {}),
    ("GET", "/int/-7", {}),
    ("GET", "/int/abc", {}),
    ("GET", "/int/4.2", {}),
    ("GET", "/float/2.5", {}),
    ("GET", "/float/x", {}),
    ("GET", f"/uuid/{VALID_UUID}", {}),
    ("GET", "/uuid/nope", {}),
    ("GET", "/color/green", {}),
    ("GET", "/color/purple", {}),
    ("GET", "/files/a/b/c.txt", {}),
    ("GET", "/query?i=1", {}),
    ("GET", "/query", {}),
    ("GET", "/query?i=x&f=y&b=maybe&c=pink&u=bad&o=1.5", {}),
    ("GET", f"/query?i=3&f=-1e3&b=yes&s=hello%20there&c=blue&u={VALID_UUID}&o=0", {}),
    ("GET", "/query?i=1&b=true", {}),
    ("GET", "/query?i=1&b=OFF", {}),
    ("GET", "/query?i=1&b=0", {}),
    ("GET", "/query?i=1&i=2", {}),
    ("GET", "/query?i=", {}),
    ("GET", "/optional-required", {}),
    ("GET", "/optional-required?q=x", {}),
    ("GET", "/list", {}),
    ("GET", "/list?q=1&q=2&s=a&s=b", {}),
    ("GET", "/list?q=1&q=x", {}),
    ("GET", "/constrained?n=5&name=abc", {}),
    ("GET", "/constrained?n=0", {}),
    ("GET", "/constrained?n=11&name=a", {}),
    ("GET", "/constrained?n=x", {}),
    ("GET", "/typed?day=2024-01-02&amount=1.25&level=2", {}),
    ("GET", "/typed?day=2024-13-01&amount=x&level=3", {}),
    ("GET", "/alias?item-query=v", {}),
    ("GET", "/alias?item_query=v", {}),
    ("GET", "/headers", {"headers": {"X-Token": "t", "User-Agent": "ua"}}),
    ("GET", "/headers", {"headers": {"User-Agent": "ua"}}),
    ("GET", "/headers", {"headers": {"X-Token": "t", "X-Num": "nan?"}}),
    ("GET", "/headers-raw", {"headers": {"x_under": "u"}}),
    ("GET", "/cookies", {"cookies": {"session": "s1"}}),
    ("GET", "/cookies", {"cookies": {"session": "s1", "theme": "dark"}}),
    ("GET", "/cookies", {}),
    ("POST", "/items", {"json": {"name": "pen", "price": 1.5}}),
    (
        "POST",
        "/items",
        {"json": {"name": "pen", "price": 1.5, "tags": ["a"], "color": "blue"}},
    ),
    ("POST", "/items", {"json": {"name": "pen"}}),
    ("POST", "/items", {"json": {"name": "pen", "price": "abc", "color": "pink"}}),
    ("POST", "/items", {"json": [1, 2]}),
    ("POST", "/items", {}),
    (
        "POST",
        "/items",
        {"data": b"{bad json", "headers": {"Content-Type": "application/json"}},
    ),
    (
        "POST",
        "/items",
        {
            "data": b'{"name":"pen","price":1}',
            "headers": {"Content-Type": "text/plain"},
        },
    ),
    ("PUT", "/items/3?q=z", {"json": {"name": "pen", "price": 2}}),
    ("PUT", "/items/x", {"json": {"name": "pen"}}),
    ("POST", "/embed", {"json": {"item": {"name": "pen", "price": 2}}}),
    ("POST", "/embed", {"json": {"name": "pen", "price": 2}}),
    (
        "POST",
        "/multi",
        {
            "json": {
                "item": {"name": "a", "price": 1},
                "user": {"username": "u"},
                "importance": 5,
            }
        },
    ),
    ("POST", "/multi", {"json": {"item": {"name": "a"}, "importance": "x"}}),
    ("POST", "/dict", {"json": {"a": 1, "b": 2}}),
    ("POST", "/dict", {"json": {"a": "x"}}),
    ("POST", "/scalar-body", {"json": 5}),
    ("POST", "/scalar-body", {"json": "five"}),
    ("GET", "/http-error", {}),
    ("GET", "/http-error-detail", {}),
    ("GET", "/teapot/earl", {}),
    ("GET", "/html", {}),
    ("GET", "/text", {}),
    ("GET", "/redirect", {"allow_redirects": False}),
    ("GET", "/json-response", {}),
    ("GET", "/raw-response", {}),
    ("GET", "/encoded", {}),
    ("GET", "/model-filter", {}),
    ("GET", "/model-list", {}),
    ("DELETE", "/items/5", {}),
    ("GET", "/request?a=1", {"headers": {"X-Test": "yes"}, "cookies": {"c": "cv"}}),
    ("GET", "/v1/r/", {}),
    ("GET", "/v1/r/sub/5?y=zed", {}),
    ("GET", "/v1/r/sub/nope", {}),
    ("GET", "/does-not-exist", {}),
    ("POST", "/int/1", {}),
]

# Not compared: the Allow header of 405s (Starlette lists only the first matching route's methods).
COMPARED_HEADERS = ("content-type", "location", "x-error", "x-custom", "content-length")


@pytest.fixture(scope="module")
def servers(module_servers: ServerFactory) -> tuple[Server, Server]:
    fastapi_server = module_servers("native_compare:fastapi_app", "--interface", "asgi")
    covet_server = module_servers("native_compare:covet_app", "--interface", "covet")
    return fastapi_server, covet_server


def fetch(
    server: Server, method: str, path: str, kwargs: dict[str, Any]
) -> dict[str, Any]:
    response = requests.request(method, server.url(path), timeout=15, **kwargs)
    result: dict[str, Any] = {"status": response.status_code}
    if response.content and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        result["json"] = response.json()
    else:
        result["text"] = response.text
    for name in COMPARED_HEADERS:
        result[name] = response.headers.get(name)
    return result


@pytest.mark.parametrize(
    ("method", "path", "kwargs"), CASES, ids=[f"{m} {p}" for m, p, _ in CASES]
)
def test_same_answer_as_fastapi(
    servers: tuple[Server, Server], method: str, path: str, kwargs: dict[str, Any]
) -> None:
    fastapi_server, covet_server = servers
    expected = fetch(fastapi_server, method, path, kwargs)
    actual = fetch(covet_server, method, path, kwargs)
    assert actual == expected
