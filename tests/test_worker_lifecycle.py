"""Worker lifecycle: --limit-max-requests (recycling workers without failing a
request), --fd and systemd socket activation (serving an inherited socket), and
--timeout-worker-healthcheck (replacing a worker that stops answering)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import h2.events
import pytest
import requests
from conftest import (
    Server,
    ServerFactory,
    free_port,
    pid_alive,
    serve_args,
    server_env,
)
from h2.config import H2Configuration
from h2.connection import H2Connection
from rawhttp import RawConnection, request_bytes

WRK = shutil.which("wrk")


def get_json(server: Server, path: str = "/", timeout: float = 20.0) -> dict[str, object]:
    response = requests.get(server.url(path), timeout=timeout)
    assert response.status_code == 200, response.text
    data: dict[str, object] = response.json()
    return data


def collect_pids(server: Server, want: int, attempts: int = 300) -> set[int]:
    """Worker pids seen over fresh connections, until `want` distinct ones."""
    seen: set[int] = set()
    for _ in range(attempts):
        pid = get_json(server)["pid"]
        assert isinstance(pid, int)
        seen.add(pid)
        if len(seen) >= want:
            break
    return seen


def wait_until_gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not pid_alive(pid)


@pytest.fixture
def tcp_listener() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    yield sock
    sock.close()


# --limit-max-requests


@pytest.mark.skipif(WRK is None, reason="wrk is not installed")
def test_recycling_under_load_fails_no_request(start_server: ServerFactory) -> None:
    server = start_server(
        "pid_app:app", "--workers", "2", "--limit-max-requests", "200", "--no-access-log"
    )
    before = collect_pids(server, 2)
    assert len(before) == 2, before
    assert WRK is not None
    result = subprocess.run(
        [WRK, "-t1", "-c16", "-d5s", server.url("/")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    # wrk prints these lines only when there were failures.
    assert "Socket errors" not in out, out
    assert "Non-2xx" not in out, out
    match = re.search(r"(\d+) requests in", out)
    assert match, out
    assert int(match.group(1)) > 2 * 200, f"too few requests to recycle any worker:\n{out}"

    after = collect_pids(server, 2)
    assert after, "no worker answered after the load"
    assert not (after & before), f"workers {before} were never replaced (now {after})"
    assert "reached its request limit" in server.stderr
    assert "retired" in server.stderr
    assert "did not answer a health check" not in server.stderr, server.stderr[-3000:]
    assert server.proc.poll() is None
    assert server.stop() == 0


def test_one_worker_with_a_limit_is_replaced(start_server: ServerFactory) -> None:
    """With one worker, --limit-max-requests runs it under the supervisor, so
    the server keeps serving instead of exiting as uvicorn does."""
    server = start_server("pid_app:app", "--limit-max-requests", "5")
    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while len(seen) < 3 and time.monotonic() < deadline:
        data = get_json(server)
        assert data["ppid"] == server.proc.pid, data
        assert isinstance(data["pid"], int)
        seen.add(data["pid"])
    assert len(seen) >= 3, f"the worker was not replaced: {seen}"
    assert server.proc.pid not in seen
    assert server.proc.poll() is None
    assert server.stop() == 0
    for pid in seen:
        assert wait_until_gone(pid), f"worker {pid} outlived the supervisor"


def test_gunicorn_spellings_and_jitter(start_server: ServerFactory) -> None:
    server = start_server(
        "pid_app:app", "--max-requests", "3", "--max-requests-jitter", "2"
    )
    found = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        get_json(server)
        found = server.stderr
        if "Maximum request limit of" in found:
            break
    match = re.search(r"Maximum request limit of (\d+) reached", found)
    assert match, found[-3000:]
    assert 3 <= int(match.group(1)) <= 5, match.group(0)
    assert server.stop() == 0


def test_keep_alive_connection_is_closed_after_a_response(
    start_server: ServerFactory,
) -> None:
    """A keep-alive connection to a retiring worker is not cut off: a later
    response on it says `Connection: close`, then the server closes it."""
    server = start_server("pid_app:app", "--limit-max-requests", "3")
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        old_pid = None
        closing = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            conn.send(request_bytes("GET", "/"))
            response = conn.read_response()
            assert response.status == 200
            pid = json.loads(response.body)["pid"]
            old_pid = old_pid or pid
            assert pid == old_pid, "one connection is served by one worker"
            if (response.header("connection") or "").lower() == "close":
                closing = response
                break
            time.sleep(0.05)
        assert closing is not None, "the retiring worker never closed the connection"
        assert conn.closed_by_peer(), "the server kept the connection open after Connection: close"
    assert wait_until_gone(old_pid), "the retired worker did not exit"
    assert "retired" in server.wait_for_stderr("retired")
    fresh = get_json(server)
    assert fresh["pid"] != old_pid
    assert server.stop() == 0


def h2_get(sock: socket.socket, conn: H2Connection, port: int) -> bytes:
    """One GET / on an HTTP/2 connection; returns the body."""
    stream = conn.get_next_available_stream_id()
    headers = [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", f"127.0.0.1:{port}")]
    conn.send_headers(stream, headers, end_stream=True)
    sock.sendall(conn.data_to_send())
    body = b""
    while True:
        data = sock.recv(65536)
        assert data, "connection closed during a request"
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, stream)
            elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                sock.sendall(conn.data_to_send())
                return body
        sock.sendall(conn.data_to_send())


def test_http2_connection_gets_goaway(start_server: ServerFactory) -> None:
    """An idle HTTP/2 connection to a retiring worker gets a graceful GOAWAY
    (NO_ERROR); new connections reach the replacement.

    Frames after the requests are parsed by hand: the h2 library (as httpx
    under it) refuses the PING that follows a graceful GOAWAY. The long
    keep-alive timeout keeps the idle timer from being what closes it."""
    server = start_server(
        "pid_app:app", "--limit-max-requests", "3", "--timeout-keep-alive", "60"
    )
    assert server.port is not None
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        conn = H2Connection(H2Configuration(client_side=True))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        pids = {json.loads(h2_get(sock, conn, server.port))["pid"] for _ in range(3)}
        assert len(pids) == 1
        # The third request used up the limit; once the replacement serves, this
        # connection is told to go away.
        buffer = b""
        error_code = None
        while error_code is None:
            data = sock.recv(65536)
            assert data, "closed without GOAWAY"
            buffer += data
            while len(buffer) >= 9:
                length = int.from_bytes(buffer[:3], "big")
                if len(buffer) < 9 + length:
                    break
                frame_type, payload = buffer[3], buffer[9 : 9 + length]
                buffer = buffer[9 + length :]
                if frame_type == 0x7:  # GOAWAY: last stream id, error code
                    error_code = int.from_bytes(payload[4:8], "big")
        assert error_code == 0, f"GOAWAY with error code {error_code}"
    assert get_json(server)["pid"] not in pids
    assert server.stop() == 0


# --fd


@pytest.mark.parametrize("workers", ["1", "2"])
def test_fd_serves_an_inherited_tcp_socket(
    start_server: ServerFactory, tcp_listener: socket.socket, workers: str
) -> None:
    fd = tcp_listener.fileno()
    port = tcp_listener.getsockname()[1]
    args = serve_args("pid_app:app", "--fd", str(fd), "--workers", workers)
    server = start_server.spawn(args, port=port, pass_fds=(fd,))
    tcp_listener.close()  # only the server holds the socket now
    pids = collect_pids(server, int(workers))
    assert len(pids) == int(workers), pids
    if workers == "2":
        assert all(get_json(server)["ppid"] == server.proc.pid for _ in range(4))
    assert server.stop() == 0


def test_fd_serves_an_inherited_unix_socket(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    path = str(tmp_path / "inherited.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(16)
    args = serve_args("pid_app:app", "--fd", str(sock.fileno()))
    server = start_server.spawn(args, uds=path, pass_fds=(sock.fileno(),))
    sock.close()
    with RawConnection.unix(path) as conn:
        conn.send(request_bytes("GET", "/"))
        response = conn.read_response()
    assert response.status == 200
    assert server.stop() == 0


def test_fd_that_is_not_a_socket_is_refused(tmp_path: Path) -> None:
    with open(os.devnull, "rb") as devnull:
        fd = devnull.fileno()
        result = subprocess.run(
            serve_args("pid_app:app", "--fd", str(fd)),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=server_env(),
            timeout=30,
            pass_fds=(fd,),
            cwd=tmp_path,
            check=False,
        )
    assert result.returncode == 1, result.stderr
    assert f"file descriptor {fd} is not a usable listening socket" in result.stderr


# systemd socket activation (LISTEN_FDS / LISTEN_PID)

LAUNCHER = """
import os
import sys

