"""Graceful shutdown on SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import pytest
import requests
from conftest import Server, ServerFactory
from rawhttp import RawConnection, request_bytes


def wait_for_file(path: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} was not created within {timeout}s"
        time.sleep(0.05)


def wait_until_refused(server: Server, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.accepts_connections():
            return True
        time.sleep(0.05)
    return False


class InFlight(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.response: requests.Response | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.response = requests.get(self.url, timeout=60)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "COVET_STARTED_FILE": tmp_path / "started",
        "COVET_RELEASE_FILE": tmp_path / "release",
        "COVET_SHUTDOWN_FILE": tmp_path / "shutdown",
    }


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_in_flight_request_completes(
    start_server: ServerFactory, files: dict[str, Path], sig: signal.Signals
) -> None:
    # without a limit, so the test does not depend on how fast the release comes
    server = start_server(
        "slow_app:app",
        "--timeout-graceful-shutdown",
        "none",
        env={k: str(v) for k, v in files.items()},
    )
    request = InFlight(server.url("/gated"))
    request.start()
    wait_for_file(files["COVET_STARTED_FILE"])

    server.send_signal(sig)
    assert wait_until_refused(server), (
        "server still accepts new connections after the signal"
    )
    assert server.proc.poll() is None, "server exited with a request still in flight"
    assert not files["COVET_SHUTDOWN_FILE"].exists(), (
        "lifespan shutdown ran before the in-flight request finished"
    )

    files["COVET_RELEASE_FILE"].touch()
    request.join(30)
    assert request.error is None, f"in-flight request failed: {request.error!r}"
    assert request.response is not None
    assert request.response.status_code == 200
    assert request.response.text == "slow request finished"

    assert server.wait() == 0
    assert files["COVET_SHUTDOWN_FILE"].read_text() == "lifespan.shutdown"


def test_idle_keep_alive_connection_does_not_block_shutdown(
    start_server: ServerFactory, files: dict[str, Path]
) -> None:
    server = start_server("slow_app:app", env={k: str(v) for k, v in files.items()})
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(request_bytes("GET", "/ok"))
        assert conn.read_response().body == b"ok"
        # the connection stays open and idle while the server shuts down
        assert server.stop(signal.SIGTERM) == 0
        assert conn.closed_by_peer(timeout=5)
    assert files["COVET_SHUTDOWN_FILE"].read_text() == "lifespan.shutdown"


def test_graceful_shutdown_timeout(
    start_server: ServerFactory, files: dict[str, Path]
) -> None:
    server = start_server(
        "slow_app:app",
        "--timeout-graceful-shutdown",
        "1",
        env={k: str(v) for k, v in files.items()},
    )
    request = InFlight(server.url("/gated"))
    request.start()
    wait_for_file(files["COVET_STARTED_FILE"])
    # never released: the server must give up on the request and exit
    assert server.stop(signal.SIGTERM) == 0
    request.join(30)
    assert not request.is_alive()
    assert request.response is None or request.response.text != "slow request finished"


def test_default_graceful_timeout_ends_inside_docker_stop(
    start_server: ServerFactory, files: dict[str, Path]
) -> None:
    """With the default --timeout-graceful-shutdown (5 s) and a request that never ends, SIGTERM
    ends the server with exit code 0 soon after those 5 s: the moment left for WebSocket close frames
    is not waited when no WebSocket is open, so the stop fits well inside `docker stop`'s 10 s before
    SIGKILL (the container check measures the same through Docker)."""
    server = start_server("slow_app:app", env={k: str(v) for k, v in files.items()})
    request = InFlight(server.url("/gated"))
    request.start()
    wait_for_file(files["COVET_STARTED_FILE"])
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0
    took = time.monotonic() - started
    # 5 s of grace, then cancellation and lifespan shutdown, which take a fraction of a second.
    assert 5.0 <= took < 6.5, took
    assert files["COVET_SHUTDOWN_FILE"].read_text() == "lifespan.shutdown"
    request.join(30)
    assert not request.is_alive()
