"""The chat room of chat_asgi.py written with FastAPI's WebSocket routes.

Run it with ``VIRTUAL_ENV=.venv-examples covetpy serve fastapi_chat:app --app-dir
pyapp_examples`` and open http://127.0.0.1:8000/ in two browser tabs.

- ``GET /``: the same HTML page as chat_asgi.py.
- ``ws://HOST/ws/{room}?name=NAME``: every text message goes to everyone in the room.
- ``GET /rooms``: who is in which room.
"""

from __future__ import annotations

from chat_asgi import PAGE
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

app = FastAPI(title="covetpy chat")


class Rooms:
    """The open WebSockets of every room."""

    def __init__(self) -> None:
        self.rooms: dict[str, dict[str, WebSocket]] = {}

    def join(self, room: str, name: str, websocket: WebSocket) -> None:
        self.rooms.setdefault(room, {})[name] = websocket

    def leave(self, room: str, name: str) -> None:
        members = self.rooms.get(room, {})
        members.pop(name, None)
        if not members:
            self.rooms.pop(room, None)

    async def broadcast(self, room: str, text: str) -> None:
        for websocket in list(self.rooms.get(room, {}).values()):
            try:
                await websocket.send_text(text)
            except (OSError, RuntimeError):
                pass  # that member is leaving; its own handler cleans up


rooms = Rooms()


@app.get("/", response_class=HTMLResponse)
async def index() -> HTMLResponse:
    return HTMLResponse(PAGE)


@app.get("/rooms")
async def list_rooms() -> dict[str, list[str]]:
    return {room: sorted(members) for room, members in rooms.rooms.items()}


@app.websocket("/ws/{room}")
async def chat(websocket: WebSocket, room: str, name: str = "anonymous") -> None:
    chosen = "chat" if "chat" in websocket.scope.get("subprotocols", []) else None
    await websocket.accept(subprotocol=chosen)
    rooms.join(room, name, websocket)
    await rooms.broadcast(room, f"{name} joined {room}")
    try:
        while True:
            text = await websocket.receive_text()
            await rooms.broadcast(room, f"{name}: {text}")
    except WebSocketDisconnect:
        pass
    finally:
        rooms.leave(room, name)
    await rooms.broadcast(room, f"{name} left")
