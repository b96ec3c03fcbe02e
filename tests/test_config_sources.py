"""Where settings come from: COVETPY_*/UVICORN_* variables, covetpy.toml, pyproject.toml, --env-file;
and --log-config, --use-colors, --loop, --http/--ws as uvicorn has them."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import APPS_DIR, Server, ServerFactory, free_port, require_binary, run_to_exit

APP = "config_app:app"
ACCESS_MARK = '"GET /probe HTTP/1.1" 200'


def bare_args(*extra: str, app: str | None = APP) -> list[str]:
    """`covetpy serve APP --app-dir tests/apps EXTRA`, with no --host/--port of the fixtures."""
    args = [str(require_binary()), "serve"]
    if app is not None:
        args.append(app)
    return args + ["--app-dir", str(APPS_DIR), *extra]


def report(server: Server, path: str = "/") -> dict[str, Any]:
    response = requests.get(server.url(path), timeout=10)
    assert response.status_code == 200, response.text
    data = response.json()
    assert isinstance(data, dict)
    return data


def stopped(server: Server) -> Server:
    """Stop the server so that everything it logged has been written out."""
    assert server.stop(signal.SIGTERM) == 0, server.stderr
    return server


def one_line_error(result: Any) -> str:
    assert result.returncode == 1, (result.returncode, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "panicked" not in result.stderr
    return str(lines[0])


# --- environment variables -------------------------------------------------------------------------


def test_covetpy_env_var_sets_the_port(start_server: ServerFactory) -> None:
    port = free_port()
    server = start_server.spawn(bare_args(), port=port, env={"COVETPY_PORT": str(port)})
    assert f"running on http://127.0.0.1:{port}" in server.wait_for_stderr("running on")
    assert report(server)["loop_module"]


def test_uvicorn_env_var_sets_the_port(start_server: ServerFactory) -> None:
    port = free_port()
    server = start_server.spawn(bare_args(), port=port, env={"UVICORN_PORT": str(port)})
    assert f"running on http://127.0.0.1:{port}" in server.wait_for_stderr("running on")


def test_covetpy_env_var_beats_uvicorn(start_server: ServerFactory) -> None:
    ours, theirs = free_port(), free_port()
    env = {"COVETPY_PORT": str(ours), "UVICORN_PORT": str(theirs)}
    server = start_server.spawn(bare_args(), port=ours, env=env)
    assert f"running on http://127.0.0.1:{ours}" in server.wait_for_stderr("running on")


def test_command_line_beats_environment(start_server: ServerFactory) -> None:
    cli, env_port = free_port(), free_port()
    env = {"COVETPY_PORT": str(env_port), "UVICORN_PORT": str(env_port)}
    server = start_server.spawn(bare_args("--port", str(cli)), port=cli, env=env)
    assert f"running on http://127.0.0.1:{cli}" in server.wait_for_stderr("running on")


def test_app_from_environment(start_server: ServerFactory) -> None:
    port = free_port()
    server = start_server.spawn(bare_args("--port", str(port), app=None), port=port, env={"UVICORN_APP": APP})
    assert "loop_module" in report(server)


@pytest.mark.parametrize("value", ["false", "0", "no", "off", "F"])
def test_boolean_env_var_spellings(start_server: ServerFactory, value: str) -> None:
    port = free_port()
    server = start_server.spawn(bare_args("--port", str(port)), port=port, env={"UVICORN_ACCESS_LOG": value})
    requests.get(server.url("/probe"), timeout=10)
    assert ACCESS_MARK not in stopped(server).stdout


def test_true_env_var_turns_a_flag_on(start_server: ServerFactory) -> None:
    port = free_port()
    server = start_server.spawn(bare_args("--port", str(port)), port=port, env={"COVETPY_USE_COLORS": "yes"})
    assert "\x1b[32mINFO\x1b[0m:" in stopped(server).stderr


def test_bad_boolean_is_refused() -> None:
    line = one_line_error(run_to_exit(APP, env={"COVETPY_FACTORY": "maybe"}))
    assert "COVETPY_FACTORY" in line


def test_bad_value_from_environment_names_its_source() -> None:
    result = run_to_exit(APP, env={"COVETPY_TIMEOUT_KEEP_ALIVE": "soon"})
    assert result.returncode == 2, result.stderr
    assert "--timeout-keep-alive=soon (COVETPY_TIMEOUT_KEEP_ALIVE)" in result.stderr


# --- settings files --------------------------------------------------------------------------------


def test_pyproject_table(start_server: ServerFactory, tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "x"\n\n[tool.covetpy]\napp = "{APP}"\napp_dir = "{APPS_DIR}"\n'
        f"port = {port}\naccess-log = false\n",
        encoding="utf-8",
    )
    server = start_server.spawn([str(require_binary()), "serve"], port=port)
    requests.get(server.url("/probe"), timeout=10)
    assert ACCESS_MARK not in stopped(server).stdout


def test_covetpy_toml_beats_pyproject(start_server: ServerFactory, tmp_path: Path) -> None:
    ours, theirs = free_port(), free_port()
    (tmp_path / "pyproject.toml").write_text(
        f"[tool.covetpy]\nport = {theirs}\nuse_colors = true\n", encoding="utf-8"
    )
    (tmp_path / "covetpy.toml").write_text(
        f'app = "{APP}"\napp-dir = "{APPS_DIR}"\nport = {ours}\n', encoding="utf-8"
    )
    server = start_server.spawn([str(require_binary()), "serve"], port=ours)
    text = server.wait_for_stderr("running on")
    assert f"running on http://127.0.0.1:{ours}" in text
    # Keys the higher file does not set still come from the lower one.
    assert "\x1b[32mINFO\x1b[0m:" in text


def test_environment_beats_covetpy_toml(start_server: ServerFactory, tmp_path: Path) -> None:
    env_port, file_port = free_port(), free_port()
    (tmp_path / "covetpy.toml").write_text(f"port = {file_port}\n", encoding="utf-8")
    server = start_server.spawn(bare_args(), port=env_port, env={"UVICORN_PORT": str(env_port)})
    assert f"running on http://127.0.0.1:{env_port}" in server.wait_for_stderr("running on")


@pytest.mark.parametrize(
    ("name", "text"),
    [("covetpy.toml", "prot = 8000\n"), ("pyproject.toml", "[tool.covetpy]\nprot = 8000\n")],
)
def test_unknown_key_is_refused(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    line = one_line_error(run_to_exit(APP, cwd=tmp_path))
    assert '"prot"' in line
    assert name in line


def test_pyproject_without_covetpy_table_is_ignored(start_server: ServerFactory, tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.ruff]\nline-length = 100\n", encoding="utf-8")
    server = start_server(APP)
    assert "loop_module" in report(server)


# --- --env-file ------------------------------------------------------------------------------------


def test_env_file_is_loaded_without_overriding(start_server: ServerFactory, tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text(
        "# a comment\n"
        "CFGTEST_PLAIN=from-file\n"
        "export CFGTEST_EXPORTED='single # kept'\n"
        'CFGTEST_DOUBLE="two\\nlines"\n'
        "CFGTEST_EXPANDED=${CFGTEST_PLAIN}-and-${CFGTEST_MISSING:-default}\n"
        "CFGTEST_INLINE=value # comment\n"
        "CFGTEST_KEEP=from-file\n",
        encoding="utf-8",
    )
    server = start_server(APP, "--env-file", str(env_file), env={"CFGTEST_KEEP": "from-env"})
    env = report(server)["env"]
    assert env == {
        "CFGTEST_PLAIN": "from-file",
        "CFGTEST_EXPORTED": "single # kept",
        "CFGTEST_DOUBLE": "two\nlines",
        "CFGTEST_EXPANDED": "from-file-and-default",
        "CFGTEST_INLINE": "value",
        "CFGTEST_KEEP": "from-env",
    }
    assert f"Loading environment from '{env_file}'" in server.stderr


def test_env_file_can_hold_covetpy_settings(start_server: ServerFactory, tmp_path: Path) -> None:
    port = free_port()
    env_file = tmp_path / "app.env"
    env_file.write_text(f"COVETPY_PORT={port}\n", encoding="utf-8")
    server = start_server.spawn(bare_args("--env-file", str(env_file)), port=port)
    assert f"running on http://127.0.0.1:{port}" in server.wait_for_stderr("running on")


def test_missing_env_file(tmp_path: Path) -> None:
    line = one_line_error(run_to_exit(APP, "--env-file", str(tmp_path / "nope.env")))
    assert "nope.env" in line


# --- --log-config ----------------------------------------------------------------------------------


def dict_config(access_level: str, logger: str = "uvicorn.access") -> dict[str, Any]:
    """Both loggers write through one handler on stderr with a formatter of the file's own, so a line
    that shows that format went through Python's logging, not covetpy's writer."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"f": {"format": "%(name)s|%(levelname)s|%(message)s"}},
        "handlers": {
            "err": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "f"}
        },
        "loggers": {
            "uvicorn.error": {"level": "INFO", "handlers": ["err"], "propagate": False},
            logger: {"level": access_level, "handlers": ["err"], "propagate": False},
        },
    }


