"""ASGI lifespan protocol: startup/shutdown, state, failures, unsupported apps."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import requests
from conftest import ServerFactory, run_to_exit

FAILURE_MESSAGE = "covet-test: database unreachable at startup"


def marker_env(tmp_path: Path) -> dict[str, str]:
    return {
        "COVET_STARTUP_FILE": str(tmp_path / "startup.txt"),
        "COVET_SHUTDOWN_FILE": str(tmp_path / "shutdown.txt"),
    }


def test_startup_state_visible_in_requests(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    server = start_server(
        "lifespan_app:app", "--lifespan", "on", env=marker_env(tmp_path)
    )
    data = requests.get(server.url("/"), timeout=15).json()
    assert (tmp_path / "startup.txt").read_text() == "lifespan.startup"
    assert data["has_state"] is True
    assert data["state"]["greeting"] == "hello from lifespan"
    assert data["state"]["numbers"] == [1, 2, 3]
    assert data["state"]["startup_pid"] == data["pid"]
    lifespan = data["lifespan"]
    assert lifespan["asgi"]["version"] == "3.0"
    assert lifespan["has_state"] is True
    assert lifespan["first_message"] == "lifespan.startup"


def test_request_state_is_a_copy(start_server: ServerFactory) -> None:
    server = start_server("lifespan_app:app")
    first = requests.get(server.url("/mutate"), timeout=15).json()
    assert "added_by_request" not in first["state"]
    second = requests.get(server.url("/"), timeout=15).json()
    assert second["state"]["greeting"] == "hello from lifespan"
    assert "added_by_request" not in second["state"], (
        "a key added to scope['state'] by one request leaked into the next one"
    )


def test_shutdown_runs_on_sigterm(start_server: ServerFactory, tmp_path: Path) -> None:
    server = start_server("lifespan_app:app", env=marker_env(tmp_path))
    assert requests.get(server.url("/"), timeout=15).status_code == 200
    assert not (tmp_path / "shutdown.txt").exists()
    assert server.stop(signal.SIGTERM) == 0
    assert (tmp_path / "shutdown.txt").read_text() == "lifespan.shutdown"


def test_shutdown_runs_on_sigint(start_server: ServerFactory, tmp_path: Path) -> None:
    server = start_server("lifespan_app:app", env=marker_env(tmp_path))
    assert server.stop(signal.SIGINT) == 0
    assert (tmp_path / "shutdown.txt").read_text() == "lifespan.shutdown"


def test_startup_failure_exits_3(tmp_path: Path) -> None:
    result = run_to_exit("lifespan_fail_app:app")
    assert result.returncode == 3, result.stderr
    assert FAILURE_MESSAGE in result.stderr


def test_startup_failure_exits_3_with_lifespan_on(tmp_path: Path) -> None:
    result = run_to_exit("lifespan_fail_app:app", "--lifespan", "on")
    assert result.returncode == 3, result.stderr
    assert FAILURE_MESSAGE in result.stderr


def test_unsupported_lifespan_with_auto_still_serves(
    start_server: ServerFactory,
) -> None:
    server = start_server("lifespan_unsupported_app:app", "--lifespan", "auto")
    response = requests.get(server.url("/"), timeout=15)
    assert response.status_code == 200
    assert response.text == "served without lifespan"
    assert server.stop() == 0


def test_unsupported_lifespan_default_is_auto(start_server: ServerFactory) -> None:
    server = start_server("lifespan_unsupported_app:app")
    assert requests.get(server.url("/"), timeout=15).text == "served without lifespan"


def test_unsupported_lifespan_with_on_fails(tmp_path: Path) -> None:
    result = run_to_exit("lifespan_unsupported_app:app", "--lifespan", "on")
    assert result.returncode != 0, result.stderr
    assert "covet-test: unsupported scope type lifespan" in result.stderr


def test_lifespan_off_never_calls_lifespan(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    env = marker_env(tmp_path)
    server = start_server("lifespan_app:app", "--lifespan", "off", env=env)
    data = requests.get(server.url("/"), timeout=15).json()
    assert not (data["state"] or {}).get("greeting")
    assert data["lifespan"] == {}
    assert server.stop() == 0
    assert not os.path.exists(env["COVET_STARTUP_FILE"])
    assert not os.path.exists(env["COVET_SHUTDOWN_FILE"])


def test_lifespan_off_unsupported_app_not_called(start_server: ServerFactory) -> None:
    server = start_server("lifespan_unsupported_app:app", "--lifespan", "off")
    assert requests.get(server.url("/"), timeout=15).text == "served without lifespan"
    assert server.stop() == 0
    assert "unsupported scope type" not in server.stderr
