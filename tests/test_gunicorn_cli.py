"""gunicorn's command line and config file: --bind in all its forms (several at once, unix:,
fd://), -k worker classes, --access-logformat compared with what real gunicorn prints for the same
request, JSON access lines, and -c gunicorn.conf.py (Python, refused settings and hooks, command
line over file)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from conftest import APPS_DIR, ServerFactory, free_port, require_binary, server_env

APP = "gunicorn_app:app"


def covetpy(*args: str) -> list[str]:
    return [str(require_binary()), "serve", APP, "--app-dir", str(APPS_DIR), *args]


def unix_get(path: str, target: str = "/") -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(path)
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


def wait_for(read: object, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        content = read()  # type: ignore[operator]
        if text in content or time.monotonic() > deadline:
            return content  # type: ignore[no-any-return]
        time.sleep(0.05)


def run_refused(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=server_env(), capture_output=True, text=True, timeout=30, check=False
    )


# --bind


@pytest.mark.parametrize("workers", ["1", "2"])
def test_two_binds_tcp_and_unix(start_server: ServerFactory, tmp_path: Path, workers: str) -> None:
    port = free_port()
    path = str(tmp_path / "g.sock")
    args = covetpy("-b", f"127.0.0.1:{port}", "-b", f"unix:{path}", "-w", workers)
    server = start_server.spawn(args, port=port)
    assert requests.get(server.url("/"), timeout=10).text.startswith("hello")
    assert b"hello from" in unix_get(path)
    line = server.wait_for_stderr("running on")
    assert f"http://127.0.0.1:{port}" in line and path in line, line
    assert server.stop() == 0


def test_bind_ipv6_brackets(start_server: ServerFactory) -> None:
    port = free_port()
    server = start_server.spawn(covetpy("--bind", f"[::1]:{port}"), wait=False)
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("::1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline or server.proc.poll() is not None:
                pytest.fail(server.stderr)
            time.sleep(0.05)
    assert requests.get(f"http://[::1]:{port}/", timeout=10).status_code == 200


def test_bind_fd_serves_an_inherited_socket(start_server: ServerFactory) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    fd = listener.fileno()
    server = start_server.spawn(covetpy("-b", f"fd://{fd}"), port=port, pass_fds=(fd,))
    listener.close()
    assert requests.get(server.url("/"), timeout=10).status_code == 200


def test_bind_refuses_mixing_and_bad_addresses(tmp_path: Path) -> None:
    mixed = run_refused(covetpy("-b", "127.0.0.1:1", "--port", "2"), tmp_path)
    assert mixed.returncode != 0 and "--port" in mixed.stderr, mixed.stderr
    bad = run_refused(covetpy("-b", "127.0.0.1:http"), tmp_path)
    assert bad.returncode == 1 and '--bind "127.0.0.1:http"' in bad.stderr, bad.stderr


# -k and friends


def test_uvicorn_worker_class_is_accepted_with_one_line(start_server: ServerFactory) -> None:
    port = free_port()
    args = covetpy("-b", f"127.0.0.1:{port}", "-k", "uvicorn.workers.UvicornWorker")
    server = start_server.spawn(args, port=port)
    line = server.wait_for_stderr("--worker-class")
    assert "covetpy serves the app itself" in line, line


@pytest.mark.parametrize("cls", ["gevent", "eventlet", "tornado"])
def test_cooperative_worker_classes_are_refused(tmp_path: Path, cls: str) -> None:
    done = run_refused(covetpy("-k", cls), tmp_path)
    assert done.returncode == 1
    assert f"{cls} workers are not supported" in done.stderr, done.stderr


def test_log_files_pid_file_env_and_chdir(start_server: ServerFactory, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    port = free_port()
    args = covetpy(
        "-b", f"127.0.0.1:{port}", "--chdir", str(work), "--access-logfile", "access.log",
        "--error-logfile", "error.log", "--pid", "app.pid", "-e", "GREETING=hi there",
    )  # fmt: skip
    server = start_server.spawn(args, port=port)
    assert requests.get(server.url("/env?GREETING"), timeout=10).text == "hi there"
    assert int((work / "app.pid").read_text()) == server.proc.pid
    access = wait_for(lambda: (work / "access.log").read_text(), "/env?GREETING")
    assert '"GET /env?GREETING HTTP/1.1" 200' in access
    assert "running on" in (work / "error.log").read_text()
    assert server.stop() == 0
    assert not (work / "app.pid").exists()


# --access-logformat

# Every atom that does not depend on the moment or the process.
STABLE = (
    '%(h)s %(l)s %(u)s "%(r)s" %(s)s %(b)s %(B)s "%(f)s" "%(a)s" %(m)s %(U)s %(q)s %(H)s '
    "%({x-test}i)s %({X-Custom}o)s %({request_method}e)s %({http_x_test}e)s %(nope)s"
)
TIMED = "%(t)s|%(T)s|%(D)s|%(M)s|%(L)s|%(p)s"
HEADERS = {
    "User-Agent": "tester/1.0",
    "Referer": "http://example.com/from",
    "X-Test": 'a "quoted" value',
    "Authorization": "Basic dXNlcjpwYXNz",
}


def request_line(base: str) -> None:
    response = requests.get(base + "/p%20a/b?x=1&y=2", headers=HEADERS, timeout=10)
    assert response.status_code == 200


def gunicorn_line(tmp_path: Path, fmt: str) -> str:
    """The access line real gunicorn prints for the same request."""
    port = free_port()
    log = tmp_path / "gunicorn-access.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{port}", "--chdir", str(APPS_DIR),
         "--access-logfile", str(log), "--access-logformat", fmt, APP],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("gunicorn did not start")
                time.sleep(0.1)
        request_line(f"http://127.0.0.1:{port}")
        return wait_for(lambda: log.read_text() if log.exists() else "", "\n").splitlines()[0]
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(10)


def covetpy_line(start_server: ServerFactory, fmt: str) -> str:
    port = free_port()
    server = start_server.spawn(covetpy("-b", f"127.0.0.1:{port}", "--access-logformat", fmt), port=port)
    request_line(server.base_url)
    return wait_for(lambda: server.stdout, "\n").splitlines()[0]


def test_access_logformat_atoms_match_gunicorn(start_server: ServerFactory, tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    ours = covetpy_line(start_server, STABLE)
    theirs = gunicorn_line(tmp_path, STABLE)
    assert ours == theirs
    assert ours.startswith('127.0.0.1 - user "GET /p%20a/b?x=1&y=2 HTTP/1.1" 200 39 39 '), ours
    assert 'a \\"quoted\\" value' in ours and ours.endswith(" -"), ours


def test_access_logformat_time_atoms(start_server: ServerFactory) -> None:
    t, secs, micros, millis, decimal, pid = covetpy_line(start_server, TIMED).split("|")
    assert re.fullmatch(r"\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\]", t), t
    assert int(micros) // 1_000_000 == int(secs) and int(micros) // 1000 == int(millis)
    assert decimal == f"{int(micros) // 1_000_000}.{int(micros) % 1_000_000:06d}"
    assert re.fullmatch(r"<\d+>", pid)


def test_request_time_covers_the_body(start_server: ServerFactory) -> None:
    """T/D are measured to the end of the response body, as gunicorn logs after the last byte."""
    port = free_port()
    args = ["-b", f"127.0.0.1:{port}", "--access-logformat", "%(U)s %(D)s %(B)s"]
    server = start_server.spawn(
        [str(require_binary()), "serve", "stream_app:app", "--app-dir", str(APPS_DIR), *args],
        port=port,
    )
    with requests.get(server.url("/gated?key=g"), stream=True, timeout=20) as stream:
        chunks = stream.iter_content(chunk_size=None)  # kept: a dropped iterator closes the stream
        first = next(chunks)
        time.sleep(0.6)  # the response head and first chunk are out; the body is not over
        assert server.stdout == "", "logged before the body ended"
        requests.get(server.url("/release?key=g"), timeout=10)
        content = first + b"".join(chunks)
    lines = wait_for(lambda: server.stdout, "/gated").splitlines()
    line = next(line for line in lines if line.startswith("/gated "))
    path, micros, sent = line.split()
    assert path == "/gated" and int(sent) == len(content) > 0, (line, content)
    assert int(micros) >= 500_000, line


def test_bad_access_logformat_is_refused(tmp_path: Path) -> None:
    done = run_refused(covetpy("--access-logformat", "%(h)s 100%"), tmp_path)
    assert done.returncode == 1 and "--access-logformat" in done.stderr, done.stderr


def test_json_access_lines(start_server: ServerFactory) -> None:
    port = free_port()
    server = start_server.spawn(covetpy("-b", f"127.0.0.1:{port}", "--access-logformat", "json"), port=port)
    given = requests.get(server.url("/a?b=1"), headers={"X-Request-ID": "abc-123"}, timeout=10)
    generated = requests.get(server.url("/second"), timeout=10)
    assert given.headers["x-request-id"] == "abc-123"
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    lines = wait_for(lambda: server.stdout, "/second").splitlines()
    first, second = (json.loads(line) for line in lines[:2])
    assert first["method"] == "GET" and first["path"] == "/a" and first["query"] == "b=1"
    assert first["status"] == 200 and first["bytes"] == len(given.content)
    assert first["request_id"] == "abc-123" and first["client"].startswith("127.0.0.1:")
    assert second["request_id"] == generated.headers["x-request-id"]
    assert isinstance(first["duration"], float) and first["time"].endswith("Z")


# -c gunicorn.conf.py


def test_config_file_is_python_and_the_command_line_wins(start_server: ServerFactory, tmp_path: Path) -> None:
    file_port, cli_port = free_port(), free_port()
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(
        "import multiprocessing\n"
        f"bind = ['127.0.0.1:{file_port}']\n"
        "workers = min(multiprocessing.cpu_count(), 2)\n"
        "cores = multiprocessing.cpu_count()  # the file's own variable: skipped\n"
        "keepalive = 2\n"
        "raw_env = ['FROM_CONF=yes']\n"
        "accesslog = '-'\n"
        "loglevel = 'INFO'\n"
        "def helper():\n    return 1\n"
    )
    server = start_server.spawn(covetpy("-c", str(conf)), port=file_port)
    assert requests.get(server.url("/env?FROM_CONF"), timeout=10).text == "yes"
    assert "with 2 workers" in server.wait_for_stderr("with 2 workers") or os.cpu_count() == 1
    assert server.stop() == 0
    args = covetpy("-c", str(conf), "-b", f"127.0.0.1:{cli_port}", "-w", "1")
    server = start_server.spawn(args, port=cli_port)
    assert requests.get(server.url("/"), timeout=10).status_code == 200
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", file_port), timeout=1).close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("worker_connections = 1000\n", "gunicorn settings covetpy does not support: worker_connections"),
        ("preload_app = True\n", "does not support: preload_app"),
        ("def post_fork(server, worker):\n    pass\n", "server hooks are not supported: post_fork"),
        ("workers = 1 / 0\n", "ZeroDivisionError"),
    ],
)
def test_config_file_refusals(tmp_path: Path, text: str, message: str) -> None:
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(text)
    done = run_refused(covetpy("-c", str(conf)), tmp_path)
    assert done.returncode == 1 and message in done.stderr, done.stderr