INI = """\
[loggers]
keys=root,access

[handlers]
keys=err

[formatters]
keys=plain

[logger_root]
level=INFO
handlers=err

[logger_access]
level={level}
handlers=err
qualname=uvicorn.access
propagate=0

[handler_err]
class=StreamHandler
formatter=plain
args=(sys.stderr,)

[formatter_plain]
format=%(levelname)s %(message)s
"""


def served_with_config(start_server: ServerFactory, config: Path, *extra: str) -> Server:
    server = start_server(APP, "--log-config", str(config), *extra)
    assert requests.get(server.url("/probe"), timeout=10).status_code == 200
    return stopped(server)


@pytest.mark.parametrize(("level", "logged"), [("WARNING", False), ("INFO", True)])
def test_json_log_config_sets_access_level(
    start_server: ServerFactory, tmp_path: Path, level: str, logged: bool
) -> None:
    config = tmp_path / "log.json"
    config.write_text(json.dumps(dict_config(level)), encoding="utf-8")
    server = served_with_config(start_server, config)
    assert ("uvicorn.access|INFO|127.0.0.1:" in server.stderr) is logged, server.stderr
    assert (ACCESS_MARK in server.stderr) is logged, server.stderr
    # The handlers got covetpy's lines; covetpy no longer writes them itself.
    assert ACCESS_MARK not in server.stdout
    assert "uvicorn.error|INFO|Application startup complete." in server.stderr
    assert "uvicorn.error|INFO|Started server process" in server.stderr
    assert "\nINFO:" not in "\n" + server.stderr, server.stderr


