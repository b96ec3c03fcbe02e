"""Raw ASGI WebSocket app for the WebSocket tests and the Autobahn run; no framework.

WebSocket routes:

/echo (or any path not below)  accepts, echoes every text/bytes message back
                    as it came. Negotiates a subprotocol: the first of the
                    client's offers in ("superchat", "chat"). Text commands:
                    "close:CODE:REASON" makes the server close with CODE/REASON.
/scope              accepts with header x-ws-app: 1, sends the scope as JSON, echoes
/deny               denial response: 418, header x-denied: yes, body in two chunks
/close-before       websocket.close before accepting (-> 403)
/never-accept       returns without accepting (-> 403)
/raise-before       raises before accepting (-> 500)
/raise-after        accepts, sends "hi", raises (-> close 1011)
/return-after       accepts, sends "bye", returns (-> close 1000)
/record             accepts, waits for the disconnect, stores its code and reason,
                    then tries one more send and stores what it raised
/flood?size=N&max=M accepts, sends M binary messages of N bytes as fast as send()
                    returns, counting completed sends in the state

HTTP routes:

/state              the recorded state as JSON
anything else       {"type": "http", "upgrade": <Upgrade header or null>} (what a
                    handshake looks like when served with --ws none)
"""

from __future__ import annotations

import json
from typing import Any

from asgi_helpers import Receive, Scope, Send, run_lifespan, send_json

PREFERRED_SUBPROTOCOLS = ("superchat", "chat")

# Per-process state (the tests run one worker), read back over GET /state.
STATE: dict[str, Any] = {"flood_sent": 0, "flood_done": False}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "lifespan":
        await run_lifespan(scope, receive, send)
    elif kind == "http":
        await http(scope, receive, send)
    elif kind == "websocket":
        await websocket(scope, receive, send)
    else:
        raise RuntimeError(f"unknown scope type {kind!r}")


async def http(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["path"] == "/state":
        await send_json(send, STATE)
        return
    upgrade = None
    for name, value in scope["headers"]:
        if name == b"upgrade":
            upgrade = value.decode("latin-1")
    await send_json(send, {"type": "http", "upgrade": upgrade})


def query(scope: Scope) -> dict[str, str]:
    pairs = scope.get("query_string", b"").decode("latin-1").split("&")
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


async def websocket(scope: Scope, receive: Receive, send: Send) -> None:
    path = scope["path"]
    connect = await receive()
    assert connect["type"] == "websocket.connect", connect
    if path == "/deny":
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 418,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"x-denied", b"yes"),
                ],
            }
        )
        await send(
            {"type": "websocket.http.response.body", "body": b"no ", "more_body": True}
        )
        await send({"type": "websocket.http.response.body", "body": b"websockets"})
        return
    if path == "/close-before":
        await send({"type": "websocket.close", "code": 1000})
        return
    if path == "/never-accept":
        return
    if path == "/raise-before":
        raise RuntimeError("raised before accept (expected by the test)")

    if path == "/record":
        STATE.pop("disconnect", None)
        STATE.pop("send_after_close", None)
    offered = list(scope.get("subprotocols", []))
    chosen = next((p for p in offered if p in PREFERRED_SUBPROTOCOLS), None)
    accept: dict[str, Any] = {"type": "websocket.accept", "subprotocol": chosen}
    if path == "/scope":
        accept["headers"] = [(b"x-ws-app", b"1")]
    await send(accept)

    if path == "/scope":
        await send({"type": "websocket.send", "text": json.dumps(describe(scope))})
    elif path == "/raise-after":
        await send({"type": "websocket.send", "text": "hi"})
        raise RuntimeError("raised after accept (expected by the test)")
    elif path == "/return-after":
        await send({"type": "websocket.send", "text": "bye"})
        return
    elif path == "/record":
        await record(receive, send)
        return
    elif path == "/flood":
        await flood(scope, send)
        return
    await echo(receive, send)


def describe(scope: Scope) -> dict[str, Any]:
    return {
        "type": scope["type"],
        "asgi": scope.get("asgi"),
        "http_version": scope.get("http_version"),
        "scheme": scope.get("scheme"),
        "path": scope["path"],
        "raw_path": scope.get("raw_path", b"").decode("latin-1"),
        "query_string": scope.get("query_string", b"").decode("latin-1"),
        "root_path": scope.get("root_path"),
        "subprotocols": list(scope.get("subprotocols", [])),
        "headers": [
            [k.decode("latin-1"), v.decode("latin-1")] for k, v in scope["headers"]
        ],
        "client": list(scope["client"]) if scope.get("client") else None,
        "server": list(scope["server"]) if scope.get("server") else None,
        "extensions": sorted(scope.get("extensions", {}) or {}),
    }


async def echo(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is not None:
            if text.startswith("close:"):
                _, code, reason = text.split(":", 2)
                await send(
                    {"type": "websocket.close", "code": int(code), "reason": reason}
                )
                return
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


async def record(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            break
    STATE["disconnect"] = {"code": message.get("code"), "reason": message.get("reason")}
    try:
        await send({"type": "websocket.send", "text": "too late"})
    except BaseException as exc:  # reported to the test, then re-raised
        STATE["send_after_close"] = {
            "raised": type(exc).__name__,
            "is_oserror": isinstance(exc, OSError),
        }
        raise
    STATE["send_after_close"] = {"raised": None, "is_oserror": False}


async def flood(scope: Scope, send: Send) -> None:
    params = query(scope)
    size = int(params.get("size", "16384"))
    limit = int(params.get("max", "20000"))
    payload = b"x" * size
    STATE["flood_sent"] = 0
    STATE["flood_done"] = False
    try:
        for _ in range(limit):
            await send({"type": "websocket.send", "bytes": payload})
            STATE["flood_sent"] += 1
    finally:
        STATE["flood_done"] = True
