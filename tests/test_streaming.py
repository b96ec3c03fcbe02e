"""Streaming responses and request bodies, both directions."""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import requests
from conftest import Server, ServerFactory
from rawhttp import RawConnection, request_bytes


@pytest.fixture(scope="module")
def server(module_servers: ServerFactory) -> Server:
    return module_servers("stream_app:app")


def pattern(index: int, size: int) -> bytes:
    seed = f"chunk-{index:06d}|".encode("ascii")
    return (seed * (size // len(seed) + 1))[:size]


def test_streamed_response_is_chunked_and_complete(server: Server) -> None:
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(request_bytes("GET", "/chunks?n=20&size=1000"))
        response = conn.read_response()
    assert response.status == 200
    assert response.header("content-length") is None
    assert (response.header("transfer-encoding") or "").lower() == "chunked"
    assert response.body == b"".join(pattern(i, 1000) for i in range(20))


def test_large_streamed_download(server: Server) -> None:
    count, size = 64, 1024 * 1024
    expected = hashlib.sha256()
    for index in range(count):
        expected.update(pattern(index, size))
    received = hashlib.sha256()
    total = 0
    with requests.get(
        server.url(f"/chunks?n={count}&size={size}"), stream=True, timeout=60
    ) as r:
        assert r.status_code == 200
        for block in r.iter_content(256 * 1024):
            received.update(block)
            total += len(block)
    assert total == count * size
    assert received.hexdigest() == expected.hexdigest()


def test_response_chunks_reach_client_before_response_ends(server: Server) -> None:
    """The first chunk must arrive while the app is still blocked waiting for
    /release (sent only after we saw the first chunk)."""
    key = uuid.uuid4().hex
    with requests.get(
        server.url(f"/gated?key={key}"), stream=True, timeout=30
    ) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert next(lines) == b"first-chunk"
        released = requests.get(server.url(f"/release?key={key}"), timeout=15)
        assert released.text == "released"
        assert list(lines) == [b"second-chunk"]


def test_request_and_response_stream_interleaved(server: Server) -> None:
    """Send a chunked body piece by piece; each piece must be echoed back before
    the next one is sent (the body is not buffered whole on either side)."""
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n"
        )
        head = conn.read_head()
        assert head.status == 200
        assert (head.header("transfer-encoding") or "").lower() == "chunked"

        def read_echo(expected: bytes) -> None:
            got = b""
            while len(got) < len(expected):
                chunk = conn.read_chunk()
                assert chunk is not None, f"response ended early, got {got!r}"
                got += chunk
            assert got == expected

        read_echo(b"hello")
        conn.send(b"6\r\n world\r\n")
        read_echo(b" world")
        conn.send(b"1\r\n!\r\n0\r\n\r\n")
        read_echo(b"!")
        assert conn.read_chunk() is None


def test_requests_generator_body_echoed(server: Server) -> None:
    parts = [b"alpha-", b"beta-" * 1000, b"", b"gamma"]

    def body() -> Iterator[bytes]:
        yield from parts

    response = requests.post(server.url("/echo"), data=body(), timeout=30)
    assert response.status_code == 200
    assert response.content == b"".join(parts)


def test_concurrent_requests_are_served_concurrently(server: Server) -> None:
    """Each request blocks until all 8 have reached the app: a server that ran
    them one at a time would time out in the app and answer barrier-timeout."""
    key = uuid.uuid4().hex
    results: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        text = requests.get(server.url(f"/barrier?n=8&key={key}"), timeout=40).text
        with lock:
            results.append(text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == ["barrier-passed"] * 8


def test_slow_reader_gets_backpressure(server: Server) -> None:
    """The app streams 256 MiB while the client pauses before reading: send()
    must wait for the client instead of the server buffering everything."""
    assert server.port is not None
    key = uuid.uuid4().hex
    total = 256 * 1024 * 1024
    with RawConnection.tcp(server.port, timeout=60) as conn:
        conn.send(request_bytes("GET", f"/flood?n=256&size=1048576&key={key}"))
        head = conn.read_head()
        assert head.status == 200
        time.sleep(
            1.5
        )  # not a timing assertion: gives an unbounded buffer time to fill
        received = len(conn.buffer)
        conn.buffer = b""
        while True:
            data = conn.sock.recv(1024 * 1024)
            if not data:
                break
            received += len(data)
            if b"0\r\n\r\n" in data[-5:]:
                break
    status = requests.get(server.url(f"/flood-status?key={key}"), timeout=15).json()
    assert status["sent"] == 256
    assert received > total
    growth_mib = (status["rss_max_kb"] - status["rss_before_kb"]) / 1024
    assert growth_mib < 100, f"server RSS grew by {growth_mib:.0f} MiB: {status}"