@pytest.mark.parametrize(("level", "logged"), [("WARNING", False), ("INFO", True)])
def test_ini_log_config_sets_access_level(
    start_server: ServerFactory, tmp_path: Path, level: str, logged: bool
) -> None:
    config = tmp_path / "log.ini"
    config.write_text(INI.format(level=level), encoding="utf-8")
    server = served_with_config(start_server, config)
    assert ("INFO 127.0.0.1:" in server.stderr) is logged, server.stderr
    assert (ACCESS_MARK in server.stderr) is logged, server.stderr
    assert ACCESS_MARK not in server.stdout


def test_yaml_log_config_and_covetpy_logger_names(start_server: ServerFactory, tmp_path: Path) -> None:
    config = tmp_path / "log.yaml"
    config.write_text(
        "version: 1\ndisable_existing_loggers: false\n"
        "formatters:\n  f:\n    format: '%(name)s:%(message)s'\n"
        "handlers:\n  h:\n    class: logging.StreamHandler\n    formatter: f\n"
        "root:\n  handlers: [h]\n"
        "loggers:\n"
        "  covetpy.access:\n    level: WARNING\n  covetpy.error:\n    level: INFO\n",
        encoding="utf-8",
    )
    server = served_with_config(start_server, config)
    assert ACCESS_MARK not in server.stdout + server.stderr
    # Lines reach the root logger's handler by propagation, under covetpy's logger names.
    assert "covetpy.error:Application startup complete." in server.stderr, server.stderr


def test_log_config_access_records_carry_uvicorns_arguments(
    start_server: ServerFactory, tmp_path: Path
) -> None:
    """Formatters written for uvicorn (its AccessFormatter among them) read the client, method, path,
    HTTP version and status back from the record's arguments; a file handler gets every server line,
    the last ones of the worker included."""
    log_file = tmp_path / "server.log"
    config = tmp_path / "log.json"
    config.write_text(
        json.dumps(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {
                    "access": {"format": "ACCESS %(args)s"},
                    "plain": {"format": "%(levelname)s %(message)s"},
                },
                "handlers": {
                    "access": {
                        "class": "logging.StreamHandler",
                        "formatter": "access",
                        "stream": "ext://sys.stdout",
                    },
                    "file": {"class": "logging.FileHandler", "filename": str(log_file), "formatter": "plain"},
                },
                "loggers": {
                    "uvicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
                    "uvicorn.error": {"level": "INFO", "handlers": ["file"], "propagate": False},
                },
            }
        ),
        encoding="utf-8",
    )
    server = start_server(APP, "--log-config", str(config))
    assert requests.get(server.url("/probe?x=1"), timeout=10).status_code == 200
    stopped(server)
    access = [line for line in server.stdout.splitlines() if line.startswith("ACCESS ")]
    assert len(access) == 1, server.stdout
    assert access[0].startswith("ACCESS ('127.0.0.1:"), access[0]
    assert access[0].endswith("'GET', '/probe?x=1', '1.1', 200)"), access[0]
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("INFO Started server process [")
    assert "INFO Application startup complete." in lines
    assert lines[-1].startswith("INFO Finished server process ["), lines


