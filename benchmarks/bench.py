#!/usr/bin/env python3
"""CovetPy benchmark orchestration: covetpy vs its peers on one core each.

Six scenarios (groups of tables), selectable with ``--scenarios``:

- ``asgi``: a raw ASGI app (``apps/hello_asgi.py``) on covetpy, granian and uvicorn,
  over HTTP/1.1 and HTTP/2;
- ``wsgi``: a Flask app (``apps/flask_hello.py``) on covetpy, granian and gunicorn
  (default sync worker), over HTTP/1.1 only;
- ``native``: HTTP/1.1 only, one table each (``--scenarios`` also takes a table's
  name alone):

  - ``native-items``: a native CovetPy app (``apps/bench_native.py``, routing,
    parameters and JSON in Rust), ``GET /items/42?q=hello``, against the same app in
    FastAPI on uvicorn (``apps/bench_fastapi.py``);
  - ``native-plain``: its ``GET /plain`` against nginx answering from its config
    (``return 200``);

  and app files that import ``fastapi``, served natively by ``covetpy --interface
  covet`` (their imports resolve to covetpy) and on FastAPI by uvicorn:

  - ``native-sync``: a ``def`` endpoint with native-items' parameters
    (``apps/native_features.py``); also covetpy's ``def`` / ``async def`` ratio, against
    native-items' covetpy in the same run;
  - ``native-realistic``: ``GET /users/5`` of ``apps/realistic_app.py`` (HTTP middleware,
    bearer-token dependency, ``yield`` dependency, ``response_model``), with
    ``Authorization: Bearer secret-token``; also on ``covetpy --interface asgi`` (the real
    FastAPI on covetpy's ASGI server);
  - ``native-body``: ``POST /items`` with a JSON body that fails the pydantic model
    (422 and FastAPI's error document);
  - ``native-multipart``: ``POST /upload`` of a 1 MiB file as multipart/form-data to an
    ``UploadFile`` parameter;
  - ``native-cors``: a CORS preflight ``OPTIONS /items/1`` to ``apps/native_cors.py``
    (``CORSMiddleware``);
  - ``native-static``: ``GET /static/1mb.bin`` from ``StaticFiles``, also against nginx and
    covetpy's ASGI interface (Starlette's ``StaticFiles`` in Python)
  - ``native-static-small``: the same for ``GET /static/4kb.bin``
    serving the same directory (``alias``, ``sendfile on``);
- ``fastapi``: a FastAPI app (``apps/fastapi_routes.py``) served as ASGI by covetpy,
  granian and uvicorn, with a table each for its ``def`` and its ``async def`` route;
- ``websocket``: a raw ASGI WebSocket echo app (``apps/ws_echo.py``) on covetpy and
  granian (WebSockets on), measured in echoed messages per second;
- ``tls``: the raw ASGI app over TLS, in two comparisons with a table each: HTTP/2 over
  TLS (ALPN h2) on covetpy and granian, and HTTP/3 (QUIC) on covetpy (``--http3``) and
  hypercorn (``--quic-bind``); a self-signed certificate is made with ``openssl`` for
  every server start.

Called by ``benchmarks/run.sh``, which installs the tools and builds covetpy first.
For every round and scenario, every server is measured in turn (start, wait for the
port, check one response, warm up, measure, stop), and the order of servers rotates
from round to round, so slow drift of the machine affects all servers alike.  The
server runs on CPU 0 and the load generator on CPU 1 (``taskset``).

HTTP/1.1 load: ``wrk -t1 -c64 -dDs --latency`` on the scenario's request path, with
``-H`` for the headers of a GET, or with a generated Lua script (``wrk_script``) for
another method, a request body (read from a file of the run's data directory, where
``write_bench_data`` puts the 1 MiB static file, the multipart body and the invalid JSON
body) or an expected status that is not 2xx (the script then counts the responses with
another status).  The start-up check sends the same request with ``http.client`` and
compares the response with the scenario's ``Target`` (status, headers, body, JSON or
length and prefix).
HTTP/2 load: ``h2load -c16 -m10 -D D`` (cleartext, prior knowledge).
WebSocket load: ``wsbench -c 64 -d D --size 16`` (``crates/loadgen``): 64 connections,
each sending a 16-byte binary message and awaiting its echo, in a loop.
HTTPS HTTP/2 load: ``h2load -c16 -m10 -D D https://...`` (h2 negotiated by ALPN).
HTTP/3 load: ``h3bench -c 4 -m 50 -d D`` (``crates/loadgen``): 4 QUIC connections with
50 concurrent request streams each.

The Markdown report goes to stdout and to ``benchmarks/results-latest.md``; the raw
output of every load run and every server log goes to ``benchmarks/logs/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import http.client
import json
import os
import platform
import random
import re
import resource
import shlex
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APPS = HERE / "apps"
ASGI_APP = "hello_asgi:app"
WSGI_APP = "flask_hello:app"
NATIVE_APP = "bench_native:app"
FASTAPI_APP = "bench_fastapi:app"
FASTAPI_ROUTES_APP = "fastapi_routes:app"
# Apps that import fastapi, served natively by covetpy --interface covet and by uvicorn.
NATIVE_FEATURES_APP = "native_features:app"
REALISTIC_APP = "realistic_app:app"
CORS_APP = "native_cors:app"
WS_APP = "ws_echo:app"
WSBENCH_BIN = Path(os.environ.get("WSBENCH_BIN", str(REPO / "target/release/wsbench")))
WS_CONNECTIONS = 64
WS_MESSAGE_SIZE = 16
H3BENCH_BIN = Path(os.environ.get("H3BENCH_BIN", str(REPO / "target/release/h3bench")))
H3_CONNECTIONS = 4
H3_STREAMS = 50
EXPECTED_BODY = b"Hello, world!"
HOST = "127.0.0.1"
# CPUs used by anything else during a measurement before it is repeated.  Mixing
# tick-sampled /proc/stat with precise per-process times gives about +-0.05 of noise.
OTHER_CPU_LIMIT = 0.10
# Load-generator CPU use from which its own core may have capped the measured rate.
LOAD_SATURATED = 0.95
SERVER_CPU = "0"
LOAD_CPU = "1"

H1 = "HTTP/1.1"
H2 = "HTTP/2"
WS = "WebSocket"
H2TLS = "HTTPS HTTP/2"
H3 = "HTTP/3"
PROTOCOLS: tuple[str, ...] = (H1, H2)
PROTO_SLUGS = {H1: "h1", H2: "h2", WS: "ws", H2TLS: "h2tls", H3: "h3"}
TLS_PROTOCOLS = (H2TLS, H3)


class BenchError(Exception):
    """A server or load-generator problem that invalidates one measurement."""


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class Measurement:
    """What one load-generator run reported."""

    rps: float
    requests: int
    failed: int
    non_2xx: int
    failure_detail: str
    latency: str
    cpu: CpuUse | None = None
    round: int = 0


_UNITS_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _to_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value)
    if match is None:
        raise BenchError(f"cannot parse duration {value!r}")
    return float(match.group(1)) * _UNITS_TO_MS[match.group(2)]


def _search(pattern: str, text: str, what: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise BenchError(f"{what}: no match for {pattern!r} in output:\n{text}")
    return match


def parse_wrk(text: str) -> Measurement:
    """Parse the output of ``wrk --latency``."""
    rps = float(_search(r"^Requests/sec:\s+([\d.]+)", text, "wrk").group(1))
    requests = int(_search(r"^\s*(\d+) requests in ", text, "wrk").group(1))
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    connect, read, write, timeout = (
        (int(g) for g in sock.groups()) if sock else (0, 0, 0, 0)
    )
    non2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    non_2xx = int(non2xx_match.group(1)) if non2xx_match else 0
    detail = f"connect {connect}, read {read}, write {write}, timeout {timeout}"
    avg = _search(r"^\s+Latency\s+(\S+)", text, "wrk").group(1)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.MULTILINE)
    latency = f"avg {_to_ms(avg):.2f} ms"
    if p99:
        latency += f", p99 {_to_ms(p99.group(1)):.2f} ms"
    if requests == 0:
        raise BenchError(f"wrk completed no request:\n{text}")
    return Measurement(
        rps=rps,
        requests=requests,
        failed=connect + read + write + timeout,
        non_2xx=non_2xx,
        failure_detail=detail,
        latency=latency,
    )


def parse_wsbench(text: str) -> Measurement:
    """Parse the ``--json`` line of ``wsbench``: echoed messages count as requests."""
    line = _search(r"^\{.*\}$", text, "wsbench").group(0)
    try:
        data = json.loads(line)
        rate = float(data["messages_per_sec"])
        messages = int(data["messages"])
        errors = int(data["errors"])
        p50, p99 = int(data["p50_us"]), int(data["p99_us"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"cannot parse wsbench output: {exc}\n{text}") from exc
    if messages == 0:
        raise BenchError(f"wsbench echoed no message:\n{text}")
    return Measurement(
        rps=rate,
        requests=messages,
        failed=errors,
        non_2xx=0,
        failure_detail=f"{errors} connection or echo errors",
        latency=f"p50 {p50 / 1000:.2f} ms, p99 {p99 / 1000:.2f} ms",
    )


def parse_h3bench(text: str) -> Measurement:
    """Parse the ``--json`` line of ``h3bench``."""
    line = _search(r"^\{.*\}$", text, "h3bench").group(0)
    try:
        data = json.loads(line)
        rate = float(data["requests_per_sec"])
        requests = int(data["requests"])
        errors = int(data["errors"])
        non_2xx = int(data["non_2xx"])
        p50, p99 = int(data["p50_us"]), int(data["p99_us"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BenchError(f"cannot parse h3bench output: {exc}\n{text}") from exc
    if requests == 0:
        raise BenchError(f"h3bench completed no request:\n{text}")
    return Measurement(
        rps=rate,
        requests=requests,
        failed=errors,
        non_2xx=non_2xx,
        failure_detail=f"{errors} stream or connection errors",
        latency=f"p50 {p50 / 1000:.2f} ms, p99 {p99 / 1000:.2f} ms",
    )


def parse_h2load(text: str, expect_protocol: str = "h2c") -> Measurement:
    """Parse the output of ``h2load``; insists that h2c (or, over TLS, h2) was spoken."""
    proto = re.search(r"^Application protocol: (\S+)", text, re.MULTILINE)
    if proto is None or proto.group(1) != expect_protocol:
        got = proto.group(1) if proto else "none (no protocol negotiated)"
        raise BenchError(
            f"h2load did not speak {expect_protocol}, application protocol: {got}\n{text}"
        )
    rps = float(_search(r"^finished in \S+, ([\d.]+) req/s", text, "h2load").group(1))
    req = _search(
        r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
        r"(\d+) failed, (\d+) errored, (\d+) timeout",
        text,
        "h2load",
    )
    total, _started, done, succeeded, failed, errored, timeout = (
        int(g) for g in req.groups()
    )
    if done == 0 or succeeded == 0:
        raise BenchError(
            f"h2load completed no request ({done} done, {succeeded} succeeded):\n{text}"
        )
    codes = _search(
        r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, "h2load"
    )
    non_2xx = sum(int(g) for g in codes.groups()[1:])
    mean = _search(r"^time for request:\s+\S+\s+\S+\s+(\S+)", text, "h2load").group(1)
    return Measurement(
        rps=rps,
        requests=total,
        failed=failed + errored + timeout,
        non_2xx=non_2xx,
        failure_detail=f"failed {failed}, errored {errored}, timeout {timeout}",
        latency=f"mean {_to_ms(mean):.2f} ms",
    )


# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class Target:
    """The request a scenario measures, and the one response every server must give.

    The same request is sent by the start-up check (``http.client``) and by the load
    generator: a plain GET by wrk's URL (headers with ``-H``), anything else by a wrk Lua
    script (``wrk_script``).
    """

    path: str = "/"
    method: str = "GET"
    # Request headers, in order.
    headers: tuple[tuple[str, str], ...] = ()
    # Request body: the name of a file in the run's data directory (``write_bench_data``).
    body_file: str | None = None
    status: int = 200
    # Expected body, compared byte for byte unless ``json`` or ``size`` is set.
    body: bytes = EXPECTED_BODY
    # Expected JSON document: the body must parse to it, with content-type
    # application/json (spacing of the encoding is free).
    json: object = None
    # Expected body length in bytes; the body must then start with ``prefix``.
    size: int | None = None
    prefix: bytes = b""
    # Response headers that must be there (names case-insensitive), with this exact value
    # unless it is None.
    response_headers: tuple[tuple[str, str | None], ...] = ()

    @property
    def plain_get(self) -> bool:
        """True when wrk's command line can send the request (no Lua script needed)."""
        return self.method == "GET" and self.body_file is None

    @property
    def success_status(self) -> bool:
        """True when wrk's own count of non-2xx/3xx responses counts the wrong ones."""
        return 200 <= self.status < 400

    @property
    def needs_script(self) -> bool:
        """True when wrk needs a Lua script (``wrk_script``) for this request."""
        return not (self.plain_get and self.success_status)

    def request_line(self) -> str:
        return f"{self.method} {self.path}"

    def describe(self) -> str:
        if self.json is not None:
            body = f"application/json {json.dumps(self.json, separators=(',', ':'))}"
        elif self.size is not None:
            body = f"{self.size} bytes starting {self.prefix[:16]!r}"
        else:
            body = repr(self.body)
        headers = "".join(
            f", {name}: {'<any>' if value is None else value}"
            for name, value in self.response_headers
        )
        return f"{self.status} {body}{headers}"

    def problem(
        self, status: int, headers: Callable[[str], str | None], body: bytes
    ) -> str | None:
        """Why this response is not the expected one, or None if it is.

        ``headers(name)`` gives a response header's value, or None when it is missing.
        """
        if status != self.status:
            return f"status {status}"
        for name, want in self.response_headers:
            got = headers(name)
            if got is None:
                return f"no {name} header"
            if want is not None and got != want:
                return f"{name}: {got!r}"
        if self.size is not None:
            if len(body) != self.size:
                return f"body of {len(body)} bytes"
            return None if body.startswith(self.prefix) else f"body {body[:32]!r}..."
        if self.json is None:
            return None if body == self.body else f"body {body[:200]!r}"
        content_type = headers("content-type") or ""
        if not content_type.startswith("application/json"):
            return f"content-type {content_type!r}"
        try:
            doc = json.loads(body)
        except ValueError:
            return f"body is not JSON: {body[:200]!r}"
        return None if doc == self.json else f"JSON {doc!r}"


