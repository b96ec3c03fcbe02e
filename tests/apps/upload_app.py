"""Upload app: consumes the request body chunk by chunk via receive().

It reports the byte count, number and maximum size of body chunks, and the
process RSS (VmRSS) before, during (maximum) and after the upload.
"""

from __future__ import annotations

import hashlib
from typing import Any

from asgi_helpers import (
    Receive,
    Scope,
    Send,
    query_params,
    rss_kb,
    run_lifespan,
    send_json,
)

RSS_SAMPLE_EVERY = 4 * 1024 * 1024


async def upload(scope: Scope, receive: Receive, send: Send) -> None:
    want_hash = query_params(scope).get("hash") == "1"
    digest = hashlib.sha256()
    rss_before = rss_kb()
    rss_max = rss_before
    total = 0
    chunks = 0
    max_chunk = 0
    first_chunk: int | None = None
    since_sample = 0
    message_types: list[str] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            message_types.append(message["type"])
            break
        body: bytes = message.get("body", b"")
        chunks += 1
        if first_chunk is None:
            first_chunk = len(body)
        total += len(body)
        max_chunk = max(max_chunk, len(body))
        since_sample += len(body)
        if want_hash:
            digest.update(body)
        if since_sample >= RSS_SAMPLE_EVERY:
            since_sample = 0
            rss_max = max(rss_max, rss_kb())
        if not message.get("more_body", False):
            break
    rss_after = rss_kb()
    result: dict[str, Any] = {
        "bytes": total,
        "chunks": chunks,
        "max_chunk": max_chunk,
        "first_chunk": first_chunk,
        "rss_before_kb": rss_before,
        "rss_max_kb": max(rss_max, rss_after),
        "rss_after_kb": rss_after,
        "other_messages": message_types,
        "method": scope["method"],
        "headers": [
            [n.decode("latin-1"), v.decode("latin-1")] for n, v in scope["headers"]
        ],
    }
    if want_hash:
        result["sha256"] = digest.hexdigest()
    await send_json(send, result)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await run_lifespan(scope, receive, send)
        return
    if scope["path"] == "/rss":
        await send_json(send, {"rss_kb": rss_kb()})
    else:
        await upload(scope, receive, send)
