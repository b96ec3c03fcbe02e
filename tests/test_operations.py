"""Operations endpoints: --metrics-port, --health-path/--readiness-path, the drain
sequence (--shutdown-delay, the --timeout-graceful-shutdown default)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import requests
from conftest import Server, ServerFactory, free_port
from prometheus_client.parser import text_string_to_metric_families
from rawhttp import RawConnection, request_bytes
from test_workers import children
from websockets.sync.client import connect

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    response = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def eventually(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never true: {what}"
        time.sleep(0.05)


def wait_for_file(path: Path, timeout: float = 15.0) -> None:
    eventually(path.exists, f"{path} exists", timeout)


class Background(threading.Thread):
    """One GET in a thread; keeps the status and body."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.result: tuple[int, str] | BaseException | None = None

    def run(self) -> None:
        try:
            response = requests.get(self.url, timeout=90)
            self.result = (response.status_code, response.text)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.result = exc


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "COVET_STARTED_FILE": tmp_path / "started",
        "COVET_RELEASE_FILE": tmp_path / "release",
    }


def env_of(files: dict[str, Path]) -> dict[str, str]:
    return {key: str(path) for key, path in files.items()}


def start_ops(
    start_server: ServerFactory, *extra: str, app: str = "ops_app:app", **kwargs: object
) -> tuple[Server, int]:
    metrics_port = free_port()
    server = start_server(app, "--metrics-port", str(metrics_port), *extra, **kwargs)  # type: ignore[arg-type]
    return server, metrics_port


def probe(port: int, path: str) -> int:
    return requests.get(f"http://127.0.0.1:{port}{path}", timeout=10).status_code


def test_requests_counted_by_status_and_interface(start_server: ServerFactory) -> None:
    server, metrics = start_ops(start_server, "--health-path", "/healthz")
    for code, times in ((200, 3), (404, 2), (503, 1)):
        for _ in range(times):
            assert requests.get(server.url(f"/status/{code}"), timeout=10).status_code == code
    # probes are answered, but are not requests of the app: not counted, not access-logged
    for _ in range(4):
        assert probe(server.port or 0, "/healthz") == 200
    samples = scrape(metrics)
    assert value(samples, "covetpy_requests_total", interface="asgi", status="200") == 3
    assert value(samples, "covetpy_requests_total", interface="asgi", status="404") == 2
    assert value(samples, "covetpy_requests_total", interface="asgi", status="503") == 1
    assert value(samples, "covetpy_request_duration_seconds_count", interface="asgi") == 6
    assert value(samples, "covetpy_request_duration_seconds_bucket", interface="asgi", le="+Inf") == 6
    assert value(samples, "covetpy_request_duration_seconds_sum", interface="asgi") > 0
    assert value(samples, "covetpy_requests_in_flight", interface="asgi") == 0
    assert value(samples, "covetpy_worker_restarts_total", reason="exited") == 0
    assert value(samples, "covetpy_workers_ready") == 1
    assert value(samples, "covetpy_resident_memory_bytes") > 10 * 1024 * 1024
    assert "/healthz" not in server.stdout + server.stderr
    assert '"GET /status/404 HTTP/1.1" 404' in server.stdout + server.stderr


def test_wsgi_requests_are_labelled_wsgi(start_server: ServerFactory) -> None:
    server, metrics = start_ops(start_server, "--interface", "wsgi", app="ops_app:wsgi")
    for _ in range(2):
        assert requests.get(server.url("/status/201"), timeout=10).status_code == 201
    samples = scrape(metrics)
    assert value(samples, "covetpy_requests_total", interface="wsgi", status="201") == 2
    assert value(samples, "covetpy_requests_total", interface="asgi", status="201") == 0
    assert value(samples, "covetpy_python_queue_depth", queue="thread_pool") == 0


def test_two_workers_are_summed(start_server: ServerFactory) -> None:
    server, metrics = start_ops(start_server, "--workers", "2")
    eventually(lambda: value(scrape(metrics), "covetpy_workers_ready") == 2, "2 workers ready")
    pids: set[str] = set()
    sent = 0
    # a fresh connection each time, so the kernel spreads them over both workers
    while len(pids) < 2 or sent < 20:
        assert sent < 400, f"only worker(s) {pids} answered"
        response = requests.get(server.url("/pid"), timeout=10)
        pids.add(response.text)
        sent += 1
    for _ in range(5):
        assert requests.get(server.url("/status/418"), timeout=10).status_code == 418
    samples = scrape(metrics)
    assert value(samples, "covetpy_requests_total", interface="asgi", status="200") == sent
    assert value(samples, "covetpy_requests_total", interface="asgi", status="418") == 5
    assert value(samples, "covetpy_request_duration_seconds_count", interface="asgi") == sent + 5
    workers = children(server.proc.pid)
    assert len(workers) == 2
    assert value(samples, "covetpy_resident_memory_bytes") > 2 * 10 * 1024 * 1024


