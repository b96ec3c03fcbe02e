"""Request bodies: chunked uploads, Content-Length uploads, a 512 MiB stream."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import Server, ServerFactory
from rawhttp import RawConnection

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(module_servers: ServerFactory) -> Server:
    return module_servers("upload_app:app")


def upload(
    server: Server, data: Any, path: str = "/upload?hash=1", **kw: Any
) -> dict[str, Any]:
    response = requests.post(server.url(path), data=data, timeout=300, **kw)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def header_value(result: dict[str, Any], name: str) -> list[str]:
    return [value for key, value in result["headers"] if key == name]


def test_content_length_upload(server: Server) -> None:
    payload = os.urandom(3 * MIB + 17)
    result = upload(server, payload)
    assert result["bytes"] == len(payload)
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()
    assert header_value(result, "content-length") == [str(len(payload))]


def test_empty_body(server: Server) -> None:
    result = upload(server, b"")
    assert result["bytes"] == 0
    assert result["chunks"] >= 1
    assert result["sha256"] == hashlib.sha256(b"").hexdigest()


def test_chunked_upload_from_generator(server: Server) -> None:
    pieces = [b"a", os.urandom(10), os.urandom(64 * 1024), os.urandom(MIB + 3), b"end"]

    def body() -> Iterator[bytes]:
        yield from pieces

    result = upload(server, body())
    joined = b"".join(pieces)
    assert header_value(result, "transfer-encoding") == ["chunked"]
    assert result["bytes"] == len(joined)
    assert result["sha256"] == hashlib.sha256(joined).hexdigest()


def test_chunked_upload_with_extensions_and_trailers(server: Server) -> None:
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(
            b"POST /upload?hash=1 HTTP/1.1\r\nHost: t\r\n"
            b"Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
            b"5;name=value\r\nhello\r\n"
            b"A\r\n0123456789\r\n"
            b"0\r\nX-Checksum: abc\r\n\r\n"
        )
        response = conn.read_response()
    assert response.status == 200, response.body
    result = json.loads(response.body)
    assert result["bytes"] == 15
    assert result["sha256"] == hashlib.sha256(b"hello0123456789").hexdigest()


def test_many_small_chunks(server: Server) -> None:
    def body() -> Iterator[bytes]:
        for index in range(2000):
            yield f"{index:04d}".encode()

    result = upload(server, body())
    expected = b"".join(f"{index:04d}".encode() for index in range(2000))
    assert result["bytes"] == len(expected)
    assert result["sha256"] == hashlib.sha256(expected).hexdigest()


def test_buffered_body_arrives_in_few_large_messages(server: Server) -> None:
    """Body bytes the kernel already holds are gathered into one `http.request` message, as uvicorn's
    buffer does, rather than one message per socket read (16 KiB each before), but no more than about
    64 KiB of them: each message is held twice while it crosses to Python, so its size is what an upload
    in progress costs per connection (a gathered message ends with the piece that crosses 64 KiB, and
    hyper reads at most 64 KiB at a time)."""
    payload = os.urandom(4 * MIB)
    result = upload(server, payload)
    assert result["sha256"] == hashlib.sha256(payload).hexdigest()
    assert result["max_chunk"] >= 64 * 1024, result
    assert result["max_chunk"] < 128 * 1024, result
    assert result["chunks"] < 4 * MIB // (32 * 1024), result


def test_first_message_waits_for_body_bytes(server: Server) -> None:
    """A head that arrives alone (a client waiting after `Expect: 100-continue`, or a slow one) does not
    produce an empty first `http.request` message: receive() waits for the first body bytes."""
    payload = b"x" * 1000
    assert server.port is not None
    with socket.create_connection(("127.0.0.1", server.port), timeout=15) as sock:
        head = f"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {len(payload)}\r\n\r\n"
        sock.sendall(head.encode())
        time.sleep(0.3)
        sock.sendall(payload)
        response = b""
        while b"}" not in response:
            data = sock.recv(65536)
            if not data:
                break
            response += data
    result = json.loads(response.split(b"\r\n\r\n", 1)[1])
    assert result["bytes"] == len(payload)
    assert result["first_chunk"] > 0, result


def test_large_upload_is_streamed_not_buffered(server: Server) -> None:
    """Stream 512 MiB with chunked encoding; the server process RSS must not
    grow by anything close to the body size."""
    total_size = 512 * MIB
    block = os.urandom(MIB)
    baseline = requests.get(server.url("/rss"), timeout=15).json()["rss_kb"]

    def body() -> Iterator[bytes]:
        for _ in range(total_size // MIB):
            yield block

    result = upload(server, body(), path="/upload")
    assert result["bytes"] == total_size
    assert result["other_messages"] == []
    # the body arrives in many pieces, not as one buffered blob
    assert result["chunks"] >= 32
    assert result["max_chunk"] <= 16 * MIB
    growth_mib = (result["rss_max_kb"] - min(baseline, result["rss_before_kb"])) / 1024
    assert growth_mib < 100, (
        f"server RSS grew by {growth_mib:.0f} MiB during a 512 MiB upload: {result}"
    )


def test_expect_100_continue(server: Server) -> None:
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(
            b"POST /upload?hash=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        interim = conn.read_head()
        assert interim.status == 100, interim
        conn.send(b"hello")
        response = conn.read_response()
    assert response.status == 200
    assert json.loads(response.body)["sha256"] == hashlib.sha256(b"hello").hexdigest()


def test_client_abort_mid_upload(server: Server) -> None:
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(
            b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n"
            + b"x" * 100000
        )
    with RawConnection.tcp(server.port) as conn:
        conn.send(
            b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        conn.send(b"10\r\n0123456789abcdef\r\n")
    result = upload(server, b"after abort")
    assert result["bytes"] == len(b"after abort")
