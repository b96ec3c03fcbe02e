"""Python-side helpers for the embedded interpreter.

The request path runs in Rust; this module holds the parts that are clearer in Python and are not on the
per-request fast path: starting each call as an eagerly stepped asyncio Task, the ASGI lifespan
protocol, interface detection and traceback formatting.
"""

from __future__ import annotations

import asyncio
import importlib.abc
import importlib.machinery
import importlib.resources.abc
import importlib.util
import inspect
import io
import logging
import os
import sys
import traceback
import types
from collections.abc import Awaitable, Callable, Iterator
from typing import IO, Any

import _covetpy_native as native

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _EmbeddedPackage(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the ``covetpy`` package from sources compiled into the binary, so the framework always
    matches the server running it, whatever copy may be installed in the virtualenv."""

    def __init__(self, sources: dict[str, tuple[bool, str]]) -> None:
        self.sources = sources

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        entry = self.sources.get(fullname)
        if entry is None:
            return None
        origin = f"<covetpy>/{fullname}"
        return importlib.util.spec_from_loader(fullname, self, origin=origin, is_package=entry[0])

    def exec_module(self, module: types.ModuleType) -> None:
        _, source = self.sources[module.__name__]
        exec(compile(source, f"<covetpy>/{module.__name__}.py", "exec"), module.__dict__)  # noqa: S102

    def get_resource_reader(self, fullname: str) -> importlib.resources.abc.TraversableResources | None:
        """``importlib.resources.files("covetpy")``: the package's data files, embedded beside its
        sources (crates/embed/build.rs), so the code reads them the same way here and from a wheel."""
        entry = self.sources.get(fullname)
        if entry is None or not entry[0]:
            return None
        return _EmbeddedResources("/".join(fullname.split(".")[1:]))


class _EmbeddedResources(importlib.resources.abc.TraversableResources):
    """The resource reader of one embedded package."""

    def __init__(self, root: str) -> None:
        self.root = root

    def files(self) -> importlib.resources.abc.Traversable:
        return _EmbeddedPath(self.root)


class _EmbeddedPath(importlib.resources.abc.Traversable):
    """A path inside the embedded ``covetpy`` package ("" is the package itself), read-only: the
    bytes come from ``_covetpy_native.package_data`` when a file is opened."""

    def __init__(self, path: str) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def _prefix(self) -> str:
        return f"{self.path}/" if self.path else ""

    def is_file(self) -> bool:
        return self.path in native.package_data_names()

    def is_dir(self) -> bool:
        prefix = self._prefix()
        return not self.path or any(n.startswith(prefix) for n in native.package_data_names())

    def iterdir(self) -> Iterator[_EmbeddedPath]:
        prefix = self._prefix()
        names = native.package_data_names()
        children = {n[len(prefix) :].split("/", 1)[0] for n in names if n.startswith(prefix)}
        for child in sorted(children):
            yield _EmbeddedPath(prefix + child)

    def joinpath(self, *descendants: str | os.PathLike[str]) -> _EmbeddedPath:
        parts = [self.path] if self.path else []
        parts += [p for d in descendants for p in os.fspath(d).split("/") if p and p != "."]
        return _EmbeddedPath("/".join(parts))

    def read_bytes(self) -> bytes:
        data: bytes | None = native.package_data(self.path)
        if data is None:
            raise FileNotFoundError(f"<covetpy>/{self.path}")
        return data

    def read_text(self, encoding: str | None = None) -> str:
        return self.read_bytes().decode(encoding or "utf-8")

    def open(self, mode: str = "r", *args: Any, **kwargs: Any) -> IO[Any]:
        if mode == "rb":
            return io.BytesIO(self.read_bytes())
        if mode == "r":
            return io.TextIOWrapper(io.BytesIO(self.read_bytes()), *args, **kwargs)
        raise ValueError(f"embedded package data is read-only; cannot open with mode {mode!r}")

    def __repr__(self) -> str:
        return f"<covetpy>/{self.path}"


def install_embedded_package(sources: dict[str, tuple[bool, str]]) -> None:
    """Put the embedded ``covetpy`` package first in the import system."""
    sys.meta_path.insert(0, _EmbeddedPackage(sources))


class ClientDisconnected(OSError):
    """Raised by ``send`` when the client has gone away (ASGI spec 2.4)."""


def format_exception(exc: BaseException, tb: types.TracebackType | None = None) -> str:
    """Render ``exc`` with its traceback (``tb`` when given, else its own), as the logs show it."""
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__)).rstrip()


async def await_any(awaitable: Awaitable[Any]) -> Any:
    """Wrap an awaitable that is not a coroutine: asyncio.Task takes only coroutines."""
    return await awaitable


class Tasks:
    """The Tasks of one event-loop thread: the server's main Task and the calls still running.

    Calls are started as Tasks from Rust (``event_loop/tasks.rs``), each in a fresh copy of the base
    context and stepped at once; those still pending after their first step are kept in
    :attr:`pending` until they finish.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.pending: set[asyncio.Task[Any]] = set()
        self._stopped: asyncio.Future[None] = loop.create_future()

    async def serve(self) -> None:
        """The server's main Task, run with ``run_until_complete`` until :meth:`stop`.

        uvicorn's server is the main Task of ``asyncio.run``; libraries look for such a root Task. anyio
        keeps its worker threads (Starlette's ``run_in_threadpool``, FastAPI ``def`` endpoints) alive as
        long as the root Task, and without one it would tie them to each request's Task and start a new
        thread for every call.
        """
        await self._stopped

    def stop(self) -> None:
        """End :meth:`serve`, which stops the event loop."""
        if not self._stopped.done():
            self._stopped.set_result(None)

    def cancel_pending(self, message: str) -> list[asyncio.Task[Any]]:
        """Cancel every Task still running (server shutdown past its graceful timeout)."""
        tasks = list(self.pending)
        for task in tasks:
            task.cancel(message)
        return tasks


def _positional_count(app: object) -> int | None:
    try:
        params = inspect.signature(app).parameters.values()  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in params if p.kind in kinds)


