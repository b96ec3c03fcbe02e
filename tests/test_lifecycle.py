"""Worker lifecycle in the supervisor: --reload (and its include/exclude rules),
SIGHUP rolling restarts, SIGTTIN/SIGTTOU, --timeout and --workers-max-rss.

Every replacement starts the new worker first and retires the old one once the
new one serves, so the load tests count failed requests and expect none."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from conftest import Server, ServerFactory, pid_alive

WRK = shutil.which("wrk")
NO_PYC = {"PYTHONDONTWRITEBYTECODE": "1"}


def get(server: Server, path: str = "/", timeout: float = 20.0) -> requests.Response:
    return requests.get(server.url(path), timeout=timeout)


def pid_of(server: Server) -> int:
    response = get(server)
    assert response.status_code == 200, response.text
    pid = int(response.headers["x-pid"]) if "x-pid" in response.headers else response.json()["pid"]
    assert isinstance(pid, int)
    return pid


def collect_pids(server: Server, want: int, attempts: int = 300) -> set[int]:
    seen: set[int] = set()
    for _ in range(attempts):
        seen.add(pid_of(server))
        if len(seen) >= want:
            break
    return seen


def wait_until_gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not pid_alive(pid)


def wait_for_body(server: Server, text: str, timeout: float) -> float:
    """Polls / until its body contains `text`; returns how long that took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if text in get(server, timeout=5).text:
                return time.monotonic() - start
        except requests.RequestException:
            pass
        time.sleep(0.02)
    pytest.fail(f"{text!r} was not served within {timeout}s\n{server.stderr[-3000:]}")


@contextmanager
def load(server: Server, seconds: int = 6) -> Iterator[dict[str, int | str]]:
    """Keeps 16 connections busy with GET / while the body runs (wrk when it is
    installed, else client threads opening a fresh connection per request); the
    dict gets the number of requests and failures after."""
    result: dict[str, int | str] = {}
    if WRK is not None:
        proc = subprocess.Popen(
            [WRK, "-t1", "-c16", f"-d{seconds}s", server.url("/")],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            time.sleep(1.0)  # let the load build up first
            yield result
        finally:
            out, _ = proc.communicate(timeout=seconds + 60)
        assert proc.returncode == 0, out
        match = re.search(r"(\d+) requests in", out)
        assert match, out
        result["requests"] = int(match.group(1))
        # wrk prints these lines only when there were failures.
        result["failures"] = int("Socket errors" in out or "Non-2xx" in out)
        result["report"] = out
        return
    deadline = time.monotonic() + seconds
    counts = {"requests": 0, "failures": 0}
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        while time.monotonic() < deadline:
            try:
                ok = requests.get(server.url("/"), timeout=20).status_code == 200
                error = "" if ok else "non-200"
            except requests.RequestException as exc:
                ok, error = False, repr(exc)
            with lock:
                counts["requests"] += 1
                if not ok:
                    counts["failures"] += 1
                    errors.append(error)

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)
        yield result
    finally:
        for thread in threads:
            thread.join()
    result.update(counts)
    result["report"] = "\n".join(errors[:10])


def assert_no_failures(result: dict[str, int | str], minimum: int = 100) -> None:
    assert result["failures"] == 0, result["report"]
    assert int(result["requests"]) >= minimum, result


# --reload

APP_V1 = '''
import os


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b"version one"
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"),
                            (b"x-pid", str(os.getpid()).encode())]})
    await send({"type": "http.response.body", "body": body})
'''


def reload_server(start_server: ServerFactory, tmp_path: Path, *extra: str) -> tuple[Server, Path]:
    source = tmp_path / "reload_app.py"
    source.write_text(APP_V1)
    server = start_server(
        "reload_app:app", "--reload", *extra, app_dir=tmp_path, env=NO_PYC
    )
    wait_for_body(server, "version one", 15)
    server.wait_for_stderr("Will watch for changes")
    return server, source


def test_reload_serves_edited_code_quickly(start_server: ServerFactory, tmp_path: Path) -> None:
    server, source = reload_server(start_server, tmp_path)
    old = pid_of(server)
    assert server.proc.pid != old, "--reload runs the app in a worker under the supervisor"
    source.write_text(APP_V1.replace("version one", "version two, edited"))
    # uvicorn restarts in well under a second: 0.25 s delay plus a fresh import.
    took = wait_for_body(server, "version two, edited", 10)
    print(f"edited code served after {took:.2f}s")
    assert took < 3.0, f"the edited code took {took:.2f}s to be served"
    assert "Detected changes in 'reload_app.py'. Reloading..." in server.stderr
    assert pid_of(server) != old
    assert wait_until_gone(old), "the old worker was not retired"
    assert server.stop() == 0


