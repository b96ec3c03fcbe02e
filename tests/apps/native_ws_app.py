"""A CovetPy native app with WebSocket routes (tests/test_native_websocket.py)."""

from __future__ import annotations

import enum
import uuid
from typing import Annotated, Any

from covetpy import (
    APIRouter,
    CovetPy,
    Header,
    Query,
    WebSocket,
    WebSocketDisconnect,
    WebSocketException,
    status,
)

app = CovetPy(title="Native WebSocket test app")

#: What /iter saw, for the test that checks the loop ended when the client left.
iter_log: dict[str, Any] = {}


class Color(str, enum.Enum):
    red = "red"
    green = "green"


@app.get("/")
def root() -> dict[str, str]:
    return {"hello": "http"}


@app.websocket("/echo")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await websocket.send_text(message["text"])
        else:
            await websocket.send_bytes(message["bytes"])


@app.websocket("/json")
async def json_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for data in websocket.iter_json():
        await websocket.send_json({"got": data})


@app.websocket("/items/{item_id}")
async def items(
    websocket: WebSocket,
    item_id: int,
    q: str | None = None,
    flag: bool = False,
    color: Color = Color.red,
    tags: Annotated[list[int], Query()] = [],  # noqa: B006 - FastAPI style
    ratio: float = 1.0,
) -> None:
    await websocket.accept()
    await websocket.send_json(
        {
            "item_id": item_id,
            "q": q,
            "flag": flag,
            "color": color.value,
            "tags": tags,
            "ratio": ratio,
            "path_params": websocket.path_params,
        }
    )
    await websocket.close()


@app.websocket("/typed/{key:int}/{ident}")
async def typed(websocket: WebSocket, key: int, ident: uuid.UUID) -> None:
    await websocket.accept()
    await websocket.send_json(
        {"key": key, "ident": str(ident), "is_uuid": isinstance(ident, uuid.UUID)}
    )
    await websocket.close()


@app.websocket("/info")
async def info(
    websocket: WebSocket,
    x_token: Annotated[str, Header()] = "none",
    limit: Annotated[int, Query(ge=1, le=10)] = 5,
) -> None:
    await websocket.accept()
    await websocket.send_json(
        {
            "x_token": x_token,
            "limit": limit,
            "url": str(websocket.url),
            "path": websocket.url.path,
            "query": dict(websocket.query_params),
            "cookies": websocket.cookies,
            "client_host": websocket.client.host if websocket.client else None,
            "user_agent": websocket.headers.get("user-agent"),
        }
    )
    await websocket.close()


@app.websocket("/proto")
async def proto(websocket: WebSocket) -> None:
    offered = websocket.scope.get("subprotocols") or []
    chosen = "chat.v2" if "chat.v2" in offered else None
    await websocket.accept(subprotocol=chosen, headers=[(b"x-served-by", b"covetpy")])
    await websocket.send_json({"offered": offered, "chosen": chosen})
    await websocket.close()


@app.websocket("/close")
async def close(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("closing")
    await websocket.close(code=4001, reason="bye now")


@app.websocket("/iter")
async def iterate(websocket: WebSocket) -> None:
    await websocket.accept()
    iter_log.clear()
    received: list[str] = []
    iter_log["received"] = received
    async for text in websocket.iter_text():
        received.append(text)
        await websocket.send_text(f"ack {len(received)}")
    iter_log["ended"] = True
    iter_log["client_state"] = websocket.client_state.name


@app.get("/iter/log")
def iter_log_view() -> dict[str, Any]:
    return iter_log


@app.websocket("/disconnect")
async def disconnect(websocket: WebSocket) -> None:
    await websocket.accept()
    while True:
        # Raises WebSocketDisconnect when the client leaves; letting it out is fine.
        await websocket.receive_text()


@app.websocket("/boom")
async def boom(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise RuntimeError("boom after accept")


@app.websocket("/boom-early")
async def boom_early(websocket: WebSocket) -> None:
    raise RuntimeError("boom before accept")


@app.websocket("/policy")
async def policy(websocket: WebSocket) -> None:
    await websocket.accept()
    raise WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason="not allowed")


@app.websocket("/refuse")
async def refuse(websocket: WebSocket) -> None:
    await websocket.close()


# --- a chat room ------------------------------------------------------------------------------

rooms: dict[str, set[WebSocket]] = {}


@app.websocket("/chat/{room}")
async def chat(websocket: WebSocket, room: str, name: str = "anon") -> None:
    await websocket.accept()
    members = rooms.setdefault(room, set())
    members.add(websocket)
    try:
        await websocket.send_json({"event": "joined", "members": len(members)})
        async for text in websocket.iter_text():
            for member in list(members):
                try:
                    await member.send_json({"from": name, "text": text})
                except WebSocketDisconnect:
                    members.discard(member)
    finally:
        members.discard(websocket)


# --- routers ------------------------------------------------------------------------------------

api = APIRouter(prefix="/api")


@api.websocket("/ping/{n}")
async def ping(websocket: WebSocket, n: int) -> None:
    await websocket.accept()
    for i in range(n):
        await websocket.send_text(f"pong {i}")
    await websocket.close()


app.include_router(api, prefix="/v1")
