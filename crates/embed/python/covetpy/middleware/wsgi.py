"""``WSGIMiddleware`` (Starlette's, as in FastAPI)."""

from starlette.middleware.wsgi import WSGIMiddleware as WSGIMiddleware

__all__ = ["WSGIMiddleware"]
