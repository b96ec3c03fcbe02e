"""App for tests/test_config_sources.py: reports the class of its event loop and the CFGTEST_*
environment variables, and logs through its own logger on /log."""

from __future__ import annotations

import asyncio
import logging
import os

from asgi_helpers import Receive, Scope, Send, run_lifespan, send_json

logger = logging.getLogger("config_app")


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    if scope["path"] == "/log":
        logger.warning("config-app-log-line")
    loop = asyncio.get_running_loop()
    await send_json(
        send,
        {
            "loop_module": type(loop).__module__,
            "env": {k: v for k, v in os.environ.items() if k.startswith("CFGTEST_")},
        },
    )
