"""Scope-echo app: returns the request scope as JSON (bytes decoded as latin-1)."""

from __future__ import annotations

import asyncio
from typing import Any

from asgi_helpers import (
    Receive,
    Scope,
    Send,
    query_params,
    read_body,
    run_lifespan,
    send_json,
)


def _address(value: Any) -> Any:
    if value is None:
        return None
    return {
        "container": type(value).__name__,
        "items": list(value),
        "item_types": [type(item).__name__ for item in value],
    }


def describe_scope(scope: Scope) -> dict[str, Any]:
    headers = list(scope.get("headers", []))
    return {
        "type": scope.get("type"),
        "asgi": scope.get("asgi"),
        "http_version": scope.get("http_version"),
        "method": scope.get("method"),
        "scheme": scope.get("scheme"),
        "path": scope.get("path"),
        "raw_path": (
            scope["raw_path"].decode("latin-1")
            if isinstance(scope.get("raw_path"), bytes)
            else scope.get("raw_path")
        ),
        "query_string": (
            scope["query_string"].decode("latin-1")
            if isinstance(scope.get("query_string"), bytes)
            else scope.get("query_string")
        ),
        "root_path": scope.get("root_path"),
        "headers": [[n.decode("latin-1"), v.decode("latin-1")] for n, v in headers],
        "client": _address(scope.get("client")),
        "server": _address(scope.get("server")),
        "has_state": "state" in scope,
        "state_type": type(scope.get("state")).__name__,
        "types": {
            "path": type(scope.get("path")).__name__,
            "raw_path": type(scope.get("raw_path")).__name__,
            "query_string": type(scope.get("query_string")).__name__,
            "headers": type(scope.get("headers")).__name__,
            "header_items": sorted(
                {f"{type(n).__name__},{type(v).__name__}" for n, v in headers}
            ),
        },
    }


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    params = query_params(scope)
    body = await read_body(receive)
    if "sleep" in params:
        await asyncio.sleep(float(params["sleep"]))
    data = describe_scope(scope)
    data["body"] = body.decode("latin-1")
    data["body_length"] = len(body)
    await send_json(
        send,
        data,
        headers=[(b"set-cookie", b"first=1"), (b"set-cookie", b"second=2")],
    )