def detect_interface(app: object) -> str | None:
    """Say how ``app`` wants to be called: ``"native"`` for a CovetPy app, ``"asgi"`` for an async callable
    of (scope, receive, send), ``"asgi2"`` for a class or a callable of (scope) whose result is awaited
    with (receive, send), ``"wsgi"`` for a callable of (environ, start_response), or None."""
    if getattr(app, "__covetpy_native__", False) is True:
        return "native"
    if not callable(app):
        return None
    if inspect.isclass(app):
        # uvicorn's rule: a class is an ASGI 2 application (instantiated with the scope) unless its
        # instances are awaitable.
        return "asgi" if hasattr(app, "__await__") else "asgi2"
    if inspect.iscoroutinefunction(app):
        return "asgi"
    call = getattr(app, "__call__", None)  # noqa: B004 - instances with an async __call__ are the common case
    if call is not None and inspect.iscoroutinefunction(call):
        return "asgi"
    count = _positional_count(app)
    if count == 3:
        return "asgi"
    if count == 2:
        return "wsgi"
    if count == 1:
        return "asgi2"
    return None


class Asgi2App:
    """Serves an ASGI 2 application (``app(scope)`` returns an instance, awaited as
    ``instance(receive, send)``) through the ASGI 3 calling convention, with the scope saying version 2.0."""

    def __init__(self, app: Callable[[dict[str, Any]], Callable[..., Awaitable[None]]]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        asgi = scope.get("asgi")
        if isinstance(asgi, dict):
            asgi["version"] = "2.0"
        instance = self.app(scope)
        await instance(receive, send)


class Lifespan:
    """Runs the ASGI lifespan protocol for one application, as uvicorn does."""

    def __init__(self, app: Callable[..., Awaitable[None]], mode: str) -> None:
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] = {}
        self.startup_event = asyncio.Event()
        self.shutdown_event = asyncio.Event()
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.startup_failed = False
        self.shutdown_failed = False
        self.error_occurred = False
        self.should_exit = False
        self.task: asyncio.Task[None] | None = None

    async def startup(self) -> bool:
        """Run startup; False means the server must exit."""
        if self.mode == "off":
            return True
        native.log(native.INFO, "Waiting for application startup.")
        self.task = asyncio.get_running_loop().create_task(self._main())
        await self.queue.put({"type": "lifespan.startup"})
        await self.startup_event.wait()
        if self.startup_failed or (self.error_occurred and self.mode == "on"):
            native.log(native.ERROR, "Application startup failed. Exiting.")
            return False
        if not self.error_occurred:
            native.log(native.INFO, "Application startup complete.")
        return True

    async def shutdown(self) -> bool:
        """Run shutdown; False when the app reported a failure."""
        if self.mode == "off" or self.error_occurred:
            return True
        native.log(native.INFO, "Waiting for application shutdown.")
        await self.queue.put({"type": "lifespan.shutdown"})
        await self.shutdown_event.wait()
        if self.shutdown_failed or (self.error_occurred and self.mode == "on"):
            native.log(native.ERROR, "Application shutdown failed. Exiting.")
            return False
        native.log(native.INFO, "Application shutdown complete.")
        return True

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:  # noqa: BLE001 - any failure ends the protocol
            self.error_occurred = True
            if self.startup_failed or self.shutdown_failed:
                return
            if self.mode == "auto":
                native.log(native.INFO, "ASGI 'lifespan' protocol appears unsupported.")
            else:
                native.log(native.ERROR, "Exception in 'lifespan' protocol\n" + format_exception(exc))
        finally:
            self.startup_event.set()
            self.shutdown_event.set()

    async def _receive(self) -> Message:
        return await self.queue.get()

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "lifespan.startup.complete" and not self.startup_event.is_set():
            self.startup_event.set()
        elif kind == "lifespan.startup.failed" and not self.startup_event.is_set():
            self.startup_failed = True
            self.startup_event.set()
            if message.get("message"):
                native.log(native.ERROR, str(message["message"]))
        elif kind == "lifespan.shutdown.complete" and self.startup_event.is_set():
            self.shutdown_event.set()
        elif kind == "lifespan.shutdown.failed" and self.startup_event.is_set():
            self.shutdown_failed = True
            self.shutdown_event.set()
            if message.get("message"):
                native.log(native.ERROR, str(message["message"]))
        else:
            raise RuntimeError(f"Unexpected ASGI lifespan message {kind!r}.")