def test_error_logger_level_silences_server_lines(start_server: ServerFactory, tmp_path: Path) -> None:
    config = tmp_path / "log.json"
    settings = dict_config("INFO")
    settings["loggers"]["uvicorn.error"]["level"] = "WARNING"
    config.write_text(json.dumps(settings), encoding="utf-8")
    server = served_with_config(start_server, config)
    assert "Application startup complete." not in server.stderr
    assert ACCESS_MARK in server.stderr


def test_log_level_overrides_log_config(start_server: ServerFactory, tmp_path: Path) -> None:
    config = tmp_path / "log.json"
    config.write_text(json.dumps(dict_config("WARNING")), encoding="utf-8")
    server = served_with_config(start_server, config, "--log-level", "info")
    assert ACCESS_MARK in server.stderr


def test_log_config_file_handler_for_the_app_logger(start_server: ServerFactory, tmp_path: Path) -> None:
    log_file = tmp_path / "app.log"
    config = tmp_path / "log.json"
    config.write_text(
        json.dumps(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"f": {"format": "%(name)s|%(levelname)s|%(message)s"}},
                "handlers": {
                    "file": {"class": "logging.FileHandler", "filename": str(log_file), "formatter": "f"}
                },
                "loggers": {"config_app": {"level": "INFO", "handlers": ["file"], "propagate": False}},
            }
        ),
        encoding="utf-8",
    )
    server = start_server(APP, "--log-config", str(config))
    assert requests.get(server.url("/log"), timeout=10).status_code == 200
    stopped(server)
    assert "config_app|WARNING|config-app-log-line" in log_file.read_text(encoding="utf-8")
    assert "config-app-log-line" not in server.stderr


def test_missing_log_config(tmp_path: Path) -> None:
    line = one_line_error(run_to_exit(APP, "--log-config", str(tmp_path / "nope.json")))
    assert "nope.json" in line


def test_broken_log_config_is_one_error_line(tmp_path: Path) -> None:
    config = tmp_path / "log.json"
    config.write_text('{"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}', encoding="utf-8")
    result = run_to_exit(APP, "--log-config", str(config))
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "log.json" in errors[0], result.stderr


def test_yaml_without_pyyaml(tmp_path: Path) -> None:
    # A `yaml` package that cannot be imported stands in for a virtualenv without PyYAML.
    fake = tmp_path / "fake"
    (fake / "yaml").mkdir(parents=True)
    (fake / "yaml" / "__init__.py").write_text("raise ImportError('no yaml here')\n", encoding="utf-8")
    config = tmp_path / "log.yaml"
    config.write_text("version: 1\n", encoding="utf-8")
    result = run_to_exit(APP, "--log-config", str(config), env={"PYTHONPATH": str(fake)})
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "PyYAML" in errors[0], result.stderr


# --- --use-colors ----------------------------------------------------------------------------------


def test_use_colors_adds_ansi_codes(start_server: ServerFactory) -> None:
    server = stopped(start_server(APP, "--use-colors"))
    assert "\x1b[32mINFO\x1b[0m:     Application startup complete." in server.stderr


@pytest.mark.parametrize("flags", [(), ("--no-use-colors",), ("--use-colors", "--no-use-colors")])
def test_no_colors_by_default_off_a_terminal(start_server: ServerFactory, flags: tuple[str, ...]) -> None:
    server = start_server(APP, *flags)
    requests.get(server.url("/probe"), timeout=10)
    stopped(server)
    assert "\x1b[" not in server.stderr
    assert "\x1b[" not in server.stdout
    assert "INFO:     Application startup complete." in server.stderr


