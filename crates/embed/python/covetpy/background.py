"""``BackgroundTasks``: functions run after the response has been sent."""

from collections.abc import Callable
from typing import Any, ParamSpec

from starlette.background import BackgroundTasks as StarletteBackgroundTasks

P = ParamSpec("P")


class BackgroundTasks(StarletteBackgroundTasks):
    """Declare a parameter of this type to queue work that runs after the response is sent."""

    def add_task(self, func: Callable[P, Any], *args: P.args, **kwargs: P.kwargs) -> None:
        """Queue ``func(*args, **kwargs)``; a ``def`` function runs in the thread pool."""
        super().add_task(func, *args, **kwargs)
