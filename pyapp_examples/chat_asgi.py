"""A chat room over WebSockets as a raw ASGI application, with no dependencies.

Run it with ``covetpy serve chat_asgi:app --app-dir pyapp_examples`` and open
http://127.0.0.1:8000/ in two browser tabs.

- ``GET /``: a small HTML page that joins the room ``lobby`` (``?room=NAME`` for another).
- ``ws://HOST/ws/ROOM``: a chat room; every text message is sent to everyone in the room,
  prefixed by the sender's number. Offering the subprotocol ``chat`` selects it.
- ``ws://HOST/echo``: echoes every message back as it came (text or bytes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from itertools import count
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PAGE = b"""<!doctype html>
<meta charset="utf-8"><title>covetpy chat</title>
<ul id="log"></ul>
<form id="f"><input id="msg" autocomplete="off" autofocus><button>send</button></form>
<script>
const room = new URLSearchParams(location.search).get("room") || "lobby";
const ws = new WebSocket(`ws://${location.host}/ws/${encodeURIComponent(room)}`, ["chat"]);
const log = (text) => {
  const li = document.createElement("li");
  li.textContent = text;
  document.getElementById("log").append(li);
};
ws.onmessage = (event) => log(event.data);
ws.onclose = (event) => log(`closed: ${event.code} ${event.reason}`);
document.getElementById("f").onsubmit = (event) => {
  event.preventDefault();
  const input = document.getElementById("msg");
  ws.send(input.value);
  input.value = "";
};
</script>
"""

# room name -> the send callables of its members
ROOMS: dict[str, dict[int, Send]] = {}
NUMBERS = count(1)


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def http(scope: Scope, send: Send) -> None:
    if scope["path"] == "/":
        status, body, kind = 200, PAGE, b"text/html; charset=utf-8"
    else:
        status, body, kind = 404, b"Not Found", b"text/plain; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def broadcast(room: str, text: str) -> None:
    members = list(ROOMS.get(room, {}).values())
    results = await asyncio.gather(
        *(member({"type": "websocket.send", "text": text}) for member in members),
        return_exceptions=True,
    )
    # A member whose socket just closed raises OSError; it leaves the room on its own.
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, OSError):
            raise result


async def chat(scope: Scope, receive: Receive, send: Send, room: str) -> None:
    subprotocol = "chat" if "chat" in scope.get("subprotocols", []) else None
    await send({"type": "websocket.accept", "subprotocol": subprotocol})
    number = next(NUMBERS)
    members = ROOMS.setdefault(room, {})
    members[number] = send
    await broadcast(room, f"#{number} joined {room} ({len(members)} here)")
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                break
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            await broadcast(room, f"#{number}: {text}")
    finally:
        members.pop(number, None)
        if not members:
            ROOMS.pop(room, None)
    await broadcast(room, f"#{number} left")


async def echo(receive: Receive, send: Send) -> None:
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message.get("bytes") or b""})


async def websocket(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()  # websocket.connect
    path: str = scope["path"]
    if path == "/echo":
        await echo(receive, send)
    elif path.startswith("/ws/") and len(path) > len("/ws/"):
        await chat(scope, receive, send, path[len("/ws/") :])
    else:
        # Closing before accepting refuses the handshake (403).
        await send({"type": "websocket.close", "code": 1008})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind == "lifespan":
        await lifespan(receive, send)
    elif kind == "http":
        await http(scope, send)
    elif kind == "websocket":
        await websocket(scope, receive, send)
