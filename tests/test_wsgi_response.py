"""WSGI responses: iterables and close(), write(), streaming without delaying
blocks, backpressure, client disconnects, wsgi.file_wrapper, HEAD, HTTP/2."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
import requests
from conftest import ServerFactory
from rawhttp import RawConnection, request_bytes
from wsgi_support import WsgiServer, new_key, start_wsgi_app

MIB = 1024 * 1024
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def wsgi(
    module_servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> WsgiServer:
    return start_wsgi_app(module_servers, tmp_path_factory.mktemp("markers"))


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    data = os.urandom(3 * MIB + 123)
    path = tmp_path_factory.mktemp("files") / "data.bin"
    path.write_bytes(data)
    return path, data


def expected_stream(n: int, size: int) -> bytes:
    return b"".join((f"{i:04d}".encode() * (size // 4 + 1))[:size] for i in range(n))


def test_single_item_list_has_content_length(wsgi: WsgiServer) -> None:
    with RawConnection.tcp(wsgi.port) as conn:
        for target, body in (
            ("/hello", b"hello world"),
            ("/hello-tuple", b"hello tuple"),
        ):
            conn.send(request_bytes("GET", target))
            response = conn.read_response()
            assert response.status == 200
            assert response.body == body
            assert response.header("content-length") == str(len(body))
            assert response.header("transfer-encoding") is None


def test_generator_is_streamed_and_closed(wsgi: WsgiServer) -> None:
    key = new_key()
    with RawConnection.tcp(wsgi.port) as conn:
        conn.send(request_bytes("GET", f"/stream?key={key}&n=20&size=1000"))
        response = conn.read_response()
    assert response.status == 200
    assert response.chunked
    assert response.body == expected_stream(20, 1000)
    assert wsgi.marker(key) == "closed after 20\n"


def test_large_generator(wsgi: WsgiServer) -> None:
    key = new_key()
    response = requests.get(
        wsgi.url(f"/stream?key={key}&n=200&size={CHUNK}"), timeout=60
    )
    assert response.content == expected_stream(200, CHUNK)
    assert wsgi.marker(key) == "closed after 200\n"


def test_write_then_iterable(wsgi: WsgiServer) -> None:
    key = new_key()
    response = requests.get(wsgi.url(f"/write?key={key}"), timeout=15)
    assert response.status_code == 200
    assert response.content == b"w1,w2,i1,i2"
    assert wsgi.marker(key) == "closed after 2\n"


def read_first_block(wsgi: WsgiServer, target: str, key: str) -> tuple[bytes, bytes]:
    """Read the head and the first body block of a gated response, only then
    open the gate, and return (first block, rest of the body)."""
    with RawConnection.tcp(wsgi.port, timeout=30) as conn:
        conn.send(request_bytes("GET", target))
        head = conn.read_head()
        assert head.status == 200
        first = conn.read_chunk()
        assert first is not None
        released = requests.get(wsgi.url(f"/release?key={key}"), timeout=15)
        assert released.status_code == 200
        rest = []
        while (chunk := conn.read_chunk()) is not None:
            rest.append(chunk)
    return first, b"".join(rest)


def test_write_is_sent_before_the_app_continues(wsgi: WsgiServer) -> None:
    """The app waits (at most 5 s) for the client to have seen write()'s data."""
    key = new_key()
    first, rest = read_first_block(wsgi, f"/write-gated?key={key}", key)
    assert first == b"first"
    assert rest == b"released"


def test_iterable_blocks_are_not_delayed(wsgi: WsgiServer) -> None:
    """PEP 3333: the server must not delay a block until the app produces the
    next one. The generator yields "first", then waits (at most 5 s) for the
    client to confirm it has received it; a server that holds the block back
    gets "gate-timeout" as the second block."""
    key = new_key()
    first, rest = read_first_block(wsgi, f"/gated?key={key}", key)
    assert first + rest == b"firstreleased", (
        "the first block only arrived after the generator produced the second"
    )
    assert wsgi.marker(key) == "closed after 2\n"


def test_client_disconnect_mid_stream_calls_close(wsgi: WsgiServer) -> None:
    key = new_key()
    with RawConnection.tcp(wsgi.port) as conn:
        conn.send(request_bytes("GET", f"/forever?key={key}"))
        head = conn.read_head()
        assert head.status == 200
        assert conn.read_chunk()
    marker = wsgi.marker(key, "closed after")
    assert marker.startswith("closed after "), marker
    # the server stays usable
    assert requests.get(wsgi.url("/hello"), timeout=15).content == b"hello world"


def progress(wsgi: WsgiServer, key: str) -> int:
    sent = requests.get(wsgi.url(f"/progress?key={key}"), timeout=15).json()["sent"]
    return int(sent or 0)


def test_slow_reader_blocks_the_app(wsgi: WsgiServer) -> None:
    """A client that stops reading makes the generator stop being pulled
    (backpressure) instead of the server buffering its output. The generator
    could produce ~64 MiB/s for 60 s; it must stall far below that."""
    key = new_key()
    with RawConnection.tcp(wsgi.port) as conn:
        conn.send(request_bytes("GET", f"/forever?key={key}"))
        assert conn.read_head().status == 200
        previous = -1
        deadline = time.monotonic() + 15
        current = progress(wsgi, key)
        while current != previous and time.monotonic() < deadline:
            previous = current
            time.sleep(0.5)
            current = progress(wsgi, key)
        assert current == previous, f"still producing after 15 s: {current} chunks"
        assert current * CHUNK < 64 * MIB, f"{current} chunks of 64 KiB buffered"
    marker = wsgi.marker(key, "closed after")
    assert marker.startswith("closed after "), marker


