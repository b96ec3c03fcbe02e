"""permessage-deflate (RFC 7692) on WebSockets, `--ws-per-message-deflate`.

The `websockets` client negotiates compression as browsers do; a recording extension
shows which frames reached it compressed. What it will not send (bombs, RSV1 where it
does not belong, offers the server must decline) goes through a raw socket client that
compresses with Python's zlib. The app is tests/apps/ws_echo.py."""

from __future__ import annotations

import base64
import os
import socket
import struct
import subprocess
import zlib
from collections.abc import Sequence
from typing import Any

import pytest
from conftest import Server, ServerFactory, serve_args, server_env
from websockets.exceptions import ConnectionClosed
from websockets.extensions.base import Extension
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from websockets.frames import DATA_OPCODES, Frame
from websockets.sync.client import ClientConnection, connect

APP = "ws_echo:app"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING = 0x0, 0x1, 0x2, 0x8, 0x9
TRAILER = b"\x00\x00\xff\xff"


class RecordingDeflate(PerMessageDeflate):
    """PerMessageDeflate that notes, for each data frame received, whether RSV1 was set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received_rsv1: list[bool] = []

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        if frame.opcode in DATA_OPCODES:
            self.received_rsv1.append(frame.rsv1)
        return super().decode(frame, max_size=max_size)


class RecordingFactory(ClientPerMessageDeflateFactory):
    def process_response_params(
        self, params: Sequence[tuple[str, str | None]], accepted: Sequence[Extension]
    ) -> PerMessageDeflate:
        plain = super().process_response_params(params, accepted)
        return RecordingDeflate(
            plain.remote_no_context_takeover,
            plain.local_no_context_takeover,
            plain.remote_max_window_bits,
            plain.local_max_window_bits,
        )


def ws_connect(server: Server, **factory: Any) -> ClientConnection:
    return connect(
        f"ws://127.0.0.1:{server.port}/echo",
        extensions=[RecordingFactory(**factory)],
        compression=None,  # the extension is given explicitly above
        max_size=None,
        open_timeout=15,
        close_timeout=15,
        proxy=None,
    )


def recorder(ws: ClientConnection) -> RecordingDeflate:
    extensions = ws.protocol.extensions
    assert len(extensions) == 1, extensions
    assert isinstance(extensions[0], RecordingDeflate)
    return extensions[0]


def echo_all(ws: ClientConnection, messages: Sequence[str | bytes]) -> None:
    for message in messages:
        ws.send(message)
        assert ws.recv(timeout=30) == message


@pytest.fixture(scope="module")
def server(module_servers: ServerFactory) -> Server:
    return module_servers(APP)


# --- with the websockets client -----------------------------------------------------


def test_compression_is_negotiated_and_used(server: Server) -> None:
    with ws_connect(server) as ws:
        assert ws.response is not None
        assert ws.response.headers["Sec-WebSocket-Extensions"] == "permessage-deflate"
        echo_all(ws, ["hello", "é ✓ 🎉" * 100, b"\x00\x01binary\xff", "", b""])
        # Every data frame the server sent was compressed (RSV1 set).
        assert recorder(ws).received_rsv1 == [True] * 5


def test_large_and_many_messages_echo(server: Server) -> None:
    compressible = ("line of a log that repeats a lot " * 200_000).encode()  # ~6.6 MB
    random = os.urandom(3 * 1024 * 1024)
    with ws_connect(server) as ws:
        echo_all(ws, [compressible, random, compressible.decode()])
        for i in range(300):
            ws.send(f"message {i} " * (i % 7))
        assert [ws.recv(timeout=30) for _ in range(300)] == [
            f"message {i} " * (i % 7) for i in range(300)
        ]
        assert recorder(ws).received_rsv1 == [True] * 303


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (
            {"server_no_context_takeover": True},
            "permessage-deflate; server_no_context_takeover",
        ),
        (
            {"client_no_context_takeover": True},
            "permessage-deflate; client_no_context_takeover",
        ),
        (
            {"server_max_window_bits": 10, "client_max_window_bits": 9},
            "permessage-deflate; server_max_window_bits=10",
        ),
        # zlib cannot compress with an 8-bit window; the server's 9-bit one never
        # refers back further than 8 bits allow, so the client's inflater copes.
        (
            {"server_max_window_bits": 8},
            "permessage-deflate; server_max_window_bits=8",
        ),
        (
            {
                "server_no_context_takeover": True,
                "client_no_context_takeover": True,
                "server_max_window_bits": 12,
            },
            "permessage-deflate; server_no_context_takeover; "
            "client_no_context_takeover; server_max_window_bits=12",
        ),
    ],
)
def test_parameter_negotiation(
    server: Server, factory: dict[str, Any], expected: str
) -> None:
    # Messages that refer back across more than 256 bytes and across messages.
    text = "".join(f"{i:05d} the quick brown fox " for i in range(3000))
    with ws_connect(server, **factory) as ws:
        assert ws.response is not None
        assert ws.response.headers["Sec-WebSocket-Extensions"] == expected
        echo_all(ws, [text, text, text.encode(), "short", text[::-1]])
        assert recorder(ws).received_rsv1 == [True] * 5


@pytest.mark.parametrize("value", ["false", "0", "False", "off"])
def test_flag_off_negotiates_nothing(start_server: ServerFactory, value: str) -> None:
    server = start_server(APP, "--ws-per-message-deflate", value)
    with ws_connect(server) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert ws.protocol.extensions == []
        echo_all(ws, ["plain", b"bytes"])


def test_flag_off_from_uvicorn_environment(start_server: ServerFactory) -> None:
    server = start_server(APP, env={"UVICORN_WS_PER_MESSAGE_DEFLATE": "false"})
    with ws_connect(server) as ws:
        assert ws.protocol.extensions == []


def test_flag_on_spelled_as_uvicorn_does(start_server: ServerFactory) -> None:
    server = start_server(APP, "--ws-per-message-deflate", "1")
    with ws_connect(server) as ws:
        echo_all(ws, ["on"])
        assert recorder(ws).received_rsv1 == [True]


def test_bad_flag_value_is_refused() -> None:
    result = subprocess.run(
        serve_args(APP, "--ws-per-message-deflate", "maybe"),
        capture_output=True,
        text=True,
        timeout=30,
        env=server_env(),
    )
    assert result.returncode != 0
    assert "--ws-per-message-deflate" in result.stderr
    assert "not a boolean" in result.stderr


# --- with a raw socket ----------------------------------------------------------------


class RawDeflateClient:
    """Offers permessage-deflate and sends exactly the frames it is told to."""

    def __init__(self, port: int, offer: str = "permessage-deflate") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        self.sock.sendall(
            (
                f"GET /echo HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"Sec-WebSocket-Extensions: {offer}\r\n\r\n"
            ).encode("ascii")
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed during the handshake"
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        assert " 101 " in lines[0], head
        self.headers = {
            k.strip().lower(): v.strip()
            for k, v in (line.split(":", 1) for line in lines[1:])
        }
        self.compressor = zlib.compressobj(wbits=-15)
        self.decompressor = zlib.decompressobj(wbits=-15)

    def compress(self, data: bytes) -> bytes:
        out = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(TRAILER)
        return out[: -len(TRAILER)]

    def send_frame(
        self, opcode: int, payload: bytes, fin: bool = True, rsv1: bool = False
    ) -> None:
        header = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        key = os.urandom(4)
        masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + key + masked)

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the TCP connection")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def recv_frame(self) -> tuple[int, bool, bytes]:
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        return first & 0x0F, bool(first & 0x40), self._read(length)

    def recv_message(self) -> tuple[int, bytes]:
        opcode, rsv1, payload = self.recv_frame()
        assert rsv1, "the server compresses every message"
        return opcode, self.decompressor.decompress(payload + TRAILER)

    def close_code(self) -> int:
        for _ in range(1000):
            opcode, _, payload = self.recv_frame()
            if opcode == OP_CLOSE:
                return int(struct.unpack("!H", payload[:2])[0])
        raise AssertionError("no close frame")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw(server: Server) -> Any:
    assert server.port is not None
    client = RawDeflateClient(server.port)
    yield client
    client.close()


def test_fragmented_compressed_message_with_a_ping_between(
    raw: RawDeflateClient,
) -> None:
    assert raw.headers["sec-websocket-extensions"] == "permessage-deflate"
    compressed = raw.compress(b"fragmented and compressed " * 40)
    third = len(compressed) // 3
    raw.send_frame(OP_TEXT, compressed[:third], fin=False, rsv1=True)
    raw.send_frame(OP_PING, b"between")
    raw.send_frame(OP_CONT, compressed[third : 2 * third], fin=False)
    raw.send_frame(OP_CONT, compressed[2 * third :], fin=True)
    opcode, rsv1, payload = raw.recv_frame()
    assert (opcode, rsv1, payload) == (0xA, False, b"between")  # pong, uncompressed
    assert raw.recv_message() == (OP_TEXT, b"fragmented and compressed " * 40)
    # An uncompressed message is allowed too (RSV1 clear); the answer is compressed.
    raw.send_frame(OP_BINARY, b"as it is")
    assert raw.recv_message() == (OP_BINARY, b"as it is")


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param([(OP_PING, b"x", True, True)], id="rsv1-on-control-frame"),
        pytest.param(
            [(OP_TEXT, b"compressed", False, True), (OP_CONT, b"more", True, True)],
            id="rsv1-on-continuation",
        ),
        pytest.param(
            [(OP_TEXT, b"compressed", False, True), (OP_TEXT, b"new", True, False)],
            id="new-message-inside-compressed-one",
        ),
        pytest.param([(OP_TEXT, b"\xff\xff\xff\xff", True, True)], id="not-deflate"),
    ],
)
def test_extension_rule_violations_close_1002(
    raw: RawDeflateClient, frames: list[tuple[int, bytes, bool, bool]]
) -> None:
    for opcode, payload, fin, rsv1 in frames:
        if rsv1 and opcode == OP_TEXT and payload != b"\xff\xff\xff\xff":
            payload = raw.compress(payload)
        raw.send_frame(opcode, payload, fin=fin, rsv1=rsv1)
    assert raw.close_code() == 1002


def test_invalid_utf8_after_inflating_closes_1007(raw: RawDeflateClient) -> None:
    raw.send_frame(OP_TEXT, raw.compress(b"ok \xc3\x28 not utf-8"), rsv1=True)
    assert raw.close_code() == 1007


def test_rsv1_without_negotiation_closes_1002(start_server: ServerFactory) -> None:
    server = start_server(APP, "--ws-per-message-deflate", "false")
    assert server.port is not None
    client = RawDeflateClient(server.port)
    try:
        assert "sec-websocket-extensions" not in client.headers
        client.send_frame(OP_TEXT, client.compress(b"hello"), rsv1=True)
        assert client.close_code() == 1002
    finally:
        client.close()


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; unknown_parameter",
        "x-webkit-deflate-frame",
    ],
)
def test_offers_the_server_cannot_honour_are_declined(server: Server, offer: str) -> None:
    assert server.port is not None
    client = RawDeflateClient(server.port, offer)
    try:
        assert "sec-websocket-extensions" not in client.headers
        client.send_frame(OP_TEXT, b"uncompressed")
        opcode, rsv1, payload = client.recv_frame()
        assert (opcode, rsv1, payload) == (OP_TEXT, False, b"uncompressed")
    finally:
        client.close()


def test_first_acceptable_offer_wins(server: Server) -> None:
    assert server.port is not None
    client = RawDeflateClient(
        server.port,
        "permessage-deflate; server_max_window_bits=20, "
        "permessage-deflate; client_no_context_takeover",
    )
    try:
        assert (
            client.headers["sec-websocket-extensions"]
            == "permessage-deflate; client_no_context_takeover"
        )
    finally:
        client.close()


@pytest.mark.parametrize("fragments", [1, 8])
def test_deflate_bomb_closes_1009(start_server: ServerFactory, fragments: int) -> None:
    limit = 1024 * 1024
    server = start_server(APP, "--ws-max-size", str(limit))
    assert server.port is not None
    client = RawDeflateClient(server.port)
    try:
        # Exactly the limit once inflated is fine...
        client.send_frame(OP_BINARY, client.compress(b"\x00" * limit), rsv1=True)
        assert client.recv_message() == (OP_BINARY, b"\x00" * limit)
        # ...200 MiB of zeros, about 200 KiB compressed, is not.
        bomb = b"".join(client.compress(b"\x00" * (8 << 20)) for _ in range(25))
        assert len(bomb) < 300_000
        step = len(bomb) // fragments + 1
        pieces = [bomb[i : i + step] for i in range(0, len(bomb), step)]
        for i, piece in enumerate(pieces):
            opcode = OP_BINARY if i == 0 else OP_CONT
            try:
                client.send_frame(opcode, piece, fin=i == len(pieces) - 1, rsv1=i == 0)
            except (BrokenPipeError, ConnectionResetError):
                break  # the server may close before the last fragment
        assert client.close_code() == 1009
    finally:
        client.close()
    # The server is still there for others.
    with ws_connect(server) as ws:
        echo_all(ws, ["still serving"])


def test_websockets_client_sees_1009_for_a_big_compressed_message(
    start_server: ServerFactory,
) -> None:
    server = start_server(APP, "--ws-max-size", "65536")
    with ws_connect(server) as ws:
        ws.send(b"\x00" * 65536)
        assert ws.recv(timeout=15) == b"\x00" * 65536
        ws.send(b"\x00" * 65537)  # a few hundred bytes on the wire
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=15)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009
