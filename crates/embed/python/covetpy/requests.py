"""The request objects handlers receive: Starlette's, as in FastAPI."""

from starlette.requests import HTTPConnection as HTTPConnection
from starlette.requests import Request as Request

__all__ = ["HTTPConnection", "Request"]
