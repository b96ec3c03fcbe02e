"""The HTTP connection scope handed to the app."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest
import requests
from conftest import Server, ServerFactory
from rawhttp import RawConnection, request_bytes


def echo(server: Server, path: str, **kwargs: Any) -> dict[str, Any]:
    method = kwargs.pop("method", "GET")
    response = requests.request(method, server.url(path), timeout=15, **kwargs)
    assert response.status_code == 200, response.text
    scope: dict[str, Any] = response.json()
    return scope


def raw_echo(
    conn: RawConnection, target: str, headers: list[tuple[str, str]]
) -> dict[str, Any]:
    conn.send(request_bytes("GET", target, headers))
    response = conn.read_response()
    assert response.status == 200, response.body
    scope: dict[str, Any] = json.loads(response.body)
    return scope


def test_basic_scope_fields(echo_server: Server) -> None:
    scope = echo(echo_server, "/some/path?x=1&y=two")
    assert scope["type"] == "http"
    assert scope["asgi"]["version"] == "3.0"
    assert scope["asgi"]["spec_version"] == "2.4"
    assert scope["http_version"] == "1.1"
    assert scope["method"] == "GET"
    assert scope["scheme"] == "http"
    assert scope["path"] == "/some/path"
    assert scope["raw_path"] == "/some/path"
    assert scope["query_string"] == "x=1&y=two"
    assert scope["root_path"] == ""
    assert scope["types"]["path"] == "str"
    assert scope["types"]["raw_path"] == "bytes"
    assert scope["types"]["query_string"] == "bytes"
    assert scope["types"]["header_items"] == ["bytes,bytes"]


def test_state_is_a_dict_when_lifespan_supported(echo_server: Server) -> None:
    scope = echo(echo_server, "/")
    assert scope["has_state"] is True
    assert scope["state_type"] == "dict"


def test_empty_query_string(echo_server: Server) -> None:
    scope = echo(echo_server, "/plain")
    assert scope["query_string"] == ""
    assert scope["path"] == "/plain"


def test_query_string_is_not_decoded(echo_server: Server) -> None:
    scope = echo(echo_server, "/q?name=caf%C3%A9&a=%2F&b=x+y")
    assert scope["query_string"] == "name=caf%C3%A9&a=%2F&b=x+y"
    assert scope["path"] == "/q"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_methods(echo_server: Server, method: str) -> None:
    scope = echo(echo_server, "/m", method=method, data=b"payload")
    assert scope["method"] == method
    assert scope["body"] == "payload"
    assert scope["body_length"] == 7


def test_client_and_server_addresses(echo_server: Server) -> None:
    assert echo_server.port is not None
    with RawConnection.tcp(echo_server.port) as conn:
        scope = raw_echo(conn, "/addr", [])
        client_port = conn.local_port
    assert scope["client"]["items"] == ["127.0.0.1", client_port]
    assert scope["client"]["item_types"] == ["str", "int"]
    assert scope["client"]["container"] in ("tuple", "list")
    assert scope["server"]["items"] == ["127.0.0.1", echo_server.port]
    assert scope["server"]["item_types"] == ["str", "int"]


def test_header_names_lowercased_values_kept(echo_server: Server) -> None:
    assert echo_server.port is not None
    with RawConnection.tcp(echo_server.port) as conn:
        scope = raw_echo(
            conn,
            "/h",
            [("Host", "example.test:1234"), ("X-Mixed-Case", "Value With CAPS")],
        )
    headers = scope["headers"]
    assert ["host", "example.test:1234"] in headers
    assert ["x-mixed-case", "Value With CAPS"] in headers
    assert all(name == name.lower() for name, _ in headers)


def test_duplicate_request_headers_kept_separate(echo_server: Server) -> None:
    assert echo_server.port is not None
    conn = http.client.HTTPConnection("127.0.0.1", echo_server.port, timeout=15)
    try:
        conn.putrequest("GET", "/dup")
        conn.putheader("X-Dup", "first")
        conn.putheader("X-Other", "between")
        conn.putheader("X-Dup", "second")
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 200
        scope = json.loads(response.read())
    finally:
        conn.close()
    dups = [value for name, value in scope["headers"] if name == "x-dup"]
    assert dups == ["first", "second"]
    names = [name for name, _ in scope["headers"]]
    assert names.index("x-dup") < names.index("x-other")


def test_latin1_header_value_bytes_preserved(echo_server: Server) -> None:
    assert echo_server.port is not None
    with RawConnection.tcp(echo_server.port) as conn:
        scope = raw_echo(conn, "/latin1", [("X-Latin", "caf\xe9")])
    assert ["x-latin", "caf\xe9"] in scope["headers"]


def test_duplicate_response_headers(echo_server: Server) -> None:
    assert echo_server.port is not None
    conn = http.client.HTTPConnection("127.0.0.1", echo_server.port, timeout=15)
    try:
        conn.request("GET", "/cookies")
        response = conn.getresponse()
        response.read()
        cookies = [
            value
            for name, value in response.getheaders()
            if name.lower() == "set-cookie"
        ]
    finally:
        conn.close()
    assert cookies == ["first=1", "second=2"]


def test_percent_encoded_utf8_path(echo_server: Server) -> None:
    scope = echo(echo_server, "/caf%C3%A9")
    assert scope["path"] == "/café"
    assert scope["raw_path"] == "/caf%C3%A9"


def test_percent_encoded_space_and_slash(echo_server: Server) -> None:
    scope = echo(echo_server, "/a%20b/c%2Fd")
    assert scope["path"] == "/a b/c/d"
    assert scope["raw_path"] == "/a%20b/c%2Fd"


def test_root_path(start_server: ServerFactory) -> None:
    server = start_server("echo_app:app", "--root-path", "/api")
    scope = echo(server, "/items/1?x=1")
    assert scope["root_path"] == "/api"
    assert scope["path"] == "/api/items/1"
    # raw_path is the target as sent; uvicorn also prefixes it with root_path
    assert scope["raw_path"] in ("/items/1", "/api/items/1")
    assert scope["query_string"] == "x=1"


def test_long_path(start_server: ServerFactory) -> None:
    # Longer than the default --limit-request-line (4094, as gunicorn).
    server = start_server("echo_app:app", "--limit-request-line", "10000")
    path = "/long/" + "x" * 6000
    scope = echo(server, path + "?q=" + "y" * 2000)
    assert scope["path"] == path
    assert scope["query_string"] == "q=" + "y" * 2000


def test_many_headers(echo_server: Server) -> None:
    headers = {f"X-H{index}": f"value-{index}" for index in range(80)}
    scope = echo(echo_server, "/many", headers=headers)
    for index in range(80):
        assert [f"x-h{index}", f"value-{index}"] in scope["headers"]