def test_reload_keeps_old_code_when_new_code_is_broken(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server, source = reload_server(start_server, tmp_path)
    old = pid_of(server)
    mark = server.stderr_size()
    source.write_text(APP_V1 + "\ndef broken(:\n")
    found = server.wait_for_stderr("goes on serving", start=mark, timeout=15)
    assert "SyntaxError" in found, found
    assert "Traceback" in found or "File " in found, found
    # The old code keeps answering every request meanwhile.
    for _ in range(20):
        response = get(server)
        assert response.status_code == 200 and response.text == "version one", response.text
        time.sleep(0.05)
    assert pid_of(server) == old
    source.write_text(APP_V1.replace("version one", "fixed version three"))
    wait_for_body(server, "fixed version three", 10)
    assert wait_until_gone(old)
    assert server.stop() == 0


def test_reload_import_error_is_printed(start_server: ServerFactory, tmp_path: Path) -> None:
    server, source = reload_server(start_server, tmp_path)
    mark = server.stderr_size()
    source.write_text("import no_such_module_for_covetpy_tests\n" + APP_V1)
    found = server.wait_for_stderr("goes on serving", start=mark, timeout=15)
    assert "ModuleNotFoundError" in found and "no_such_module_for_covetpy_tests" in found, found
    assert get(server).text == "version one"
    assert server.stop() == 0


def test_reload_waits_for_a_fix_when_the_first_import_fails(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """As uvicorn's reloader: an app that cannot be imported at start-up is
    retried on the next change instead of ending the server."""
    source = tmp_path / "reload_app.py"
    source.write_text("raise RuntimeError('not yet')\n")
    server = start_server("reload_app:app", "--reload", app_dir=tmp_path, env=NO_PYC, wait=False)
    found = server.wait_for_stderr("waiting for changes", timeout=15)
    assert "RuntimeError: not yet" in found, found
    assert server.proc.poll() is None
    source.write_text(APP_V1)
    server.wait_ready()
    wait_for_body(server, "version one", 10)
    assert server.stop() == 0


def test_reload_include_and_exclude(start_server: ServerFactory, tmp_path: Path) -> None:
    server, _ = reload_server(
        start_server,
        tmp_path,
        "--reload-include",
        "*.txt",
        "--reload-exclude",
        "skip_*.py",
        "--reload-delay",
        "0.1",
    )
    old = pid_of(server)
    # An excluded Python file and a file no rule includes: no restart.
    (tmp_path / "skip_me.py").write_text("x = 1\n")
    (tmp_path / "notes.md").write_text("hello\n")
    (tmp_path / ".hidden.py").write_text("x = 1\n")
    time.sleep(1.5)
    assert "Detected changes" not in server.stderr, server.stderr[-2000:]
    assert pid_of(server) == old
    # An included text file: restart.
    (tmp_path / "data.txt").write_text("changed\n")
    found = server.wait_for_stderr("Detected changes in 'data.txt'", timeout=10)
    assert "Detected changes in 'data.txt'" in found, found
    deadline = time.monotonic() + 10
    while pid_of(server) == old and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid_of(server) != old
    assert server.stop() == 0


def test_reload_with_workers_warns_as_uvicorn(start_server: ServerFactory, tmp_path: Path) -> None:
    server, _ = reload_server(start_server, tmp_path, "--workers", "3")
    assert '"workers" flag is ignored when reloading is enabled.' in server.stderr
    assert len(collect_pids(server, 2, attempts=30)) == 1
    assert "with 1 worker" in server.stderr
    assert server.stop() == 0


def test_reload_options_need_reload() -> None:
    result = subprocess.run(
        [server_bin(), "serve", "pid_app:app", "--reload-dir", "."],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "--reload" in result.stderr, result.stderr


def server_bin() -> str:
    from conftest import require_binary

    return str(require_binary())


# SIGHUP


def test_sighup_restarts_every_worker_without_failing_a_request(
    start_server: ServerFactory,
) -> None:
    server = start_server("pid_app:app", "--workers", "2", "--no-access-log")
    before = collect_pids(server, 2)
    assert len(before) == 2
    with load(server, seconds=6) as result:
        server.send_signal(signal.SIGHUP)
        time.sleep(3)
    assert_no_failures(result)
    assert "Handling signal: hup" in server.stderr
    after = collect_pids(server, 2)
    assert len(after) == 2 and not (after & before), (before, after)
    for pid in before:
        assert wait_until_gone(pid)
    assert server.stop() == 0


# SIGTTIN / SIGTTOU


def test_ttin_adds_and_ttou_removes_workers_without_failing_a_request(
    start_server: ServerFactory,
) -> None:
    server = start_server("pid_app:app", "--workers", "2", "--no-access-log")
    assert len(collect_pids(server, 2)) == 2
    server.send_signal(signal.SIGTTIN)
    assert "now 3 worker(s)" in server.wait_for_stderr("now 3 worker(s)")
    three = collect_pids(server, 3)
    assert len(three) == 3, three
    with load(server, seconds=7) as result:
        server.send_signal(signal.SIGTTOU)
        time.sleep(2.5)
        server.send_signal(signal.SIGTTOU)
        time.sleep(2.5)
    assert_no_failures(result)
    assert "now 1 worker(s)" in server.stderr
    gone = [pid for pid in three if not pid_alive(pid)]
    assert len(gone) == 2, f"two of {three} should have retired"
    left = collect_pids(server, 2, attempts=40)
    assert len(left) == 1 and left <= three
    # Never below one.
    server.send_signal(signal.SIGTTOU)
    assert "Not removing the last worker" in server.wait_for_stderr("Not removing the last worker")
    assert pid_of(server) in left
    assert server.stop() == 0


def test_single_process_explains_supervisor_signals(start_server: ServerFactory) -> None:
    server = start_server("pid_app:app")
    pid = pid_of(server)
    assert pid == server.proc.pid
    server.send_signal(signal.SIGHUP)
    server.send_signal(signal.SIGTTIN)
    assert "SIGTTIN ignored" in server.wait_for_stderr("SIGTTIN ignored")
    assert "SIGHUP ignored" in server.stderr
    assert pid_of(server) == pid, "the process neither died nor stopped"
    assert server.stop() == 0


# --timeout


@pytest.mark.parametrize("app", ["lifecycle_app:app", "lifecycle_wsgi:app"])
def test_timeout_answers_504_and_replaces_the_worker(
    start_server: ServerFactory, app: str
) -> None:
    server = start_server(app, "--timeout", "1")
    old = pid_of(server)
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(get, server, "/sleep?6", 20)
        time.sleep(0.2)
        # Another connection meanwhile is served normally.
        other = get(server, "/sleep?0.1")
        assert other.status_code == 200
        started = time.monotonic()
        response = slow.result()
        waited = time.monotonic() - started
    assert response.status_code == 504, response.text
    assert waited < 4.5, f"the 504 came after {waited:.1f}s, not at the 1 s timeout"
    assert "ran past --timeout" in server.wait_for_stderr("ran past --timeout")
    deadline = time.monotonic() + 15
    while pid_of(server) == old and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pid_of(server) != old, "the worker was not replaced"
    assert wait_until_gone(old, 20), "the timed-out worker did not go"
    assert server.proc.poll() is None
    assert server.stop() == 0


def test_timeout_kills_a_worker_that_cannot_drain(start_server: ServerFactory) -> None:
    """time.sleep in an async handler blocks the event loop: the worker can answer
    the 504 (from Rust) but never finishes its shutdown, so it is killed."""
    server = start_server("lifecycle_app:app", "--timeout", "1")
    old = pid_of(server)
    response = get(server, "/block?60", 20)
    assert response.status_code == 504
    assert wait_until_gone(old, 20), "the stuck worker was never killed"
    assert "did not finish within" in server.stderr
    assert pid_of(server) != old
    assert server.stop() == 0


def test_timeout_does_not_touch_fast_requests(start_server: ServerFactory) -> None:
    server = start_server("lifecycle_app:app", "--timeout", "2")
    old = pid_of(server)
    for _ in range(5):
        assert get(server, "/sleep?0.2").status_code == 200
    assert pid_of(server) == old
    assert "ran past --timeout" not in server.stderr
    assert server.stop() == 0


# --workers-max-rss


def test_worker_over_max_rss_is_replaced(start_server: ServerFactory) -> None:
    server = start_server("lifecycle_app:app", "--workers-max-rss", "150")
    old = pid_of(server)
    assert get(server, "/grow?20").status_code == 200
    time.sleep(2.5)
    assert pid_of(server) == old, "a worker under the limit was replaced"
    stop = threading.Event()
    failures: list[int] = []

    def keep_asking() -> None:
        while not stop.is_set():
            status = get(server, "/").status_code
            if status != 200:
                failures.append(status)

    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        assert get(server, "/grow?200").status_code == 200
        deadline = time.monotonic() + 15
        while pid_of(server) == old and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        asker.join()
    assert pid_of(server) != old, server.stderr[-2000:]
    assert "more than --workers-max-rss 150 MiB" in server.stderr
    assert not failures, failures
    assert wait_until_gone(old)
    assert server.stop() == 0
