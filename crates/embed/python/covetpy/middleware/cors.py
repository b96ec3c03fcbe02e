"""``CORSMiddleware`` (Starlette's, as in FastAPI)."""

from starlette.middleware.cors import CORSMiddleware as CORSMiddleware

__all__ = ["CORSMiddleware"]
