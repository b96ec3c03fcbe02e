"""App that raises before or after starting the response."""

from __future__ import annotations

from asgi_helpers import Receive, Scope, Send, run_lifespan, send_response


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    path = scope["path"]
    if path == "/before":
        raise RuntimeError("covet-test-error-before-start")
    if path == "/after":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"partial", "more_body": True}
        )
        raise RuntimeError("covet-test-error-after-start")
    if path == "/after-content-length":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", b"100"),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"partial", "more_body": True}
        )
        raise RuntimeError("covet-test-error-after-start-cl")
    await send_response(send, b"ok")
