"""Memory per idle keep-alive connection: covetpy vs uvicorn vs Granian, one worker each.

For every server, protocol and connection count N the server is started afresh (pinned
to CPU 0), warmed up with one request on a throwaway connection, and the resident memory
(VmRSS, and RssAnon, from ``/proc/<pid>/status``) of the process that owns the
connections is read. A separate client process (pinned to CPU 1) then opens N TCP
connections, completes one exchange on each and leaves them all open and idle; after
the server has settled, its memory is read again. Per connection = (RSS_N - RSS_base) / N.

Protocols:

- ``http1``: ``apps/hello_asgi.py``; each connection sends one
  ``GET / HTTP/1.1`` and reads the whole response, so it has served a request and sits
  in keep-alive.
- ``websocket``: ``apps/ws_echo.py``; each connection does the opening handshake and
  one 16-byte text message is echoed, then the WebSocket sits idle.

One command, which makes the venv, builds covetpy and installs matplotlib as needed:
``SCENARIOS=connections benchmarks/run.sh [ARGS]``. Or directly, with that venv::

    benchmarks/.venv/bin/python benchmarks/connections.py \\
        [--covetpy PATH] [--counts 1000,5000,10000] [--servers covetpy,uvicorn,granian] \\
        [--protocols http1,websocket] [--out-md PATH] [--out-png PATH] [--venv PATH]

``--covetpy`` defaults to ``$COVETPY_BIN``, else ``target/release/covetpy``. Output: a
Markdown report (default ``benchmarks/results-connections.md``, also printed) and a
chart (default ``docs/img/connections-rss.png``).

Each client and server process needs one file descriptor per connection, so N is capped
by the per-process open-file limit (``ulimit -n``); counts that do not fit are skipped
and said so in the report.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import platform
import re
import resource
import selectors
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APPS = HERE / "apps"
HTTP_APP = "hello_asgi:app"
WS_APP = "ws_echo:app"
HOST = "127.0.0.1"
SERVER_CPU = "0"
CLIENT_CPU = "1"
HTTP1 = "http1"
WEBSOCKET = "websocket"
PROTOCOLS = (HTTP1, WEBSOCKET)
PROTOCOL_TITLES = {HTTP1: "HTTP/1.1", WEBSOCKET: "WebSocket"}
SERVERS = ("covetpy", "uvicorn", "granian")
# The 10k, 50k and 100k, and 19k, the most a common limit of 20,000 open files leaves room for;
# counts the machine's limit does not fit are skipped and said so.
DEFAULT_COUNTS = (1000, 5000, 10000, 19000, 50000, 100000)
KEEP_ALIVE_SECONDS = 600
BACKLOG = 4096
# Connections opened at a time: well under the listen backlog, so none is dropped.
BATCH = 500
# Client sockets are spread over these source addresses, so that the ephemeral ports of
# one address can never run short.
SOURCE_ADDRESSES = tuple(f"127.0.0.{i}" for i in range(2, 10))
WS_MESSAGE = b"0123456789abcdef"  # 16 bytes
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# fds a server or the client needs besides its connections (listeners, pipes, files).
FD_HEADROOM = 200
WARM_UP_WAIT = 1.0
SETTLE_WAIT = 2.0
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
BATCH_TIMEOUT = 60.0
GRANIAN_HEADER_READ_TIMEOUT_MS = 60000
GRANIAN_BACKPRESSURE = 100_000
GRANIAN_NOTE = (
    "Granian has no `--timeout-keep-alive`; its HTTP/1.1 idle keep-alive timeout is "
    "`--http1-header-read-timeout` (default 30000 ms, at most 60000): hyper's header-read "
    "timer also runs while a kept-alive connection waits for its next request, so with the "
    "default every idle connection is closed after 30 s. It is set to 60000, which outlasts "
    "each measurement (the liveness check after the reading confirms it). "
    "`--backpressure` (default backlog/workers = 4096 here) caps the connections it serves "
    "at a time, the rest wait unaccepted in the backlog, so it is set to 100000."
)


class BenchError(Exception):
    """A measurement that could not be made; the message says why."""


# --------------------------------------------------------------------------------------
# Client side: runs in its own process (``connections.py _client``), pinned to CPU 1, so
# that its sockets and memory are never counted against the server, and driven over
# stdin/stdout with one JSON line per command.
# --------------------------------------------------------------------------------------

# A step sends ``payload`` and is complete when ``parse(buffer)`` returns how many bytes
# of the buffer it consumed (None: not yet); it raises BenchError on a bad answer.
Parser = Callable[[bytes], int | None]


@dataclass
class Step:
    """One request on a connection and how to recognise its complete answer."""

    payload: bytes
    parse: Parser


def parse_http_response(buf: bytes) -> int | None:
    """Length of a complete 200 response with Content-Length at the start of buf."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buf[:end].decode("latin-1")
    if not re.match(r"HTTP/1\.1 200 ", head):
        raise BenchError(f"unexpected response: {head.splitlines()[0]!r}")
    found = re.search(r"(?im)^content-length:\s*(\d+)\s*$", head)
    if found is None:
        raise BenchError("response without Content-Length")
    total = end + 4 + int(found.group(1))
    return total if len(buf) >= total else None


