"""``TestClient``: drive an app in-process over ASGI (Starlette's class, as in FastAPI; needs httpx)."""

from starlette.testclient import TestClient as TestClient

__all__ = ["TestClient"]
