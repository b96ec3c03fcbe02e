"""App that sends invalid ASGI messages."""

from __future__ import annotations

from asgi_helpers import Receive, Scope, Send, run_lifespan, send_response


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    path = scope["path"]
    if path == "/wrong-type":
        await send({"type": "http.response.bogus", "status": 200, "headers": []})
    elif path == "/body-before-start":
        await send(
            {"type": "http.response.body", "body": b"too early", "more_body": False}
        )
    elif path == "/missing-status":
        await send({"type": "http.response.start", "headers": []})
        await send({"type": "http.response.body", "body": b"x", "more_body": False})
    elif path == "/str-body":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send(
            {"type": "http.response.body", "body": "not bytes", "more_body": False}
        )
    elif path == "/no-response":
        return
    elif path == "/incomplete":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        return
    elif path == "/bad-header-value":
        headers = [(b"x-injected", b"a\r\nx-evil: 1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"x", "more_body": False})
    elif path == "/send-after-complete":
        await send_response(send, b"done")
        await send({"type": "http.response.body", "body": b"extra", "more_body": False})
    else:
        await send_response(send, b"ok")
