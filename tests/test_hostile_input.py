"""Hostile HTTP/1.1 input: what RFC 9112 says a server must refuse, the
request size limits, malformed chunked bodies and slow bodies."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest
from conftest import Server, ServerFactory
from rawhttp import IncompleteResponse, RawConnection, RawResponse, request_bytes

CORPUS = Path(__file__).resolve().parent / "data" / "gunicorn_invalid"
HEX_ESCAPE = re.compile(rb"\\x([0-9A-Fa-f]{2})")


@pytest.fixture(scope="module")
def server(module_servers: ServerFactory) -> Server:
    # A short body timeout, so vectors that stop mid-body are answered quickly.
    return module_servers("hostile_app:app", "--timeout-request-body", "1")


def exchange(server: Server, data: bytes) -> tuple[RawResponse, bool]:
    """Send raw bytes; return the response and whether the server then closed."""
    assert server.port is not None
    with RawConnection.tcp(server.port, timeout=10) as conn:
        conn.send(data)
        response = conn.read_response()
        return response, conn.closed_by_peer(timeout=5)


def refused(server: Server, data: bytes, status: int = 400) -> RawResponse:
    response, closed = exchange(server, data)
    assert response.status == status, response.body
    assert closed, "the connection should close after a refusal"
    return response


def ok(server: Server, data: bytes) -> dict[str, object]:
    response, _ = exchange(server, data)
    assert response.status == 200, response.body
    result: dict[str, object] = json.loads(response.body)
    return result


def chunked_post(body: bytes, path: str = "/") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode() + body


# --- Host (RFC 9112 section 3.2) ---------------------------------------------


def test_http11_without_host_is_refused(server: Server) -> None:
    refused(server, b"GET / HTTP/1.1\r\n\r\n")


def test_two_host_lines_are_refused(server: Server) -> None:
    refused(server, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    refused(server, b"GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n")


def test_invalid_host_is_refused(server: Server) -> None:
    refused(server, b"GET / HTTP/1.1\r\nHost: user@evil\r\n\r\n")
    refused(server, b"GET / HTTP/1.1\r\nHost: a:port\r\n\r\n")


def test_http10_without_host_and_empty_host_are_fine(server: Server) -> None:
    assert ok(server, b"GET /a HTTP/1.0\r\n\r\n")["path"] == "/a"
    assert (
        ok(server, b"GET /b HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n")["path"]
        == "/b"
    )


# --- size limits ------------------------------------------------------------


def header_of_line_size(size: int) -> tuple[str, str]:
    """A header whose line, with ': ' and CRLF, is `size` bytes."""
    return ("X-Big", "v" * (size - len("X-Big: \r\n")))


def test_header_field_size_limit(server: Server) -> None:
    assert ok(server, request_bytes("GET", "/", [header_of_line_size(8190)]))
    refused(server, request_bytes("GET", "/", [header_of_line_size(8191)]), 431)


def test_header_count_limit(server: Server) -> None:
    # request_bytes adds Host, making 100 and 101 fields.
    many = [(f"X-{i}", "1") for i in range(99)]
    assert ok(server, request_bytes("GET", "/", many))
    response, _ = exchange(server, request_bytes("GET", "/", [*many, ("X-last", "1")]))
    assert response.status == 431


def test_request_line_limit(server: Server) -> None:
    # "GET " + target + " HTTP/1.1" is 4094 bytes: the limit.
    target = "/" + "a" * (4094 - len("GET  HTTP/1.1") - 1)
    assert ok(server, request_bytes("GET", target))["path"] == target
    refused(server, request_bytes("GET", target + "a"), 414)


def test_limits_from_the_command_line(start_server: ServerFactory) -> None:
    strict = start_server(
        "hostile_app:app",
        "--limit-request-line",
        "40",
        "--limit-request-fields",
        "3",
        "--limit-request-field-size",
        "30",
    )
    assert ok(strict, request_bytes("GET", "/short", [("A", "1"), ("B", "2")]))
    refused(strict, request_bytes("GET", "/" + "x" * 30), 414)
    refused(strict, request_bytes("GET", "/", [("A", "v" * 30)]), 431)
    response, _ = exchange(
        strict, request_bytes("GET", "/", [("A", "1"), ("B", "2"), ("C", "3")])
    )
    assert response.status == 431

    unlimited = start_server(
        "hostile_app:app",
        "--limit-request-line",
        "0",
        "--limit-request-field-size",
        "0",
        # The whole head is still bounded, by default at 16 KiB as uvicorn.
        "--h11-max-incomplete-event-size",
        "100000",
    )
    target = "/" + "y" * 20000
    assert (
        ok(unlimited, request_bytes("GET", target, [("A", "v" * 50000)]))["path"]
        == target
    )


# --- chunked bodies ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"5 \r\nhello\r\n0\r\n\r\n",  # whitespace after the size, no extension
        b"5\r\nhello\r\n0\t\r\n\r\n",
        b" 5\r\nhello\r\n0\r\n\r\n",
        b"5_0\r\nhello\r\n0\r\n\r\n",
        b"-5\r\nhello\r\n0\r\n\r\n",
        b"5\nhello\r\n0\r\n\r\n",
        b"5\r\nhelloXX0\r\n\r\n",
        b"\r\nhello\r\n0\r\n\r\n",
        b"5;a\rb\r\nhello\r\n0\r\n\r\n",
        b"fffffffffffffffffff\r\n",
    ],
)
def test_malformed_chunks_get_400_and_close(server: Server, body: bytes) -> None:
    response = refused(server, chunked_post(body))
    assert b"malformed" in response.body


def test_valid_chunks_extensions_and_trailers_keep_the_connection(
    server: Server,
) -> None:
    body = b"5;name=value\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(chunked_post(body) + request_bytes("GET", "/next"))
        first = conn.read_response()
        second = conn.read_response()
    assert json.loads(first.body)["body"] == "hello world"
    assert json.loads(second.body)["path"] == "/next"


def test_malformed_chunk_after_the_response_started_aborts(server: Server) -> None:
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(chunked_post(b"5\r\nhello\r\n", "/early"))
        head = conn.read_head()
        assert head.status == 200
        assert conn.read_chunk() == b"started\n"
        conn.send(b"5 \r\nworld\r\n0\r\n\r\n")
        # The response must not end cleanly (no terminating chunk).
        with pytest.raises(IncompleteResponse):
            while conn.read_chunk() is not None:
                pass


def test_content_length_with_chunked_is_refused(server: Server) -> None:
    refused(
        server,
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )


def test_transfer_codings_other_than_one_chunked_are_refused(server: Server) -> None:
    twice = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"
    refused(server, twice)
    gzip = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
    refused(server, gzip, 501)


def test_bare_lf_in_head_is_refused(server: Server) -> None:
    refused(server, b"GET / HTTP/1.1\r\nHost: t\nX: 1\r\n\r\n")


def test_framing_trailer_is_refused(server: Server) -> None:
    refused(server, chunked_post(b"5\r\nhello\r\n0\r\nContent-Length: 9\r\n\r\n"))


# --- request-target forms (RFC 9112 section 3.2) -----------------------------


def test_asterisk_form_only_for_options(server: Server) -> None:
    assert ok(server, request_bytes("OPTIONS", "*"))["path"] == "*"
    refused(server, request_bytes("GET", "*"))


def test_authority_form_only_for_connect(server: Server) -> None:
    refused(server, request_bytes("GET", "example.com:443"))


def test_connect_gets_405(server: Server) -> None:
    response = refused(
        server,
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        405,
    )
    assert b"CONNECT" in response.body


def test_absolute_form_is_accepted(server: Server) -> None:
    result = ok(server, request_bytes("GET", "http://testserver/some/path?q=1"))
    assert result["path"] == "/some/path"


@pytest.mark.parametrize(
    "target", [b"/caf\xc3\xa9", b"/caf\xe9", b"/a\x7fb", b"/a\x00b", b"/a\x01b"]
)
def test_non_ascii_and_controls_in_target_are_refused(
    server: Server, target: bytes
) -> None:
    refused(server, b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")


# --- slow bodies ------------------------------------------------------------


def test_stalled_body_gets_408_and_close(server: Server) -> None:
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        started = time.monotonic()
        response = conn.read_response()
        waited = time.monotonic() - started
        assert response.status == 408
        assert conn.closed_by_peer(timeout=5)
    assert 0.8 < waited < 5


def test_stall_after_the_response_started_aborts(server: Server) -> None:
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(chunked_post(b"5\r\nhello\r\n", "/early"))
        assert conn.read_head().status == 200
        assert conn.read_chunk() == b"started\n"
        with pytest.raises(IncompleteResponse):
            while conn.read_chunk() is not None:
                pass


def test_slow_but_steady_body_is_fine(server: Server) -> None:
    """The timeout is on gaps between pieces, not on the whole body."""
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\n")
        for piece in b"hello":
            time.sleep(0.4)
            conn.send(bytes([piece]))
        response = conn.read_response()
    assert response.status == 200
    assert json.loads(response.body)["body"] == "hello"


def test_body_timeout_can_be_turned_off(start_server: ServerFactory) -> None:
    patient = start_server("hostile_app:app", "--timeout-request-body", "0")
    assert patient.port is not None
    with RawConnection.tcp(patient.port) as conn:
        conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\na")
        time.sleep(1.5)
        conn.send(b"b")
        response = conn.read_response()
    assert response.status == 200


# --- gunicorn's corpus ------------------------------------------------------


def decode_vector(raw: bytes) -> bytes:
    """The escaped text format of gunicorn's .http files, as wire bytes."""
    data = raw.replace(b"\n", b"").replace(b"\\r\\n", b"\r\n")
    data = data.replace(b"\\0", b"\0").replace(b"\\n", b"\n").replace(b"\\t", b"\t")
    return HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def first_status(server: Server, data: bytes) -> int | None:
    """The status of the first response, or None if the server closed without one."""
    assert server.port is not None
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        try:
            while b"\r\n" not in received:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except ConnectionResetError:
            pass
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", received)
    return int(match.group(1)) if match else None


