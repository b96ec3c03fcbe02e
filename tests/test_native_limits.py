"""Request body limits, several and optional parameter models and form-model unions answer over
the network exactly as under FastAPI 0.165: one app (tests/apps/native_limits.py) served as FastAPI
on ``--interface asgi`` and as covetpy on ``--interface covet``, the same requests sent to both."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import Server, ServerFactory


def _chunks(data: bytes) -> Iterator[bytes]:
    # A generator body: requests sends it chunked, with no Content-Length to refuse it early.
    for start in range(0, len(data), 10):
        yield data[start : start + 10]


JSON = {"content-type": "application/json"}

CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/echo", {"json": {"a": 1}}),
    ("POST", "/echo", {"data": b'{"a": "' + b"x" * 80 + b'"}', "headers": JSON}),
    ("POST", "/echo", {"data": "chunked-over", "headers": JSON}),
    ("POST", "/nowhere", {"data": b"x" * 100}),
    ("POST", "/big/echo", {"data": b'{"a": "' + b"x" * 80 + b'"}', "headers": JSON}),
    ("POST", "/big/echo", {"data": b'{"a": "' + b"x" * 2000 + b'"}', "headers": JSON}),
    ("POST", "/big/small", {"data": b'{"a": "0123456789"}', "headers": JSON}),
    ("POST", "/inc/echo", {"data": b'{"a": "0123456789"}', "headers": JSON}),
    ("POST", "/inc/echo", {"data": b'{"a": "' + b"x" * 40 + b'"}', "headers": JSON}),
    ("POST", "/form", {"data": {"a": "1"}}),
    ("POST", "/form", {"data": {"a": "1", "b": "2", "c": "3", "d": "4"}}),
    ("POST", "/form-part", {"data": {"a": "x" * 1000}}),
    ("POST", "/form-part", {"data": {"a": "x" * 1100}}),
    ("GET", "/models", {}),
    ("GET", "/models?limit=5&offset=1&tags=a&tags=b&q=z", {}),
    ("GET", "/models?limit=0", {}),
    ("GET", "/models?other=1", {}),
    ("GET", "/strict?sort=desc", {}),
    ("GET", "/strict?sort=desc&other=1", {}),
    ("GET", "/optional-header", {}),
    ("GET", "/optional-header", {"headers": {"x-client-name": "n", "x-client-version": "1"}}),
    ("GET", "/optional-header", {"headers": {"x-client-name": "n", "host": "example.test"}}),
    ("GET", "/optional-cookie", {}),
    ("GET", "/optional-cookie", {"cookies": {"theme": "dark", "locale": "en"}}),
    ("GET", "/optional-cookie", {"cookies": {"theme": "dark"}}),
    ("POST", "/profile", {"data": {"token": "t"}}),
    ("POST", "/profile", {"data": {"token": "t", "name": "Rick", "age": "70"}}),
    ("POST", "/profile", {"data": {"token": "t", "name": "Rick"}}),
    ("POST", "/contact", {"data": {"kind": "person", "name": "Rick"}}),
    ("POST", "/contact", {"data": {"kind": "company", "company_name": "Acme", "note": "n"}}),
    ("POST", "/contact", {"data": {"kind": "company", "name": "Rick"}}),
    ("POST", "/contact", {"data": {"kind": "robot"}}),
    ("POST", "/contact", {"data": {}}),
]


@pytest.fixture(scope="module")
def servers(module_servers: ServerFactory) -> tuple[Server, Server]:
    fastapi_server = module_servers("native_limits:fastapi_app", "--interface", "asgi")
    covet_server = module_servers("native_limits:covet_app", "--interface", "covet")
    return fastapi_server, covet_server


def fetch(server: Server, method: str, path: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    if kwargs.get("data") == "chunked-over":
        kwargs = {**kwargs, "data": _chunks(b'{"a": "' + b"x" * 80 + b'"}')}
    response = requests.request(method, server.url(path), timeout=15, **kwargs)
    result: dict[str, Any] = {
        "status": response.status_code,
        "content-type": response.headers.get("content-type"),
    }
    if response.headers.get("content-type", "").startswith("application/json"):
        result["json"] = response.json()
    else:
        result["text"] = response.text
    return result


IDS = [f"{i} {method} {path}" for i, (method, path, _) in enumerate(CASES)]


@pytest.mark.parametrize(("method", "path", "kwargs"), CASES, ids=IDS)
def test_same_answer_as_fastapi(
    servers: tuple[Server, Server], method: str, path: str, kwargs: dict[str, Any]
) -> None:
    fastapi_server, covet_server = servers
    expected = fetch(fastapi_server, method, path, kwargs)
    assert fetch(covet_server, method, path, kwargs) == expected


def test_limits_are_enforced(servers: tuple[Server, Server]) -> None:
    """The comparison is not vacuous: the limits refuse what they should on the covetpy server."""
    _, covet_server = servers
    over = requests.post(covet_server.url("/echo"), data=b"{" + b" " * 100 + b"}", headers=JSON, timeout=15)
    assert over.status_code == 413
    assert (
        requests.post(
            covet_server.url("/big/echo"), data=b"{" + b" " * 100 + b"}", headers=JSON, timeout=15
        ).status_code
        == 200
    )
    chunked = requests.post(
        covet_server.url("/echo"), data=_chunks(b"{" + b" " * 100 + b"}"), headers=JSON, timeout=15
    )
    assert (chunked.status_code, chunked.json()) == (413, {"detail": "Content Too Large"})
    many = requests.post(covet_server.url("/form"), data={str(i): "v" for i in range(4)}, timeout=15)
    assert many.status_code == 400
