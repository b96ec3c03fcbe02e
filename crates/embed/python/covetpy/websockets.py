"""The ``WebSocket`` object handed to ``@app.websocket`` endpoints (Starlette/FastAPI semantics).

from covetpy import CovetPy, WebSocket, WebSocketDisconnect

app = CovetPy()

@app.websocket("/ws/{room}")
async def chat(websocket: WebSocket, room: str):
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(f"{room}: {text}")
"""

from __future__ import annotations

import enum
import json
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from typing import Any

from covetpy import requests as _requests
from covetpy.datastructures import URL, Address, Headers, QueryParams, State

Message = dict[str, Any]
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_DEFAULT_PORTS = {"ws": 80, "wss": 443, "http": 80, "https": 443}


class WebSocketState(enum.Enum):
    """Where one side of the connection stands."""

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3


class WebSocketDisconnect(Exception):
    """Raised by ``receive_text()`` and friends when the client has gone (``code``, ``reason``).

    An endpoint may let it propagate: the connection is over and nothing is logged."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason or ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, reason={self.reason!r})"


class WebSocketDisconnected(RuntimeError):
    """Using a WebSocket that is already closed (receiving after a disconnect, sending after a close)."""


class WebSocket(Mapping[str, Any]):
    """One WebSocket connection: the handshake's URL, headers, query and path parameters, cookies and
    client, and the ``accept`` / ``receive_*`` / ``send_*`` / ``close`` methods.

    Like Starlette's, it is a read-only mapping over the ASGI scope (``websocket["path"]``) and is
    hashable by identity, so connections can be kept in sets."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "websocket":
            raise ValueError(f"not a websocket scope: {scope.get('type')!r}")
        self.scope = scope
        self._receive = receive
        self._send = send
        self.client_state = WebSocketState.CONNECTING
        self.application_state = WebSocketState.CONNECTING
        self.path_params: dict[str, Any] = dict(scope.get("path_params") or {})
        self._headers: Headers | None = None
        self._query_params: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._url: URL | None = None
        self._state: State | None = None

    # --- the scope as a mapping -----------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        return self.scope[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.scope)

    def __len__(self) -> int:
        return len(self.scope)

    # Identity, not the scope's contents, decides equality (connections go in sets and dicts).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    # --- the handshake --------------------------------------------------------------------------

    @property
    def app(self) -> Any:
        return self.scope.get("app")

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(raw=self.scope.get("headers") or [])
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        if self._query_params is None:
            self._query_params = QueryParams(self.scope.get("query_string", b""))
        return self._query_params

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            cookies: dict[str, str] = {}
            for header in self.headers.getlist("cookie"):
                cookies.update(_requests.parse_cookie_header(header))
            self._cookies = cookies
        return self._cookies

    @property
    def client(self) -> Address | None:
        client = self.scope.get("client")
        if client is None:
            return None
        host, port = client
        return Address(host, port)

    def _host(self) -> str:
        host = self.headers.get("host")
        if host:
            return host
        server = self.scope.get("server")
        if server is not None:
            host, port = server
            if port is None or port == _DEFAULT_PORTS.get(self._scheme()):
                return str(host)
            return f"{host}:{port}"
        return "localhost"

    def _scheme(self) -> str:
        return str(self.scope.get("scheme", "ws"))

    @property
    def url(self) -> URL:
        """The handshake's URL (``ws://host/path?query``)."""
        if self._url is None:
            url = f"{self._scheme()}://{self._host()}{self.scope.get('path', '/')}"
            query = self.scope.get("query_string", b"")
            if query:
                url += "?" + query.decode("latin-1")
            self._url = URL(url)
        return self._url

    @property
    def base_url(self) -> URL:
        root_path = str(self.scope.get("root_path", ""))
        return URL(f"{self._scheme()}://{self._host()}{root_path.rstrip('/')}/")

    @property
    def state(self) -> State:
        """The lifespan state (a shallow copy per connection, as in Starlette)."""
        if self._state is None:
            source = self.scope.get("state")
            self._state = State(source if source else _requests._lifespan_state)
        return self._state

    # --- messages -------------------------------------------------------------------------------

    async def receive(self) -> Message:
        """The next raw ASGI message (``websocket.connect``, ``websocket.receive`` or
        ``websocket.disconnect``), keeping ``client_state`` up to date."""
        if self.client_state == WebSocketState.CONNECTING:
            message = await self._receive()
            kind = message["type"]
            if kind != "websocket.connect":
                raise RuntimeError(
                    f'Expected ASGI message "websocket.connect", but got {kind!r}'
                )
            self.client_state = WebSocketState.CONNECTED
            return message
        if self.client_state == WebSocketState.CONNECTED:
            message = await self._receive()
            kind = message["type"]
            if kind not in ("websocket.receive", "websocket.disconnect"):
                raise RuntimeError(
                    'Expected ASGI message "websocket.receive" or "websocket.disconnect", '
                    f"but got {kind!r}"
                )
            if kind == "websocket.disconnect":
                self.client_state = WebSocketState.DISCONNECTED
            return message
        raise WebSocketDisconnected(
            'Cannot call "receive" once a disconnect message has been received.'
        )

    async def send(self, message: Message) -> None:
        """Send a raw ASGI message, keeping ``application_state`` up to date."""
        kind = message["type"]
        state = self.application_state
        if state == WebSocketState.CONNECTING:
            if kind not in (
                "websocket.accept",
                "websocket.close",
                "websocket.http.response.start",
            ):
                raise RuntimeError(
                    'Expected ASGI message "websocket.accept", "websocket.close" or '
                    f'"websocket.http.response.start", but got {kind!r}'
                )
            if kind == "websocket.close":
                self.application_state = WebSocketState.DISCONNECTED
            elif kind == "websocket.http.response.start":
                self.application_state = WebSocketState.RESPONSE
            else:
                self.application_state = WebSocketState.CONNECTED
            await self._send(message)
        elif state == WebSocketState.CONNECTED:
            if kind not in ("websocket.send", "websocket.close"):
                raise RuntimeError(
                    'Expected ASGI message "websocket.send" or "websocket.close", '
                    f"but got {kind!r}"
                )
            if kind == "websocket.close":
                self.application_state = WebSocketState.DISCONNECTED
            try:
                await self._send(message)
            except OSError:
                # The server reports a connection that went away as an OSError.
                self.application_state = WebSocketState.DISCONNECTED
                raise WebSocketDisconnect(code=1006) from None
        elif state == WebSocketState.RESPONSE:
            if kind != "websocket.http.response.body":
                raise RuntimeError(
                    f'Expected ASGI message "websocket.http.response.body", but got {kind!r}'
                )
            if not message.get("more_body", False):
                self.application_state = WebSocketState.DISCONNECTED
            await self._send(message)
        else:
            raise WebSocketDisconnected(
                'Cannot call "send" once a close message has been sent.'
            )

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Complete the handshake, optionally choosing one of ``scope["subprotocols"]`` and adding
        response headers."""
        if self.client_state == WebSocketState.CONNECTING:
            await self.receive()  # websocket.connect
        await self.send(
            {
                "type": "websocket.accept",
                "subprotocol": subprotocol,
                "headers": list(headers or []),
            }
        )

    def _check_connected(self) -> None:
        if self.application_state != WebSocketState.CONNECTED:
            raise WebSocketDisconnected(
                'WebSocket is not connected. Need to call "accept" first.'
            )

    @staticmethod
    def _raise_on_disconnect(message: Message) -> None:
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))

    async def receive_text(self) -> str:
        """The next text message (``WebSocketDisconnect`` when the client has gone)."""
        self._check_connected()
        message = await self.receive()
        self._raise_on_disconnect(message)
        text = message.get("text")
        if text is None:
            raise RuntimeError("expected a text message, got a binary one")
        return str(text)

    async def receive_bytes(self) -> bytes:
        """The next binary message (``WebSocketDisconnect`` when the client has gone)."""
        self._check_connected()
        message = await self.receive()
        self._raise_on_disconnect(message)
        data = message.get("bytes")
        if data is None:
            raise RuntimeError("expected a binary message, got a text one")
        return bytes(data)

    async def receive_json(self, mode: str = "text") -> Any:
        """The next message decoded as JSON, from a text (``mode="text"``) or binary message."""
        if mode not in ("text", "binary"):
            raise RuntimeError('The "mode" argument should be "text" or "binary".')
        self._check_connected()
        message = await self.receive()
        self._raise_on_disconnect(message)
        if mode == "text":
            text = message.get("text")
            if text is None:
                raise RuntimeError("expected a text message, got a binary one")
        else:
            data = message.get("bytes")
            if data is None:
                raise RuntimeError("expected a binary message, got a text one")
            text = bytes(data).decode("utf-8")
        return json.loads(text)

    async def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            pass

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Binary messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            pass

    async def iter_json(self) -> AsyncIterator[Any]:
        """JSON text messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_json()
        except WebSocketDisconnect:
            pass

    async def send_text(self, data: str) -> None:
        await self.send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        await self.send({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any, mode: str = "text") -> None:
        """Send ``data`` as compact JSON in a text (``mode="text"``) or binary message."""
        if mode not in ("text", "binary"):
            raise RuntimeError('The "mode" argument should be "text" or "binary".')
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if mode == "text":
            await self.send({"type": "websocket.send", "text": text})
        else:
            await self.send({"type": "websocket.send", "bytes": text.encode("utf-8")})

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        """Close the connection; before ``accept()`` this refuses the handshake (403)."""
        await self.send(
            {"type": "websocket.close", "code": code, "reason": reason or ""}
        )

    async def send_denial_response(self, response: Any) -> None:
        """Refuse the handshake with an HTTP response (a ``covetpy.Response``) instead of accepting."""
        if "websocket.http.response" not in self.scope.get("extensions", {}):
            raise RuntimeError(
                "The server doesn't support the Websocket Denial Response extension."
            )
        await self.send(
            {
                "type": "websocket.http.response.start",
                "status": response.status_code,
                "headers": list(response.raw_headers),
            }
        )
        await self.send(
            {
                "type": "websocket.http.response.body",
                "body": bytes(getattr(response, "body", b"") or b""),
            }
        )

    def __repr__(self) -> str:
        return f"<WebSocket {self.scope.get('path', '/')}>"


class WebSocketClose:
    """An ASGI app that closes the connection (refuses the handshake when not accepted)."""

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = code
        self.reason = reason or ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "websocket.close", "code": self.code, "reason": self.reason}
        )
