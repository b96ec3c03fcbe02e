"""Flask and Django served as WSGI apps, and --interface detection."""

from __future__ import annotations

import hashlib
import os

import httpx
import pytest
import requests
from conftest import APPS_DIR, Server, ServerFactory
from rawhttp import RawConnection, request_bytes

DJANGO_DIR = APPS_DIR / "django_project"


@pytest.fixture(scope="module")
def flask_server(module_servers: ServerFactory) -> Server:
    return module_servers("flask_app:app")  # no --interface: auto-detected


@pytest.fixture(scope="module")
def django_server(module_servers: ServerFactory) -> Server:
    return module_servers("mysite.wsgi:application", app_dir=DJANGO_DIR)


# --- Flask -------------------------------------------------------------------


def test_flask_index(flask_server: Server) -> None:
    response = requests.get(flask_server.url("/"), timeout=15)
    assert response.status_code == 200
    assert response.text == "hello from flask"
    assert response.headers["content-length"] == str(len("hello from flask"))


def test_flask_form_post(flask_server: Server) -> None:
    response = requests.post(
        flask_server.url("/form"),
        data=[("name", "Zoë"), ("tag", "a"), ("tag", "b")],
        timeout=15,
    )
    assert response.status_code == 200
    assert response.json() == {
        "name": "Zoë",
        "tags": ["a", "b"],
        "content_type": "application/x-www-form-urlencoded",
    }