def ws_handshake_parser(key: bytes) -> Parser:
    """Parser of the 101 answer to a handshake sent with ``key``."""
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID, usedforsecurity=False).digest())

    def parse(buf: bytes) -> int | None:
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = buf[:end].decode("latin-1")
        if not head.startswith("HTTP/1.1 101"):
            raise BenchError(f"WebSocket handshake refused: {head.splitlines()[0]!r}")
        if accept.decode() not in head:
            raise BenchError("wrong Sec-WebSocket-Accept")
        return end + 4

    return parse


def parse_ws_echo(buf: bytes) -> int | None:
    """Length up to and including the echoed text frame; control frames are skipped."""
    pos = 0
    while len(buf) - pos >= 2:
        opcode, length = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
        header = 2
        if length == 126:
            header, length = 4, int.from_bytes(buf[pos + 2 : pos + 4], "big")
        elif length == 127:
            header, length = 10, int.from_bytes(buf[pos + 2 : pos + 10], "big")
        if len(buf) - pos < header + length:
            return None
        payload = buf[pos + header : pos + header + length]
        pos += header + length
        if opcode == 0x1:
            if payload != WS_MESSAGE:
                raise BenchError(f"wrong echo {payload!r}")
            return pos
        if opcode == 0x8:
            raise BenchError("server closed the WebSocket")
    return None


def ws_text_frame(payload: bytes) -> bytes:
    """A masked (client-to-server) text frame; payload under 126 bytes."""
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


