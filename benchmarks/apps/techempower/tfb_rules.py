"""What the TechEmpower tests ask of every implementation, shared by the apps here.

The rules follow the TechEmpower Framework Benchmarks' test requirements: a ``queries``
parameter that is clamped to 1..500 (anything that is not an integer counts as 1), a
random ``World`` id in 1..10000, and the fortune added at request time.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

WORLD_ROWS = 10_000
ADDED_FORTUNE = "Additional fortune added at request time."
HELLO = "Hello, World!"
POOL_SIZE = int(os.environ.get("TFB_POOL_SIZE", "16"))
TEMPLATES = Path(__file__).resolve().parent / "templates"


def database_url() -> str:
    """The PostgreSQL URL the benchmark script exports for the app."""
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError("DATABASE_URL is not set (benchmarks/techempower.py sets it)")
    return url


def query_count(raw: str | None) -> int:
    """The number of queries a ``?queries=`` value asks for, as the rules clamp it."""
    try:
        count = int(raw) if raw is not None else 1
    except ValueError:
        return 1
    return min(max(count, 1), 500)


def random_id() -> int:
    """A random ``World`` row id."""
    return random.randint(1, WORLD_ROWS)


def random_ids(count: int) -> list[int]:
    """``count`` distinct random ``World`` ids, so an update never touches a row twice."""
    return random.sample(range(1, WORLD_ROWS + 1), count)


def sorted_fortunes(rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The fortune rows plus the one added at request time, sorted by message."""
    return sorted([*rows, (0, ADDED_FORTUNE)], key=lambda row: row[1])