fd = int(os.environ.pop("TEST_SOCKET_FD"))
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
pid = os.environ.pop("TEST_LISTEN_PID")
os.environ["LISTEN_PID"] = str(os.getpid()) if pid == "self" else pid
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_FDNAMES"] = "http"
os.execv(sys.argv[1], sys.argv[1:])
"""


def activated(
    factory: ServerFactory,
    tmp_path: Path,
    sock: socket.socket,
    *extra: str,
    listen_pid: str = "self",
    port: int | None = None,
) -> Server:
    """Start covetpy through a launcher that passes `sock` as systemd does:
    at fd 3, with LISTEN_FDS=1 and LISTEN_PID set to the server's own pid."""
    launcher = tmp_path / "launcher.py"
    launcher.write_text(LAUNCHER)
    args = [sys.executable, str(launcher), *serve_args("pid_app:app", *extra)]
    env = {"TEST_SOCKET_FD": str(sock.fileno()), "TEST_LISTEN_PID": listen_pid}
    return factory.spawn(
        args,
        port=port if port is not None else sock.getsockname()[1],
        env=env,
        pass_fds=(sock.fileno(),),
    )


@pytest.mark.parametrize("workers", ["1", "2"])
def test_socket_activation(
    start_server: ServerFactory,
    tmp_path: Path,
    tcp_listener: socket.socket,
    workers: str,
) -> None:
    server = activated(start_server, tmp_path, tcp_listener, "--workers", workers)
    tcp_listener.close()
    data = get_json(server)
    assert data["listen_env"] == [], "LISTEN_* must be unset for the app"
    pids = collect_pids(server, int(workers))
    assert len(pids) == int(workers), pids
    if workers == "2":
        assert data["ppid"] == server.proc.pid
    assert server.stop() == 0


