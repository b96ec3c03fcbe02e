"""Idle HTTP/1.1 keep-alive connections: parked between requests, they cost little memory and lose
nothing (the next request, a head split across the pause, pipelined requests, an unread response, a
WebSocket handshake after plain requests)."""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import time
from pathlib import Path

from conftest import Server, ServerFactory
from rawhttp import IncompleteResponse, RawConnection, request_bytes

# Longer than the moment an idle connection stays in hyper before it is parked (5 ms), with room
# for a loaded machine.
IDLE = 0.3


def test_parked_connection_serves_the_next_requests(echo_server: Server) -> None:
    assert echo_server.port is not None
    with RawConnection.tcp(echo_server.port) as conn:
        ports = set()
        for index in range(4):
            conn.send(request_bytes("POST", f"/again/{index}", body=b"b" * (index * 1000)))
            response = conn.read_response()
            scope = json.loads(response.body)
            assert response.status == 200
            assert scope["path"] == f"/again/{index}"
            assert scope["body_length"] == index * 1000
            ports.add(scope["client"]["items"][1])
            time.sleep(IDLE)
        assert ports == {conn.local_port}


def test_head_split_across_the_pause(echo_server: Server) -> None:
    assert echo_server.port is not None
    with RawConnection.tcp(echo_server.port) as conn:
        conn.send(request_bytes("GET", "/warm"))
        assert conn.read_response().status == 200
        time.sleep(IDLE)
        whole = request_bytes("POST", "/split?x=1", [("X-Part", "two")], body=b"0123456789")
        # Part of the head, a pause long enough to park, the rest of the head, another pause, the body.
        head_end = whole.index(b"\r\n\r\n")
        conn.send(whole[:20])
        time.sleep(IDLE)
        conn.send(whole[20:head_end])
        time.sleep(IDLE)
        conn.send(whole[head_end:])
        response = conn.read_response()
        scope = json.loads(response.body)
        assert response.status == 200
        assert scope["path"] == "/split"
        assert ["x-part", "two"] in scope["headers"]
        assert scope["body"] == "0123456789"


def test_pipelined_requests_after_the_pause(echo_server: Server) -> None:
    assert echo_server.port is not None
    with RawConnection.tcp(echo_server.port) as conn:
        conn.send(request_bytes("GET", "/warm"))
        assert conn.read_response().status == 200
        time.sleep(IDLE)
        conn.send(b"".join(request_bytes("GET", f"/p/{index}") for index in range(5)))
        paths = [json.loads(conn.read_response().body)["path"] for _ in range(5)]
        assert paths == [f"/p/{index}" for index in range(5)]


def test_unread_response_is_delivered_whole(start_server: ServerFactory) -> None:
    """A response handed to hyper whole but far larger than the socket buffers, left unread past the
    parking moment: the bytes hyper still holds must reach the client, and the connection must go on
    serving."""
    server = start_server("stream_app:app")
    assert server.port is not None
    size = 32 * 1024 * 1024
    with RawConnection.tcp(server.port) as conn:
        conn.send(request_bytes("GET", f"/chunks?n=1&size={size}"))
        time.sleep(1.0)
        response = conn.read_response()
        assert response.status == 200
        assert len(response.body) == size
        time.sleep(IDLE)
        conn.send(request_bytes("GET", "/chunks?n=1&size=10"))
        assert len(conn.read_response().body) == 10


def test_unread_request_body_then_idle(start_server: ServerFactory) -> None:
    """The app answers without reading a large upload; the connection must not be parked with body
    bytes still to come (they would be read as the next request)."""
    server = start_server("ws_echo:app")
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        body = b"z" * 300_000
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        head = request_bytes("POST", "/plain", [("Content-Length", str(len(body)))])
        head = head[: head.index(b"\r\n\r\n") + 4]
        conn.send(head)
        conn.send(body[:1000])
        response = conn.read_response()
        assert response.status == 200
        time.sleep(IDLE)
        try:
            conn.send(body[1000:])
            conn.send(request_bytes("GET", "/after"))
            follow = conn.read_response()
        except (IncompleteResponse, ConnectionError):
            # Closing instead of reading the rest of the body is fine.
            return
        # What must never happen: the rest of the body read as a request (a 400).
        assert follow.status == 200, follow
        assert json.loads(follow.body)["type"] == "http"