TRACE_LOG_LEVEL = 5
"""uvicorn's TRACE level, below DEBUG."""


class LogConfigError(Exception):
    """``--log-config`` could not be applied; the message is one line for the server log."""


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    if exc.__cause__ is not None:
        text += f" ({type(exc.__cause__).__name__}: {exc.__cause__})"
    return " ".join(text.split())


def configure_logging(path: str, level: int | None) -> tuple[int | None, int | None]:
    """Apply ``--log-config`` as uvicorn's ``Config.configure_logging`` does: ``.json`` and
    ``.yaml``/``.yml`` through ``logging.config.dictConfig``, anything else through
    ``logging.config.fileConfig(path, disable_existing_loggers=False)``; then, if ``--log-level`` was
    given (``level``), set it on uvicorn's loggers.

    Returns the effective levels of the loggers that stand for covetpy's own server and access lines,
    ``None`` for a disabled one: ``covetpy.error``/``covetpy.access`` when the configuration names them
    (or ``covetpy``), else ``uvicorn.error``/``uvicorn.access``.
    """
    import json
    import logging
    import logging.config

    logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")
    # In uvicorn these loggers exist before the configuration is applied, so a dictConfig that leaves
    # disable_existing_loggers at true disables the ones it does not name; the same happens here.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logging.getLogger(name)
    try:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as file:
                logging.config.dictConfig(json.load(file))
        elif path.endswith((".yaml", ".yml")):
            try:
                yaml = importlib.import_module("yaml")
            except ImportError:
                raise LogConfigError(
                    f"--log-config {path}: reading YAML needs PyYAML in this Python environment "
                    "(pip install PyYAML)"
                ) from None
            with open(path, encoding="utf-8") as file:
                logging.config.dictConfig(yaml.safe_load(file))
        else:
            logging.config.fileConfig(path, disable_existing_loggers=False)
    except LogConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the user's configuration is reported
        raise LogConfigError(f"--log-config {path}: {_one_line(exc)}") from exc
    # Which names the configuration used, before setting levels creates the loggers of both.
    known = logging.Logger.manager.loggerDict
    ours = "covetpy" in known or "covetpy.error" in known or "covetpy.access" in known
    prefix = "covetpy" if ours else "uvicorn"
    names = ("uvicorn.error", "uvicorn.access", "uvicorn.asgi", "covetpy.error", "covetpy.access")
    if level is not None:
        for name in names:
            logging.getLogger(name).setLevel(level)
    global _server_logger, _access_logger
    _server_logger = logging.getLogger(f"{prefix}.error")
    _access_logger = logging.getLogger(f"{prefix}.access")

    def effective(kind: str) -> int | None:
        logger = logging.getLogger(f"{prefix}.{kind}")
        return None if logger.disabled else logger.getEffectiveLevel()

    return effective("error"), effective("access")