# --- --loop ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "module"),
    [("uvloop", "uvloop"), ("auto", "uvloop"), ("asyncio", "asyncio"), ("none", "asyncio")],
)
def test_loop_choice(start_server: ServerFactory, choice: str, module: str) -> None:
    server = start_server(APP, "--loop", choice)
    assert report(server)["loop_module"].split(".")[0] == module


def test_loop_uvloop_missing(tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    (fake / "uvloop").mkdir(parents=True)
    (fake / "uvloop" / "__init__.py").write_text("raise ImportError('no uvloop here')\n", encoding="utf-8")
    result = run_to_exit(APP, "--loop", "uvloop", env={"PYTHONPATH": str(fake)})
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "uvloop" in errors[0], result.stderr


def test_loop_auto_without_uvloop_is_asyncio(start_server: ServerFactory, tmp_path: Path) -> None:
    fake = tmp_path / "fake"
    (fake / "uvloop").mkdir(parents=True)
    (fake / "uvloop" / "__init__.py").write_text("raise ImportError('no uvloop here')\n", encoding="utf-8")
    server = start_server(APP, env={"PYTHONPATH": str(fake)})
    assert report(server)["loop_module"].split(".")[0] == "asyncio"


# --- --http / --ws ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (("--http", "h11"), "--http h11: HTTP is served by covetpy's own"),
        (("--http", "httptools"), "--http httptools: HTTP is served by covetpy's own"),
        (("--ws", "wsproto"), "--ws wsproto: WebSockets are served by covetpy's own"),
        (("--ws", "websockets-sansio"), "--ws websockets-sansio: WebSockets are served by covetpy's own"),
    ],
)
def test_implementation_selectors_are_accepted(
    start_server: ServerFactory, flags: tuple[str, ...], line: str
) -> None:
    server = start_server(APP, *flags)
    assert "loop_module" in report(server)
    assert line in server.wait_for_stderr(line)


def test_auto_selectors_say_nothing(start_server: ServerFactory) -> None:
    server = stopped(start_server(APP, "--http", "auto", "--ws", "auto"))
    assert "served by covetpy's own" not in server.stderr


@pytest.mark.parametrize("impl", ["websockets", "websockets-sansio", "wsproto"])
def test_uvicorn_ws_implementations_serve_websockets(start_server: ServerFactory, impl: str) -> None:
    from websockets.sync.client import connect

    server = start_server("ws_echo:app", "--ws", impl)
    with connect(f"ws://127.0.0.1:{server.port}/echo", open_timeout=10) as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"


def test_ws_none_keeps_its_meaning(start_server: ServerFactory) -> None:
    server = start_server("ws_echo:app", "--ws", "none")
    headers = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}  # fmt: skip
    reply = requests.get(server.url("/echo"), headers=headers, timeout=10).json()
    assert reply == {"type": "http", "upgrade": "websocket"}


# --- the app's use of uvicorn's loggers without --log-config ---------------------------------------


def test_app_logging_through_uvicorn_loggers_appears_as_under_uvicorn(start_server: ServerFactory) -> None:
    """uvicorn's default logging configuration gives `uvicorn.error` a stderr handler and
    `uvicorn.access` a stdout handler at --log-level in its `INFO:     message` format; apps rely on it."""
    server = start_server("uvicorn_logger_app:app")
    assert requests.get(server.url("/x"), timeout=10).status_code == 200
    stopped(server)
    err = server.stderr.splitlines()
    assert "INFO:     app-import-info" in err, server.stderr
    assert "INFO:     request-info /x" in err
    assert "WARNING:  request-warning" in err
    assert "INFO:     custom-access" in server.stdout.splitlines(), server.stdout


def test_app_logging_through_uvicorn_loggers_follows_log_level(start_server: ServerFactory) -> None:
    server = start_server("uvicorn_logger_app:app", "--log-level", "warning")
    assert requests.get(server.url("/x"), timeout=10).status_code == 200
    stopped(server)
    assert "request-info" not in server.stderr and "app-import-info" not in server.stderr
    assert "custom-access" not in server.stdout
    assert "WARNING:  request-warning" in server.stderr.splitlines(), server.stderr


def test_app_logging_colours_follow_use_colors(start_server: ServerFactory) -> None:
    server = start_server("uvicorn_logger_app:app", "--use-colors")
    assert requests.get(server.url("/x"), timeout=10).status_code == 200
    stopped(server)
    assert "\x1b[32mINFO\x1b[0m:     request-info /x" in server.stderr.splitlines(), server.stderr
