"""WebSocket connections: Starlette's classes, as in FastAPI."""

from starlette.websockets import WebSocket as WebSocket
from starlette.websockets import WebSocketDisconnect as WebSocketDisconnect
from starlette.websockets import WebSocketState as WebSocketState

__all__ = ["WebSocket", "WebSocketDisconnect", "WebSocketState"]
