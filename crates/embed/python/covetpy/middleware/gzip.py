"""``GZipMiddleware`` (Starlette's, as in FastAPI)."""

from starlette.middleware.gzip import GZipMiddleware as GZipMiddleware

__all__ = ["GZipMiddleware"]
