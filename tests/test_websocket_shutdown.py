"""Graceful shutdown closes open WebSockets with 1001 (Going Away)."""

from __future__ import annotations

import contextlib
import signal

import pytest
from conftest import ServerFactory
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect


@pytest.mark.parametrize(
    "extra", [["--timeout-graceful-shutdown", "1"], ["--timeout-graceful-shutdown", "none"]]
)
def test_shutdown_closes_open_socket_with_1001(
    start_server: ServerFactory, extra: list[str]
) -> None:
    server = start_server("ws_echo:app", *extra)
    with connect(
        f"ws://127.0.0.1:{server.port}/echo", compression=None, proxy=None
    ) as ws:
        ws.send("before shutdown")
        assert ws.recv(timeout=15) == "before shutdown"
        server.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as info:
            while True:
                ws.recv(timeout=30)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1001
    assert server.wait() == 0


def test_shutdown_with_idle_and_busy_sockets(start_server: ServerFactory) -> None:
    server = start_server("ws_echo:app", "--timeout-graceful-shutdown", "1")
    url = f"ws://127.0.0.1:{server.port}/echo"
    with contextlib.ExitStack() as stack:
        sockets = [
            stack.enter_context(connect(url, compression=None, proxy=None))
            for _ in range(10)
        ]
        for i, ws in enumerate(sockets):
            ws.send(f"socket {i}")
            assert ws.recv(timeout=15) == f"socket {i}"
        server.send_signal(signal.SIGTERM)
        for ws in sockets:
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    ws.recv(timeout=30)
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 1001
    assert server.wait() == 0
