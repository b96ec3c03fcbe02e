"""End-to-end tests of CovetPy native apps (`--interface covet`) beyond the FastAPI comparison."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from conftest import Server, ServerFactory, covetpy_bin


@pytest.fixture(scope="module")
def server(module_servers: ServerFactory) -> Server:
    return module_servers("native_app:app", "--interface", "covet")


def get(server: Server, path: str, **kwargs: object) -> requests.Response:
    return requests.get(server.url(path), timeout=15, **kwargs)  # type: ignore[arg-type]


def test_auto_detects_native_app(start_server: ServerFactory) -> None:
    server = start_server("native_app:app")
    assert get(server, "/v2/api/inner/3").json() == {"x": 3}


def test_not_found(server: Server) -> None:
    response = get(server, "/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_method_not_allowed(server: Server) -> None:
    response = requests.post(server.url("/state"), timeout=15)
    assert response.status_code == 405
    assert response.json() == {"detail": "Method Not Allowed"}
    # FastAPI path operations do not answer HEAD.
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET"}


def test_lifespan_state(server: Server) -> None:
    assert get(server, "/state").json() == {"db": "connected"}


def test_request_object(server: Server) -> None:
    response = get(
        server,
        "/request/bob?a=1&a=2",
        cookies={"k": "v"},
    )
    data = response.json()
    assert data["method"] == "GET"
    assert data["url"] == server.url("/request/bob?a=1&a=2")
    assert data["path"] == "/request/bob" and data["query"] == "a=1&a=2"
    assert data["path_params"] == {"name": "bob"}
    assert data["query_list"] == ["1", "2"]
    assert data["client_host"] == "127.0.0.1"
    assert data["cookies"] == {"k": "v"}


def test_repeated_headers(server: Server) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=15)
    connection.putrequest("GET", "/request/x")
    connection.putheader("X-Multi", "1")
    connection.putheader("X-Multi", "2")
    connection.endheaders()
    data = json.loads(connection.getresponse().read())
    connection.close()
    assert data["multi"] == ["1", "2"]


def test_request_body(server: Server) -> None:
    response = requests.post(server.url("/echo"), json={"x": [1]}, timeout=15)
    assert response.json() == {"body": '{"x": [1]}', "json": {"x": [1]}}


def test_status_code_and_dict_body(server: Server) -> None:
    response = requests.post(server.url("/created"), json={"a": 1}, timeout=15)
    assert response.status_code == 201 and response.json() == {"a": 1}


@pytest.mark.parametrize(
    ("path", "body"),
    [("/stream", "chunk 0\nchunk 1\nchunk 2\n"), ("/astream", "a0;a1;a2;")],
)
def test_streaming(server: Server, path: str, body: str) -> None:
    response = get(server, path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == body


def test_set_cookie(server: Server) -> None:
    response = get(server, "/cookie")
    assert response.text == "cookie set"
    assert response.cookies.get("session") == "abc"
    assert "HttpOnly" in response.headers["set-cookie"]


def test_custom_exception_handler(server: Server) -> None:
    response = get(server, "/stock/pens")
    assert response.status_code == 409
    assert response.json() == {"out_of_stock": "pens", "path": "/stock/pens"}


def test_http_exception_handler_with_headers(server: Server) -> None:
    response = get(server, "/forbidden")
    assert response.status_code == 403
    assert response.json() == {"error": "no", "custom": True}
    assert response.headers["x-reason"] == "test"


def test_unhandled_exception_is_500(server: Server) -> None:
    response = get(server, "/crash")
    assert response.status_code == 500
    assert "boom" in server.wait_for_stderr("boom")


def test_nested_routers(server: Server) -> None:
    assert get(server, "/v2/api/inner/7").json() == {"x": 7}
    assert get(server, "/v2/api/inner/x").status_code == 422


def test_blocking_sync_handler_does_not_stall_others(server: Server) -> None:
    result: dict[str, object] = {}

    def call_block() -> None:
        result["block"] = get(server, "/block").json()

    thread = threading.Thread(target=call_block)
    thread.start()
    # While /block sleeps in its worker thread, other requests are still served; /release ends it.
    assert get(server, "/state").status_code == 200
    assert get(server, "/release").json() == {"ok": True}
    thread.join(30)
    assert result["block"] == {"released": True}


def test_openapi_document(server: Server) -> None:
    from openapi_spec_validator import validate

    document = get(server, "/openapi.json").json()
    validate(document)
    assert document["info"] == {"title": "Native test app", "version": "1.2.3"}
    assert "/v2/api/inner/{x}" in document["paths"]
    operation = document["paths"]["/v2/api/inner/{x}"]["get"]
    assert operation["tags"] == ["api"]
    assert operation["operationId"] == "inner_item_v2_api_inner__x__get"
    assert operation["summary"] == "Inner Item"
    assert "/docs" not in document["paths"]


@pytest.mark.parametrize(
    ("path", "marker"), [("/docs", "swagger-ui"), ("/redoc", "redoc")]
)
def test_docs_pages(server: Server, path: str, marker: str) -> None:
    response = get(server, path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert marker in response.text and "/openapi.json" in response.text
    # The scripts come from the app itself (tests/test_native_docs.py checks them in a browser).
    assert f'src="{path}/static/' in response.text
    assert "https://" not in response.text


def test_custom_validation_handler(start_server: ServerFactory) -> None:
    server = start_server("native_app:validation_app", "--interface", "covet")
    response = get(server, "/n/x")
    assert response.status_code == 400
    assert response.json() == {"errors": 1, "first": ["path", "n"]}
    assert get(server, "/openapi.json").status_code == 404


def test_environment_without_starlette_gets_one_sentence(tmp_path: Path) -> None:
    # A venv with nothing installed: the framework's requirements are named, not a deep import error.
    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    app = tmp_path / "plain_fastapi.py"
    app.write_text("from fastapi import FastAPI\n\napp = FastAPI()\n", encoding="utf-8")
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    result = subprocess.run(
        [str(covetpy_bin()), "serve", "plain_fastapi:app", "--interface", "covet", "--app-dir", str(tmp_path),
         "--port", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "covetpy's native framework needs starlette and pydantic" in result.stderr
    assert "pip install starlette pydantic" in result.stderr
