"""Middleware declarations (``Middleware(cls, **options)``) and the bundled middleware modules."""

from starlette.middleware import Middleware as Middleware

__all__ = ["Middleware"]
