"""A tiny native CovetPy app for the TLS tests: reports how it sees the request URL."""

from __future__ import annotations

from typing import Any

from covetpy import CovetPy, Request

app = CovetPy(title="TLS native test app")


@app.get("/url")
def url(request: Request) -> dict[str, Any]:
    return {
        "url": str(request.url),
        "scheme": request.url.scheme,
        "path": request.url.path,
        "query": request.url.query,
    }
