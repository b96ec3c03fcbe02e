"""Command line: --version, bad app paths, ports, --factory, --uds, logging."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests
from conftest import APPS_DIR, ServerFactory, require_binary, run_to_exit, server_env
from rawhttp import RawConnection, request_bytes


def assert_clean_failure(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "panicked" not in result.stderr, result.stderr


def test_version() -> None:
    result = subprocess.run(
        [str(require_binary()), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        env=server_env(),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"\b\d+\.\d+\.\d+", result.stdout), result.stdout


def test_missing_module() -> None:
    result = run_to_exit("covet_no_such_module:app")
    assert_clean_failure(result)
    assert "covet_no_such_module" in result.stderr


def test_missing_attribute() -> None:
    result = run_to_exit("echo_app:no_such_attribute")
    assert_clean_failure(result)
    assert "no_such_attribute" in result.stderr
    assert "echo_app" in result.stderr


def test_missing_dotted_attribute() -> None:
    result = run_to_exit("factory_app:holder.missing_attr")
    assert_clean_failure(result)
    assert "missing_attr" in result.stderr
    assert "factory_app" in result.stderr


def test_app_path_without_colon() -> None:
    result = run_to_exit("echo_app")
    assert result.returncode != 0, result.stderr
    assert "panicked" not in result.stderr
    assert "echo_app" in result.stderr


def test_import_error_shows_traceback() -> None:
    result = run_to_exit("broken_app:app")
    assert_clean_failure(result)
    assert "Traceback" in result.stderr
    assert "covet-test: broken_app raised during import" in result.stderr


def test_missing_dependency_shows_traceback() -> None:
    result = run_to_exit("missing_dep_app:app")
    assert_clean_failure(result)
    assert "covet_nonexistent_dependency" in result.stderr
    assert "Traceback" in result.stderr


def test_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        args = [
            str(require_binary()),
            "serve",
            "echo_app:app",
            "--app-dir",
            str(APPS_DIR),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=30,
            env=server_env(),
            check=False,
        )
    assert_clean_failure(result)
    lowered = result.stderr.lower()
    assert "in use" in lowered or str(port) in lowered, result.stderr


def test_port_zero_picks_a_free_port(start_server: ServerFactory) -> None:
    server = start_server("echo_app:app", port=0, wait=False)
    # with --port 0 the log line is the only place to learn the port
    deadline = time.monotonic() + 15
    match = None
    while match is None and time.monotonic() < deadline:
        assert server.proc.poll() is None, server.stderr
        match = re.search(r"http://127\.0\.0\.1:(\d+)", server.stderr)
        time.sleep(0.05)
    assert match, server.stderr
    port = int(match.group(1))
    assert port != 0
    response = requests.get(f"http://127.0.0.1:{port}/zero", timeout=15)
    assert response.json()["path"] == "/zero"


def test_factory(start_server: ServerFactory) -> None:
    server = start_server("factory_app:create_app", "--factory")
    response = requests.get(server.url("/"), timeout=15)
    assert response.status_code == 200
    assert response.text == "made by factory"


def test_dotted_attribute(start_server: ServerFactory) -> None:
    server = start_server("factory_app:holder.app")
    assert requests.get(server.url("/"), timeout=15).text == "plain app via holder"


def uds_get(path: str, target: str) -> dict[str, object]:
    with RawConnection.unix(path) as conn:
        conn.send(request_bytes("GET", target, [("Host", "localhost")]))
        response = conn.read_response()
    assert response.status == 200, response.body
    scope: dict[str, object] = json.loads(response.body)
    return scope


def test_unix_socket(start_server: ServerFactory, tmp_path: Path) -> None:
    path = str(tmp_path / "covet.sock")
    server = start_server("echo_app:app", uds=path)
    scope = uds_get(path, "/over/uds?x=1")
    assert scope["path"] == "/over/uds"
    assert scope["query_string"] == "x=1"
    assert scope["type"] == "http"
    assert server.stop() == 0


def test_unix_socket_stale_file_is_replaced(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    path = str(tmp_path / "stale.sock")
    first = start_server("echo_app:app", uds=path)
    first.kill()  # leaves the socket file behind
    start_server("echo_app:app", uds=path)
    assert uds_get(path, "/again")["path"] == "/again"


ACCESS_LINE = re.compile(
    r'INFO:\s+127\.0\.0\.1:(\d+) - "GET /logged\?q=1 HTTP/1\.1" 200'
)


def test_access_log_on_stdout(start_server: ServerFactory) -> None:
    server = start_server("echo_app:app")
    assert server.port is not None
    with RawConnection.tcp(server.port) as conn:
        conn.send(request_bytes("GET", "/logged?q=1"))
        assert conn.read_response().status == 200
        client_port = conn.local_port
    requests.post(server.url("/posted"), data=b"x", timeout=15)
    assert server.stop() == 0
    match = ACCESS_LINE.search(server.stdout)
    assert match, f"no access log line on stdout:\n{server.stdout}"
    assert int(match.group(1)) == client_port
    assert re.search(r'"POST /posted HTTP/1\.1" 200', server.stdout), server.stdout
    assert not ACCESS_LINE.search(server.stderr)


def test_access_log_shows_error_status(start_server: ServerFactory) -> None:
    server = start_server("errors_app:app")
    assert requests.get(server.url("/before"), timeout=15).status_code == 500
    assert server.stop() == 0
    assert re.search(r'"GET /before HTTP/1\.1" 500', server.stdout), server.stdout


def test_no_access_log(start_server: ServerFactory) -> None:
    server = start_server("echo_app:app", "--no-access-log")
    assert requests.get(server.url("/logged?q=1"), timeout=15).status_code == 200
    assert server.stop() == 0
    assert "/logged" not in server.stdout
    assert "/logged" not in server.stderr


def test_log_level_warning_hides_info(start_server: ServerFactory) -> None:
    server = start_server("echo_app:app", "--log-level", "warning", "--no-access-log")
    assert requests.get(server.url("/"), timeout=15).status_code == 200
    assert server.stop(signal.SIGTERM) == 0
    assert "INFO:" not in server.stderr, server.stderr


def test_default_log_mentions_startup(start_server: ServerFactory) -> None:
    server = start_server("echo_app:app")
    assert server.stop() == 0
    assert f"http://127.0.0.1:{server.port}" in server.stderr, server.stderr


def test_interface_asgi(start_server: ServerFactory) -> None:
    server = start_server("echo_app:app", "--interface", "asgi")
    assert requests.get(server.url("/iface"), timeout=15).json()["path"] == "/iface"