def test_file_wrapper_streams_real_file_from_offset(
    wsgi: WsgiServer, data_file: tuple[Path, bytes]
) -> None:
    path, data = data_file
    key = new_key()
    response = requests.get(
        wsgi.url(f"/file?path={path}&offset=1000&key={key}&blksize=1"), timeout=60
    )
    assert response.status_code == 200
    assert len(response.content) == len(data) - 1000
    assert response.content == data[1000:]
    # sent by the server from the descriptor: never read through Python, and closed
    assert wsgi.marker(key) == "file closed, python reads 0\n"


def test_file_wrapper_with_content_length(
    wsgi: WsgiServer, data_file: tuple[Path, bytes]
) -> None:
    path, data = data_file
    key = new_key()
    with RawConnection.tcp(wsgi.port) as conn:
        conn.send(
            request_bytes("GET", f"/file?path={path}&key={key}&length={len(data)}")
        )
        response = conn.read_response()
        assert response.header("content-length") == str(len(data))
        assert response.body == data
        conn.send(request_bytes("GET", "/hello"))  # the connection stays usable
        assert conn.read_response().body == b"hello world"
    assert wsgi.marker(key) == "file closed, python reads 0\n"


def test_file_wrapper_with_bytesio_is_iterated(wsgi: WsgiServer) -> None:
    key = new_key()
    size = 100_000
    response = requests.get(
        wsgi.url(f"/bytesio?size={size}&key={key}&blksize=1000"), timeout=30
    )
    block = bytes(range(256))
    assert response.content == (block * (size // 256 + 1))[:size]
    # 100 blocks of 1000 bytes and one empty read at the end
    assert wsgi.marker(key) == "bytesio closed, python reads 101\n"


def test_head_has_no_body(wsgi: WsgiServer) -> None:
    with RawConnection.tcp(wsgi.port) as conn:
        conn.send(request_bytes("HEAD", "/hello-cl"))
        response = conn.read_response(head_request=True)
        assert response.status == 200
        assert response.header("content-length") == "11"
        conn.send(request_bytes("HEAD", "/hello"))
        response = conn.read_response(head_request=True)
        assert response.status == 200
        assert response.header("content-length") in (None, "11")
        # any stray body bytes would corrupt this response
        conn.send(request_bytes("GET", "/hello"))
        assert conn.read_response().body == b"hello world"


def test_head_of_stream_and_file(
    wsgi: WsgiServer, data_file: tuple[Path, bytes]
) -> None:
    path, data = data_file
    stream_key, file_key = new_key(), new_key()
    with RawConnection.tcp(wsgi.port) as conn:
        conn.send(request_bytes("HEAD", f"/stream?key={stream_key}&n=50&size=1000"))
        assert conn.read_response(head_request=True).status == 200
        conn.send(
            request_bytes(
                "HEAD", f"/file?path={path}&key={file_key}&length={len(data)}"
            )
        )
        response = conn.read_response(head_request=True)
        assert response.status == 200
        assert response.header("content-length") == str(len(data))
        conn.send(request_bytes("GET", "/hello"))
        assert conn.read_response().body == b"hello world"
    assert wsgi.marker(stream_key).startswith("closed after")
    assert wsgi.marker(file_key) == "file closed, python reads 0\n"


def test_status_and_repeated_headers(wsgi: WsgiServer) -> None:
    with RawConnection.tcp(wsgi.port) as conn:
        conn.send(request_bytes("GET", "/cookies"))
        response = conn.read_response()
        assert response.header_list("set-cookie") == ["a=1; Path=/", "b=2; Path=/"]
        assert response.header("x-a") == "x"
        for code in (201, 404, 418):
            conn.send(request_bytes("GET", f"/status?code={code}"))
            assert conn.read_response().status == code
        conn.send(request_bytes("GET", "/status?code=204"))
        response = conn.read_response()
        assert response.status == 204
        assert response.header("content-length") is None


def test_http2_streaming_and_file(
    wsgi: WsgiServer, data_file: tuple[Path, bytes]
) -> None:
    path, data = data_file
    stream_key, file_key = new_key(), new_key()
    with httpx.Client(http1=False, http2=True, timeout=60) as client:
        response = client.get(wsgi.url(f"/stream?key={stream_key}&n=30&size=5000"))
        assert response.http_version == "HTTP/2"
        assert response.content == expected_stream(30, 5000)
        response = client.get(wsgi.url(f"/file?path={path}&key={file_key}"))
        assert response.content == data
        response = client.get(wsgi.url("/write?key=h2write"))
        assert response.content == b"w1,w2,i1,i2"
        response = client.head(wsgi.url("/hello-cl"))
        assert response.content == b""
        assert response.headers["content-length"] == "11"
    assert wsgi.marker(stream_key) == "closed after 30\n"
    assert wsgi.marker(file_key) == "file closed, python reads 0\n"


def test_http2_client_reset_calls_close(wsgi: WsgiServer) -> None:
    key = new_key()
    with (
        httpx.Client(http1=False, http2=True, timeout=30) as client,
        client.stream("GET", wsgi.url(f"/forever?key={key}")) as response,
    ):
        assert response.http_version == "HTTP/2"
        for _ in response.iter_bytes():
            break
    marker = wsgi.marker(key, "closed after")
    assert marker.startswith("closed after "), marker