HELLO = Target()
ITEMS = Target(path="/items/42?q=hello", json={"item_id": 42, "q": "hello"})
PLAIN = Target(path="/plain")
FASTAPI_SYNC = Target(path="/sync/42?q=hello", json={"item_id": 42, "q": "hello"})
FASTAPI_ASYNC = Target(path="/async/42?q=hello", json={"item_id": 42, "q": "hello"})

# ---- the data files of the native scenarios, written once per run into its data directory

STATIC_FILE = "1mb.bin"
STATIC_SIZE = 1 << 20
# A file the size of a typical stylesheet or script, where the per-request path dominates.
SMALL_STATIC_FILE = "4kb.bin"
SMALL_STATIC_SIZE = 4096
# The directory StaticFiles serves in apps/native_features.py (and nginx's alias).
STATIC_DIR_ENV = "COVETPY_BENCH_STATIC_DIR"
UPLOAD_BOUNDARY = "covetpy-bench-boundary-7d3f"
UPLOAD_BODY_FILE = "upload-1mb.multipart"
INVALID_ITEM_FILE = "items-invalid.json"
# A string where an int is expected (quantity) and a missing field (price).
INVALID_ITEM = {"name": "x", "quantity": "many"}


def static_content() -> bytes:
    """The 1 MiB static file and upload: fixed pseudo-random bytes (nothing compresses)."""
    return random.Random(0).randbytes(STATIC_SIZE)


