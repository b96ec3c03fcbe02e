"""Fixtures that start the covetpy binary on a free port and stop it again.

The binary is $COVETPY_BIN, or target/release/covetpy in the repository root.
Apps live in tests/apps and are served with `--app-dir tests/apps`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from test_fastapi_fidelity import Pool
    from tls_support import Certs

REPO_ROOT = Path(__file__).resolve().parent.parent
APPS_DIR = REPO_ROOT / "tests" / "apps"
STARTUP_TIMEOUT = 15.0
SHUTDOWN_TIMEOUT = 20.0


def covetpy_bin() -> Path:
    override = os.environ.get("COVETPY_BIN")
    return Path(override) if override else REPO_ROOT / "target" / "release" / "covetpy"


def require_binary() -> Path:
    binary = covetpy_bin()
    if not binary.is_file():
        pytest.fail(
            f"covetpy binary not found at {binary}: run `cargo build --release` "
            "or set COVETPY_BIN"
        )
    return binary


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for the server: the embedded interpreter finds site-packages
    through $VIRTUAL_ENV, so point it at the venv running the tests if unset."""
    env = dict(os.environ)
    if "VIRTUAL_ENV" not in env and sys.prefix != sys.base_prefix:
        env["VIRTUAL_ENV"] = sys.prefix
    env.pop("WEB_CONCURRENCY", None)  # default to one worker unless a test sets it
    if extra:
        env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            stat = handle.read()
    except (FileNotFoundError, ProcessLookupError):  # gone before, or while, reading
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def serve_args(
    app: str, *extra_args: str, port: int | None = None, app_dir: Path = APPS_DIR
) -> list[str]:
    args = [str(require_binary()), "serve", app, "--app-dir", str(app_dir)]
    if port is not None:
        args += ["--host", "127.0.0.1", "--port", str(port)]
    return args + list(extra_args)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    args: list[str]
    stdout_path: Path
    stderr_path: Path
    port: int | None = None
    uds: str | None = None
    _stopped: bool = field(default=False, repr=False)

    @property
    def base_url(self) -> str:
        assert self.port is not None, "server is listening on a Unix socket"
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stderr_size(self) -> int:
        return len(self.stderr)

    def wait_for_stderr(self, text: str, start: int = 0, timeout: float = 10.0) -> str:
        """Poll stderr (from character offset `start`) until `text` appears;
        return what was found past `start` either way."""
        deadline = time.monotonic() + timeout
        while True:
            new = self.stderr[start:]
            if text in new or time.monotonic() > deadline:
                return new
            time.sleep(0.05)

    def connect(self, timeout: float = 15.0) -> socket.socket:
        if self.uds is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(self.uds)
            return sock
        assert self.port is not None
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    def accepts_connections(self) -> bool:
        try:
            self.connect(timeout=0.5).close()
        except OSError:
            return False
        return True

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                pytest.fail(
                    f"covetpy exited with code {code} before accepting connections\n"
                    f"command: {' '.join(self.args)}\nstderr:\n{self.stderr[-6000:]}"
                )
            if self.accepts_connections():
                return
            time.sleep(0.05)
        self.kill()
        pytest.fail(
            f"covetpy did not accept connections within {timeout}s\n"
            f"command: {' '.join(self.args)}\nstderr:\n{self.stderr[-6000:]}"
        )

    def send_signal(self, sig: signal.Signals) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = SHUTDOWN_TIMEOUT) -> int:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(
                f"covetpy did not exit within {timeout}s\nstderr:\n{self.stderr[-6000:]}"
            )
        self._stopped = True
        return code

    def stop(
        self, sig: signal.Signals = signal.SIGTERM, timeout: float = SHUTDOWN_TIMEOUT
    ) -> int:
        """Send `sig` and wait for the exit code (fails the test on a hang)."""
        self.send_signal(sig)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL the whole process group (the server and any workers)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self._stopped = True

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        # also reaps stray workers left behind by a parent that already exited
        self.kill()


