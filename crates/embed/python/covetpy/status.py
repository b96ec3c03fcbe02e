"""HTTP and WebSocket status code constants (``status.HTTP_404_NOT_FOUND``...), as Starlette names them."""

from starlette.status import *  # noqa: F403
