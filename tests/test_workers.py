"""--workers N runs N worker processes under a supervisor."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import requests
from conftest import Server, ServerFactory, pid_alive
from rawhttp import RawConnection, request_bytes


def collect_pids(server: Server, want: int, attempts: int = 300) -> dict[int, int]:
    """pid -> ppid, from fresh connections, until `want` distinct pids seen."""
    seen: dict[int, int] = {}
    for _ in range(attempts):
        try:
            data = requests.get(server.url("/"), timeout=10).json()
        except requests.ConnectionError:
            time.sleep(0.05)
            continue
        seen[data["pid"]] = data["ppid"]
        if len(seen) >= want:
            break
    return seen


def test_two_workers_serve_and_stop(start_server: ServerFactory) -> None:
    server = start_server("pid_app:app", "--workers", "2")
    pids = collect_pids(server, 2)
    assert len(pids) == 2, f"only saw worker pids {pids}"
    assert server.proc.pid not in pids
    assert all(ppid == server.proc.pid for ppid in pids.values()), pids

    assert server.stop(signal.SIGTERM) == 0
    deadline = time.monotonic() + 10
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if pid_alive(pid)], (
        "workers outlived the supervisor"
    )


def test_dead_worker_is_replaced(start_server: ServerFactory) -> None:
    server = start_server("pid_app:app", "--workers", "2")
    pids = collect_pids(server, 2)
    assert len(pids) == 2, f"only saw worker pids {pids}"
    victim = next(iter(pids))
    os.kill(victim, signal.SIGKILL)

    deadline = time.monotonic() + 20
    replacement: set[int] = set()
    while time.monotonic() < deadline and not replacement:
        replacement = set(collect_pids(server, 3, attempts=20)) - set(pids)
    assert replacement, "no new worker appeared after one was killed"
    assert victim not in replacement
    assert server.proc.poll() is None
    assert server.stop(signal.SIGTERM) == 0


def children(pid: int) -> list[int]:
    """Live child processes of `pid` that run the same executable."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) != pid or fields[0] == "Z":
            continue
        try:
            same_exe = os.readlink(entry / "exe") == exe
        except OSError:
            continue
        if same_exe:
            found.append(int(entry.name))
    return found


def test_workers_on_unix_socket(start_server: ServerFactory, tmp_path: Path) -> None:
    path = str(tmp_path / "workers.sock")
    server = start_server("pid_app:app", "--workers", "2", uds=path)
    seen = set()
    for _ in range(20):
        with RawConnection.unix(path) as conn:
            conn.send(request_bytes("GET", "/"))
            response = conn.read_response()
        assert response.status == 200
        data = json.loads(response.body)
        assert data["ppid"] == server.proc.pid
        seen.add(data["pid"])
    deadline = time.monotonic() + 15
    workers = children(server.proc.pid)
    while len(workers) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        workers = children(server.proc.pid)
    assert len(workers) == 2, f"supervisor children: {workers}"
    assert seen <= set(workers)
    assert server.stop() == 0


def test_workers_graceful_shutdown(start_server: ServerFactory, tmp_path: Path) -> None:
    """SIGTERM to the supervisor: the worker with an in-flight request finishes
    it, every worker runs lifespan shutdown, and the supervisor exits 0."""
    files = {
        "COVET_STARTED_FILE": tmp_path / "started",
        "COVET_RELEASE_FILE": tmp_path / "release",
        "COVET_SHUTDOWN_FILE": tmp_path / "shutdown",
    }
    server = start_server(
        "slow_app:app",
        "--workers",
        "2",
        "--timeout-graceful-shutdown",
        "none",
        env={k: str(v) for k, v in files.items()},
    )
    outcome: dict[str, object] = {}

    def in_flight() -> None:
        try:
            response = requests.get(server.url("/gated"), timeout=60)
            outcome["result"] = (response.status_code, response.text)
        except requests.RequestException as exc:
            outcome["result"] = exc

    thread = threading.Thread(target=in_flight, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not files["COVET_STARTED_FILE"].exists():
        assert time.monotonic() < deadline, "request never reached a worker"
        time.sleep(0.05)
    # make sure both workers are up (and so will both run lifespan shutdown)
    deadline = time.monotonic() + 15
    while len(children(server.proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(children(server.proc.pid)) == 2

    server.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # let the signal reach the workers; not a timing assertion
    assert server.proc.poll() is None, "supervisor exited with a request in flight"
    files["COVET_RELEASE_FILE"].touch()
    thread.join(30)
    assert outcome.get("result") == (200, "slow request finished"), outcome
    assert server.wait() == 0
    shutdowns = files["COVET_SHUTDOWN_FILE"].read_text()
    assert shutdowns.count("lifespan.shutdown") == 2, shutdowns


def test_sigint_stops_workers(start_server: ServerFactory) -> None:
    server = start_server("pid_app:app", "--workers", "2")
    pids = collect_pids(server, 2)
    assert len(pids) == 2
    assert server.stop(signal.SIGINT) == 0
    deadline = time.monotonic() + 10
    while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in pids if pid_alive(pid)]


def test_gunicorn_w_sets_workers(start_server: ServerFactory) -> None:
    server = start_server("pid_app:app", "-w", "2")
    pids = collect_pids(server, 2)
    assert len(pids) == 2, pids
    assert server.stop() == 0


def test_web_concurrency_sets_default_workers(start_server: ServerFactory) -> None:
    server = start_server("pid_app:app", env={"WEB_CONCURRENCY": "2"})
    pids = collect_pids(server, 2)
    assert len(pids) == 2, pids
    assert server.stop() == 0
