"""A small HTTP/3 client for the tests, built on aioquic.

    async with h3_connect(port, ca) as client:
        response = await client.request("GET", "/path")

One `H3Client` is one QUIC connection; `request()` may be awaited
concurrently any number of times, each request on its own stream.
Request bodies may be bytes or an iterable of chunks (sent as separate
DATA frames); response chunks are kept as they arrived.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent, StreamReset

REQUEST_TIMEOUT = 30.0


@dataclass
class H3Response:
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)

    @property
    def content(self) -> bytes:
        return b"".join(self.chunks)

    def json(self) -> Any:
        return json.loads(self.content)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


class StreamError(Exception):
    """The stream was reset or the connection closed before the response ended."""


@dataclass
class _Pending:
    response: H3Response = field(default_factory=H3Response)
    done: asyncio.Future[H3Response] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    first_data: asyncio.Event = field(default_factory=asyncio.Event)


class H3Client(QuicConnectionProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic)
        self.authority = "localhost"
        self._pending: dict[int, _Pending] = {}
        self.terminated: ConnectionTerminated | None = None

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            self.terminated = event
            for pending in self._pending.values():
                if not pending.done.done():
                    pending.done.set_exception(
                        StreamError(f"connection closed: {event.reason_phrase!r}")
                    )
        elif isinstance(event, StreamReset):
            pending = self._pending.get(event.stream_id)
            if pending and not pending.done.done():
                pending.done.set_exception(
                    StreamError(f"stream reset with code {event.error_code:#x}")
                )
        for h3_event in self.http.handle_event(event):
            self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        if not isinstance(event, HeadersReceived | DataReceived):
            return
        pending = self._pending.get(event.stream_id)
        if pending is None:
            return
        if isinstance(event, HeadersReceived):
            for name, value in event.headers:
                if name == b":status":
                    pending.response.status = int(value)
                else:
                    pending.response.headers.append(
                        (name.decode("latin-1"), value.decode("latin-1"))
                    )
        elif event.data:
            pending.response.chunks.append(event.data)
            pending.first_data.set()
        if event.stream_ended and not pending.done.done():
            pending.done.set_result(pending.response)

    def start_request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] = b"",
        headers: Iterable[tuple[str, str]] = (),
    ) -> _Pending:
        stream_id = self._quic.get_next_available_stream_id()
        pending = _Pending()
        self._pending[stream_id] = pending
        request_headers = [
            (b":method", method.encode()),
            (b":scheme", b"https"),
            (b":authority", self.authority.encode()),
            (b":path", path.encode()),
        ] + [(k.lower().encode(), v.encode()) for k, v in headers]
        chunks = [body] if isinstance(body, bytes) else list(body)
        chunks = [chunk for chunk in chunks if chunk]
        self.http.send_headers(stream_id, request_headers, end_stream=not chunks)
        for index, chunk in enumerate(chunks):
            self.http.send_data(stream_id, chunk, end_stream=index == len(chunks) - 1)
        self.transmit()
        return pending

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | Iterable[bytes] = b"",
        headers: Iterable[tuple[str, str]] = (),
        timeout: float = REQUEST_TIMEOUT,
    ) -> H3Response:
        pending = self.start_request(method, path, body, headers)
        return await asyncio.wait_for(pending.done, timeout)


@asynccontextmanager
async def h3_connect(
    port: int,
    ca: Path,
    host: str = "127.0.0.1",
    server_name: str = "localhost",
    client_cert: tuple[Path, Path] | None = None,
) -> AsyncIterator[H3Client]:
    config = QuicConfiguration(
        is_client=True,
        alpn_protocols=H3_ALPN,
        server_name=server_name,
        max_data=64 * 1024 * 1024,
        max_stream_data=16 * 1024 * 1024,
    )
    config.load_verify_locations(cafile=str(ca))
    if client_cert is not None:
        config.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    async with connect(
        host, port, configuration=config, create_protocol=H3Client, wait_connected=True
    ) as client:
        assert isinstance(client, H3Client)
        client.authority = f"{server_name}:{port}"
        yield client
