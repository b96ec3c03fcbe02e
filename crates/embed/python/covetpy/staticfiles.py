"""``StaticFiles``: serve a directory (Starlette's class, as in FastAPI)."""

from starlette.staticfiles import StaticFiles as StaticFiles

__all__ = ["StaticFiles"]