_LEVEL_COLORS = {5: "34", 10: "36", 20: "32", 30: "33", 40: "31", 50: "91"}


class _LevelPrefixFormatter(logging.Formatter):
    """uvicorn's default look, ``INFO:     message``: the level name and a colon padded to nine columns,
    the name coloured on request as uvicorn's formatters colour it."""

    def __init__(self, use_colors: bool) -> None:
        super().__init__("%(levelprefix)s %(message)s")
        self.use_colors = use_colors

    def prefix(self, record: logging.LogRecord) -> str:
        name = record.levelname
        padding = " " * max(0, 8 - len(name))
        color = _LEVEL_COLORS.get(record.levelno)
        if self.use_colors and color is not None:
            name = f"\x1b[{color}m{name}\x1b[0m"
        return f"{name}:{padding}"

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        record.__dict__["levelprefix"] = self.prefix(record)
        return super().formatMessage(record)


def configure_default_logging(level: int, colors_stderr: bool, colors_stdout: bool) -> None:
    """Without ``--log-config``, set up the loggers uvicorn's default configuration sets up, so that an
    application that logs through ``uvicorn.error`` or ``uvicorn.access`` (a common idiom) is seen as
    under uvicorn: ``uvicorn`` and ``uvicorn.error`` on stderr, ``uvicorn.access`` on stdout, at
    ``--log-level``, in uvicorn's format. covetpy's own lines are written by covetpy in the same format."""
    logging.addLevelName(TRACE_LOG_LEVEL, "TRACE")
    err = logging.StreamHandler(sys.stderr)
    err.setFormatter(_LevelPrefixFormatter(colors_stderr))
    out = logging.StreamHandler(sys.stdout)
    out.setFormatter(_LevelPrefixFormatter(colors_stdout))
    base = logging.getLogger("uvicorn")
    base.handlers = [err]
    base.setLevel(logging.INFO)
    base.propagate = False
    for name in ("uvicorn.error", "uvicorn.asgi"):
        logging.getLogger(name).setLevel(level)
    access = logging.getLogger("uvicorn.access")
    access.handlers = [out]
    access.setLevel(level)
    access.propagate = False


_server_logger: logging.Logger | None = None
_access_logger: logging.Logger | None = None

# uvicorn's access message and arguments: formatters such as uvicorn.logging.AccessFormatter read the
# five arguments back from the record.
_ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d'


def emit_logs(lines: list[tuple[bool, int, str, tuple[str, str, str, str, int] | None]]) -> None:
    """Log covetpy's own lines through the loggers ``--log-config`` configured: server lines to
    ``uvicorn.error`` (or ``covetpy.error``), access lines to ``uvicorn.access`` (or ``covetpy.access``)
    with uvicorn's message and arguments when the line is in uvicorn's format."""
    for access, level, message, args in lines:
        logger = _access_logger if access else _server_logger
        if logger is None:
            continue
        if args is not None:
            logger.log(level, _ACCESS_FORMAT, *args)
        else:
            logger.log(level, message)


def resolve_loop(kind: str) -> str:
    """``--loop``: ``auto`` becomes ``uvloop`` when uvloop can be imported, else ``asyncio``, as in
    uvicorn; ``uvloop`` raises ``ImportError`` when it cannot be imported."""
    if kind not in ("auto", "uvloop"):
        return kind
    try:
        importlib.import_module("uvloop")
    except ImportError:
        if kind == "uvloop":
            raise
        return "asyncio"
    return "uvloop"


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """A new event loop of a kind :func:`resolve_loop` returned: uvloop's, asyncio's selector loop
    (uvicorn's ``asyncio`` factory), or for ``none`` whatever the current policy makes."""
    if kind == "uvloop":
        loop: asyncio.AbstractEventLoop = importlib.import_module("uvloop").new_event_loop()
        return loop
    if kind == "asyncio":
        return asyncio.SelectorEventLoop()
    return asyncio.new_event_loop()