def with_host(data: bytes) -> bytes:
    """Add a Host line to a vector without one, so that it is refused for its
    own defect rather than for the missing Host."""
    head = data.split(b"\r\n\r\n", 1)[0]
    if b"\r\n" not in data or re.search(rb"(?im)^host:", head):
        return data
    end_of_request_line = data.index(b"\r\n") + 2
    return data[:end_of_request_line] + b"Host: t\r\n" + data[end_of_request_line:]


@pytest.mark.parametrize("vector", sorted(p.name for p in CORPUS.glob("*.http")))
def test_gunicorn_invalid_vectors_are_refused(server: Server, vector: str) -> None:
    data = with_host(decode_vector((CORPUS / vector).read_bytes()))
    status = first_status(server, data)
    assert status is not None and status >= 400, f"{vector} got {status}"


@pytest.mark.parametrize("body", [b"5 \r\nhello\r\n0\r\n\r\n", b"5\r\nhel"])
def test_wsgi_app_gets_the_same_treatment(
    start_server: ServerFactory, body: bytes
) -> None:
    """A WSGI app reads the body on its own thread; a malformed chunk still
    gets 400 and a stall 408, whatever the app makes of the OSError."""
    wsgi = start_server(
        "wsgi_app:app", "--interface", "wsgi", "--timeout-request-body", "1"
    )
    response = refused(
        wsgi, chunked_post(body, "/input?mode=read"), 400 if b" " in body else 408
    )
    assert response.header("connection") == "close"
