"""Running blocking code from async code, as FastAPI exposes it."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import AbstractContextManager, asynccontextmanager
from typing import TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from starlette.concurrency import iterate_in_threadpool as iterate_in_threadpool
from starlette.concurrency import run_in_threadpool as run_in_threadpool
from starlette.concurrency import run_until_first_complete as run_until_first_complete

_T = TypeVar("_T")


@asynccontextmanager
async def contextmanager_in_threadpool(cm: AbstractContextManager[_T]) -> AsyncGenerator[_T, None]:
    """Enter and exit a blocking context manager on worker threads. The exit gets its own limiter
    so that it can always run, even when every default thread is busy waiting on this context."""
    exit_limiter = CapacityLimiter(1)
    try:
        yield await run_in_threadpool(cm.__enter__)
    except Exception as e:
        ok = bool(
            await anyio.to_thread.run_sync(cm.__exit__, type(e), e, e.__traceback__, limiter=exit_limiter)
        )
        if not ok:
            raise e
    else:
        await anyio.to_thread.run_sync(cm.__exit__, None, None, None, limiter=exit_limiter)


__all__ = [
    "contextmanager_in_threadpool",
    "iterate_in_threadpool",
    "run_in_threadpool",
    "run_until_first_complete",
]
