"""The ``Request`` object handed to handlers that declare a ``Request`` parameter."""

from __future__ import annotations

import contextlib
import json
from http.cookies import SimpleCookie
from typing import Any

from covetpy.datastructures import URL, Address, Headers, QueryParams, State

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

# What the app's lifespan yielded, for servers whose native request carries no ``state``.
_lifespan_state: dict[str, Any] = {}


def set_lifespan_state(state: Any) -> None:
    global _lifespan_state
    _lifespan_state = state if isinstance(state, dict) else dict(state)


def parse_cookie_header(header: str) -> dict[str, str]:
    """Parse a ``Cookie`` header leniently (bad pairs are skipped, as browsers send what they like)."""
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        if "=" in chunk:
            key, value = chunk.split("=", 1)
        else:
            key, value = "", chunk
        key, value = key.strip(), value.strip()
        if key or value:
            if len(value) >= 2 and value[0] == value[-1] == '"':
                # keep the raw value if it does not unquote
                with contextlib.suppress(Exception):
                    value = SimpleCookie(f"x={value}")["x"].value
            cookies[key] = value
    return cookies


class Request:
    """One HTTP request: method, URL, headers, query parameters, cookies, client, body."""

    def __init__(
        self,
        *,
        method: str = "GET",
        scheme: str = "http",
        http_version: str = "1.1",
        path: str = "/",
        root_path: str = "",
        query_string: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None,
        client: tuple[str, int] | None = None,
        server: tuple[str, int | None] | None = None,
        path_params: dict[str, Any] | None = None,
        body: bytes = b"",
        state: Any = None,
    ) -> None:
        self.method = method
        self.scheme = scheme
        self.http_version = http_version
        self.path = path
        self.root_path = root_path
        self.query_string = query_string
        self.raw_headers: list[tuple[bytes, bytes]] = (
            headers if headers is not None else []
        )
        self._client = client
        self._server = server
        self.path_params: dict[str, Any] = (
            path_params if path_params is not None else {}
        )
        self._body = body
        self._state_source = state
        self._headers: Headers | None = None
        self._query_params: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._url: URL | None = None
        self._state: State | None = None

    @classmethod
    def _from_native(cls, native: Any) -> Request:
        """Build from the server's native request object (see CONTRACT.md)."""
        return cls(
            method=native.method,
            scheme=native.scheme,
            http_version=getattr(native, "http_version", "1.1"),
            path=native.path,
            root_path=getattr(native, "root_path", ""),
            query_string=native.query_string,
            headers=list(native.headers),
            client=native.client,
            server=getattr(native, "server", None),
            path_params=dict(native.path_params),
            body=native.body,
            state=getattr(native, "state", None),
        )

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(raw=self.raw_headers)
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        if self._query_params is None:
            self._query_params = QueryParams(self.query_string)
        return self._query_params

    @property
    def cookies(self) -> dict[str, str]:
        if self._cookies is None:
            cookies: dict[str, str] = {}
            for header in self.headers.getlist("cookie"):
                cookies.update(parse_cookie_header(header))
            self._cookies = cookies
        return self._cookies

    @property
    def client(self) -> Address | None:
        if self._client is None:
            return None
        host, port = self._client
        return Address(host, port)

    @property
    def server(self) -> Address | None:
        if self._server is None:
            return None
        host, port = self._server
        return Address(host, port)

    def _host(self) -> str:
        host = self.headers.get("host")
        if host:
            return host
        if self._server is not None:
            host, port = self._server
            if port is None or port == _DEFAULT_PORTS.get(self.scheme):
                return host
            return f"{host}:{port}"
        return "localhost"

    @property
    def url(self) -> URL:
        if self._url is None:
            url = f"{self.scheme}://{self._host()}{self.root_path}{self.path}"
            if self.query_string:
                url += "?" + self.query_string.decode("latin-1")
            self._url = URL(url)
        return self._url

    @property
    def base_url(self) -> URL:
        return URL(f"{self.scheme}://{self._host()}{self.root_path.rstrip('/')}/")

    @property
    def state(self) -> State:
        if self._state is None:
            source = self._state_source
            if isinstance(source, State):
                self._state = source
            else:
                # Each request gets a shallow copy of the lifespan state, as in Starlette.
                self._state = State(source if source is not None else _lifespan_state)
        return self._state

    async def body(self) -> bytes:
        return self._body

    async def json(self) -> Any:
        return json.loads(self._body)

    def __getitem__(self, key: str) -> Any:
        # A little of Starlette's scope-as-mapping behaviour, for code that reads request["path"].
        scope = {
            "type": "http",
            "method": self.method,
            "scheme": self.scheme,
            "http_version": self.http_version,
            "path": self.path,
            "root_path": self.root_path,
            "query_string": self.query_string,
            "headers": self.raw_headers,
            "client": self._client,
            "server": self._server,
            "path_params": self.path_params,
        }
        return scope[key]

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"