def _ws_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked


def test_websocket_handshake_after_parked_requests(start_server: ServerFactory) -> None:
    server = start_server("ws_echo:app")
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(request_bytes("GET", "/plain"))
        assert conn.read_response().status == 200
        time.sleep(IDLE)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        conn.send(
            request_bytes(
                "GET",
                "/echo",
                [
                    ("Upgrade", "websocket"),
                    ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Key", key),
                    ("Sec-WebSocket-Version", "13"),
                ],
            )
            # A frame sent right behind the handshake must reach the socket's new owner.
            + _ws_frame(b"right behind")
        )
        assert conn.read_head().status == 101
        frame = conn.read_exact(2)
        assert frame[0] == 0x81
        assert conn.read_exact(frame[1] & 0x7F) == b"right behind"
        time.sleep(IDLE)
        conn.send(_ws_frame(b"after a pause"))
        frame = conn.read_exact(2)
        assert conn.read_exact(frame[1] & 0x7F) == b"after a pause"


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _serving_pid(server: Server) -> int:
    """The process holding the connections: the server itself or, with a supervisor, its worker."""
    pid = server.proc.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    candidates = [pid, *map(int, children)]
    return max(candidates, key=lambda p: len(os.listdir(f"/proc/{p}/fd")))


def _open_idle(port: int, count: int) -> list[RawConnection]:
    """`count` connections that have each served one request, left open and idle."""
    conns: list[RawConnection] = []
    for _ in range(0, count, 100):
        opened = [RawConnection.tcp(port) for _ in range(100)]
        for index, conn in enumerate(opened):
            conn.send(request_bytes("GET", f"/idle/{index}"))
        for conn in opened:
            assert conn.read_response().status == 200
        conns.extend(opened)
    return conns


def test_idle_connections_cost_little_memory(start_server: ServerFactory) -> None:
    """Each idle keep-alive connection that has served a request costs a few KiB (hyper alone keeps
    about 16 KiB of buffers per connection while it holds one). Measured as the growth from 500 to
    1,500 such connections, so that one-off allocations (the first of each kind) do not count."""
    server = start_server("echo_app:app", "--timeout-keep-alive", "120", "--backlog", "2048")
    assert server.port is not None
    pid = _serving_pid(server)
    conns = _open_idle(server.port, 500)
    try:
        time.sleep(1.0)
        before = _rss_kb(pid)
        conns += _open_idle(server.port, 1000)
        time.sleep(1.0)
        per_connection = (_rss_kb(pid) - before) / 1000
        assert not any(conn.closed_by_peer(timeout=0.01) for conn in conns[:10])
    finally:
        for conn in conns:
            conn.close()
    assert per_connection < 8, f"{per_connection:.1f} KiB per idle connection"


def test_keep_alive_timeout_beyond_thirty_seconds(start_server: ServerFactory) -> None:
    """`--timeout-keep-alive` is the only limit on an idle connection, as in uvicorn: hyper's 30 s
    header read timeout used to close idle keep-alive connections at 30 s whatever it said."""
    server = start_server("echo_app:app", "--timeout-keep-alive", "45")
    assert server.port is not None
    with RawConnection.tcp(server.port, timeout=60) as conn:
        conn.send(request_bytes("GET", "/first"))
        assert conn.read_response().status == 200
        time.sleep(32)
        conn.send(request_bytes("GET", "/second"))
        response = conn.read_response()
        assert response.status == 200
        assert json.loads(response.body)["path"] == "/second"
