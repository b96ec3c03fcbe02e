"""An app that logs through uvicorn's loggers, as many FastAPI apps do."""

from __future__ import annotations

import logging

from asgi_helpers import Receive, Scope, Send, run_lifespan, send_response

logging.getLogger("uvicorn.error").info("app-import-info")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    logging.getLogger("uvicorn.error").info("request-info %s", scope["path"])
    logging.getLogger("uvicorn.error").warning("request-warning")
    logging.getLogger("uvicorn.access").info("custom-access")
    await send_response(send, b"ok")
