"""``Jinja2Templates`` (Starlette's class, as in FastAPI; needs jinja2)."""

from starlette.templating import Jinja2Templates as Jinja2Templates

__all__ = ["Jinja2Templates"]
