"""Every call runs as its own asyncio Task in its own copy of the base context, as under uvicorn.

The fast path steps a handler's first step at once instead of scheduling it; these tests check that
the handler cannot tell: it has a current Task (anyio, sniffio, asyncio.timeout and TaskGroup work),
and a ContextVar set while serving one request is never seen by the next one, on the same keep-alive
connection or another, for ASGI, WebSocket, native `async def` and `def` endpoints, and WSGI.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from conftest import Server, ServerFactory
from websockets.sync.client import connect

APP = "task_semantics_app"


@pytest.fixture(scope="module")
def asgi(module_servers: ServerFactory, loop_impl: str) -> Server:
    return module_servers(f"{APP}:asgi_app", "--interface", "asgi", "--loop", loop_impl)


@pytest.fixture(scope="module")
def native(module_servers: ServerFactory, loop_impl: str) -> Server:
    return module_servers(f"{APP}:native_app", "--interface", "covet", "--loop", loop_impl)


@pytest.fixture(scope="module")
def wsgi(module_servers: ServerFactory) -> Server:
    return module_servers(f"{APP}:wsgi_app", "--interface", "wsgi", "--threads", "2")


def _assert_fresh(report: dict[str, Any]) -> None:
    assert report["seen"] == "unset", "a value set by an earlier request leaked into this one"
    assert report["import_var"] == "set-at-import", "the base context is the one the app was imported in"
    assert report["lifespan_var"] == "unset", "lifespan values reach requests only through state"


def _assert_task(report: dict[str, Any], value: str) -> None:
    assert report["has_task"] is True
    assert report["task_is_asyncio_task"] is True
    assert report["library"] == "asyncio"
    assert report["loop_running"] is True
    assert report["after_await"] == value


def test_asgi_request_runs_in_its_own_task(asgi: Server) -> None:
    report = requests.get(asgi.url("/observe"), params={"v": "first"}, timeout=10).json()
    _assert_fresh(report)
    _assert_task(report, "first")
    assert report["task_in_lifespan"] is True


def test_asgi_context_is_fresh_on_the_same_connection(asgi: Server) -> None:
    with requests.Session() as session:
        for value in ("a", "b", "c", "d"):
            report = session.get(asgi.url("/observe"), params={"v": value}, timeout=10).json()
            _assert_fresh(report)
            _assert_task(report, value)


def test_asgi_context_is_fresh_across_connections_and_http2(asgi: Server) -> None:
    with httpx.Client(http2=True) as h2, httpx.Client() as h1:
        for n in range(3):
            for client in (h2, h1):
                report = client.get(asgi.url("/observe"), params={"v": f"v{n}"}, timeout=10).json()
                _assert_fresh(report)


def test_asyncio_timeout_cancels_the_handler_task(asgi: Server) -> None:
    assert requests.get(asgi.url("/timeout"), timeout=10).json() == {"outcome": "timed out"}


def test_task_group_in_handler(asgi: Server) -> None:
    assert requests.get(asgi.url("/taskgroup"), timeout=10).json() == {"results": [1, 2, 3]}


def test_created_task_inherits_the_handler_context(asgi: Server) -> None:
    assert requests.get(asgi.url("/spawn"), timeout=10).json() == {"child_saw": "parent"}
    # ...and the value set by that handler stays in that request.
    _assert_fresh(requests.get(asgi.url("/observe"), params={"v": "x"}, timeout=10).json())


def test_thread_pool_workers_outlive_requests(asgi: Server) -> None:
    # anyio ties its worker threads to the root Task; the server's main Task must be one, or every
    # call would start (and end) a thread of its own.
    with requests.Session() as session:
        url = asgi.url("/threadpool")
        counts = [session.get(url, timeout=10).json()["calls_on_thread"] for _ in range(5)]
    # One idle worker serves one call after the other: its count goes up by one each time.
    assert counts == sorted(counts) and counts[-1] - counts[0] == 4, counts


def test_current_task_supports_done_callbacks(asgi: Server) -> None:
    assert requests.get(asgi.url("/done-callback"), timeout=10).json() == {"callback": "fired", "name": True}


def test_websocket_session_runs_in_its_own_task_and_context(asgi: Server) -> None:
    assert asgi.port is not None
    url = f"ws://127.0.0.1:{asgi.port}/ws"
    with connect(url) as first:
        first.send("one")
        report = json.loads(first.recv(timeout=10))
        _assert_fresh(report)
        _assert_task(report, "one")
        # The same session keeps its own value from message to message...
        first.send("two")
        assert json.loads(first.recv(timeout=10))["seen"] == "one"
        # ...while another session, opened meanwhile, starts fresh.
        with connect(url) as second:
            second.send("three")
            _assert_fresh(json.loads(second.recv(timeout=10)))


def test_native_async_endpoint_runs_in_its_own_task(native: Server) -> None:
    with requests.Session() as session:
        for value in ("a", "b", "c"):
            report = session.get(native.url("/async"), params={"v": value}, timeout=10).json()
            _assert_fresh(report)
            _assert_task(report, value)


def test_native_sync_endpoint_gets_a_fresh_context(native: Server) -> None:
    with requests.Session() as session:
        for value in ("a", "b", "c", "d"):
            report = session.get(native.url("/sync"), params={"v": value}, timeout=10).json()
            _assert_fresh(report)


def test_wsgi_call_gets_a_fresh_context(wsgi: Server) -> None:
    with requests.Session() as session:
        for value in ("a", "b", "c", "d"):
            _assert_fresh(session.get(wsgi.url("/"), params={"v": value}, timeout=10).json())


@pytest.mark.parametrize("option", ["--timeout-graceful-shutdown", "--graceful-timeout"])
def test_shutdown_cancels_tasks_past_the_graceful_timeout(
    start_server: ServerFactory, tmp_path: Path, loop_impl: str, option: str
) -> None:
    # gunicorn's --graceful-timeout is the same option.
    server = start_server(f"{APP}:asgi_app", "--interface", "asgi", option, "1", "--loop", loop_impl)
    marker = tmp_path / "cancelled.txt"
    threading.Timer(0.5, server.send_signal, args=(signal.SIGTERM,)).start()
    try:
        status = requests.get(server.url("/hang"), params={"marker": str(marker)}, timeout=30).status_code
    except requests.ConnectionError:
        status = None
    # The cancelled handler never answered: the client gets a 500 or a closed connection.
    assert status in (500, None)
    assert server.wait() == 0
    assert marker.read_text(encoding="utf-8") == "Task cancelled, timeout graceful shutdown exceeded"
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in server.stderr
    assert "Application shutdown complete." in server.stderr