def test_flask_multipart_upload(flask_server: Server) -> None:
    big = os.urandom(3 * 1024 * 1024 + 7)
    small = b"small file\n"
    response = requests.post(
        flask_server.url("/upload"),
        files=[
            ("doc", ("big.bin", big, "application/octet-stream")),
            ("doc", ("small.txt", small, "text/plain")),
        ],
        data={"note": "two files"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["note"] == "two files"
    assert result["files"] == [
        {
            "field": "doc",
            "filename": "big.bin",
            "bytes": len(big),
            "sha256": hashlib.sha256(big).hexdigest(),
        },
        {
            "field": "doc",
            "filename": "small.txt",
            "bytes": len(small),
            "sha256": hashlib.sha256(small).hexdigest(),
        },
    ]


def test_flask_session_cookie_round_trip(flask_server: Server) -> None:
    with requests.Session() as session:
        assert session.get(flask_server.url("/session"), timeout=15).json() == {
            "value": None,
            "count": 0,
        }
        response = session.post(flask_server.url("/session/first"), timeout=15)
        assert response.json() == {"stored": "first"}
        assert "session" in response.cookies
        session.post(flask_server.url("/session/second"), timeout=15)
        assert session.get(flask_server.url("/session"), timeout=15).json() == {
            "value": "second",
            "count": 2,
        }
    # without the cookie the session is empty again
    fresh = requests.get(flask_server.url("/session"), timeout=15).json()
    assert fresh == {"value": None, "count": 0}


def test_flask_stream_with_context(flask_server: Server) -> None:
    assert flask_server.port is not None
    with RawConnection.tcp(flask_server.port) as conn:
        conn.send(request_bytes("GET", "/stream?n=4&prefix=row"))
        response = conn.read_response()
    assert response.status == 200
    assert response.chunked
    assert response.body == b"row-0\nrow-1\nrow-2\nrow-3\n"


def test_flask_json(flask_server: Server) -> None:
    payload = {"a": [1, 2, 3], "b": {"c": "é"}}
    response = requests.post(flask_server.url("/json"), json=payload, timeout=15)
    assert response.status_code == 200
    assert response.json() == {"received": payload, "path": "/json", "script_root": ""}


def test_flask_404_and_405(flask_server: Server) -> None:
    assert requests.get(flask_server.url("/missing"), timeout=15).status_code == 404
    assert requests.get(flask_server.url("/json"), timeout=15).status_code == 405


def test_flask_url_and_remote_addr(flask_server: Server) -> None:
    result = requests.get(flask_server.url("/url?x=1"), timeout=15).json()
    assert result["url"] == flask_server.url("/url?x=1")
    assert result["host"] == f"127.0.0.1:{flask_server.port}"
    assert result["remote_addr"] == "127.0.0.1"


def test_flask_over_http2(flask_server: Server) -> None:
    with httpx.Client(http1=False, http2=True, timeout=30) as client:
        response = client.post(flask_server.url("/form"), data={"name": "h2"})
        assert response.http_version == "HTTP/2"
        assert response.json()["name"] == "h2"
        response = client.get(flask_server.url("/stream?n=3"))
        assert response.text == "line-0\nline-1\nline-2\n"


def test_flask_root_path(start_server: ServerFactory) -> None:
    server = start_server("flask_app:app", "--root-path", "/api")
    response = requests.post(server.url("/json"), json=[1], timeout=15)
    assert response.json() == {"received": [1], "path": "/json", "script_root": "/api"}
    assert requests.get(server.url("/url"), timeout=15).json()["url"] == server.url(
        "/api/url"
    )


# --- Django ------------------------------------------------------------------


def test_django_index(django_server: Server) -> None:
    response = requests.get(django_server.url("/"), timeout=15)
    assert response.status_code == 200
    assert response.text == "hello from django"


def test_django_info(django_server: Server) -> None:
    response = requests.get(
        django_server.url("/info/?q=1&r=two"), headers={"X-Test": "hdr"}, timeout=15
    )
    assert response.status_code == 200
    assert response.json() == {
        "method": "GET",
        "path": "/info/",
        "path_info": "/info/",
        "script_name": "",
        "query": {"q": "1", "r": "two"},
        "host": f"127.0.0.1:{django_server.port}",
        "is_secure": False,
        "header": "hdr",
    }


def test_django_post_form_body(django_server: Server) -> None:
    response = requests.post(
        django_server.url("/body/"), data={"x": "1", "y": "ü"}, timeout=15
    )
    assert response.status_code == 200
    result = response.json()
    assert result["form"] == {"x": "1", "y": "ü"}
    assert result["content_type"] == "application/x-www-form-urlencoded"


def test_django_post_binary_body(django_server: Server) -> None:
    payload = os.urandom(1024 * 1024 + 3)
    response = requests.post(
        django_server.url("/body/"),
        data=payload,
        headers={"Content-Type": "application/octet-stream"},
        timeout=30,
    )
    result = response.json()
    assert result["bytes"] == len(payload)
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()


def test_django_json(django_server: Server) -> None:
    response = requests.post(
        django_server.url("/json/"), json={"k": [1, None]}, timeout=15
    )
    assert response.status_code == 200
    assert response.json() == {"received": {"k": [1, None]}}


def test_django_streaming_and_404(django_server: Server) -> None:
    response = requests.get(django_server.url("/stream/?n=3"), timeout=15)
    assert response.text == "chunk-0\nchunk-1\nchunk-2\n"
    assert requests.get(django_server.url("/missing/"), timeout=15).status_code == 404


def test_django_over_http2(django_server: Server) -> None:
    with httpx.Client(http1=False, http2=True, timeout=30) as client:
        response = client.post(django_server.url("/json/"), json=[1, 2])
    assert response.http_version == "HTTP/2"
    assert response.json() == {"received": [1, 2]}


def test_django_root_path(start_server: ServerFactory) -> None:
    server = start_server(
        "mysite.wsgi:application", "--root-path", "/site", app_dir=DJANGO_DIR
    )
    result = requests.get(server.url("/info/"), timeout=15).json()
    assert result["script_name"] == "/site"
    assert result["path"] == "/site/info/"
    assert result["path_info"] == "/info/"


# --- --interface ---------------------------------------------------------------


def env_of(server: Server) -> dict[str, object]:
    response = requests.get(server.url("/env"), timeout=15)
    assert response.status_code == 200
    result: dict[str, object] = response.json()
    return result


def test_auto_detects_plain_wsgi_function(start_server: ServerFactory) -> None:
    server = start_server("wsgi_app:app")
    assert env_of(server)["wsgi.version"] == [1, 0]


@pytest.mark.parametrize("interface", ["auto", "wsgi"])
def test_interface_option_for_wsgi_function(
    start_server: ServerFactory, interface: str
) -> None:
    server = start_server("wsgi_app:app", "--interface", interface)
    assert env_of(server)["wsgi.version"] == [1, 0]


def test_interface_wsgi_for_django_handler(start_server: ServerFactory) -> None:
    server = start_server(
        "mysite.wsgi:application", "--interface", "wsgi", app_dir=DJANGO_DIR
    )
    assert requests.get(server.url("/"), timeout=15).text == "hello from django"


def test_asgi_app_still_auto_detected(start_server: ServerFactory) -> None:
    """The echo ASGI app keeps working under auto detection next to WSGI."""
    server = start_server("echo_app:app")
    response = requests.get(server.url("/x"), timeout=15)
    assert response.status_code == 200
    assert response.json()["type"] == "http"


def test_interface_asgi_is_not_overridden(start_server: ServerFactory) -> None:
    """Forcing ASGI on a WSGI callable calls it with three arguments."""
    server = start_server("wsgi_app:app", "--interface", "asgi", "--lifespan", "off")
    start = server.stderr_size()
    assert requests.get(server.url("/env"), timeout=15).status_code == 500
    logged = server.wait_for_stderr("TypeError", start)
    assert "Exception in ASGI application" in logged


def test_interface_wsgi_is_not_overridden(start_server: ServerFactory) -> None:
    """Forcing WSGI on an ASGI callable calls it with two arguments."""
    server = start_server("echo_app:app", "--interface", "wsgi")
    start = server.stderr_size()
    assert requests.get(server.url("/x"), timeout=15).status_code == 500
    logged = server.wait_for_stderr("TypeError", start)
    assert "Exception in WSGI application" in logged
