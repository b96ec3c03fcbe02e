"""A minimal HTTP/1.1 client on raw sockets, for what `requests` hides:
pipelining, exact framing, HEAD bodies, aborted responses, Unix sockets."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Self

DEFAULT_TIMEOUT = 15.0


class IncompleteResponse(Exception):
    """The peer closed (or reset) the connection in the middle of a response."""


@dataclass
class RawResponse:
    version: str
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    chunked: bool = False

    def header(self, name: str) -> str | None:
        values = self.header_list(name)
        return values[0] if values else None

    def header_list(self, name: str) -> list[str]:
        lowered = name.lower()
        return [value for key, value in self.headers if key.lower() == lowered]


class RawConnection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    @classmethod
    def tcp(
        cls, port: int, host: str = "127.0.0.1", timeout: float = DEFAULT_TIMEOUT
    ) -> RawConnection:
        sock = socket.create_connection((host, port), timeout=timeout)
        return cls(sock)

    @classmethod
    def unix(cls, path: str, timeout: float = DEFAULT_TIMEOUT) -> RawConnection:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(path)
        return cls(sock)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    @property
    def local_port(self) -> int:
        return int(self.sock.getsockname()[1])

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError as exc:
            raise IncompleteResponse("connection reset by peer") from exc
        if not data:
            raise IncompleteResponse("connection closed by peer")
        self.buffer += data

    def read_until(self, delimiter: bytes) -> bytes:
        while delimiter not in self.buffer:
            self._fill()
        data, _, self.buffer = self.buffer.partition(delimiter)
        return data

    def read_exact(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def read_until_eof(self) -> bytes:
        while True:
            try:
                self._fill()
            except IncompleteResponse:
                data, self.buffer = self.buffer, b""
                return data

    def read_head(self) -> RawResponse:
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        status_line, *header_lines = head.split("\r\n")
        version, status, *reason = status_line.split(" ", 2)
        headers = []
        for line in header_lines:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        return RawResponse(version, int(status), reason[0] if reason else "", headers)

    def read_chunk(self) -> bytes | None:
        """Read one chunk of a chunked body; None for the last chunk."""
        size_line = self.read_until(b"\r\n")
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while self.read_until(b"\r\n"):  # trailers, then the empty line
                pass
            return None
        data = self.read_exact(size)
        if self.read_exact(2) != b"\r\n":
            raise AssertionError("chunk not terminated by CRLF")
        return data

    def read_body(self, response: RawResponse) -> bytes:
        encoding = (response.header("transfer-encoding") or "").lower()
        if "chunked" in encoding:
            response.chunked = True
            parts = []
            while (chunk := self.read_chunk()) is not None:
                parts.append(chunk)
            return b"".join(parts)
        length = response.header("content-length")
        if length is not None:
            return self.read_exact(int(length))
        return self.read_until_eof()

    def read_response(self, head_request: bool = False) -> RawResponse:
        response = self.read_head()
        while 100 <= response.status < 200:
            response = self.read_head()
        if head_request or response.status in (204, 304):
            return response
        response.body = self.read_body(response)
        return response

    def closed_by_peer(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """Wait for the peer to close; False if data arrives or nothing happens."""
        if self.buffer:
            return False
        previous = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except TimeoutError:
            return False
        finally:
            self.sock.settimeout(previous)
        if data:
            self.buffer += data
            return False
        return True


def request_bytes(
    method: str,
    target: str,
    headers: list[tuple[str, str]] | None = None,
    body: bytes | None = None,
    version: str = "HTTP/1.1",
) -> bytes:
    lines = [f"{method} {target} {version}"]
    all_headers = list(headers or [])
    if not any(name.lower() == "host" for name, _ in all_headers):
        all_headers.insert(0, ("Host", "testserver"))
    if body is not None and not any(
        name.lower() in ("content-length", "transfer-encoding")
        for name, _ in all_headers
    ):
        all_headers.append(("Content-Length", str(len(body))))
    lines.extend(f"{name}: {value}" for name, value in all_headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
