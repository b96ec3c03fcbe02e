"""wsgi.input: the read modes, chunked uploads, and a large upload that must be
streamed rather than buffered."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
from conftest import ServerFactory
from rawhttp import RawConnection
from wsgi_support import WsgiServer, start_wsgi_app

MIB = 1024 * 1024
TEXT = b"alpha\nbeta\n\ngamma-long-line\ndelta"


@pytest.fixture(scope="module")
def wsgi(
    module_servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> WsgiServer:
    return start_wsgi_app(module_servers, tmp_path_factory.mktemp("markers"))


def pieces(wsgi: WsgiServer, query: str, body: Any = TEXT) -> list[str]:
    response = requests.post(wsgi.url(f"/input?{query}"), data=body, timeout=30)
    assert response.status_code == 200, response.text
    result: list[str] = response.json()["pieces"]
    return result


def test_read_all(wsgi: WsgiServer) -> None:
    assert pieces(wsgi, "mode=read") == [TEXT.decode(), ""]


def test_read_none_and_negative_read_everything(wsgi: WsgiServer) -> None:
    assert pieces(wsgi, "mode=read-none") == [TEXT.decode()]
    assert pieces(wsgi, "mode=read-negative") == [TEXT.decode()]


def test_read_n(wsgi: WsgiServer) -> None:
    result = pieces(wsgi, "mode=read-n&n=4")
    assert "".join(result) == TEXT.decode()
    assert [len(p) for p in result] == [4] * (len(TEXT) // 4) + [len(TEXT) % 4]


def test_readline(wsgi: WsgiServer) -> None:
    assert pieces(wsgi, "mode=readline") == [
        "alpha\n",
        "beta\n",
        "\n",
        "gamma-long-line\n",
        "delta",
    ]


def test_readline_with_size(wsgi: WsgiServer) -> None:
    assert pieces(wsgi, "mode=readline-n&n=4") == [
        "alph",
        "a\n",
        "beta",
        "\n",
        "\n",
        "gamm",
        "a-lo",
        "ng-l",
        "ine\n",
        "delt",
        "a",
    ]


def test_readlines(wsgi: WsgiServer) -> None:
    expected = ["alpha\n", "beta\n", "\n", "gamma-long-line\n", "delta"]
    assert pieces(wsgi, "mode=readlines") == expected
    assert pieces(wsgi, "mode=iter") == expected


def test_readlines_hint(wsgi: WsgiServer) -> None:
    # stops after the line that reaches the hint of 8 bytes
    assert pieces(wsgi, "mode=readlines-hint&n=8") == [
        "alpha\n|beta\n",
        "\n|gamma-long-line\n|delta",
    ]


def test_mixed_reads(wsgi: WsgiServer) -> None:
    assert pieces(wsgi, "mode=mixed") == [
        "alp",
        "ha\n",
        "",
        "be",
        "ta\n\ngamma-long-line\ndelta",
    ]


def test_empty_body(wsgi: WsgiServer) -> None:
    assert pieces(wsgi, "mode=read", b"") == ["", ""]
    assert pieces(wsgi, "mode=readlines", b"") == []


def test_binary_lines_across_chunks(wsgi: WsgiServer) -> None:
    """Lines longer than the server's read size, split over many chunks."""
    lines = [os.urandom(100_000).replace(b"\n", b"") + b"\n" for _ in range(3)]

    def body() -> Iterator[bytes]:
        data = b"".join(lines)
        for start in range(0, len(data), 7_001):
            yield data[start : start + 7_001]

    result = pieces(wsgi, "mode=readline", body())
    assert [p.encode("latin-1") for p in result] == lines


def test_chunked_upload_from_generator(wsgi: WsgiServer) -> None:
    parts = [b"a", os.urandom(10), os.urandom(64 * 1024), os.urandom(MIB + 3), b"end"]

    def body() -> Iterator[bytes]:
        yield from parts

    response = requests.post(
        wsgi.url("/upload?hash=1&n=10000"), data=body(), timeout=60
    )
    result = response.json()
    joined = b"".join(parts)
    assert result["transfer_encoding"] == "chunked"
    assert result["content_length"] is None
    assert result["bytes"] == len(joined)
    assert result["sha256"] == hashlib.sha256(joined).hexdigest()
    assert result["largest_read"] <= 10000


def test_chunked_upload_raw_with_trailers(wsgi: WsgiServer) -> None:
    with RawConnection.tcp(wsgi.port) as conn:
        conn.send(
            b"POST /input?mode=read HTTP/1.1\r\nHost: t\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
            b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
        )
        response = conn.read_response()
    assert response.status == 200
    assert b'"hello world"' in response.body


def test_content_length_upload(wsgi: WsgiServer) -> None:
    payload = os.urandom(3 * MIB + 17)
    response = requests.post(wsgi.url("/upload?hash=1"), data=payload, timeout=60)
    result = response.json()
    assert result["content_length"] == str(len(payload))
    assert result["bytes"] == len(payload)
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()


def test_http2_upload(wsgi: WsgiServer) -> None:
    payload = os.urandom(2 * MIB + 5)
    with httpx.Client(http1=False, http2=True, timeout=60) as client:
        response = client.post(wsgi.url("/upload?hash=1"), content=payload)
    assert response.http_version == "HTTP/2"
    result = response.json()
    assert result["bytes"] == len(payload)
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()


def test_large_upload_is_streamed_not_buffered(wsgi: WsgiServer) -> None:
    """256 MiB, chunked, read by the app 1 MiB at a time: the worker's RSS
    must not grow by anything close to the body size."""
    total_size = 256 * MIB
    block = os.urandom(MIB)
    baseline = requests.get(wsgi.url("/rss"), timeout=15).json()["rss_kb"]

    def body() -> Iterator[bytes]:
        for _ in range(total_size // MIB):
            yield block

    response = requests.post(wsgi.url(f"/upload?n={MIB}"), data=body(), timeout=300)
    result = response.json()
    assert result["bytes"] == total_size
    assert result["largest_read"] == MIB
    assert result["reads"] >= total_size // MIB
    growth_mib = (result["rss_max_kb"] - min(baseline, result["rss_before_kb"])) / 1024
    assert growth_mib < 64, (
        f"server RSS grew by {growth_mib:.0f} MiB during a 256 MiB upload: {result}"
    )
