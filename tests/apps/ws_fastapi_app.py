"""FastAPI WebSocket routes, unchanged from how they run on uvicorn."""

from __future__ import annotations

from fastapi import FastAPI, WebSocket, WebSocketDisconnect, WebSocketException, status

app = FastAPI()

# Disconnect codes the /ws/{room} endpoint saw, read back over GET /disconnects.
DISCONNECTS: list[int] = []


@app.get("/disconnects")
async def disconnects() -> list[int]:
    return DISCONNECTS


@app.websocket("/ws/{room}")
async def room(websocket: WebSocket, room: str, token: str | None = None) -> None:
    await websocket.accept(
        subprotocol=websocket.scope["subprotocols"][0]
        if websocket.scope["subprotocols"]
        else None
    )
    await websocket.send_json({"room": room, "token": token})
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(f"{room}: {text}")
    except WebSocketDisconnect as exc:
        DISCONNECTS.append(exc.code)


@app.websocket("/bytes")
async def echo_bytes(websocket: WebSocket) -> None:
    await websocket.accept()
    async for data in websocket.iter_bytes():
        await websocket.send_bytes(data[::-1])


@app.websocket("/json")
async def echo_json(websocket: WebSocket) -> None:
    await websocket.accept()
    data = await websocket.receive_json()
    await websocket.send_json({"got": data})
    await websocket.close(code=4000, reason="done")


@app.websocket("/guarded")
async def guarded(websocket: WebSocket) -> None:
    if websocket.headers.get("authorization") != "Bearer ok":
        raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION)
    await websocket.accept()
    await websocket.send_text("welcome")
    await websocket.close()
