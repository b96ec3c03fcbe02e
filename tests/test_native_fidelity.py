"""The FastAPI fidelity suite (test_fastapi_fidelity.py) with the same FastAPI apps served natively:
`covetpy serve fidelity.X:app --interface covet`, so their `fastapi` imports resolve to covetpy and
the covetpy framework (with the Rust fast path where a route allows it) must answer exactly as
FastAPI does in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import ServerFactory
from test_fastapi_fidelity import *  # noqa: F403 - the same cases, run against the native server
from test_fastapi_fidelity import Pool


@pytest.fixture(scope="module")
def pool(module_servers: ServerFactory, loop_impl: str) -> Iterator[Pool]:  # noqa: F811 - replaces the ASGI pool
    apps = Pool(module_servers, loop_impl, serve_args=("--interface", "covet"))
    with apps.stack:
        yield apps