class ServerFactory:
    """Starts covetpy servers; every server started is stopped at teardown."""

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = tmp_dir
        self.servers: list[Server] = []

    def __call__(
        self,
        app: str,
        *extra_args: str,
        uds: str | None = None,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
        app_dir: Path = APPS_DIR,
        pass_fds: tuple[int, ...] = (),
    ) -> Server:
        """Start `covetpy serve APP --app-dir tests/apps [--port N | --uds P] EXTRA`
        (`app_dir` replaces tests/apps)."""
        if uds is None:
            port = free_port() if port is None else port
            args = serve_args(app, *extra_args, port=port, app_dir=app_dir)
        else:
            args = serve_args(app, "--uds", uds, *extra_args, app_dir=app_dir)
        return self.spawn(args, port=port, uds=uds, env=env, wait=wait, pass_fds=pass_fds)

    def spawn(
        self,
        args: list[str],
        *,
        port: int | None = None,
        uds: str | None = None,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
        name: str = "covetpy",
        pass_fds: tuple[int, ...] = (),
    ) -> Server:
        """Start any server command line (output to files in tmp_dir) and track it;
        `pass_fds` are inherited by the server (e.g. a listening socket for --fd)."""
        index = len(self.servers)
        stdout_path = self.tmp_dir / f"{name}-{index}.stdout"
        stderr_path = self.tmp_dir / f"{name}-{index}.stderr"
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=server_env(env),
                cwd=self.tmp_dir,
                start_new_session=True,
                pass_fds=pass_fds,
            )
        server = Server(proc, args, stdout_path, stderr_path, port=port, uds=uds)
        self.servers.append(server)
        if wait:
            server.wait_ready()
        return server

    def cleanup(self) -> None:
        for server in self.servers:
            server.cleanup()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """Function-scoped: start servers with arbitrary arguments."""
    factory = ServerFactory(tmp_path)
    yield factory
    factory.cleanup()


@pytest.fixture(scope="module")
def module_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    """Module-scoped factory for servers shared by the tests of one module."""
    factory = ServerFactory(tmp_path_factory.mktemp("servers"))
    yield factory
    factory.cleanup()


@pytest.fixture(scope="module")
def native_pool(module_servers: ServerFactory) -> Iterator[Pool]:
    """Fidelity apps served with ``--interface covet`` on asyncio, each beside its FastAPI reference
    (``test_fastapi_fidelity.Pool``)."""
    # Imported here: that module imports this one.
    from test_fastapi_fidelity import Pool

    apps = Pool(module_servers, "asyncio", serve_args=("--interface", "covet"))
    with apps.stack:
        yield apps


LOOP_IMPLS = ["asyncio", "uvloop"]


@pytest.fixture(scope="module", params=LOOP_IMPLS)
def loop_impl(request: pytest.FixtureRequest) -> str:
    """`--loop` value: tests that use it run once on asyncio's event loop and once on uvloop's."""
    return str(request.param)


@pytest.fixture(scope="session")
def echo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One scope-echo server shared by the whole session."""
    factory = ServerFactory(tmp_path_factory.mktemp("echo"))
    yield factory("echo_app:app")
    factory.cleanup()


def run_to_exit(
    app: str,
    *extra_args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `covetpy serve` on a free port and wait for it to exit by itself
    (for startup failures). Fails the test if it keeps running."""
    args = serve_args(app, *extra_args, port=free_port())
    try:
        return subprocess.run(
            args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=server_env(env),
            timeout=timeout,
            cwd=cwd,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = (
            exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        )
        pytest.fail(
            f"covetpy kept running for {timeout}s; expected it to exit\n{stderr}"
        )


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA, server certificates (localhost, 127.0.0.1) with keys in every
    supported format, and client certificates, made once per session."""
    from tls_support import make_certs

    return make_certs(tmp_path_factory.mktemp("tls"))
