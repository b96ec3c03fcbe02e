"""App factory and a dotted attribute path target."""

from __future__ import annotations

from types import SimpleNamespace

from asgi_helpers import ASGIApp, Receive, Scope, Send, run_lifespan, send_response


def create_app() -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await run_lifespan(scope, receive, send)
            return
        await send_response(send, b"made by factory")

    return app


async def plain_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    await send_response(send, b"plain app via holder")


holder = SimpleNamespace(app=plain_app)
