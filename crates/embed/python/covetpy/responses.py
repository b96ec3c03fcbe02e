"""Response classes. Each renders to ``status_code``, ``raw_headers`` and ``body`` and is also an ASGI app."""

from __future__ import annotations

import asyncio
import json
from collections.abc import (
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
)
from datetime import UTC, datetime
from email.utils import format_datetime
from http.cookies import SimpleCookie
from typing import Any, ClassVar, Literal, cast
from urllib.parse import quote

from covetpy.datastructures import MutableHeaders

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _no_body_status(status_code: int) -> bool:
    return status_code < 200 or status_code in (204, 304)


class Response:
    """A complete response with a ``bytes`` body."""

    media_type: ClassVar[str | None] = None
    charset: ClassVar[str] = "utf-8"
    #: When true, the server always runs the response as an ASGI app instead of reading ``body``.
    is_asgi_only: ClassVar[bool] = False

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: Callable[[], Any] | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type  # type: ignore[misc]
        self.background = background
        self.body = self.render(content)
        self.init_headers(headers)

    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        if isinstance(content, (bytes, bytearray, memoryview)):
            return bytes(content)
        return str(content).encode(self.charset)

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        raw: list[tuple[bytes, bytes]] = []
        if headers:
            raw = [
                (key.lower().encode("latin-1"), str(value).encode("latin-1"))
                for key, value in headers.items()
            ]
        names = {name for name, _ in raw}
        body: bytes | None = getattr(self, "body", None)
        if (
            body is not None
            and b"content-length" not in names
            and not _no_body_status(self.status_code)
        ):
            raw.append((b"content-length", str(len(body)).encode("latin-1")))
        content_type = self.media_type
        if content_type is not None and b"content-type" not in names:
            if (
                content_type.startswith("text/")
                and "charset=" not in content_type.lower()
            ):
                content_type += "; charset=" + self.charset
            raw.append((b"content-type", content_type.encode("latin-1")))
        self.raw_headers: list[tuple[bytes, bytes]] = raw

    @property
    def headers(self) -> MutableHeaders:
        return MutableHeaders(self.raw_headers)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime | str | int | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        partitioned: bool = False,
    ) -> None:
        cookie: SimpleCookie = SimpleCookie()
        cookie[key] = value
        morsel = cookie[key]
        if max_age is not None:
            morsel["max-age"] = max_age
        if expires is not None:
            if isinstance(expires, datetime):
                morsel["expires"] = format_datetime(
                    expires.astimezone(UTC), usegmt=True
                )
            else:
                morsel["expires"] = expires
        if path is not None:
            morsel["path"] = path
        if domain is not None:
            morsel["domain"] = domain
        if secure:
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if samesite is not None:
            if samesite.lower() not in ("strict", "lax", "none"):
                raise ValueError("samesite must be 'strict', 'lax' or 'none'")
            morsel["samesite"] = samesite
        header = cookie.output(header="").strip()
        if partitioned:
            header += "; Partitioned"
        self.raw_headers.append((b"set-cookie", header.encode("latin-1")))

    def delete_cookie(
        self,
        key: str,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        self.set_cookie(
            key,
            max_age=0,
            expires=0,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    async def _run_background(self) -> None:
        if self.background is not None:
            result = self.background()
            if isinstance(result, Awaitable):
                await result

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": self.raw_headers,
            }
        )
        body = b"" if scope.get("method") == "HEAD" else self.body
        await send({"type": "http.response.body", "body": body, "more_body": False})
        await self._run_background()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class HTMLResponse(Response):
    media_type = "text/html"


class PlainTextResponse(Response):
    media_type = "text/plain"


class JSONResponse(Response):
    """JSON-encodes ``content`` compactly (UTF-8, no NaN/Infinity), as Starlette does."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content,
            ensure_ascii=False,
            allow_nan=False,
            indent=None,
            separators=(",", ":"),
        ).encode("utf-8")


class RedirectResponse(Response):
    def __init__(
        self,
        url: Any,
        status_code: int = 307,
        headers: Mapping[str, str] | None = None,
        background: Callable[[], Any] | None = None,
    ) -> None:
        super().__init__(
            content=b"", status_code=status_code, headers=headers, background=background
        )
        self.headers["location"] = quote(str(url), safe=":/%#?=@[]!$&'()*+,;")


class StreamingResponse(Response):
    """Streams ``content`` (a sync or async iterable of ``str``/``bytes``) chunk by chunk."""

    is_asgi_only = True

    def __init__(
        self,
        content: Iterable[str | bytes] | AsyncIterable[str | bytes],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: Callable[[], Any] | None = None,
    ) -> None:
        self.status_code = status_code
        if media_type is not None:
            self.media_type = media_type  # type: ignore[misc]
        self.background = background
        self.body_iterator = content
        self.init_headers(headers)

    def _encode(self, chunk: str | bytes) -> bytes:
        return chunk.encode(self.charset) if isinstance(chunk, str) else bytes(chunk)

    async def _chunks(self) -> AsyncIterable[bytes]:
        content = self.body_iterator
        if isinstance(content, AsyncIterable):
            async for chunk in content:
                yield self._encode(chunk)
            return
        if isinstance(content, (list, tuple, str, bytes)):
            items = [content] if isinstance(content, (str, bytes)) else content
            for chunk in items:
                yield self._encode(chunk)
            return
        # A sync iterator may block (reading a file, a slow generator): step it in a worker thread.
        iterator: Iterator[str | bytes] = iter(content)
        done = object()

        def step() -> str | bytes | object:
            return next(iterator, done)

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        while True:
            item = step() if loop is None else await loop.run_in_executor(None, step)
            if item is done:
                return
            yield self._encode(cast("str | bytes", item))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": self.raw_headers,
            }
        )
        if scope.get("method") != "HEAD":
            async for chunk in self._chunks():
                await send(
                    {"type": "http.response.body", "body": chunk, "more_body": True}
                )
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        await self._run_background()
