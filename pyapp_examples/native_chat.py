"""A chat room with CovetPy's native API: every message is broadcast to everyone connected.

    covetpy serve native_chat:app --app-dir pyapp_examples

Then open http://127.0.0.1:8000/ in two browser windows (or connect to
ws://127.0.0.1:8000/ws?name=you with any WebSocket client).
"""

from __future__ import annotations

from typing import Annotated

from covetpy import CovetPy, HTMLResponse, Query, WebSocket, WebSocketDisconnect

app = CovetPy(title="Chat")


class Room:
    """The connected clients, and a broadcast that drops the ones that have gone."""

    def __init__(self) -> None:
        self.members: dict[WebSocket, str] = {}

    async def join(self, websocket: WebSocket, name: str) -> None:
        await websocket.accept()
        self.members[websocket] = name
        await self.broadcast({"event": "join", "name": name, "online": self.online()})

    async def leave(self, websocket: WebSocket) -> None:
        name = self.members.pop(websocket, None)
        if name is not None:
            await self.broadcast(
                {"event": "leave", "name": name, "online": self.online()}
            )

    def online(self) -> list[str]:
        return sorted(self.members.values())

    async def broadcast(self, message: dict[str, object]) -> None:
        gone = []
        for member in list(self.members):
            try:
                await member.send_json(message)
            except WebSocketDisconnect:
                gone.append(member)
        for member in gone:
            self.members.pop(member, None)


room = Room()


@app.websocket("/ws")
async def chat(
    websocket: WebSocket,
    name: Annotated[str, Query(min_length=1, max_length=32)] = "anonymous",
) -> None:
    await room.join(websocket, name)
    try:
        async for text in websocket.iter_text():
            text = text.strip()
            if text:
                await room.broadcast(
                    {"event": "message", "name": name, "text": text[:1000]}
                )
    finally:
        await room.leave(websocket)


@app.get("/online")
async def online() -> dict[str, list[str]]:
    return {"online": room.online()}


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>CovetPy chat</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
  #log { border: 1px solid #ccc; height: 20rem; overflow-y: auto; padding: .5rem; }
  #log p { margin: .2rem 0; }
  .event { color: #777; font-style: italic; }
  form { display: flex; gap: .5rem; margin-top: .5rem; }
  #text { flex: 1; }
</style>
</head>
<body>
<h1>CovetPy chat</h1>
<p>Online: <span id="online">-</span></p>
<div id="log"></div>
<form id="form">
  <input id="text" autocomplete="off" placeholder="Say something" disabled>
  <button disabled>Send</button>
</form>
<script>
const log = document.getElementById("log");
const form = document.getElementById("form");
const input = document.getElementById("text");
const name = prompt("Your name?", "guest") || "guest";

function show(text, cls) {
  const p = document.createElement("p");
  p.textContent = text;
  if (cls) p.className = cls;
  log.appendChild(p);
  log.scrollTop = log.scrollHeight;
}

const scheme = location.protocol === "https:" ? "wss" : "ws";
const ws = new WebSocket(`${scheme}://${location.host}/ws?name=${encodeURIComponent(name)}`);
ws.onopen = () => {
  for (const el of form.elements) el.disabled = false;
  input.focus();
};
ws.onmessage = (event) => {
  const msg = JSON.parse(event.data);
  if (msg.event === "message") {
    show(`${msg.name}: ${msg.text}`);
  } else {
    show(`${msg.name} ${msg.event === "join" ? "joined" : "left"}`, "event");
    document.getElementById("online").textContent = msg.online.join(", ");
  }
};
ws.onclose = (event) => {
  show(`disconnected (${event.code})`, "event");
  for (const el of form.elements) el.disabled = true;
};
form.onsubmit = (event) => {
  event.preventDefault();
  if (input.value.trim()) ws.send(input.value);
  input.value = "";
};
</script>
</body>
</html>
"""


@app.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index() -> str:
    return PAGE
