#!/usr/bin/env python3
"""The database client's own cost of the TechEmpower single query, with no server at all.

Runs the ``/db`` test's work (``pool.acquire()``, ``fetchrow`` of one random ``World`` row, the
result as a dict) from 64 concurrent tasks over an asyncpg pool of 16 connections on uvloop, pinned
to the server's CPU, against the PostgreSQL that ``techempower.py`` starts and seeds. CPU time per
query is what every Python server pays on top of its own work for that test, so it bounds the
ratio between two servers: a server at S µs per request against this floor F can be at most S / F
times slower than a server with no cost of its own.

    benchmarks/.venv/bin/python benchmarks/db_floor.py [--queries-per-task N] [--runs R]

(``SCENARIOS=techempower benchmarks/run.sh`` installs asyncpg and PostgreSQL into that venv first.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Sequence

import bench
import techempower

TASKS = 64
POOL_SIZE = 16
SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"


async def measure(url: str, per_task: int, runs: int) -> list[float]:
    """CPU microseconds per query, one figure per run."""
    import asyncpg

    pool = await asyncpg.create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE)

    async def worker(count: int) -> None:
        for _ in range(count):
            async with pool.acquire() as conn:
                row = await conn.fetchrow(SELECT_WORLD, random.randint(1, 10000))
            _ = {"id": row[0], "randomNumber": row[1]}

    try:
        await asyncio.gather(*(worker(max(1, per_task // 6)) for _ in range(TASKS)))
        figures = []
        for _ in range(runs):
            started = time.process_time()
            await asyncio.gather(*(worker(per_task) for _ in range(TASKS)))
            figures.append((time.process_time() - started) / (per_task * TASKS) * 1e6)
        return figures
    finally:
        await pool.close()


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--queries-per-task", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    import uvloop

    # The process on the server's CPU; PostgreSQL on the load CPU, as in techempower.py.
    os.sched_setaffinity(0, {int(bench.SERVER_CPU)})
    with techempower.postgres() as db:
        figures = uvloop.run(measure(db.url, args.queries_per_task, args.runs))
    queries = args.queries_per_task * TASKS
    for n, us in enumerate(figures, 1):
        print(f"run {n}: {us:.1f} µs of CPU per query ({queries:,} queries, {TASKS} tasks, pool {POOL_SIZE})")
    print(f"median: {sorted(figures)[len(figures) // 2]:.1f} µs per query")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
