"""A stand-in for Starlette's ``TestClient`` that talks to the real covetpy binary over the network.

``NetworkTestClient(app)`` finds the module attribute that holds ``app`` (``docs_src.body.tutorial001:app``),
starts ``$COVETPY_BIN serve MODULE:ATTR --interface covet`` for it once (kept while later clients use the
same app), and sends requests there. It keeps TestClient's API: an ``httpx.Client`` whose requests carry
``Host: testserver`` (or the host of ``base_url``), ``with client:`` for lifespan (the server is stopped on
exit, so shutdown handlers run), and ``client.websocket_connect()`` over the ``websockets`` package.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from conftest import STARTUP_TIMEOUT, Server, covetpy_bin, free_port, server_env
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

APP_DIR_ENV = "COVETPY_DOCS_APP_DIR"
"""The directory the apps import from (FastAPI's sdist root, where ``docs_src`` lives)."""

INTERFACE = "covet"
"""``--interface`` of the servers: ``covet`` serves the app as covetpy's framework; ``asgi`` serves a real
FastAPI app as any ASGI app (the ``network-fastapi`` mode)."""

MAX_SERVERS = 6
"""Servers kept running at once: FastAPI's parametrized tests alternate between a file's apps."""


class AppNotImportable(RuntimeError):
    """The app object is not a module attribute, so a separate server process cannot import it."""


def locate_app(app: object) -> tuple[str, str]:
    """``(module, attribute)`` under which ``app`` can be imported; ``docs_src`` modules first."""
    import sys

    found: list[tuple[str, str]] = []
    for mod_name, module in list(sys.modules.items()):
        if module is None or mod_name.startswith(("fastapi_docs", "conftest")):
            continue
        try:
            items = list(vars(module).items())
        except TypeError:
            continue
        found.extend((mod_name, attr) for attr, value in items if value is app)
    if not found:
        raise AppNotImportable(
            f"network mode: app {type(app).__name__} at {id(app):#x} is no attribute of an imported module"
        )
    found.sort(key=lambda pair: (not pair[0].startswith("docs_src."), pair[0].startswith("tests."), pair))
    return found[0]


def _log_start(target: str, seconds: float) -> None:
    """Add a line about a server start to the results file, for the run's statistics."""
    path = os.environ.get("COVETPY_DOCS_RESULTS")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"server": target, "seconds": round(seconds, 3)}) + "\n")


class _AppServer:
    """One covetpy process serving one app."""

    def __init__(self, target: str, root_path: str) -> None:
        app_dir = os.environ.get(APP_DIR_ENV) or os.getcwd()
        self.port = free_port()
        self._logs = logs = Path(tempfile.mkdtemp(prefix="covetpy-docs-"))
        args = [str(covetpy_bin()), "serve", target, "--interface", INTERFACE, "--app-dir", app_dir]
        args += ["--host", "127.0.0.1", "--port", str(self.port)]
        if root_path:
            args += ["--root-path", root_path]
        stdout, stderr = logs / "stdout", logs / "stderr"
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=server_env(),
                cwd=os.getcwd(),  # tests chdir to where the app expects its files
                start_new_session=True,
            )
        self.server = Server(proc, args, stdout, stderr, port=self.port)
        started = time.monotonic()
        self._wait_ready(target)
        _log_start(target, time.monotonic() - started)

    def _wait_ready(self, target: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            code = self.server.proc.poll()
            if code is not None:
                lines = [line for line in self.server.stderr.splitlines() if line.strip()]
                last = lines[-1].strip() if lines else "(no output)"
                raise RuntimeError(f"covetpy serve {target} exited with code {code}: {last}")
            if self.server.accepts_connections():
                return
            time.sleep(0.05)
        self.server.kill()
        raise RuntimeError(f"covetpy serve {target} did not accept connections within {STARTUP_TIMEOUT}s")

    def alive(self) -> bool:
        return self.server.proc.poll() is None

    def stop(self) -> None:
        self.server.cleanup()
        # hundreds of servers run; set COVETPY_DOCS_KEEP_LOGS=1 to keep their output for a post-mortem
        if not os.environ.get("COVETPY_DOCS_KEEP_LOGS"):
            shutil.rmtree(self._logs, ignore_errors=True)


class _Servers:
    """The running servers, least recently used first; all are stopped when the test process exits."""

    def __init__(self) -> None:
        self._running: OrderedDict[tuple[str, str], _AppServer] = OrderedDict()
        atexit.register(self.stop_all)

    def get(self, target: str, root_path: str) -> _AppServer:
        key = (target, root_path)
        server = self._running.get(key)
        if server is not None and server.alive():
            self._running.move_to_end(key)
            return server
        if server is not None:
            self.stop(target, root_path)
        while len(self._running) >= MAX_SERVERS:
            _, oldest = self._running.popitem(last=False)
            oldest.stop()
        server = _AppServer(target, root_path)
        self._running[key] = server
        return server

    def stop(self, target: str, root_path: str) -> None:
        server = self._running.pop((target, root_path), None)
        if server is not None:
            server.stop()

    def stop_all(self) -> None:
        while self._running:
            _, server = self._running.popitem()
            server.stop()


SERVERS = _Servers()


class _ToServer(httpx.HTTPTransport):
    """Sends every request to the app's server whatever host the URL names; the Host header stays."""

    def __init__(self, client: NetworkTestClient) -> None:
        super().__init__()
        self._client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        server = self._client._server()
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=server.port)
        return super().handle_request(request)