def test_socket_activation_for_another_process_is_ignored(
    start_server: ServerFactory, tmp_path: Path, tcp_listener: socket.socket
) -> None:
    """LISTEN_PID names another process: the sockets are not ours, so the
    server binds --port as usual (and still hides the variables from the app)."""
    port = free_port()
    server = activated(
        start_server,
        tmp_path,
        tcp_listener,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        listen_pid="1",
        port=port,
    )
    assert get_json(server)["listen_env"] == []
    assert server.stop() == 0


# --timeout-worker-healthcheck


def test_frozen_worker_is_replaced(start_server: ServerFactory) -> None:
    """A worker that exists but does not answer (SIGSTOP freezes its runtime)
    is killed after the health-check timeout and replaced."""
    server = start_server(
        "pid_app:app", "--workers", "2", "--timeout-worker-healthcheck", "2"
    )
    pids = collect_pids(server, 2)
    assert len(pids) == 2, pids
    victim, survivor = sorted(pids)
    os.kill(victim, signal.SIGSTOP)
    try:
        found = server.wait_for_stderr(
            f"Worker process [{victim}] did not answer a health check", timeout=30
        )
        assert "did not answer a health check" in found, server.stderr[-3000:]
        assert wait_until_gone(victim), "the frozen worker was not killed"
    finally:
        if pid_alive(victim):
            os.kill(victim, signal.SIGCONT)
    now = collect_pids(server, 2)
    assert victim not in now
    assert len(now) == 2 and survivor in now, f"before {pids}, now {now}"
    assert server.proc.poll() is None
    assert server.stop() == 0


def test_busy_worker_is_not_killed(start_server: ServerFactory) -> None:
    """The health check is answered by the worker's runtime, so a worker whose
    Python code is busy (a handler blocking its event loop) is not mistaken
    for a stuck one."""
    server = start_server(
        "pid_app:app", "--workers", "2", "--timeout-worker-healthcheck", "1"
    )
    pids = collect_pids(server, 2)
    response = requests.get(server.url("/block?4"), timeout=30)
    assert response.status_code == 200
    blocked = response.json()["pid"]
    assert blocked in pids
    assert "did not answer a health check" not in server.stderr, server.stderr[-3000:]
    assert pid_alive(blocked)
    assert collect_pids(server, 2) == pids
    assert server.stop() == 0


def test_zero_healthcheck_timeout_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        serve_args(
            "pid_app:app", "--workers", "2", "--timeout-worker-healthcheck", "0",
            port=free_port(),
        ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=server_env(),
        timeout=30,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 1
    assert "--timeout-worker-healthcheck must be greater than 0" in result.stderr
