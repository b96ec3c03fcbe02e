"""Path operations behind `@app.middleware("http")` and with dependencies, served natively.

`--interface covet` runs such a route through the app's middleware stack built around that route alone
(covetpy/_route_stack.py: the router's walk skipped, BaseHTTPMiddleware's behaviour on plain asyncio).
Every answer, and the order in which middleware, dependencies, endpoints and background tasks ran, must be
what the same app gives under real FastAPI in-process (tests/apps/fidelity/route_stack.py).
"""

from __future__ import annotations

import json

import pytest
from test_fastapi_fidelity import CRASH, Pair, Pool, assert_same

TOKEN = {"authorization": "Bearer tok-1"}


@pytest.fixture(scope="module")
def pair(native_pool: Pool) -> Pair:
    return native_pool.get("route_stack")


def same_events(pair: Pair) -> list[str]:
    """The event logs of both sides since the last call, which must be equal."""
    want = json.loads(assert_same(pair, "GET", "/events").body)
    assert isinstance(want, list)
    return want


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/items/7?q=widget", TOKEN, 200),
        ("/items/7", {}, 401),
        ("/items/seven", TOKEN, 422),
        ("/items/0", TOKEN, 404),
        ("/items/1", TOKEN, 500),
        ("/items/2", TOKEN, 418),
        ("/items/3", {**TOKEN, **CRASH}, 500),
        ("/items/7", {**TOKEN, "x-short-circuit": "1"}, 299),
        ("/items/7", {**TOKEN, "x-raise": "http", **CRASH}, 500),
        ("/sync/5", {}, 200),
        ("/stream", {}, 200),
        ("/background", {}, 200),
        ("/response-param", {}, 201),
        ("/task", {}, 200),
        ("/no-such-route", {}, 404),
    ],
)
def test_same_answer_and_order(pair: Pair, path: str, headers: dict[str, str], status: int) -> None:
    same_events(pair)
    want = assert_same(pair, "GET", path, headers=headers)
    assert want.status == status, want.text()
    events = same_events(pair)
    # The middleware ran on both sides (the logs are equal, and not trivially so).
    assert events[0] == "outer-before", events


def test_task_and_context_as_under_starlette(pair: Pair) -> None:
    want = json.loads(assert_same(pair, "GET", "/task").body)
    # call_next runs the rest of the app in a task of its own, with a copy of the middleware's context.
    assert want == {"same_task_as_middleware": False, "middleware_var": "inner"}


def test_body_read_in_middleware_and_endpoint(pair: Pair) -> None:
    same_events(pair)
    body = b"abc" + b"x" * 100_000
    want = assert_same(pair, "POST", "/echo", content=body, headers={"x-read-body": "1"})
    assert want.body == body[::-1]
    assert "inner-read 100003" in same_events(pair)


def test_yield_dependency_closes_after_the_middleware_is_done(pair: Pair) -> None:
    same_events(pair)
    assert_same(pair, "GET", "/items/7", headers=TOKEN)
    events = same_events(pair)
    assert events.index("session-close") > events.index("outer-after"), events


def test_streamed_body_uses_the_open_session(pair: Pair) -> None:
    same_events(pair)
    want = assert_same(pair, "GET", "/stream")
    assert want.body.decode().count("chunk") == 5
    events = same_events(pair)
    assert events.index("chunk 4 session") < events.index("session-close"), events


def test_keeps_serving_after_crashes(pair: Pair) -> None:
    for _ in range(3):
        assert_same(pair, "GET", "/items/3", headers={**TOKEN, **CRASH})
    want = assert_same(pair, "GET", "/items/9", headers=TOKEN)
    assert want.status == 200


def test_matched_routes_skip_the_whole_app(pair: Pair) -> None:
    """The server runs a matched route through its own stack; only a miss walks the whole app."""
    http = pair.http

    def whole_app_calls() -> int:
        return int(http.get("/whole-app-calls").json()["calls"])

    before = whole_app_calls()
    for path in ("/items/7", "/sync/3", "/stream", "/task"):
        assert http.get(path, headers=TOKEN).status_code == 200
    assert whole_app_calls() == before
    assert http.get("/no-such-route").status_code == 404
    assert whole_app_calls() == before + 1
