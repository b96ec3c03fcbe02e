"""Responses for HEAD, 204 and 304 handling.

The app always sends a body for "/" and "/streamed" (also for HEAD, like many
frameworks do); the server must not put it on the wire for HEAD requests.
"""

from __future__ import annotations

from asgi_helpers import Receive, Scope, Send, run_lifespan, send_response


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    path = scope["path"]
    if path == "/":
        await send_response(send, b"hello world")
    elif path == "/streamed":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send(
            {"type": "http.response.body", "body": b"streamed ", "more_body": True}
        )
        await send({"type": "http.response.body", "body": b"body", "more_body": False})
    elif path == "/204":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif path == "/304":
        await send(
            {
                "type": "http.response.start",
                "status": 304,
                "headers": [(b"etag", b'"v1"')],
            }
        )
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    else:
        await send_response(send, b"not found", status=404)