def steps_for(protocol: str) -> list[Step]:
    """The exchange each connection completes before it is left idle."""
    if protocol == HTTP1:
        return [Step(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", parse_http_response)]
    key = base64.b64encode(os.urandom(16))
    handshake = (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    return [
        Step(handshake, ws_handshake_parser(key)),
        Step(ws_text_frame(WS_MESSAGE), parse_ws_echo),
    ]


@dataclass
class Conn:
    """A client connection working through its steps."""

    sock: socket.socket
    steps: list[Step]
    stage: int = 0
    buf: bytes = b""
    connected: bool = False

    def send_current(self) -> None:
        """Send the current step's payload (a few hundred bytes: one send is enough)."""
        payload = self.steps[self.stage].payload
        if self.sock.send(payload) != len(payload):
            raise BenchError("short send")

    def feed(self, data: bytes) -> bool:
        """Take received bytes; True once the last step is complete."""
        self.buf += data
        while (used := self.steps[self.stage].parse(self.buf)) is not None:
            self.buf = self.buf[used:]
            self.stage += 1
            if self.stage == len(self.steps):
                return True
            self.send_current()
        return False


def open_batch(count: int, port: int, protocol: str, first: int) -> list[socket.socket]:
    """Open ``count`` connections, complete each one's exchange, return them idle."""
    sel = selectors.DefaultSelector()
    pending: dict[int, Conn] = {}
    for i in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.bind((SOURCE_ADDRESSES[(first + i) % len(SOURCE_ADDRESSES)], 0))
        sock.connect_ex((HOST, port))
        conn = Conn(sock, steps_for(protocol))
        pending[sock.fileno()] = conn
        sel.register(sock, selectors.EVENT_WRITE, conn)
    done: list[socket.socket] = []
    deadline = time.monotonic() + BATCH_TIMEOUT
    try:
        while pending:
            if time.monotonic() > deadline:
                raise BenchError(f"{len(pending)} of {count} connections stalled")
            for key, _events in sel.select(timeout=1.0):
                conn = key.data
                assert isinstance(conn, Conn)
                if step_conn(sel, conn):
                    sel.unregister(conn.sock)
                    del pending[conn.sock.fileno()]
                    done.append(conn.sock)
    except BaseException:
        for c in pending.values():
            c.sock.close()
        for s in done:
            s.close()
        raise
    finally:
        sel.close()
    return done


def step_conn(sel: selectors.BaseSelector, conn: Conn) -> bool:
    """Advance one ready connection; True when its exchange is complete."""
    if not conn.connected:
        err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise BenchError(f"connect failed: {os.strerror(err)}")
        conn.connected = True
        conn.send_current()
        sel.modify(conn.sock, selectors.EVENT_READ, conn)
        return False
    try:
        data = conn.sock.recv(65536)
    except BlockingIOError:
        return False
    if not data:
        raise BenchError("server closed a connection during its exchange")
    return conn.feed(data)


def count_alive(socks: Sequence[socket.socket]) -> int:
    """How many idle connections the server has not closed (peek: no EOF, no error)."""
    alive = 0
    for sock in socks:
        try:
            data = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            alive += 1
            continue
        except OSError:
            continue
        # Pending bytes (e.g. a WebSocket ping) mean open; b"" means the server closed it.
        alive += bool(data)
    return alive


def raise_fd_limit() -> int:
    """Raise this process's soft open-file limit to the hard limit; return it."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def client_main(port: int, protocol: str) -> None:
    """Serve commands from stdin: warm, open N, check, close (one JSON reply each)."""
    raise_fd_limit()
    socks: list[socket.socket] = []
    for line in sys.stdin:
        words = line.split()
        reply: dict[str, object]
        try:
            if words[0] == "warm":
                for sock in open_batch(1, port, protocol, 0):
                    sock.close()
                reply = {"ok": True}
            elif words[0] == "open":
                start = time.monotonic()
                total = int(words[1])
                while len(socks) < total:
                    socks += open_batch(min(BATCH, total - len(socks)), port, protocol, len(socks))
                reply = {"ok": True, "opened": len(socks), "seconds": time.monotonic() - start}
            elif words[0] == "check":
                reply = {"ok": True, "alive": count_alive(socks)}
            else:  # close
                for sock in socks:
                    sock.close()
                reply = {"ok": True, "closed": len(socks)}
                socks = []
        except (BenchError, OSError) as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "opened": len(socks)}
        print(json.dumps(reply), flush=True)


class Client:
    """The parent's handle on a client process."""

    def __init__(self, port: int, protocol: str) -> None:
        argv = [
            "taskset", "-c", CLIENT_CPU,
            sys.executable, str(Path(__file__).resolve()), "_client",
            "--port", str(port), "--protocol", protocol,
        ]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def call(self, command: str) -> dict[str, object]:
        """Send one command, wait for its reply; raise BenchError if it failed."""
        stdin, stdout = self.pipes()
        stdin.write(command + "\n")
        stdin.flush()
        line = stdout.readline()
        if not line:
            raise BenchError(f"client exited during {command!r}")
        reply = json.loads(line)
        assert isinstance(reply, dict)
        if not reply.get("ok"):
            raise BenchError(f"client {command!r}: {reply.get('error')} (opened {reply.get('opened')})")
        return reply

    def pipes(self) -> tuple[IO[str], IO[str]]:
        """The client's stdin and stdout."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        return self.proc.stdin, self.proc.stdout

    def stop(self) -> None:
        """Close its stdin (it exits, closing its sockets) and reap it."""
        try:
            self.pipes()[0].close()
            self.proc.wait(timeout=STOP_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()


# --------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerDef:
    """How to start one server for one protocol; ``command(port)`` gives the argv."""

    name: str
    command: Callable[[int], list[str]]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    # Printed under the table: how keep-alive/backlog were set for this server.
    note: str = ""


def make_servers(covetpy_bin: Path, venv: Path, protocol: str) -> dict[str, ServerDef]:
    """The servers, with bench.py's command lines plus a long keep-alive and backlog."""
    vbin = venv / "bin"
    app = HTTP_APP if protocol == HTTP1 else WS_APP
    env = {"VIRTUAL_ENV": str(venv), "PATH": f"{vbin}{os.pathsep}{os.environ.get('PATH', '')}"}

    def covetpy(port: int) -> list[str]:
        return [
            str(covetpy_bin), "serve", app, "--app-dir", str(APPS),
            "--host", HOST, "--port", str(port), "--no-access-log",
            "--timeout-keep-alive", str(KEEP_ALIVE_SECONDS), "--backlog", str(BACKLOG),
        ]  # fmt: skip

    def uvicorn(port: int) -> list[str]:
        # uvloop, httptools and websockets (uvicorn[standard]) are picked up.
        return [
            str(vbin / "uvicorn"), app, "--host", HOST, "--port", str(port),
            "--workers", "1", "--no-access-log", "--log-level", "warning",
            "--timeout-keep-alive", str(KEEP_ALIVE_SECONDS), "--backlog", str(BACKLOG),
        ]  # fmt: skip

    def granian(port: int) -> list[str]:
        # As in bench.py: WebSockets off for plain HTTP, on for the WebSocket app.
        return [
            str(vbin / "granian"), "--interface", "asgi",
            "--workers", "1", "--runtime-threads", "1",
            *(["--no-ws"] if protocol == HTTP1 else []),
            "--http", "auto", "--host", HOST, "--port", str(port),
            "--backlog", str(BACKLOG),
            # Its idle keep-alive timeout (see GRANIAN_NOTE), at its maximum.
            "--http1-header-read-timeout", str(GRANIAN_HEADER_READ_TIMEOUT_MS),
            # By default it serves at most backlog/workers connections at a time; the
            # rest wait unaccepted until one closes.
            "--backpressure", str(GRANIAN_BACKPRESSURE),
            app,
        ]  # fmt: skip

    return {
        "covetpy": ServerDef("covetpy", covetpy, REPO, env),
        "uvicorn": ServerDef("uvicorn", uvicorn, APPS, env),
        "granian": ServerDef("granian", granian, APPS, env, GRANIAN_NOTE),
    }


def free_port() -> int:
    """A TCP port on HOST that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def answers(port: int) -> bool:
    """Whether the server at port answers GET / with 200."""
    try:
        with socket.create_connection((HOST, port), timeout=2.0) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


@dataclass
class Running:
    """A started server process and its log."""

    proc: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 15) -> str:
        """The end of its output, for error messages."""
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def start_server(spec: ServerDef, port: int, log: Path) -> Running:
    """Start the server on CPU 0 (own session, so its children can be killed) and wait
    until it answers."""
    env = {**os.environ, **spec.env}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, *spec.command(port)],
            cwd=spec.cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    running = Running(proc, log)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not answers(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(running)
            raise BenchError(f"{spec.name} did not start:\n{running.log_tail()}")
        time.sleep(0.2)
    return running


def stop_server(running: Running) -> None:
    """SIGTERM, then SIGKILL to the whole session after STOP_TIMEOUT."""
    proc = running.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    # Workers that outlive their supervisor would hold the port and memory.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


# --------------------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------------------


def process_tree(root: int) -> list[int]:
    """root and all its descendants (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: split after the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, RssAnon) of pid in KiB."""
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon"):
            fields[name] = int(value.split()[0])
    return fields["VmRSS"], fields["RssAnon"]


def socket_count(pid: int) -> int:
    """Open sockets of pid."""
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            continue
    return count


# --------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------


@dataclass
class Result:
    """One server, protocol and N: memory before and with the N idle connections."""

    server: str
    protocol: str
    n: int
    base_rss: int = 0  # KiB
    rss: int = 0
    base_anon: int = 0
    anon: int = 0
    processes: int = 0  # in the server's process tree
    sockets: int = 0  # open in the measured process at N
    alive: int = 0  # connections still open after the measurement
    open_seconds: float = 0.0
    error: str = ""

    @property
    def per_conn(self) -> float:
        """KB of VmRSS per connection."""
        return (self.rss - self.base_rss) / self.n

    @property
    def per_conn_anon(self) -> float:
        """KB of RssAnon per connection."""
        return (self.anon - self.base_anon) / self.n


def measure(spec: ServerDef, protocol: str, n: int, scratch: Path) -> Result:
    """One fresh server start: baseline, N idle connections, memory again."""
    result = Result(spec.name, protocol, n)
    port = free_port()
    running = start_server(spec, port, scratch / f"{spec.name}-{protocol}-{n}.log")
    client = Client(port, protocol)
    try:
        client.call("warm")
        time.sleep(WARM_UP_WAIT)
        # Every process of the tree: which one gets the sockets is known only later.
        tree = process_tree(running.proc.pid)
        baseline = {pid: memory_kb(pid) for pid in tree}
        result.processes = len(tree)
        result.open_seconds = float(str(client.call(f"open {n}")["seconds"]))
        time.sleep(SETTLE_WAIT)
        owner = max(tree, key=socket_count)
        result.sockets = socket_count(owner)
        result.base_rss, result.base_anon = baseline[owner]
        result.rss, result.anon = memory_kb(owner)
        result.alive = int(str(client.call("check")["alive"]))
        if result.sockets < n:
            result.error = f"measured process holds only {result.sockets} sockets"
        elif result.alive < n:
            result.error = f"server closed {n - result.alive} idle connections"
        client.call("close")
    except BenchError as exc:
        result.error = str(exc).splitlines()[0]
        if running.proc.poll() is not None:
            result.error += f"; server exited: {running.log_tail(3)}"
    finally:
        client.stop()
        stop_server(running)
    return result


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def versions(covetpy_bin: Path, venv: Path) -> dict[str, str]:
    """Versions of the servers and of the libraries they use."""

    def run(argv: list[str]) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        return (done.stdout or done.stderr).strip().splitlines()[0] if done.returncode == 0 else "?"

    packages = ("uvicorn", "uvloop", "httptools", "websockets", "granian")
    code = (
        "import importlib.metadata as m, json, sys\n"
        f"v = {{p: m.version(p) for p in {packages!r}}}\n"
        "v['python'] = sys.version.split()[0]\n"
        "print(json.dumps(v))"
    )
    found: dict[str, str] = json.loads(run([str(venv / "bin" / "python"), "-c", code]))
    found["covetpy"] = run([str(covetpy_bin), "--version"]).removeprefix("covetpy ")
    return found


def cpu_model() -> str:
    """The first ``model name`` of /proc/cpuinfo."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "?"


def table(results: Sequence[Result]) -> list[str]:
    """The Markdown table of all results."""
    lines = [
        "| Server | Protocol | N | Baseline RSS MB | RSS at N MB | KB / conn (RSS) | KB / conn (RssAnon) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        proto = PROTOCOL_TITLES[r.protocol]
        if r.error and not r.rss:
            lines.append(f"| {r.server} | {proto} | {r.n} | failed: {r.error} | | | |")
            continue
        flag = " (!)" if r.error else ""
        lines.append(
            f"| {r.server} | {proto} | {r.n} | {r.base_rss / 1024:.1f} | {r.rss / 1024:.1f} "
            f"| {r.per_conn:.1f}{flag} | {r.per_conn_anon:.1f} |"
        )
    return lines


def summary(results: Sequence[Result]) -> list[str]:
    """KB per connection at the largest N of each server and protocol."""
    best: dict[tuple[str, str], Result] = {}
    for r in results:
        if not r.error and r.n >= best.get((r.server, r.protocol), r).n:
            best[(r.server, r.protocol)] = r
    return [
        f"- {PROTOCOL_TITLES[p]}, {s}: {r.per_conn:.1f} KB per idle connection at N={r.n}"
        for (s, p), r in sorted(best.items(), key=lambda item: (item[0][1], item[0][0]))
    ]


@dataclass
class RunInfo:
    """What the report says about how and where it was measured."""

    command: str
    started: str
    skipped: list[int]
    fd_limits: tuple[int, int]
    versions: dict[str, str]
    server_commands: dict[str, str]
    notes: list[str]


def report(results: Sequence[Result], info: RunInfo) -> str:
    """The whole Markdown report."""
    soft, hard = info.fd_limits
    v = info.versions
    lines = [
        "# Memory per idle connection",
        "",
        f"Generated by `benchmarks/connections.py` on {info.started}.",
        "",
        f"- Command: `{info.command}`",
        f"- Kernel: {platform.system()} {platform.release()}; CPU: {cpu_model()}, "
        f"{os.cpu_count()} logical CPUs; server on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU}",
        f"- Versions: covetpy {v['covetpy']}; uvicorn {v['uvicorn']} (uvloop {v['uvloop']}, "
        f"httptools {v['httptools']}, websockets {v['websockets']}); granian {v['granian']}; "
        f"Python {v['python']}",
        "- One worker each. Per server, protocol and N: a fresh start, one warm-up request on "
        f"a throwaway connection, {WARM_UP_WAIT:.0f} s, baseline read; then N connections "
        f"(opened {BATCH} at a time from {SOURCE_ADDRESSES[0]}..{SOURCE_ADDRESSES[-1]}) "
        "each complete one exchange and stay open and idle; "
        f"{SETTLE_WAIT:.0f} s later memory is read again.",
        "- Memory is VmRSS (and RssAnon) from `/proc/<pid>/status` of the process that holds "
        "the connections' sockets (the worker, where there is a supervisor). "
        "KB / conn = (RSS at N - baseline) / N, in KiB.",
        "- HTTP/1.1: `GET / HTTP/1.1` answered by `apps/hello_asgi.py`, connection kept alive. "
        "WebSocket: handshake + one 16-byte text message echoed by `apps/ws_echo.py`, then idle.",
        f"- Open-file limit: soft {soft}, hard {hard} per process, and it cannot be raised "
        "here, so 50k and 100k connections are not measurable on this machine"
        + (f"; skipped counts: {', '.join(map(str, info.skipped))}" if info.skipped else "")
        + ".",
        "",
        *table(results),
        *(
            ["", "(!): the measurement completed but something was off; see the notes."]
            if any(r.error and r.rss for r in results)
            else []
        ),
        "",
        "At the largest N:",
        "",
        *summary(results),
        "",
        "Server command lines (`<port>` chosen per start, run under `taskset -c 0`):",
        "",
        *(f"- {name}: `{cmd}`" for name, cmd in info.server_commands.items()),
    ]
    problems = [f"- {r.server} {PROTOCOL_TITLES[r.protocol]} N={r.n}: {r.error}" for r in results if r.error]
    if info.notes or problems:
        lines += ["", "Notes:", "", *(f"- {n}" for n in info.notes), *problems]
    return "\n".join(lines) + "\n"


def chart(results: Sequence[Result], protocols: Sequence[str], out: Path) -> None:
    """RSS against connections, one line per server, one subplot per protocol."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(protocols), figsize=(6.5 * len(protocols), 4.8), squeeze=False)
    for ax, protocol in zip(axes[0], protocols, strict=True):
        for server in SERVERS:
            rows = sorted(
                (r for r in results if r.server == server and r.protocol == protocol and r.rss),
                key=lambda r: r.n,
            )
            if not rows:
                continue
            # The baseline at x=0 (median over the starts) shows the fixed cost.
            xs = [0, *(r.n for r in rows)]
            ys = [statistics.median(r.base_rss for r in rows) / 1024, *(r.rss / 1024 for r in rows)]
            label = f"{server} ({rows[-1].per_conn:.1f} KB/conn at {rows[-1].n:,})"
            ax.plot(xs, ys, marker="o", label=label)
        ax.set_title(f"{PROTOCOL_TITLES[protocol]}: idle connections, one worker")
        ax.set_xlabel("open idle connections")
        ax.set_ylabel("worker RSS (MB)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        if ax.get_lines():
            ax.legend(loc="upper left")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def csv_list(text: str) -> list[str]:
    """``a,b,c`` -> ["a", "b", "c"]."""
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_bin = os.environ.get("COVETPY_BIN", str(REPO / "target/release/covetpy"))
    parser.add_argument("--covetpy", type=Path, default=Path(default_bin))
    parser.add_argument("--venv", type=Path, default=HERE / ".venv")
    parser.add_argument("--counts", default=",".join(map(str, DEFAULT_COUNTS)))
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--protocols", default=",".join(PROTOCOLS))
    parser.add_argument("--out-md", type=Path, default=HERE / "results-connections.md")
    parser.add_argument("--out-png", type=Path, default=REPO / "docs/img/connections-rss.png")
    args = parser.parse_args(argv)
    for name, allowed in (("servers", SERVERS), ("protocols", PROTOCOLS)):
        unknown = set(csv_list(getattr(args, name))) - set(allowed)
        if unknown:
            parser.error(f"unknown {name}: {', '.join(sorted(unknown))}")
    return args


def fitting_counts(counts: Sequence[int]) -> tuple[list[int], list[int]]:
    """(counts that fit in the open-file limit, those that do not)."""
    hard = raise_fd_limit()
    fits = [n for n in counts if n + FD_HEADROOM <= hard]
    return fits, [n for n in counts if n not in fits]


def runs(args: argparse.Namespace, counts: Sequence[int]) -> Iterator[tuple[ServerDef, str, int]]:
    """Every (server, protocol, N) to measure, in order."""
    for protocol in csv_list(args.protocols):
        specs = make_servers(args.covetpy.resolve(), args.venv.resolve(), protocol)
        for server in csv_list(args.servers):
            for n in counts:
                yield specs[server], protocol, n


def main(argv: Sequence[str]) -> int:
    """Measure everything asked for, write the report and the chart."""
    args = parse_args(argv)
    if not os.access(args.covetpy, os.X_OK):
        print(f"error: covetpy binary {args.covetpy} is not executable", file=sys.stderr)
        return 2
    counts, skipped = fitting_counts([int(n) for n in csv_list(args.counts)])
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="covetpy-conns-") as tmp:
        for spec, protocol, n in runs(args, counts):
            print(f"==> {spec.name} {PROTOCOL_TITLES[protocol]} N={n}", file=sys.stderr, flush=True)
            try:
                result = measure(spec, protocol, n, Path(tmp))
            except BenchError as exc:
                result = Result(spec.name, protocol, n, error=str(exc).splitlines()[0])
            results.append(result)
            print(f"    {result}", file=sys.stderr, flush=True)
    protocols, servers = csv_list(args.protocols), csv_list(args.servers)
    commands: dict[str, str] = {}
    notes: list[str] = []
    for protocol in protocols:
        for name, spec in make_servers(args.covetpy, args.venv, protocol).items():
            if name in servers:
                argv_shown = shlex.join(spec.command(0)).replace("--port 0", "--port <port>")
                commands[f"{name}, {PROTOCOL_TITLES[protocol]}"] = argv_shown
                if spec.note and spec.note not in notes:
                    notes.append(spec.note)
    info = RunInfo(
        command=shlex.join([os.path.relpath(sys.executable), os.path.relpath(__file__), *argv]),
        started=started,
        skipped=skipped,
        fd_limits=resource.getrlimit(resource.RLIMIT_NOFILE),
        versions=versions(args.covetpy, args.venv),
        server_commands=commands,
        notes=notes,
    )
    text = report(results, info)
    args.out_md.parent.mkdir(parents=True, exist_ok=True)
    args.out_md.write_text(text)
    chart(results, protocols, args.out_png)
    print(text)
    return 1 if any(r.error for r in results) else 0


def client_entry(argv: Sequence[str]) -> int:
    """``connections.py _client --port P --protocol X``: the client process."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--protocol", choices=PROTOCOLS, required=True)
    args = parser.parse_args(argv)
    client_main(args.port, args.protocol)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["_client"]:
        sys.exit(client_entry(sys.argv[2:]))
    sys.exit(main(sys.argv[1:]))