def multipart_upload(filename: str, content: bytes) -> bytes:
    """A multipart/form-data body with one file field named ``file``."""
    head = (
        f"--{UPLOAD_BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{UPLOAD_BOUNDARY}--\r\n".encode()


def write_bench_data(data_dir: Path) -> None:
    """The files the native scenarios serve and send, readable by nginx's worker too."""
    static = data_dir / "static"
    static.mkdir(mode=0o755, exist_ok=True)
    content = static_content()
    (static / STATIC_FILE).write_bytes(content)
    (static / SMALL_STATIC_FILE).write_bytes(content[:SMALL_STATIC_SIZE])
    (data_dir / UPLOAD_BODY_FILE).write_bytes(multipart_upload(STATIC_FILE, content))
    (data_dir / INVALID_ITEM_FILE).write_text(json.dumps(INVALID_ITEM))
    for path in (data_dir, static, *data_dir.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)


REALISTIC = Target(
    path="/users/5",
    headers=(("Authorization", "Bearer secret-token"),),
    json={"id": 5, "name": "user5", "email": "user5@example.com"},
    # Set by the app's @app.middleware("http"): proves the middleware ran.
    response_headers=(("x-process-time", None),),
)
INVALID_BODY = Target(
    path="/items",
    method="POST",
    headers=(("Content-Type", "application/json"),),
    body_file=INVALID_ITEM_FILE,
    status=422,
    # FastAPI's answer (pydantic v2 errors without their "url"), byte for byte the same
    # document on covetpy.
    json={
        "detail": [
            {
                "type": "missing",
                "loc": ["body", "price"],
                "msg": "Field required",
                "input": INVALID_ITEM,
            },
            {
                "type": "int_parsing",
                "loc": ["body", "quantity"],
                "msg": "Input should be a valid integer, unable to parse string as an integer",
                "input": "many",
            },
        ]
    },
)
UPLOAD = Target(
    path="/upload",
    method="POST",
    headers=(("Content-Type", f"multipart/form-data; boundary={UPLOAD_BOUNDARY}"),),
    body_file=UPLOAD_BODY_FILE,
    json={"size": STATIC_SIZE, "filename": STATIC_FILE},
)
CORS_ORIGIN = "https://example.com"
PREFLIGHT = Target(
    path="/items/1",
    method="OPTIONS",
    headers=(("Origin", CORS_ORIGIN), ("Access-Control-Request-Method", "GET")),
    body=b"OK",
    response_headers=(
        ("access-control-allow-origin", CORS_ORIGIN),
        ("access-control-allow-methods", "GET, POST"),
        ("access-control-max-age", "600"),
    ),
)
STATIC = Target(
    path=f"/static/{STATIC_FILE}",
    size=STATIC_SIZE,
    prefix=static_content()[:64],
)
SMALL_STATIC = Target(
    path=f"/static/{SMALL_STATIC_FILE}",
    size=SMALL_STATIC_SIZE,
    prefix=static_content()[:64],
)


def lua_string(text: str) -> str:
    """A Lua string literal for text: printable ASCII as is, every other byte escaped."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        if 32 <= byte < 127 and char not in '"\\':
            out.append(char)
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


UNEXPECTED_LINE = "Unexpected status responses:"


def wrk_script(target: Target, data_dir: Path) -> str:
    """A wrk Lua script sending the target's method, headers and body (read once from its
    file); for a target whose expected status is not 2xx/3xx it also counts the responses
    with any other status and prints the count after wrk's summary."""
    lines = [f"wrk.method = {lua_string(target.method)}"]
    lines += [
        f"wrk.headers[{lua_string(name)}] = {lua_string(value)}"
        for name, value in target.headers
    ]
    if target.body_file is not None:
        lines += [
            f'local f = assert(io.open({lua_string(str(data_dir / target.body_file))}, "rb"))',
            'wrk.body = f:read("*a")',
            "f:close()",
        ]
    if not target.success_status:
        # response() runs in each thread's Lua state; done() in the main one reads the
        # threads' counters through the handles setup() kept.
        lines += [
            "local threads = {}",
            "function setup(thread) table.insert(threads, thread) end",
            "function init(args) unexpected = 0 end",
            "function response(status, headers, body)",
            f"  if status ~= {target.status} then unexpected = unexpected + 1 end",
            "end",
            "function done(summary, latency, requests)",
            "  local n = 0",
            '  for _, t in ipairs(threads) do n = n + t:get("unexpected") end',
            f'  io.write(string.format("{UNEXPECTED_LINE} %d\\n", n))',
            "end",
        ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ServerSpec:
    """How to start one server under test in one scenario.

    ``command(port, scratch)`` gives the argv; ``scratch`` is an empty directory made
    for this one start (and removed after the stop), where the command may write files
    such as a config.
    """

    scenario: str
    name: str
    protocols: tuple[str, ...]
    command: Callable[[int, Path], list[str]]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    # Exit statuses that count as a clean stop after the stop signal.
    clean_exits: tuple[int, ...] = (0,)
    target: Target = HELLO
    stop_signal: signal.Signals = signal.SIGTERM
    # Served over TLS (HTTPS sanity check); the command makes its certificate.
    tls: bool = False

    @property
    def label(self) -> str:
        return f"{self.scenario}/{self.name}"


@dataclass(frozen=True)
class CrossRatio:
    """covetpy in this scenario / covetpy in another one of the same run."""

    # The other scenario's name; its covetpy median is the denominator.
    other: str
    # What the ratio compares, e.g. "covetpy `def` / covetpy `async def`".
    label: str


@dataclass(frozen=True)
class Scenario:
    """One app served by a set of servers that are compared with each other."""

    name: str
    title: str
    protocols: tuple[str, ...]
    servers: tuple[ServerSpec, ...]
    # Printed under the scenario's table in the report.
    notes: tuple[str, ...] = ()
    # What --scenarios selects it by, when several tables make up one scenario.
    group: str = ""
    # Minimum ratio covetpy / peer aimed at, by peer name; shown next to the ratio.
    goals: tuple[tuple[str, float], ...] = ()
    # Ratios of covetpy's median here to covetpy's median in other scenarios of the same
    # run, shown under the table.
    cross: tuple[CrossRatio, ...] = ()

    @property
    def selector(self) -> str:
        return self.group or self.name


def nginx_config(port: int, prefix: Path, static_dir: Path) -> str:
    """nginx answering GET /plain from its config and serving static_dir under /static/;
    everything it writes stays in prefix."""
    temp_paths = "".join(
        f"    {kind}_temp_path {prefix / (kind + '_temp')};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        "worker_processes 1;\n"
        "daemon off;\n"
        "master_process on;\n"
        "error_log stderr;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    access_log off;\n"
        # As in the nginx.conf that Debian's package installs (the built-in default is off).
        "    sendfile on;\n"
        f"{temp_paths}"
        "    server {\n"
        f"        listen {HOST}:{port};\n"
        "        location = /plain {\n"
        "            default_type text/plain;\n"
        f'            return 200 "{EXPECTED_BODY.decode()}";\n'
        "        }\n"
        "        location /static/ {\n"
        # The content type StaticFiles gives a .bin file; nginx has no types table here.
        "            default_type application/octet-stream;\n"
        f"            alias {static_dir}/;\n"
        "        }\n"
        "    }\n"
        "}\n"
    )


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway EC P-256 certificate for 127.0.0.1/localhost (PKCS#8 key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    done = subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise BenchError(f"openssl could not make a certificate:\n{done.stderr}")
    return cert, key


# uvicorn as every harness runs it; uvloop and httptools (uvicorn[standard]) are picked up.
UVICORN_OPTIONS = ("--workers", "1", "--no-access-log", "--log-level", "warning")


def covetpy_argv(
    covetpy_bin: Path, app: str, port: int, *options: str, app_dir: Path = APPS
) -> list[str]:
    """covetpy serving ``app`` on HOST:port without access log; ``options``
    (``--interface``, ``--workers``, ...) go before that."""
    return [
        str(covetpy_bin), "serve", app,
        "--app-dir", str(app_dir),
        "--host", HOST, "--port", str(port),
        *options,
        "--no-access-log",
    ]  # fmt: skip


def granian_argv(
    venv: Path, interface: str, app: str, port: int, *, workers: int = 1, ws: bool = False
) -> list[str]:
    """Granian as every harness runs it: one runtime thread per worker; the app is the
    last argument."""
    # WebSockets are an ASGI matter; a WSGI app has none to turn off.
    no_ws = ["--no-ws"] if interface == "asgi" and not ws else []
    return [
        str(venv / "bin" / "granian"),
        "--interface", interface,
        "--workers", str(workers), "--runtime-threads", "1",
        *no_ws,
        # "auto" serves HTTP/1.1 and h2c prior knowledge on one port, like covetpy.
        "--http", "auto",
        "--host", HOST, "--port", str(port),
        app,
    ]  # fmt: skip


def uvicorn_argv(venv: Path, app: str, port: int) -> list[str]:
    """uvicorn serving ``app`` (from the working directory) with UVICORN_OPTIONS."""
    return [
        str(venv / "bin" / "uvicorn"), app,
        "--host", HOST, "--port", str(port),
        *UVICORN_OPTIONS,
    ]  # fmt: skip


def make_scenarios(
    covetpy_bin: Path, venv: Path, nginx_bin: Path, data_dir: Path
) -> dict[str, Scenario]:
    """Every scenario with all its servers, each with one worker process.

    ``data_dir`` holds the files of ``write_bench_data`` (written before any server starts).
    """
    vbin = venv / "bin"
    static_dir = data_dir / "static"
    path_env = {
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{vbin}{os.pathsep}{os.environ.get('PATH', '')}",
        STATIC_DIR_ENV: str(static_dir),
    }

    def covetpy_options(interface: str | None) -> list[str]:
        # Without --interface, ASGI, WSGI or native is auto-detected; WSGI uses the
        # default --threads. What covetpy_argv adds after the port, as shown in reports.
        return [
            *(["--interface", interface] if interface else []),
            "--no-access-log",
        ]

    def covetpy(
        app: str, interface: str | None = None
    ) -> Callable[[int, Path], list[str]]:
        def command(port: int, _scratch: Path) -> list[str]:
            chosen = ["--interface", interface] if interface else []
            return covetpy_argv(covetpy_bin, app, port, *chosen)

        return command

    def covetpy_tls(app: str, http3: bool) -> Callable[[int, Path], list[str]]:
        def command(port: int, scratch: Path) -> list[str]:
            cert, key = self_signed_cert(scratch)
            return [
                *covetpy(app)(port, scratch),
                "--ssl-certfile", str(cert), "--ssl-keyfile", str(key),
                *(["--http3"] if http3 else []),
            ]  # fmt: skip

        return command

    def granian_tls(app: str) -> Callable[[int, Path], list[str]]:
        def command(port: int, scratch: Path) -> list[str]:
            cert, key = self_signed_cert(scratch)
            argv = granian("asgi", app)(port, scratch)
            # options before the app argument
            return [
                *argv[:-1],
                "--ssl-certificate", str(cert), "--ssl-keyfile", str(key),
                argv[-1],
            ]  # fmt: skip

        return command

    def hypercorn_h3(app: str) -> Callable[[int, Path], list[str]]:
        # TCP (h1/h2 over TLS) and QUIC on the same port number, like covetpy --http3.
        def command(port: int, scratch: Path) -> list[str]:
            cert, key = self_signed_cert(scratch)
            return [
                str(vbin / "hypercorn"),
                "--workers", "1",
                "--bind", f"{HOST}:{port}", "--quic-bind", f"{HOST}:{port}",
                "--certfile", str(cert), "--keyfile", str(key),
                "--log-level", "warning",
                app,
            ]  # fmt: skip

        return command

    def granian(
        interface: str, app: str, ws: bool = False
    ) -> Callable[[int, Path], list[str]]:
        def command(port: int, _scratch: Path) -> list[str]:
            return granian_argv(venv, interface, app, port, ws=ws)

        return command

    def uvicorn(app: str) -> Callable[[int, Path], list[str]]:
        def command(port: int, _scratch: Path) -> list[str]:
            return uvicorn_argv(venv, app, port)

        return command

    def shown_commands(app: str, *covetpy_interfaces: str) -> str:
        """The command lines of a native comparison, for the notes under its table
        (host, port and --app-dir left out)."""
        covetpy_lines = [
            f"{'covetpy' if interface == 'covet' else 'covetpy-' + interface}: "
            f"`covetpy serve {app} {' '.join(covetpy_options(interface))}`"
            for interface in covetpy_interfaces
        ]
        return (
            "Command lines: "
            + ", ".join(covetpy_lines)
            + f"; fastapi-uvicorn: `uvicorn {app} {' '.join(UVICORN_OPTIONS)}` from "
            "`benchmarks/apps`, with uvloop and httptools."
        )

    def nginx(port: int, scratch: Path) -> list[str]:
        conf = scratch / "nginx.conf"
        conf.write_text(nginx_config(port, scratch, static_dir))
        # -p: prefix for relative paths; -e: the start-up error log, before the config
        # is read, goes to stderr rather than the compiled-in /var/log/nginx/error.log.
        return [
            str(nginx_bin), "-e", "stderr", "-p", f"{scratch}/", "-c", str(conf)
        ]  # fmt: skip

    def gunicorn(port: int, _scratch: Path) -> list[str]:
        # Default sync worker, default settings (no access log by default).
        return [
            str(vbin / "gunicorn"),
            "-w", "1",
            "-b", f"{HOST}:{port}",
            WSGI_APP,
        ]  # fmt: skip

    # uvicorn re-raises the SIGTERM after its graceful shutdown; gunicorn exits 0 after
    # its graceful shutdown, but is allowed the same leniency.
    killed_by_term = (0, -signal.SIGTERM)
    asgi = Scenario(
        name="asgi",
        title=f"ASGI: raw ASGI app `{ASGI_APP}`",
        protocols=(H1, H2),
        servers=(
            ServerSpec("asgi", "covetpy", (H1, H2), covetpy(ASGI_APP), REPO, path_env),
            ServerSpec(
                "asgi", "granian", (H1, H2), granian("asgi", ASGI_APP), APPS, path_env
            ),
            ServerSpec(
                "asgi",
                "uvicorn",
                (H1,),
                uvicorn(ASGI_APP),
                APPS,
                path_env,
                killed_by_term,
            ),
        ),
    )
    wsgi = Scenario(
        name="wsgi",
        title=f"WSGI: Flask app `{WSGI_APP}`",
        protocols=(H1,),
        servers=(
            ServerSpec("wsgi", "covetpy", (H1,), covetpy(WSGI_APP), REPO, path_env),
            ServerSpec(
                "wsgi", "granian", (H1,), granian("wsgi", WSGI_APP), APPS, path_env
            ),
            ServerSpec(
                "wsgi", "gunicorn", (H1,), gunicorn, APPS, path_env, killed_by_term
            ),
        ),
        notes=(
            (
                "gunicorn runs its default sync worker, which handles one connection at "
                "a time and closes the connection after every response "
                "(`Connection: close`), so wrk opens a new connection for every request. "
                "That is gunicorn's default behaviour and part of what is compared; "
                "covetpy and granian keep the 64 connections alive."
            ),
            (
                "covetpy runs the app on its default WSGI thread pool (`--threads 8`), "
                "granian on its default blocking threads (spawned on demand, up to "
                "backpressure / 2 = 512)."
            ),
        ),
    )
    native_items = Scenario(
        name="native-items",
        group="native",
        title=(
            f"Native: `GET {ITEMS.path}`, covetpy `{NATIVE_APP}` vs the same app "
            f"in FastAPI `{FASTAPI_APP}` on uvicorn"
        ),
        protocols=(H1,),
        servers=(
            ServerSpec(
                "native-items",
                "covetpy",
                (H1,),
                covetpy(NATIVE_APP),
                REPO,
                path_env,
                target=ITEMS,
            ),
            ServerSpec(
                "native-items",
                "fastapi-uvicorn",
                (H1,),
                uvicorn(FASTAPI_APP),
                APPS,
                path_env,
                killed_by_term,
                target=ITEMS,
            ),
        ),
        goals=(("fastapi-uvicorn", 10.0),),
        notes=(
            (
                "Both apps declare `GET /items/{item_id:int}` with an optional query "
                'parameter `q` and return the JSON object `{"item_id":42,"q":"hello"}`; '
                "covetpy routes, parses the parameters and encodes the JSON in Rust, "
                "FastAPI does it in Python (Starlette routing, pydantic validation) on "
                "uvicorn with uvloop and httptools."
            ),
        ),
    )

    def fastapi_routes(name: str, kind: str, target: Target) -> Scenario:
        return Scenario(
            name=name,
            group="fastapi",
            title=(
                f"FastAPI: `GET {target.path}`, the `{kind}` endpoint of "
                f"`{FASTAPI_ROUTES_APP}`, served as ASGI"
            ),
            protocols=(H1,),
            servers=(
                ServerSpec(
                    name,
                    "covetpy",
                    (H1,),
                    covetpy(FASTAPI_ROUTES_APP),
                    REPO,
                    path_env,
                    target=target,
                ),
                ServerSpec(
                    name,
                    "granian",
                    (H1,),
                    granian("asgi", FASTAPI_ROUTES_APP),
                    APPS,
                    path_env,
                    target=target,
                ),
                ServerSpec(
                    name,
                    "uvicorn",
                    (H1,),
                    uvicorn(FASTAPI_ROUTES_APP),
                    APPS,
                    path_env,
                    killed_by_term,
                    target=target,
                ),
            ),
            goals=(("granian", 1.0),),
            notes=(
                (
                    "The same FastAPI app on every server; FastAPI runs `def` endpoints "
                    "on Starlette's thread pool (anyio worker threads), `async def` "
                    "endpoints on the event loop. uvicorn runs with uvloop and httptools."
                ),
            ),
        )

    fastapi_async = fastapi_routes("fastapi-async", "async def", FASTAPI_ASYNC)
    fastapi_sync = fastapi_routes("fastapi-sync", "def", FASTAPI_SYNC)
    native_plain = Scenario(
        name="native-plain",
        group="native",
        title=(
            f"Native: `GET {PLAIN.path}`, covetpy `{NATIVE_APP}` vs nginx "
            "(`return 200` from its config)"
        ),
        protocols=(H1,),
        servers=(
            ServerSpec(
                "native-plain",
                "covetpy",
                (H1,),
                covetpy(NATIVE_APP),
                REPO,
                path_env,
                target=PLAIN,
            ),
            ServerSpec(
                "native-plain",
                "nginx",
                (H1,),
                nginx,
                REPO,
                target=PLAIN,
                # Graceful shutdown: the master stops its worker and exits 0.
                stop_signal=signal.SIGQUIT,
            ),
        ),
        goals=(("nginx", 0.8),),
        notes=(
            (
                "covetpy runs the app's Python handler `plain()` for every request "
                "(`PlainTextResponse`); nginx runs no application code at all, it "
                "answers from its config (`location = /plain { default_type text/plain; "
                'return 200 "Hello, world!"; }`), with one worker process '
                "(`worker_processes 1`, master + worker both on CPU 0)."
            ),
        ),
    )

    def fastapi_file(
        name: str,
        app: str,
        target: Target,
        title: str,
        notes: tuple[str, ...],
        extra_servers: tuple[str, ...] = (),
        goals: tuple[tuple[str, float], ...] = (),
        cross: tuple[CrossRatio, ...] = (),
    ) -> Scenario:
        """A native comparison: one app file that imports ``fastapi``, run natively by
        ``covetpy --interface covet`` and on FastAPI by uvicorn (and, in extra_servers,
        by ``covetpy --interface asgi`` and/or nginx)."""

        def spec(server: str, command: Callable[[int, Path], list[str]]) -> ServerSpec:
            return ServerSpec(
                name,
                server,
                (H1,),
                command,
                APPS if server == "fastapi-uvicorn" else REPO,
                {} if server == "nginx" else path_env,
                killed_by_term if server == "fastapi-uvicorn" else (0,),
                target=target,
                # nginx: graceful shutdown, the master stops its worker and exits 0.
                stop_signal=signal.SIGQUIT if server == "nginx" else signal.SIGTERM,
            )

        servers = [spec("covetpy", covetpy(app, "covet"))]
        if "covetpy-asgi" in extra_servers:
            servers.append(spec("covetpy-asgi", covetpy(app, "asgi")))
        servers.append(spec("fastapi-uvicorn", uvicorn(app)))
        if "nginx" in extra_servers:
            servers.append(spec("nginx", nginx))
        interfaces = (
            ("covet", "asgi") if "covetpy-asgi" in extra_servers else ("covet",)
        )
        return Scenario(
            name=name,
            group="native",
            title=f"Native: `{target.request_line()}`, {title}",
            protocols=(H1,),
            servers=tuple(servers),
            goals=goals,
            cross=cross,
            notes=(*notes, shown_commands(app, *interfaces)),
        )

    native_sync = fastapi_file(
        "native-sync",
        NATIVE_FEATURES_APP,
        # The request and response of native-items.
        ITEMS,
        f"a `def` endpoint of `{NATIVE_FEATURES_APP}`, covetpy vs FastAPI on uvicorn",
        notes=(
            (
                "The route of native-items (`GET /items/{item_id:int}`, optional query "
                'parameter `q`, the JSON object `{"item_id":42,"q":"hello"}`) as a '
                "`def` endpoint in a file that imports `fastapi`. FastAPI runs `def` "
                "endpoints on Starlette's thread pool (anyio worker threads)."
            ),
            (
                "The `def` / `async def` line compares covetpy here with covetpy in "
                f"native-items (`{NATIVE_APP}`, the same route as an `async def` "
                "endpoint) in this run; the cost per request is the difference of "
                "1 / req/s, i.e. server-core time per request while the server saturates "
                "its core."
            ),
        ),
        cross=(
            CrossRatio(
                "native-items",
                "covetpy `def` (here) / covetpy `async def` (native-items)",
            ),
        ),
    )
    native_realistic = fastapi_file(
        "native-realistic",
        REALISTIC_APP,
        REALISTIC,
        (
            f"`{REALISTIC_APP}` natively, as ASGI on covetpy (real FastAPI) and on "
            "FastAPI + uvicorn"
        ),
        extra_servers=("covetpy-asgi",),
        goals=(("fastapi-uvicorn", 5.0),),
        notes=(
            (
                'The route has an `@app.middleware("http")` (it sets `x-process-time`, '
                "checked at start-up), a bearer-token auth dependency (`HTTPBearer`, "
                "the request sends `Authorization: Bearer secret-token` with wrk `-H`), a "
                "`yield` session dependency, a path parameter and a pydantic "
                "`response_model` that drops the user's `password` field."
            ),
            (
                "covetpy-asgi is covetpy's ASGI server running the real FastAPI on the "
                "same file: covetpy / covetpy-asgi is what the native framework adds over "
                "the server alone."
            ),
        ),
    )
    native_body = fastapi_file(
        "native-body",
        NATIVE_FEATURES_APP,
        INVALID_BODY,
        "a pydantic body that fails validation (422), covetpy vs FastAPI on uvicorn",
        notes=(
            (
                f"The JSON body `{json.dumps(INVALID_ITEM, separators=(',', ':'))}` has a "
                "string where the model wants an int and misses a required field; both "
                "servers must answer 422 with FastAPI's error document "
                '(`{"detail":[{"type":"missing",...},{"type":"int_parsing",...}]}`).'
            ),
            (
                "wrk sends the POST from a Lua script; its `response()` hook counts the "
                "responses whose status is not 422, which is what the non-2xx column "
                "shows here (the hook costs the load generator some CPU per response)."
            ),
        ),
    )
    native_multipart = fastapi_file(
        "native-multipart",
        NATIVE_FEATURES_APP,
        UPLOAD,
        (
            "a 1 MiB multipart/form-data upload to an `UploadFile` parameter, covetpy vs "
            "FastAPI on uvicorn"
        ),
        notes=(
            (
                f"Each request uploads a {STATIC_SIZE}-byte file (`{STATIC_FILE}`, "
                "pseudo-random bytes) in one `file` field; the endpoint reads it and "
                f'returns `{{"size":{STATIC_SIZE},"filename":"{STATIC_FILE}"}}`. The body '
                "is built once into a file, which a wrk Lua script reads and sends."
            ),
        ),
    )
    native_cors = fastapi_file(
        "native-cors",
        CORS_APP,
        PREFLIGHT,
        f"a CORS preflight to `{CORS_APP}` (`CORSMiddleware`), covetpy vs FastAPI on uvicorn",
        notes=(
            (
                f"The preflight carries `Origin: {CORS_ORIGIN}` and "
                "`Access-Control-Request-Method: GET`; the middleware allows that origin "
                "and `GET, POST`, so both servers answer `200 OK` with "
                "`access-control-allow-origin`, `access-control-allow-methods` and "
                "`access-control-max-age` (checked at start-up) without running the route."
            ),
        ),
    )
    def static_file(name: str, target: Target, size: str, what: str) -> Scenario:
        """A file of the StaticFiles mount of native_features.py, also against nginx and
        covetpy's ASGI interface (Starlette's StaticFiles in Python)."""
        return fastapi_file(
            name,
            NATIVE_FEATURES_APP,
            target,
            (
                f'a {size} file from `app.mount("/static", StaticFiles(...))` in '
                f"`{NATIVE_FEATURES_APP}`, covetpy vs covetpy ASGI vs FastAPI on uvicorn vs nginx"
            ),
            extra_servers=("covetpy-asgi", "nginx"),
            notes=(
                (
                    "covetpy serves the mount's files itself (the app's `StaticFiles` answers "
                    "only what the server leaves to it: misses, directories, several ranges); "
                    "covetpy-asgi runs the same file as an ASGI app, so Starlette's `StaticFiles` "
                    "serves it in Python, as it did natively before."
                ),
                (
                    f"The file is {what}, written once per run into a temporary directory "
                    f"(environment variable `{STATIC_DIR_ENV}` for the app); the start-up "
                    "check compares its length and first 64 bytes."
                ),
                (
                    "nginx serves the same directory with `location /static/ { "
                    "default_type application/octet-stream; alias <dir>/; }`, `sendfile on` "
                    "(as in Debian's nginx.conf), one worker process (`worker_processes 1`, "
                    "master + worker both on CPU 0), in the config of native-plain."
                ),
            ),
        )

    native_static = static_file("native-static", STATIC, "1 MiB", f"{STATIC_SIZE} pseudo-random bytes")
    native_static_small = static_file(
        "native-static-small",
        SMALL_STATIC,
        "4 KiB",
        f"the first {SMALL_STATIC_SIZE} bytes of native-static's",
    )
    websocket = Scenario(
        name="websocket",
        title=f"WebSocket: raw ASGI echo app `{WS_APP}`",
        protocols=(WS,),
        servers=(
            ServerSpec("websocket", "covetpy", (WS,), covetpy(WS_APP), REPO, path_env),
            ServerSpec(
                "websocket",
                "granian",
                (WS,),
                granian("asgi", WS_APP, ws=True),
                APPS,
                path_env,
            ),
        ),
        goals=(("granian", 1.5),),
        notes=(
            (
                "req/s here is echoed WebSocket messages per second: "
                f"`wsbench -c {WS_CONNECTIONS} --size {WS_MESSAGE_SIZE}`, each "
                "connection sends a binary message and waits for its echo before "
                "sending the next; connections are opened before the measurement. "
                "covetpy runs with its default WebSocket options (pings every 20 s), "
                "granian with WebSockets on (its default)."
            ),
        ),
    )
    tls_h2 = Scenario(
        name="tls-h2",
        group="tls",
        title=f"TLS: raw ASGI app `{ASGI_APP}` over HTTPS, HTTP/2 (ALPN h2)",
        protocols=(H2TLS,),
        servers=(
            ServerSpec(
                "tls-h2",
                "covetpy",
                (H2TLS,),
                covetpy_tls(ASGI_APP, http3=False),
                REPO,
                path_env,
                tls=True,
            ),
            ServerSpec(
                "tls-h2",
                "granian",
                (H2TLS,),
                granian_tls(ASGI_APP),
                APPS,
                path_env,
                tls=True,
            ),
        ),
        goals=(("granian", 1.0),),
        notes=(
            (
                "Both servers use a self-signed EC P-256 certificate made with openssl "
                "for each start; h2load negotiates TLS 1.3 and h2 by ALPN. covetpy "
                "uses rustls (ring), granian rustls as well."
            ),
        ),
    )
    tls_h3 = Scenario(
        name="tls-h3",
        group="tls",
        title=f"TLS: raw ASGI app `{ASGI_APP}` over HTTP/3 (QUIC)",
        protocols=(H3,),
        servers=(
            ServerSpec(
                "tls-h3",
                "covetpy",
                (H3,),
                covetpy_tls(ASGI_APP, http3=True),
                REPO,
                path_env,
                tls=True,
            ),
            ServerSpec(
                "tls-h3",
                "hypercorn",
                (H3,),
                hypercorn_h3(ASGI_APP),
                APPS,
                path_env,
                killed_by_term,
                tls=True,
            ),
        ),
        goals=(("hypercorn", 10.0),),
        notes=(
            (
                f"`h3bench -c {H3_CONNECTIONS} -m {H3_STREAMS}` (crates/loadgen, quinn + "
                f"h3): {H3_CONNECTIONS} QUIC connections, opened before the measurement, "
                f"each with {H3_STREAMS} concurrent request streams that send a GET and "
                "read the whole response, in a loop. covetpy serves HTTP/3 with quinn + "
                "h3 (`--http3`), hypercorn with aioquic (`--quic-bind`, asyncio loop); "
                "granian has no HTTP/3."
            ),
        ),
    )
    return {
        s.name: s
        for s in (
            asgi,
            wsgi,
            native_items,
            native_plain,
            native_sync,
            native_realistic,
            native_body,
            native_multipart,
            native_cors,
            native_static,
            native_static_small,
            fastapi_async,
            fastapi_sync,
            websocket,
            tls_h2,
            tls_h3,
        )
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class RunningServer:
    """A server process in its own session, pinned to ``cpu`` (SERVER_CPU unless told;
    None leaves it free to use every CPU)."""

    def __init__(
        self, spec: ServerSpec, port: int, log_path: Path, cpu: str | None = SERVER_CPU
    ) -> None:
        self.spec = spec
        self.port = port
        self.log_path = log_path
        self.scratch = Path(tempfile.mkdtemp(prefix=f"covetpy-bench-{spec.name}-"))
        # Readable by server workers that drop root privileges (nginx's).
        self.scratch.chmod(0o755)
        try:
            pin = ["taskset", "-c", cpu] if cpu is not None else []
            self.argv = [*pin, *spec.command(port, self.scratch)]
            env = {**os.environ, **spec.env}
            with log_path.open("wb") as log:
                log.write(f"$ (cd {spec.cwd} && {' '.join(self.argv)})\n".encode())
                log.flush()
                self.proc = subprocess.Popen(
                    self.argv,
                    cwd=spec.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except BaseException:
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise

    def describe_exit(self) -> str:
        return (
            f"{self.spec.label} exited with code {self.proc.returncode}; "
            f"command: {' '.join(self.argv)}; log {self.log_path}:\n{tail(self.log_path)}"
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"server died during startup: {self.describe_exit()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise BenchError(
            f"{self.spec.label} did not listen on {HOST}:{self.port} within {timeout:.0f} s; "
            f"log {self.log_path}:\n{tail(self.log_path)}"
        )

    def check_response(self, data_dir: Path) -> None:
        """One HTTP/1.1 request of the target (method, headers and body as the load
        generator sends them) must give the expected response (over TLS, certificate not
        verified, for TLS servers)."""
        target = self.spec.target
        what = f"sanity {target.request_line()}"
        conn: http.client.HTTPConnection
        if self.spec.tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn = http.client.HTTPSConnection(
                HOST, self.port, timeout=10, context=context
            )
        else:
            conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
        body = (
            (data_dir / target.body_file).read_bytes()
            if target.body_file is not None
            else None
        )
        try:
            conn.request(
                target.method, target.path, body=body, headers=dict(target.headers)
            )
            resp = conn.getresponse()
            answer = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise BenchError(f"{self.spec.label}: {what} failed: {exc!r}") from exc
        finally:
            conn.close()
        problem = target.problem(resp.status, resp.getheader, answer)
        if problem is not None:
            content_type = resp.getheader("content-type") or ""
            raise BenchError(
                f"{self.spec.label}: {what} gave {problem} "
                f"({resp.status} {content_type!r} {answer[:200]!r}), "
                f"expected {target.describe()}"
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> str | None:
        """Stop signal (SIGTERM unless the spec says otherwise), then SIGKILL the whole
        session; returns a problem description or None."""
        problem: str | None = None
        sig = self.spec.stop_signal
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                problem = (
                    f"{self.spec.label} did not exit within {timeout:.0f} s of "
                    f"{sig.name}; killed"
                )
        try:
            # Leftovers, e.g. worker processes of a supervisor that died.
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)
        if problem is None and self.proc.returncode not in self.spec.clean_exits:
            problem = (
                f"{self.spec.label} exited with code {self.proc.returncode} "
                f"after {sig.name}"
            )
        return problem


# --------------------------------------------------------------------------- CPU accounting

CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuTimes:
    """Machine-wide CPU seconds from /proc/stat."""

    # Time in processes (user, nice, system).
    busy: float
    # Time in interrupt handlers: mostly the network stack handling the measured traffic
    # itself (loopback packets are processed in softirq), so it is not interference.
    irq: float
    steal: float
    wall: float


def machine_cpu() -> CpuTimes:
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(f) for f in fields[:8]
    )
    return CpuTimes(
        (user + nice + system) / CLK_TCK, (irq + softirq) / CLK_TCK, steal / CLK_TCK, time.monotonic()
    )


def session_stats(session: int) -> dict[int, list[str]]:
    """The live processes of one session (a server tree): pid -> the fields of its
    /proc/PID/stat after the command name (so index 0 is field 3, the state)."""
    found: dict[int, list[str]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            rest = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # Session is field 6 of stat.
        if int(rest[3]) == session:
            found[int(stat.parent.name)] = rest
    return found


def session_cpu(session: int) -> float:
    """CPU seconds used so far by the live processes of one session (a server tree)."""
    # utime and stime are fields 14 and 15 of stat.
    ticks = sum(int(rest[11]) + int(rest[12]) for rest in session_stats(session).values())
    return ticks / CLK_TCK


def session_rss_kib(session: int) -> int:
    """Resident memory of the live processes of one session, in KiB (VmRSS summed)."""
    total = 0
    for pid in session_stats(session):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuUse:
    """Where the CPU went during one measurement, in CPU-seconds per wall second."""

    server: float
    load: float
    other: float
    steal: float


def cpu_use_during(
    server_pid: int, action: Callable[[], Measurement]
) -> tuple[Measurement, CpuUse]:
    before, server_before, load_before = (
        machine_cpu(),
        session_cpu(server_pid),
        children_cpu(),
    )
    result = action()
    after, server_after, load_after = (
        machine_cpu(),
        session_cpu(server_pid),
        children_cpu(),
    )
    wall = max(after.wall - before.wall, 1e-9)
    server = server_after - server_before
    load = load_after - load_before
    other = (after.busy - before.busy) - server - load
    return result, CpuUse(
        server=server / wall,
        load=load / wall,
        other=max(other, 0.0) / wall,
        steal=(after.steal - before.steal) / wall,
    )


def wait_until_idle(max_wait: float, threshold: float = 0.15) -> float:
    """Wait (up to max_wait s) until the machine uses < threshold CPUs; returns last use."""
    deadline = time.monotonic() + max_wait
    announced = False
    while True:
        before = machine_cpu()
        time.sleep(1.0)
        after = machine_cpu()
        used = (after.busy - before.busy) / (after.wall - before.wall)
        if used < threshold or time.monotonic() >= deadline:
            if announced:
                print(f" (busy {used:.2f} CPUs)", end="", flush=True, file=sys.stderr)
            return used
        if not announced:
            print(
                f" waiting for the machine to go idle ({used:.2f} CPUs busy)",
                end="",
                flush=True,
                file=sys.stderr,
            )
            announced = True


# --------------------------------------------------------------------------- load


def load_command(
    proto: str, port: int, seconds: int, target: Target, script: Path | None = None
) -> list[str]:
    """The load generator's argv; ``script`` is the wrk Lua script of a target that
    needs one (``Target.needs_script``)."""
    path = target.path
    url = f"http://{HOST}:{port}{path}"
    if proto != H1 and (target.method != "GET" or target.headers or target.body_file):
        raise BenchError(
            f"only wrk (HTTP/1.1) sends {target.request_line()} with headers or a body"
        )
    if proto == WS:
        tool = [
            str(WSBENCH_BIN), "--url", f"ws://{HOST}:{port}{path}",
            "-c", str(WS_CONNECTIONS), "-d", str(seconds),
            "--size", str(WS_MESSAGE_SIZE), "--json",
        ]  # fmt: skip
    elif proto == H1:
        tool = ["wrk", "-t1", "-c64", f"-d{seconds}s", "--latency"]
        if target.needs_script:
            if script is None:
                raise BenchError(f"{target.request_line()} needs a wrk Lua script")
            tool += ["-s", str(script)]
        else:
            for name, value in target.headers:
                tool += ["-H", f"{name}: {value}"]
        tool.append(url)
    elif proto == H2TLS:
        tool = [
            "h2load",
            "-c16",
            "-m10",
            "-D",
            str(seconds),
            f"https://{HOST}:{port}{path}",
        ]
    elif proto == H3:
        tool = [
            str(H3BENCH_BIN), "--url", f"https://{HOST}:{port}{path}",
            "-c", str(H3_CONNECTIONS), "-m", str(H3_STREAMS), "-d", str(seconds),
            "--json",
        ]  # fmt: skip
    else:
        tool = ["h2load", "-c16", "-m10", "-D", str(seconds), url]
    return ["taskset", "-c", LOAD_CPU, *tool]


def run_load(
    proto: str,
    port: int,
    seconds: int,
    log_path: Path,
    target: Target,
    script: Path | None = None,
) -> Measurement:
    argv = load_command(proto, port, seconds, target, script)
    shown = shlex.join(argv)
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"load generator hung: {shown}") from exc
    output = "".join(
        line
        for line in (done.stdout + done.stderr).splitlines(keepends=True)
        if not line.startswith("progress: ")
    )
    shown_script = (
        f"--- {script}\n{script.read_text()}---\n" if script is not None else ""
    )
    log_path.write_text(f"$ {shown}\n{shown_script}exit {done.returncode}\n{output}")
    if done.returncode != 0:
        raise BenchError(f"{shown} exited {done.returncode}:\n{output}")
    if proto == WS:
        return parse_wsbench(output)
    if proto == H3:
        return parse_h3bench(output)
    if proto == H2TLS:
        return parse_h2load(output, expect_protocol="h2")
    if proto != H1:
        return parse_h2load(output)
    measured = parse_wrk(output)
    if not target.success_status:
        # wrk counts every 4xx/5xx, the expected status too; the script's count of the
        # responses with another status replaces it.
        unexpected = int(
            _search(rf"^{UNEXPECTED_LINE} (\d+)$", output, "wrk script").group(1)
        )
        measured = dataclasses.replace(measured, non_2xx=unexpected)
    return measured


def run_wrk(argv: Sequence[str], log_path: Path, seconds: int, *, clean: bool = False) -> Measurement:
    """Runs a wrk command line (the harnesses other than this one build their own), keeps its
    output in log_path and parses it. With clean, failed or non-2xx requests are an error."""
    shown = shlex.join(argv)
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk hung: {shown}") from exc
    log_path.write_text(f"$ {shown}\nexit {done.returncode}\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        raise BenchError(f"{shown} exited {done.returncode}: {done.stderr}")
    measured = parse_wrk(done.stdout)
    if clean and (measured.failed or measured.non_2xx):
        raise BenchError(
            f"wrk: {measured.failed} failed ({measured.failure_detail}), "
            f"{measured.non_2xx} non-2xx"
        )
    return measured


# --------------------------------------------------------------------------- orchestration


@dataclass
class Cell:
    """All rounds of one (server, protocol) pair."""

    runs: list[Measurement] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def median(self) -> float | None:
        return statistics.median(m.rps for m in self.runs) if self.runs else None


def measure_once(
    spec: ServerSpec,
    proto: str,
    rnd: int,
    attempt: int,
    args: argparse.Namespace,
    logs: Path,
    notes: list[str],
    disturbances: list[str],
) -> Measurement:
    slug = f"r{rnd}-{spec.scenario}-{spec.name}-{PROTO_SLUGS[proto]}-a{attempt}"
    label = f"round {rnd} {spec.label} {proto}"
    busy = wait_until_idle(args.idle_wait)
    if busy >= 0.15:
        disturbances.append(
            f"{label}: machine still busy ({busy:.2f} CPUs) before start"
        )
    port = free_port()
    target = spec.target
    script: Path | None = None
    if proto == H1 and target.needs_script:
        script = args.data_dir / f"{spec.scenario}.lua"
        script.write_text(wrk_script(target, args.data_dir))
    server = RunningServer(spec, port, logs / f"{slug}-server.log")
    try:
        server.wait_ready()
        server.check_response(args.data_dir)
        warm = run_load(
            proto, port, args.warmup, logs / f"{slug}-warmup.txt", target, script
        )
        if warm.failed or warm.non_2xx:
            notes.append(
                f"{label} warm-up: {warm.failed} failed "
                f"({warm.failure_detail}), {warm.non_2xx} non-2xx"
            )
        if not server.alive():
            raise BenchError(f"server died during warm-up: {server.describe_exit()}")
        result, use = cpu_use_during(
            server.proc.pid,
            lambda: run_load(
                proto, port, args.duration, logs / f"{slug}-load.txt", target, script
            ),
        )
        result = dataclasses.replace(result, cpu=use)
        if not server.alive():
            raise BenchError(
                f"server died during measurement: {server.describe_exit()}"
            )
        return result
    finally:
        problem = server.stop()
        if problem:
            notes.append(f"{label}: {problem}; log {server.log_path}")


def disturbed(use: CpuUse | None) -> bool:
    return use is not None and (
        use.other > OTHER_CPU_LIMIT or use.steal > OTHER_CPU_LIMIT
    )


def measure_with_retries(
    spec: ServerSpec,
    proto: str,
    rnd: int,
    args: argparse.Namespace,
    logs: Path,
    notes: list[str],
    disturbances: list[str],
) -> Measurement | str:
    """One measurement, repeated if other processes disturbed it; str on error."""
    label = f"[round {rnd}/{args.rounds}] {spec.label:28} {proto:8}"
    attempts: list[Measurement] = []
    while True:
        attempt = len(attempts) + 1
        print(f"{label} ...", end="", flush=True, file=sys.stderr)
        try:
            m = measure_once(spec, proto, rnd, attempt, args, logs, notes, disturbances)
        except BenchError as exc:
            print(" ERROR (see report)", file=sys.stderr)
            return str(exc)
        print(
            f" {m.rps:12,.0f} req/s  failed {m.failed}  non-2xx {m.non_2xx}"
            f"  {m.latency}  CPU {fmt_cpu(m.cpu)}",
            file=sys.stderr,
        )
        attempts.append(m)
        if not disturbed(m.cpu) or attempt > args.interference_retries:
            break
        print(
            f"{label}    disturbed by other processes, measuring again", file=sys.stderr
        )
    # Keep the least disturbed attempt; never hide the failures of the others.
    kept = min(attempts, key=lambda a: a.cpu.other + a.cpu.steal if a.cpu else 0.0)
    for i, a in enumerate(attempts, 1):
        if a is not kept and (a.failed or a.non_2xx):
            notes.append(
                f"round {rnd} {spec.label} {proto} attempt {i} (discarded as disturbed): "
                f"{a.failed} failed ({a.failure_detail}), {a.non_2xx} non-2xx "
                f"of {a.requests} requests"
            )
    if disturbed(kept.cpu):
        assert kept.cpu is not None
        disturbances.append(
            f"round {rnd} {spec.label} {proto}: even the least disturbed of "
            f"{len(attempts)} attempts (kept, marked *) had other processes using "
            f"{kept.cpu.other:.2f} CPUs (hypervisor steal {kept.cpu.steal:.2f})"
        )
    elif len(attempts) > 1:
        disturbances.append(
            f"round {rnd} {spec.label} {proto}: measured {len(attempts)} times, "
            f"{len(attempts) - 1} disturbed attempt(s) discarded"
        )
    return kept


Cells = dict[tuple[str, str], Cell]
"""All cells of a run, keyed by (ServerSpec.label, protocol)."""


def run_all(
    scenarios: Sequence[Scenario], args: argparse.Namespace, logs: Path
) -> tuple[Cells, list[str], list[str]]:
    cells: Cells = {
        (s.label, p): Cell()
        for sc in scenarios
        for s in sc.servers
        for p in s.protocols
    }
    notes: list[str] = []
    disturbances: list[str] = []
    for rnd in range(1, args.rounds + 1):
        for scenario in scenarios:
            specs = scenario.servers
            # Rotate the order each round so no server is always first or last.
            shift = (rnd - 1) % len(specs)
            order = [*specs[shift:], *specs[:shift]]
            for spec in order:
                for proto in spec.protocols:
                    cell = cells[(spec.label, proto)]
                    m = measure_with_retries(
                        spec, proto, rnd, args, logs, notes, disturbances
                    )
                    if isinstance(m, str):
                        cell.errors.append(f"round {rnd}: {m}")
                    else:
                        cell.runs.append(dataclasses.replace(m, round=rnd))
    return cells, notes, disturbances


# --------------------------------------------------------------------------- report


def command_output(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    out = (done.stdout + done.stderr).strip()
    return out.splitlines()[0] if out else "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


PACKAGES = (
    "granian",
    "uvicorn",
    "uvloop",
    "httptools",
    "gunicorn",
    "flask",
    "werkzeug",
    "fastapi",
    "starlette",
    "pydantic",
    "python-multipart",
    "hypercorn",
    "aioquic",
)


def versions(
    covetpy_bin: Path | None, venv: Path, nginx_bin: Path | None = None
) -> list[str]:
    py = str(venv / "bin" / "python")
    pkgs = command_output(
        [
            py,
            "-c",
            (
                "import importlib.metadata as m\n"
                "def v(p):\n"
                "    try:\n"
                "        return f'{p} {m.version(p)}'\n"
                "    except m.PackageNotFoundError:\n"
                "        return f'{p} not installed'\n"
                f"print(', '.join(v(p) for p in {PACKAGES!r}))"
            ),
        ]
    )
    wrk = command_output(["wrk", "--version"]).split(" [")[0]
    covetpy = (
        [f"covetpy: `{command_output([str(covetpy_bin), '--version'])}`"]
        if covetpy_bin is not None
        else []
    )
    nginx = (
        [f"nginx: `{command_output([str(nginx_bin), '-v'])}`"]
        if nginx_bin is not None
        else []
    )
    return [
        *covetpy,
        *nginx,
        f"Python packages: {pkgs}",
        f"Python: {command_output([py, '-VV'])}",
        f"Load generators: {wrk}, h2load {command_output(['h2load', '--version'])}",
    ]


def fmt_cpu(use: CpuUse | None) -> str:
    if use is None:
        return "—"
    return f"{use.server:.2f} / {use.load:.2f} / {use.other:.2f}"


def fmt_rps(value: float | None) -> str:
    return f"{value:,.0f}" if value is not None else "—"


def cross_ratios(scenario: Scenario, cells: Cells) -> list[str]:
    """covetpy's median here / covetpy's median in other scenarios of the run, with the
    difference in time per request (1 / req/s: server-core time while it is saturated)."""
    lines = [
        "",
        "covetpy here / covetpy in another scenario of the same run:",
        "",
        "| ratio | protocol | ratio of medians | time per request, here − other |",
        "|---|---|---:|---:|",
    ]
    mine = cells.get((f"{scenario.name}/covetpy", H1))
    for cross in scenario.cross:
        theirs = cells.get((f"{cross.other}/covetpy", H1))
        a = mine.median() if mine else None
        b = theirs.median() if theirs else None
        if theirs is None:
            lines.append(
                f"| {cross.label} | {H1} | n/a ({cross.other} not in this run) | |"
            )
        elif a is None or b is None:
            lines.append(f"| {cross.label} | {H1} | — | |")
        else:
            extra_us = 1e6 / a - 1e6 / b
            lines.append(
                f"| {cross.label} | {H1} | {a / b:.2f}× "
                f"| {extra_us:+.1f} µs ({1e6 / a:.1f} vs {1e6 / b:.1f} µs) |"
            )
    return lines


def scenario_table(scenario: Scenario, cells: Cells) -> list[str]:
    """The results table of one scenario, then the ratios covetpy / each peer."""
    lines = [
        (
            "| server | protocol | median req/s | req/s per round | failed | non-2xx "
            "| latency (last round) | CPUs server / load / other (last round) |"
        ),
        "|---|---|---:|---|---:|---:|---|---|",
    ]
    for spec in scenario.servers:
        for proto in spec.protocols:
            cell = cells[(spec.label, proto)]
            per_round = (
                " / ".join(
                    f"{m.rps:,.0f}" + ("\\*" if disturbed(m.cpu) else "")
                    for m in cell.runs
                )
                or "—"
            )
            if cell.errors:
                per_round += f" ({len(cell.errors)} round(s) ERROR)"
            failed = sum(m.failed for m in cell.runs)
            non_2xx = sum(m.non_2xx for m in cell.runs)
            latency = cell.runs[-1].latency if cell.runs else "—"
            cpu = fmt_cpu(cell.runs[-1].cpu) if cell.runs else "—"
            lines.append(
                f"| {spec.name} | {proto} | {fmt_rps(cell.median())} | {per_round} "
                f"| {failed} | {non_2xx} | {latency} | {cpu} |"
            )
    names = [s.name for s in scenario.servers]
    if "covetpy" in names and len(names) > 1:
        protocols = scenario.protocols
        lines.append("")
        lines.append(
            "Ratios of medians measured in the same run (> 1 means covetpy is faster):"
        )
        lines.append("")
        lines.append("| ratio | " + " | ".join(protocols) + " |")
        lines.append("|---|" + "---:|" * len(protocols))
        mine_label = f"{scenario.name}/covetpy"
        goals = dict(scenario.goals)
        for other in names:
            if other == "covetpy":
                continue
            goal = goals.get(other)
            row = []
            for proto in protocols:
                mine = cells.get((mine_label, proto))
                theirs = cells.get((f"{scenario.name}/{other}", proto))
                if theirs is None:
                    row.append(f"n/a ({other} has no {proto})")
                    continue
                a = mine.median() if mine else None
                b = theirs.median()
                if a is None or not b:
                    row.append("—")
                    continue
                ratio = a / b
                text = f"{ratio:.2f}×"
                if goal is not None:
                    met = "met" if ratio >= goal else "NOT met"
                    text += f" (target ≥ {goal:g}×: {met})"
                row.append(text)
            lines.append(f"| covetpy / {other} | " + " | ".join(row) + " |")
    if scenario.cross:
        lines.extend(cross_ratios(scenario, cells))
    client_bound = [
        f"{spec.name} {proto} (load generator at {m.cpu.load:.2f} in round {m.round})"
        for spec in scenario.servers
        for proto in spec.protocols
        for m in cells[(spec.label, proto)].runs
        if m.cpu is not None and m.cpu.load >= LOAD_SATURATED
    ]
    if scenario.notes or client_bound:
        lines.append("")
        lines.extend(f"- {note}" for note in scenario.notes)
    if client_bound:
        lines.append(
            "- The single wrk thread saturated its core for "
            + "; ".join(client_bound)
            + ": wrk may have capped the rate there, so those req/s are lower bounds "
            "of what the server can do."
        )
    return lines


def build_report(
    scenarios: Sequence[Scenario],
    cells: Cells,
    notes: list[str],
    disturbances: list[str],
    args: argparse.Namespace,
    started: datetime.datetime,
) -> str:
    specs = [spec for sc in scenarios for spec in sc.servers]
    uses_h2 = any(H2 in spec.protocols for spec in specs)
    uses_ws = any(WS in spec.protocols for spec in specs)
    uses_h2tls = any(H2TLS in spec.protocols for spec in specs)
    uses_h3 = any(H3 in spec.protocols for spec in specs)
    lines: list[str] = []
    lines.append(f"## Results — {started:%Y-%m-%d %H:%M} UTC")
    lines.append("")
    lines.append(
        f"- Machine: {cpu_model()}, nproc = {os.cpu_count()}, "
        f"Linux {platform.release()}; server pinned to CPU {SERVER_CPU}, "
        f"load generator to CPU {LOAD_CPU}, one worker each."
    )
    lines.append(
        f"- Scenarios: {', '.join(sc.name for sc in scenarios)}. "
        f"{args.rounds} interleaved round(s); in each round and scenario, per server "
        f"and protocol: start, {args.warmup} s warm-up, {args.duration} s measurement, "
        "stop; the server order rotates from round to round. "
        "Median req/s over rounds; failures summed over rounds."
    )
    uses_h1 = any(H1 in spec.protocols for spec in specs)
    loads = []
    if uses_h1:
        loads.append(
            f"HTTP/1.1: `wrk -t1 -c64 -d{args.duration}s --latency` "
            "(on the request path named in each table's title; `/` unless named)"
        )
    if uses_h2:
        loads.append(
            f"HTTP/2: `h2load -c16 -m10 -D {args.duration}` (h2c prior knowledge)"
        )
    if uses_ws:
        loads.append(
            f"WebSocket: `wsbench -c {WS_CONNECTIONS} -d {args.duration} "
            f"--size {WS_MESSAGE_SIZE}` (echo round trips, one in flight per connection)"
        )
    if uses_h2tls:
        loads.append(
            f"HTTPS HTTP/2: `h2load -c16 -m10 -D {args.duration} https://…` "
            "(TLS 1.3, h2 by ALPN)"
        )
    if uses_h3:
        loads.append(
            f"HTTP/3: `h3bench -c {H3_CONNECTIONS} -m {H3_STREAMS} -d {args.duration}` "
            "(QUIC, concurrent request streams per connection)"
        )
    load = "- " + "; ".join(loads)
    lines.append(load + ".")
    lines.append(
        "- CPUs column: CPU-seconds per second used by the server process tree, the load "
        "generator, and everything else on the machine during the measurement "
        "(1.00 = one core saturated)."
    )
    measured_covetpy = any(s.name == "covetpy" for s in specs)
    measured_nginx = any(s.name == "nginx" for s in specs)
    for v in versions(
        args.covetpy_bin if measured_covetpy else None,
        args.venv,
        args.nginx_bin if measured_nginx else None,
    ):
        lines.append(f"- {v}")
    for scenario in scenarios:
        lines.append("")
        lines.append(f"### {scenario.title}")
        lines.append("")
        lines.extend(scenario_table(scenario, cells))
    problems = [
        f"- {spec.label} {proto}: {err}"
        for spec in specs
        for proto in spec.protocols
        for err in cells[(spec.label, proto)].errors
    ]
    failures = [
        f"- round {m.round} {spec.label} {proto}: {m.failed} failed "
        f"({m.failure_detail}), {m.non_2xx} non-2xx of {m.requests} requests"
        for spec in specs
        for proto in spec.protocols
        for m in cells[(spec.label, proto)].runs
        if m.failed or m.non_2xx
    ]
    extra = problems + failures + [f"- {n}" for n in notes]
    lines.append("")
    if extra:
        lines.append("Problems seen (errors, failed requests, unclean stops):")
        lines.append("")
        lines.append("```")
        lines.extend(extra)
        lines.append("```")
    else:
        lines.append(
            "Problems seen: none (no failed or non-2xx request, every server "
            "started, survived and stopped cleanly)."
        )
    if disturbances:
        lines.append("")
        lines.append(
            "Interference from other processes (a measurement during which they used "
            f"more than {OTHER_CPU_LIMIT} CPU is repeated up to "
            f"{args.interference_retries} times; the least disturbed attempt is kept):"
        )
        lines.append("")
        lines.append("```")
        lines.extend(f"- {d}" for d in disturbances)
        lines.append("```")
    lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--duration", type=int, default=int(os.environ.get("DURATION", "10"))
    )
    parser.add_argument(
        "--rounds", type=int, default=int(os.environ.get("ROUNDS", "3"))
    )
    parser.add_argument(
        "--warmup", type=int, default=2, help="warm-up seconds (default 2)"
    )
    parser.add_argument(
        "--scenarios",
        default=os.environ.get("SCENARIOS", "asgi,wsgi,native,fastapi,websocket,tls"),
        help=(
            "comma-separated subset of asgi,wsgi,native,fastapi,websocket,tls, or single "
            "tables of a group: native-items, native-plain, native-sync, native-realistic, "
            "native-body, native-multipart, native-cors, native-static, native-static-small, "
            "fastapi-async, fastapi-sync, tls-h2, tls-h3 (default: all)"
        ),
    )
    parser.add_argument(
        "--servers",
        default=os.environ.get("SERVERS", ""),
        help=(
            "comma-separated subset of covetpy,covetpy-asgi,granian,uvicorn,gunicorn,"
            "fastapi-uvicorn,nginx,hypercorn; a scenario runs only the selected servers it has "
            "(default: all)"
        ),
    )
    parser.add_argument(
        "--nginx-bin",
        type=Path,
        default=Path(
            os.environ.get("NGINX_BIN")
            or shutil.which("nginx")
            or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
            or "/usr/sbin/nginx"
        ),
        help="nginx executable for the native scenario (default: nginx on PATH or /usr/sbin)",
    )
    parser.add_argument(
        "--covetpy-bin",
        type=Path,
        default=Path(
            os.environ.get("COVETPY_BIN", str(REPO / "target/release/covetpy"))
        ),
    )
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=120.0,
        help="max seconds to wait for an idle machine before each measurement",
    )
    parser.add_argument(
        "--interference-retries",
        type=int,
        default=3,
        help="times to repeat a measurement disturbed by other processes (default 3)",
    )
    parser.add_argument("--venv", type=Path, default=HERE / ".venv")
    parser.add_argument("--output", type=Path, default=HERE / "results-latest.md")
    parser.add_argument("--logs", type=Path, default=HERE / "logs")
    args = parser.parse_args(argv)
    if args.duration < 1 or args.rounds < 1 or args.warmup < 1:
        parser.error("--duration, --rounds and --warmup must be >= 1")
    args.covetpy_bin = args.covetpy_bin.resolve()
    args.nginx_bin = args.nginx_bin.absolute()
    args.venv = args.venv.absolute()
    return args


def select_scenarios(args: argparse.Namespace) -> list[Scenario] | str:
    """The scenarios and servers asked for, in the order given; str on bad input.

    A name selects a group (e.g. ``native``: all its tables) or one scenario of a group
    (e.g. ``native-sync``)."""
    available = make_scenarios(
        args.covetpy_bin, args.venv, args.nginx_bin, args.data_dir
    )
    selectors = list(
        dict.fromkeys(n for sc in available.values() for n in (sc.selector, sc.name))
    )
    wanted = list(
        dict.fromkeys(n.strip() for n in args.scenarios.split(",") if n.strip())
    )
    unknown = [n for n in wanted if n not in selectors]
    if unknown or not wanted:
        return f"unknown scenarios {unknown}; choose from {selectors}"
    known_servers = list(
        dict.fromkeys(s.name for sc in available.values() for s in sc.servers)
    )
    servers = [n.strip() for n in args.servers.split(",") if n.strip()] or known_servers
    unknown = [n for n in servers if n not in known_servers]
    if unknown:
        return f"unknown servers {unknown}; choose from {known_servers}"
    chosen = dict.fromkeys(
        sc.name
        for name in wanted
        for sc in available.values()
        if name in (sc.selector, sc.name)
    )
    selected: list[Scenario] = []
    for scenario in (available[name] for name in chosen):
        specs = tuple(s for s in scenario.servers if s.name in servers)
        if not specs:
            print(
                f"scenario {scenario.name}: none of the selected servers {servers}, "
                "skipped",
                file=sys.stderr,
            )
            continue
        selected.append(dataclasses.replace(scenario, servers=specs))
    if not selected:
        return f"no selected scenario has any of the selected servers {servers}"
    return selected


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Static file, request bodies and wrk scripts of this run, removed at its end.
    args.data_dir = Path(tempfile.mkdtemp(prefix="covetpy-bench-data-"))
    try:
        return run_selected(args)
    finally:
        shutil.rmtree(args.data_dir, ignore_errors=True)


def run_selected(args: argparse.Namespace) -> int:
    """Select, measure and report; 2 on bad selection, 1 when a measurement was lost."""
    scenarios = select_scenarios(args)
    if isinstance(scenarios, str):
        print(scenarios, file=sys.stderr)
        return 2
    write_bench_data(args.data_dir)
    args.logs.mkdir(parents=True, exist_ok=True)
    for old in args.logs.glob("r*-*"):
        old.unlink()
    started = datetime.datetime.now(datetime.timezone.utc)  # noqa: UP017 (3.10)
    cells, notes, disturbances = run_all(scenarios, args, args.logs)
    report = build_report(scenarios, cells, notes, disturbances, args, started)
    args.output.write_text(report)
    print(report)
    print(f"(saved to {args.output}; raw outputs in {args.logs})", file=sys.stderr)
    broken = any(cell.errors for cell in cells.values())
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
