"""``TrustedHostMiddleware`` (Starlette's, as in FastAPI)."""

from starlette.middleware.trustedhost import TrustedHostMiddleware as TrustedHostMiddleware

__all__ = ["TrustedHostMiddleware"]