def test_restart_is_counted_and_counters_survive_it(start_server: ServerFactory) -> None:
    server, metrics = start_ops(start_server, "--workers", "2")
    eventually(lambda: value(scrape(metrics), "covetpy_workers_ready") == 2, "2 workers ready")
    for _ in range(10):
        assert requests.get(server.url("/status/200"), timeout=10).status_code == 200
    victim = children(server.proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    eventually(
        lambda: value(scrape(metrics), "covetpy_worker_restarts_total", reason="exited") == 1,
        "a restart counted with reason exited",
    )
    eventually(lambda: value(scrape(metrics), "covetpy_workers_ready") == 2, "replacement ready")
    samples = scrape(metrics)
    # what the killed worker counted is kept: the counter does not go back
    assert value(samples, "covetpy_requests_total", interface="asgi", status="200") == 10
    assert value(samples, "covetpy_worker_restarts_total", reason="healthcheck") == 0
    assert victim not in children(server.proc.pid)


def test_in_flight_and_queue_depth_while_python_is_blocked(
    start_server: ServerFactory, files: dict[str, Path]
) -> None:
    server, metrics = start_ops(
        start_server, "--health-path", "/healthz", "--readiness-path", "/ready", env=env_of(files)
    )
    assert server.port is not None
    blocker = Background(server.url("/block"))
    blocker.start()
    wait_for_file(files["COVET_STARTED_FILE"])
    # the app's only thread sleeps: these wait in the event loop's queue
    waiting = [Background(server.url("/status/200")) for _ in range(3)]
    for request in waiting:
        request.start()
    eventually(
        lambda: value(scrape(metrics), "covetpy_python_queue_depth", queue="event_loop") == 3,
        "three jobs queued for the blocked event loop",
    )
    samples = scrape(metrics)
    assert value(samples, "covetpy_requests_in_flight", interface="asgi") == 4
    # answered in Rust, while Python cannot run anything
    assert probe(server.port, "/healthz") == 200
    assert probe(server.port, "/ready") == 200
    assert probe(metrics, "/healthz") == 200
    assert blocker.result is None, "the blocking request finished early"
    files["COVET_RELEASE_FILE"].touch()
    for request in [blocker, *waiting]:
        request.join(30)
    assert blocker.result == (200, "unblocked")
    assert all(request.result == (200, "status") for request in waiting)
    samples = scrape(metrics)
    assert value(samples, "covetpy_python_queue_depth", queue="event_loop") == 0
    assert value(samples, "covetpy_requests_in_flight", interface="asgi") == 0
    assert value(samples, "covetpy_requests_total", interface="asgi", status="200") == 4


def test_connections_by_protocol(start_server: ServerFactory) -> None:
    server, metrics = start_ops(start_server)
    assert server.port is not None

    def open_connections() -> dict[str, float]:
        samples = scrape(metrics)
        return {
            protocol: value(samples, "covetpy_connections_open", protocol=protocol)
            for protocol in ("http1", "http2", "http3", "websocket")
        }

    with (
        RawConnection.tcp(server.port) as h1,
        httpx.Client(http1=False, http2=True, base_url=server.base_url) as h2,
        connect(f"ws://127.0.0.1:{server.port}/ws", proxy=None) as ws,
    ):
        h1.send(request_bytes("GET", "/status/200"))
        assert h1.read_response().status == 200
        response = h2.get("/status/200")
        assert (response.http_version, response.status_code) == ("HTTP/2", 200)
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"
        assert open_connections() == {"http1": 1, "http2": 1, "http3": 0, "websocket": 1}
    eventually(
        lambda: open_connections() == {"http1": 0, "http2": 0, "http3": 0, "websocket": 0},
        "every connection closed",
    )


def test_readiness_follows_startup_on_the_metrics_port(start_server: ServerFactory) -> None:
    server, metrics = start_ops(
        start_server,
        "--health-path",
        "/healthz",
        "--readiness-path",
        "/ready",
        env={"COVET_STARTUP_DELAY": "3"},
        wait=False,
    )
    # the metrics port answers while lifespan startup is still running
    eventually(lambda: _answers(metrics), "the metrics port answers")
    assert probe(metrics, "/healthz") == 200
    ready = requests.get(f"http://127.0.0.1:{metrics}/ready", timeout=10)
    assert (ready.status_code, ready.text) == (503, "starting\n")
    server.wait_ready()
    eventually(lambda: probe(metrics, "/ready") == 200, "ready after startup")
    assert probe(metrics, "/nothing-here") == 404


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def test_ready_503_while_draining_after_sigterm(
    start_server: ServerFactory, files: dict[str, Path]
) -> None:
    server, metrics = start_ops(
        start_server,
        "--readiness-path",
        "/ready",
        "--timeout-graceful-shutdown",
        "none",
        env=env_of(files),
    )
    assert probe(metrics, "/ready") == 200
    gated = Background(server.url("/gated"))
    gated.start()
    wait_for_file(files["COVET_STARTED_FILE"])
    server.send_signal(signal.SIGTERM)
    eventually(lambda: probe(metrics, "/ready") == 503, "readiness 503 during the drain")
    response = requests.get(f"http://127.0.0.1:{metrics}/ready", timeout=10)
    assert response.text == "draining\n"
    assert server.proc.poll() is None
    files["COVET_RELEASE_FILE"].touch()
    gated.join(30)
    assert gated.result == (200, "gated request finished")
    assert server.wait() == 0


def test_retiring_worker_answers_ready_503_on_keep_alive(
    start_server: ServerFactory, files: dict[str, Path]
) -> None:
    """--limit-max-requests 3: probes do not count against it; once the worker
    retires (a slow request keeps it draining), readiness asked on a keep-alive
    connection to it answers 503 and closes the connection."""
    server = start_server(
        "ops_app:app",
        "--limit-max-requests",
        "3",
        "--readiness-path",
        "/ready",
        "--timeout-keep-alive",
        "60",
        env=env_of(files),
    )
    assert server.port is not None
    with RawConnection.tcp(server.port, timeout=30) as conn:
        for _ in range(5):
            conn.send(request_bytes("GET", "/ready"))
            assert conn.read_response().status == 200
        conn.send(request_bytes("GET", "/status/200"))  # request 1
        assert conn.read_response().status == 200
        gated = Background(server.url("/gated"))  # request 2, holds the worker
        gated.start()
        wait_for_file(files["COVET_STARTED_FILE"])
        assert "Maximum request limit" not in server.stderr
        conn.send(request_bytes("GET", "/status/200"))  # request 3: the limit
        assert conn.read_response().status == 200
        server.wait_for_stderr("Retiring at the supervisor's request", timeout=30)
        assert "Retiring at the supervisor's request" in server.stderr
        conn.send(request_bytes("GET", "/ready"))
        response = conn.read_response()
        assert (response.status, response.body) == (503, b"draining\n")
        assert response.header("connection") == "close"
    # the replacement is ready
    assert probe(server.port, "/ready") == 200
    files["COVET_RELEASE_FILE"].touch()
    gated.join(30)
    assert gated.result == (200, "gated request finished")


def test_shutdown_delay_keeps_serving_while_not_ready(start_server: ServerFactory) -> None:
    server = start_server(
        "ops_app:app", "--readiness-path", "/ready", "--shutdown-delay", "4"
    )
    assert server.port is not None
    with RawConnection.tcp(server.port, timeout=30) as conn:
        conn.send(request_bytes("GET", "/ready"))
        assert conn.read_response().status == 200
        server.send_signal(signal.SIGTERM)
        server.wait_for_stderr("--shutdown-delay")
        conn.send(request_bytes("GET", "/ready"))
        assert conn.read_response().status == 503
        # still serving, on this connection and on new ones
        conn.send(request_bytes("GET", "/status/200"))
        assert conn.read_response().status == 200
        assert requests.get(server.url("/status/202"), timeout=10).status_code == 202
    assert server.wait() == 0
    assert not server.accepts_connections()


def test_graceful_timeout_has_a_finite_default(
    start_server: ServerFactory, files: dict[str, Path]
) -> None:
    server = start_server("ops_app:app", env=env_of(files))
    gated = Background(server.url("/gated"))
    gated.start()
    wait_for_file(files["COVET_STARTED_FILE"])
    signalled = time.monotonic()
    # never released: the default (5 s) ends the wait, the task is cancelled
    assert server.stop(signal.SIGTERM) == 0
    waited = time.monotonic() - signalled
    assert waited >= 4, f"exited after {waited:.1f}s, before the default graceful timeout"
    assert "Cancel 1 running task(s), timeout graceful shutdown exceeded" in server.stderr
    gated.join(30)
    assert gated.result != (200, "gated request finished")


def test_graceful_timeout_none_waits_for_the_request(
    start_server: ServerFactory, files: dict[str, Path]
) -> None:
    server = start_server(
        "ops_app:app", "--timeout-graceful-shutdown", "none", env=env_of(files)
    )
    gated = Background(server.url("/gated"))
    gated.start()
    wait_for_file(files["COVET_STARTED_FILE"])
    server.send_signal(signal.SIGTERM)
    time.sleep(7)  # past the finite default; not a timing assertion
    assert server.proc.poll() is None, "gave up on the request despite `none`"
    files["COVET_RELEASE_FILE"].touch()
    gated.join(30)
    assert gated.result == (200, "gated request finished")
    assert server.wait() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--health-path", "healthz"], "absolute path"),
        (["--timeout-graceful-shutdown", "soon"], "or `none`"),
        (["--metrics-host", "0.0.0.0"], "--metrics-port"),
    ],
)
def test_bad_operations_options_are_refused(
    start_server: ServerFactory, args: list[str], message: str
) -> None:
    server = start_server("ops_app:app", *args, wait=False)
    assert server.wait() == 2
    assert message in server.stderr


def test_busy_metrics_port_is_refused(start_server: ServerFactory) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = start_server("ops_app:app", "--metrics-port", str(port), wait=False)
        assert server.wait() == 1
    assert f"--metrics-port: could not bind 127.0.0.1:{port}" in server.stderr