def _websocket_disconnect(code: int, reason: str = "") -> Exception:
    """The WebSocketDisconnect the app's own framework raises (the test imports it from ``fastapi``)."""
    from fastapi.websockets import WebSocketDisconnect  # the alias: covetpy's class

    error: Exception = WebSocketDisconnect(code, reason)
    return error


class WebSocketSession:
    """TestClient's ``WebSocketTestSession`` API over a real connection."""

    def __init__(self, url: str, subprotocols: list[str] | None, headers: dict[str, str]) -> None:
        try:
            self._conn: ClientConnection = connect(
                url, subprotocols=subprotocols, additional_headers=headers, open_timeout=10  # type: ignore[arg-type]
            )
        except InvalidStatus as exc:
            # the app closed before accepting; the close code is not sent over HTTP (1006: none was received)
            raise _websocket_disconnect(1006, f"handshake answered {exc.response.status_code}") from exc
        self.accepted_subprotocol = self._conn.subprotocol

    def __enter__(self) -> WebSocketSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _recv(self) -> str | bytes:
        try:
            return self._conn.recv(timeout=20)
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            raise _websocket_disconnect(rcvd.code if rcvd else 1006, rcvd.reason if rcvd else "") from exc

    def send_text(self, data: str) -> None:
        self._conn.send(data)

    def send_bytes(self, data: bytes) -> None:
        self._conn.send(data)

    def send_json(self, data: Any, mode: str = "text") -> None:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        self._conn.send(text if mode == "text" else text.encode())

    def receive_text(self) -> str:
        message = self._recv()
        return message if isinstance(message, str) else message.decode()

    def receive_bytes(self) -> bytes:
        message = self._recv()
        return message if isinstance(message, bytes) else message.encode()

    def receive_json(self, mode: str = "text") -> Any:
        return json.loads(self._recv())

    def close(self, code: int = 1000, reason: str | None = None) -> None:
        self._conn.close(code, reason or "")


class NetworkTestClient(httpx.Client):
    """Starlette's ``TestClient`` signature; requests go to a covetpy server running ``app``."""

    __test__ = False

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        backend: str = "asyncio",
        backend_options: dict[str, Any] | None = None,
        cookies: Any = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
    ) -> None:
        self.app = app
        module, attr = locate_app(app)
        self._target = f"{module}:{attr}"
        self._root_path = root_path
        merged = {"user-agent": "testclient", **(headers or {})}
        super().__init__(
            base_url=base_url,
            headers=merged,
            transport=_ToServer(self),
            follow_redirects=follow_redirects,
            cookies=cookies,
        )

    def _server(self) -> _AppServer:
        return SERVERS.get(self._target, self._root_path)

    def websocket_connect(
        self, url: str, subprotocols: list[str] | None = None, **kwargs: Any
    ) -> WebSocketSession:
        server = self._server()
        full = self.base_url.join(url)
        ws_url = full.copy_with(scheme="ws", host="127.0.0.1", port=server.port)
        headers = {"host": full.netloc.decode("ascii")}
        headers.update(kwargs.get("headers") or {})
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if cookie:
            headers["cookie"] = cookie
        return WebSocketSession(str(ws_url), subprotocols, headers)

    def __enter__(self) -> NetworkTestClient:
        # a fresh server, so its lifespan starts here and ends in __exit__ as TestClient's does
        SERVERS.stop(self._target, self._root_path)
        self._server()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        with contextlib.suppress(Exception):
            SERVERS.stop(self._target, self._root_path)
        super().__exit__(exc_type, exc_value, traceback)


TestClient = NetworkTestClient
"""The name the tests import from ``fastapi.testclient``."""
