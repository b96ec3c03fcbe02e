"""A thread-safe notice board: work that finishes after a response (background
tasks, dependency teardown, detached asyncio tasks) pins notes here, and a later
request waits for them."""

from __future__ import annotations

import asyncio
import threading
import time


class Board:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._notes: dict[str, list[str]] = {}

    def pin(self, key: str, note: str) -> None:
        with self._lock:
            self._notes.setdefault(key, []).append(note)

    def read(self, key: str) -> list[str]:
        with self._lock:
            return list(self._notes.get(key, []))

    async def wait(self, key: str, count: int, timeout: float = 5.0) -> list[str]:
        """The notes under `key` once there are `count` of them (or at timeout)."""
        deadline = time.monotonic() + timeout
        while len(self.read(key)) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return self.read(key)
