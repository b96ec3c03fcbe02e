"""covetpy as PID 1 of a new PID namespace (as in a container without `--init`): every orphaned
grandchild is reaped, the app's own subprocesses keep their exit statuses, and SIGTERM to PID 1 stops
the server cleanly with exit code 0.

The namespace comes from `unshare --pid --fork --mount-proc` (root only); its /proc is read through
/proc/<pid>/root/proc of covetpy's own host pid, so the zombies counted are exactly that namespace's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from conftest import ServerFactory, free_port, serve_args, server_env

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None,
    reason="needs root and unshare(1) to make a PID namespace",
)

REQUESTS = 6


def namespace_init(unshare_pid: int, timeout: float = 10.0) -> int:
    """The host pid of the process `unshare --fork` started: PID 1 of the new namespace."""
    deadline = time.monotonic() + timeout
    children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children")
    while time.monotonic() < deadline:
        pids = children.read_text().split()
        if pids:
            return int(pids[0])
        time.sleep(0.02)
    pytest.fail("unshare did not start its child")


def namespace_states(init_pid: int) -> dict[int, tuple[str, str]]:
    """Namespace pid -> (command name, state letter) of every process in the namespace, from its
    own /proc."""
    proc = Path(f"/proc/{init_pid}/root/proc")
    states: dict[int, tuple[str, str]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited (and reaped) while we listed
        name = stat.split("(", 1)[1].rsplit(")", 1)[0]
        states[int(entry.name)] = (name, stat.rsplit(")", 1)[1].split()[0])
    return states


def settled_zombies(init_pid: int, timeout: float = 10.0) -> list[int]:
    """Waits until every orphaned `sleep` has ended and no zombie is left (or `timeout` passes), then
    returns the zombies: none when PID 1 reaps, every ended orphan when it does not."""
    deadline = time.monotonic() + timeout
    while True:
        states = namespace_states(init_pid)
        running = [pid for pid, (name, state) in states.items() if name == "sleep" and state != "Z"]
        dead = sorted(pid for pid, (_, state) in states.items() if state == "Z")
        if (not running and not dead) or time.monotonic() > deadline:
            return dead
        time.sleep(0.1)


@pytest.mark.parametrize("workers", [None, 2], ids=["single-process", "two-workers"])
def test_pid1_reaps_orphans_and_stops_on_sigterm(
    start_server: ServerFactory, workers: int | None
) -> None:
    port = free_port()
    extra = ["--workers", str(workers)] if workers else []
    args = ["unshare", "--pid", "--fork", "--mount-proc", *serve_args("orphan_app:app", *extra, port=port)]
    server = start_server.spawn(args, port=port)
    init_pid = namespace_init(server.proc.pid)
    nspid = Path(f"/proc/{init_pid}/status").read_text().split("NSpid:")[1].split("\n")[0].split()
    assert nspid[-1] == "1", f"covetpy is not PID 1 of its namespace: NSpid {nspid}"

    for _ in range(REQUESTS):
        answer = requests.get(server.url("/"), timeout=10).json()
        # The app's own `subprocess.run` got its child's real status: no one else reaped it first.
        assert answer["returncode"] == 7, answer

    # Each request left a `sleep 0.3` orphaned; it ends soon after and is a zombie until PID 1 reaps it.
    left = settled_zombies(init_pid)
    assert not left, f"zombies left in the namespace: {left}; all processes: {namespace_states(init_pid)}"

    os.kill(init_pid, signal.SIGTERM)
    code = server.wait(20)
    assert code == 0, f"exit code {code}\nstderr:\n{server.stderr[-3000:]}"
    assert "Finished server process" in server.stderr or "Finished parent process" in server.stderr


def test_pid1_passes_the_exit_code_on() -> None:
    """A server that cannot start exits 1 whether or not it is PID 1: the init returns its code."""
    args = ["unshare", "--pid", "--fork", "--mount-proc", *serve_args("no_such_module:app", port=free_port())]
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=60, check=False, env=server_env()
    )
    assert done.returncode == 1, done.stderr
