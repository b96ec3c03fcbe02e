"""App for the hostile-input tests.

/early starts a streaming response before it reads the request body, then
reads the body and finishes the response whatever happened (as an app that
treats a disconnect as the end of the body would). Any other path reads the
whole body and answers 200 with what it got, even after a disconnect, so a
refusal can only come from the server.
"""

from __future__ import annotations

from asgi_helpers import Receive, Scope, Send, run_lifespan, send_json


async def read_all(receive: Receive) -> tuple[bytes, list[str]]:
    parts: list[bytes] = []
    other: list[str] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            other.append(message["type"])
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts), other


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    if scope["path"] == "/early":
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"started\n", "more_body": True}
        )
        body, _ = await read_all(receive)
        await send({"type": "http.response.body", "body": b"got %d\n" % len(body)})
        return
    body, other = await read_all(receive)
    await send_json(
        send,
        {
            "method": scope["method"],
            "path": scope["path"],
            "raw_path": scope["raw_path"].decode("latin-1"),
            "body": body.decode("latin-1"),
            "other": other,
        },
    )
