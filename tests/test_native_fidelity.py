"""The FastAPI fidelity suite (test_fastapi_fidelity.py) with the same FastAPI apps served natively:
`covetpy serve fidelity.X:app --interface covet`, so their `fastapi` imports resolve to covetpy and
the covetpy framework (with the Rust fast path where a route allows it) must answer exactly as
FastAPI does in-process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import ServerFactory
from test_fastapi_fidelity import *  # noqa: F403 - the same cases, run against the native server
from test_fastapi_fidelity import ALL_CASES, Case, Pool, run_case


@pytest.fixture(scope="module")
def pool(module_servers: ServerFactory, loop_impl: str) -> Iterator[Pool]:  # noqa: F811 - replaces the ASGI pool
    apps = Pool(module_servers, loop_impl, serve_args=("--interface", "covet"))
    with apps.stack:
        yield apps


# The documentation pages differ on purpose: covetpy serves Swagger UI and ReDoc from its own copies
# (tests/test_native_docs.py checks them, offline, in Chromium) where FastAPI's pages load a CDN.
DOCS_PAGES = ("/docs", "/redoc", "/sub/docs")


@pytest.mark.parametrize(
    "c", [p for p in ALL_CASES if p.values[0].path not in DOCS_PAGES]  # type: ignore[union-attr]
)
def test_same_response(pool: Pool, c: Case) -> None:  # noqa: F811 - the cases without the docs pages
    run_case(pool, c)
