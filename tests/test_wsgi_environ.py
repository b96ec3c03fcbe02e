"""The WSGI environ (PEP 3333) over HTTP/1.1 and HTTP/2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from conftest import ServerFactory
from rawhttp import RawConnection, request_bytes
from wsgi_support import WsgiServer, start_wsgi_app


@pytest.fixture(scope="module")
def wsgi(
    module_servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> WsgiServer:
    return start_wsgi_app(module_servers, tmp_path_factory.mktemp("markers"))


def raw_environ(
    wsgi: WsgiServer,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    method: str = "GET",
    body: bytes | None = None,
) -> dict[str, Any]:
    with RawConnection.tcp(wsgi.port) as conn:
        conn.send(request_bytes(method, target, headers, body))
        response = conn.read_response()
        local_port = conn.local_port
    assert response.status == 200, response.body
    environ: dict[str, Any] = json.loads(response.body)
    environ["_client_port"] = local_port
    return environ


def test_basic_fields(wsgi: WsgiServer) -> None:
    env = raw_environ(wsgi, "/env/a/b?x=1&y=%20z", [("Host", "example.test:8080")])
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/env/a/b"
    assert env["QUERY_STRING"] == "x=1&y=%20z"
    assert env["RAW_URI"] == "/env/a/b?x=1&y=%20z"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(wsgi.port)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["REMOTE_PORT"] == str(env["_client_port"])
    assert env["HTTP_HOST"] == "example.test:8080"
    # no body was sent: the CGI variables are absent, not empty
    assert "CONTENT_TYPE" not in env
    assert "CONTENT_LENGTH" not in env
    assert env["_body"] == ""


def test_wsgi_keys(wsgi: WsgiServer) -> None:
    env = raw_environ(wsgi, "/env")
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["wsgi.input_terminated"] is True
    assert env["wsgi.multithread"] is True
    assert env["wsgi.multiprocess"] is False
    assert env["wsgi.run_once"] is False
    assert env["_errors_is_stderr"] is True
    assert env["_file_wrapper_callable"] is True
    assert isinstance(env["wsgi.input"], dict)  # an object, not a str/bytes


def test_all_values_are_native_strings(wsgi: WsgiServer) -> None:
    env = raw_environ(wsgi, "/env?q=1", [("X-Thing", "v")], "POST", b"abc")
    for key, value in env.items():
        if key.isupper():
            assert isinstance(value, str), (key, value)


def test_path_info_is_decoded_latin1(wsgi: WsgiServer) -> None:
    env = raw_environ(wsgi, "/env/caf%C3%A9/a%20b/%2Fslash?q=caf%C3%A9")
    # UTF-8 bytes of "é" appear as two latin-1 characters (PEP 3333)
    assert env["PATH_INFO"] == "/env/caf\u00c3\u00a9/a b//slash"
    assert env["PATH_INFO"].encode("latin-1").decode("utf-8") == "/env/café/a b//slash"
    assert env["QUERY_STRING"] == "q=caf%C3%A9"
    assert env["RAW_URI"] == "/env/caf%C3%A9/a%20b/%2Fslash?q=caf%C3%A9"


def test_content_type_and_length(wsgi: WsgiServer) -> None:
    env = raw_environ(
        wsgi, "/env", [("Content-Type", "application/x-thing")], "POST", b"hello"
    )
    assert env["REQUEST_METHOD"] == "POST"
    assert env["CONTENT_TYPE"] == "application/x-thing"
    assert env["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env
    assert env["_body"] == "hello"


def test_header_mapping(wsgi: WsgiServer) -> None:
    env = raw_environ(
        wsgi,
        "/env",
        [
            ("X-Custom-Header", "one"),
            ("x-dup", "a"),
            ("X-Dup", "b"),
            ("Cookie", "a=1"),
            ("Cookie", "b=2"),
            ("X-Latin", "caf\u00e9"),
        ],
    )
    assert env["HTTP_X_CUSTOM_HEADER"] == "one"
    assert env["HTTP_X_DUP"] == "a,b"
    assert env["HTTP_COOKIE"] == "a=1; b=2"
    assert env["HTTP_X_LATIN"] == "caf\u00e9"


def test_underscore_header_cannot_spoof(wsgi: WsgiServer) -> None:
    env = raw_environ(wsgi, "/env", [("X_Forwarded_For", "6.6.6.6"), ("X-Real", "1")])
    assert "HTTP_X_FORWARDED_FOR" not in env
    env = raw_environ(
        wsgi, "/env", [("X-Forwarded-For", "1.2.3.4"), ("X_Forwarded_For", "6.6.6.6")]
    )
    assert env["HTTP_X_FORWARDED_FOR"] == "1.2.3.4"


def test_methods(wsgi: WsgiServer) -> None:
    for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
        response = requests.request(method, wsgi.url("/env"), data=b"x", timeout=15)
        assert response.status_code == 200
        assert response.json()["REQUEST_METHOD"] == method


def test_http2_environ(wsgi: WsgiServer) -> None:
    with httpx.Client(http1=False, http2=True, timeout=30) as client:
        response = client.post(
            wsgi.url("/env/h2/caf%C3%A9?x=1"),
            content=b"h2 body",
            headers={"X-Test": "yes", "Content-Type": "text/plain"},
        )
    assert response.http_version == "HTTP/2"
    env = response.json()
    assert env["SERVER_PROTOCOL"] == "HTTP/2"
    assert env["HTTP_HOST"] == f"127.0.0.1:{wsgi.port}"  # from :authority
    assert env["PATH_INFO"] == "/env/h2/caf\u00c3\u00a9"
    assert env["QUERY_STRING"] == "x=1"
    assert env["HTTP_X_TEST"] == "yes"
    assert env["CONTENT_TYPE"] == "text/plain"
    assert env["_body"] == "h2 body"
    assert env["REQUEST_METHOD"] == "POST"


def test_root_path_is_script_name(start_server: ServerFactory, tmp_path: Path) -> None:
    wsgi = start_wsgi_app(start_server, tmp_path, "--root-path", "/api")
    env = requests.get(wsgi.url("/env/items"), timeout=15).json()
    assert env["SCRIPT_NAME"] == "/api"
    assert env["PATH_INFO"] == "/env/items"


def test_multiprocess_with_workers(start_server: ServerFactory, tmp_path: Path) -> None:
    wsgi = start_wsgi_app(start_server, tmp_path, "--workers", "2")
    env = requests.get(wsgi.url("/env"), timeout=15).json()
    assert env["wsgi.multiprocess"] is True
    assert env["wsgi.multithread"] is True
