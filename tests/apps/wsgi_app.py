"""A raw WSGI (PEP 3333) app for the WSGI tests; no framework.

Markers (close() of response iterables and wrapped files) are written as
files into the directory named by $WSGI_MARKER_DIR, one file per `key`
query parameter, so a test can see them without another request (which
might queue behind busy worker threads).

Routes (all take their parameters from the query string):

/env/...            the environ as JSON (objects described by type name)
/input?mode=M       reads wsgi.input with read() | read-n | readline |
                    readline-n | readlines | readlines-hint | iter | mixed
/upload?n=N         reads wsgi.input in reads of N bytes; byte count, the
                    largest read, sha256 (hash=1) and the RSS before/max/after
/rss                the RSS of this process
/hello              ["hello world"] (one item, no Content-Length set)
/hello-cl           the same with Content-Length set by the app
/stream?key&n&size  a generator of n chunks; close() writes the marker
/forever?key        64 KiB chunks until the client goes away (or ~60 s)
/gated?key          yields "first", waits for /release?key (<= GATE_WAIT s),
                    then yields "released" or "gate-timeout"
/write-gated?key    the same with write("first") and a returned list
/write?key          write() twice, then returns an iterable of two chunks
/release?key        opens the gate of `key`
/progress?key       how many chunks the TrackedStream of `key` has produced
/exc-before         start_response, error, start_response(500, exc_info)
/exc-after?key      write(), error, start_response(exc_info) -> re-raised
/double-start       start_response twice without exc_info; reports the error
/raise-before       raises before start_response
/raise-in-iter?key  yields two chunks then raises; close() writes the marker
/non-bytes          returns ["text"]
/bad-header?kind=K  value | name | status
/file?path&offset&key   a real file through wsgi.file_wrapper
/bytesio?size&key&blksize  a BytesIO through wsgi.file_wrapper
/barrier?name&parties&timeout  waits on a threading.Barrier shared by name
/sleep?s&key        writes the marker "entered", then time.sleep(s)
/status?code=C      an empty response with that status
/cookies            sets two cookies
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

Environ = dict[str, Any]
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
StartResponse = Callable[..., Callable[[bytes], object]]

GATE_WAIT = 5.0
FOREVER_LIMIT = 60.0

_gates: dict[str, threading.Event] = {}
_progress: dict[str, int] = {}
_barriers: dict[str, threading.Barrier] = {}
_lock = threading.Lock()


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("VmRSS not found in /proc/self/status")


def params(environ: Environ) -> dict[str, str]:
    return dict(parse_qsl(environ.get("QUERY_STRING", "")))


def write_marker(key: str | None, text: str) -> None:
    directory = os.environ.get("WSGI_MARKER_DIR")
    if not key or not directory:
        return
    path = Path(directory) / key
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")


def gate(key: str) -> threading.Event:
    with _lock:
        return _gates.setdefault(key, threading.Event())


def barrier(name: str, parties: int) -> threading.Barrier:
    with _lock:
        return _barriers.setdefault(name, threading.Barrier(parties))


def respond(
    start_response: StartResponse,
    body: bytes,
    status: str = "200 OK",
    content_type: str = "text/plain; charset=utf-8",
    extra: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
    start_response(status, headers + (extra or []))
    return [body]


def respond_json(start_response: StartResponse, data: Any) -> list[bytes]:
    return respond(
        start_response, json.dumps(data).encode(), content_type="application/json"
    )


def describe(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, tuple):
        return [describe(item) for item in value]
    return {"type": type(value).__name__}


def environ_json(environ: Environ) -> dict[str, Any]:
    result = {key: describe(value) for key, value in environ.items()}
    result["_errors_is_stderr"] = environ.get("wsgi.errors") is sys.stderr
    wrapper = environ.get("wsgi.file_wrapper")
    result["_file_wrapper_callable"] = callable(wrapper)
    result["_body"] = environ["wsgi.input"].read().decode("latin-1")
    return result


def read_input(environ: Environ, mode: str, n: int) -> list[str]:
    stream = environ["wsgi.input"]
    pieces: list[bytes] = []
    if mode == "read":
        pieces.append(stream.read())
        pieces.append(stream.read())  # at the end: b""
    elif mode == "read-n":
        while chunk := stream.read(n):
            pieces.append(chunk)
    elif mode == "read-none":
        pieces.append(stream.read(None))
    elif mode == "read-negative":
        pieces.append(stream.read(-1))
    elif mode == "readline":
        while line := stream.readline():
            pieces.append(line)
    elif mode == "readline-n":
        while line := stream.readline(n):
            pieces.append(line)
    elif mode == "readlines":
        pieces.extend(stream.readlines())
    elif mode == "readlines-hint":
        first = stream.readlines(n)
        pieces.append(b"|".join(first))
        pieces.append(b"|".join(stream.readlines()))
    elif mode == "iter":
        pieces.extend(iter(stream))
    elif mode == "mixed":
        pieces.append(stream.read(3))
        pieces.append(stream.readline())
        pieces.append(stream.read(0))
        pieces.append(stream.readline(2))
        pieces.append(stream.read())
    else:
        raise ValueError(f"unknown mode {mode}")
    return [piece.decode("latin-1") for piece in pieces]


def upload(environ: Environ, query: dict[str, str]) -> dict[str, Any]:
    size = int(query.get("n", "65536"))
    want_hash = query.get("hash") == "1"
    digest = hashlib.sha256()
    stream = environ["wsgi.input"]
    rss_before = rss_kb()
    rss_max = rss_before
    total = 0
    reads = 0
    largest = 0
    since_sample = 0
    while chunk := stream.read(size):
        reads += 1
        total += len(chunk)
        largest = max(largest, len(chunk))
        since_sample += len(chunk)
        if want_hash:
            digest.update(chunk)
        if since_sample >= 4 * 1024 * 1024:
            since_sample = 0
            rss_max = max(rss_max, rss_kb())
    rss_after = rss_kb()
    return {
        "bytes": total,
        "reads": reads,
        "largest_read": largest,
        "sha256": digest.hexdigest() if want_hash else None,
        "rss_before_kb": rss_before,
        "rss_max_kb": max(rss_max, rss_after),
        "rss_after_kb": rss_after,
        "content_length": environ.get("CONTENT_LENGTH"),
        "transfer_encoding": environ.get("HTTP_TRANSFER_ENCODING"),
    }


class TrackedStream:
    """A response iterable whose close() writes a marker."""

    def __init__(self, key: str, chunks: Iterator[bytes]) -> None:
        self.key = key
        self.chunks = chunks
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.sent += 1
            _progress[self.key] = self.sent
            yield chunk

    def close(self) -> None:
        write_marker(self.key, f"closed after {self.sent}")


class TrackedFile(io.FileIO):
    """A real file that records Python-level reads and its close()."""

    key = ""
    python_reads = 0

    def read(self, size: int | None = -1, /) -> bytes | None:
        self.python_reads += 1
        return super().read(size)

    def close(self) -> None:
        if not self.closed:
            write_marker(self.key, f"file closed, python reads {self.python_reads}")
        super().close()


class TrackedBytesIO(io.BytesIO):
    key = ""
    python_reads = 0

    def read(self, size: int | None = -1, /) -> bytes:
        self.python_reads += 1
        return super().read(size)

    def close(self) -> None:
        if not self.closed:
            write_marker(self.key, f"bytesio closed, python reads {self.python_reads}")
        super().close()


def pattern(size: int) -> bytes:
    block = bytes(range(256))
    return (block * (size // 256 + 1))[:size]


def stream_chunks(n: int, size: int) -> Iterator[bytes]:
    for index in range(n):
        yield (f"{index:04d}".encode() * (size // 4 + 1))[:size]


def forever() -> Iterator[bytes]:
    chunk = b"x" * 65536
    deadline = time.monotonic() + FOREVER_LIMIT
    while time.monotonic() < deadline:
        yield chunk
        time.sleep(0.001)


def gated(key: str) -> Iterator[bytes]:
    yield b"first"
    yield b"released" if gate(key).wait(GATE_WAIT) else b"gate-timeout"


def raising(key: str) -> Iterator[bytes]:
    yield b"one"
    yield b"two"
    raise RuntimeError("boom-in-iter")


def exc_before(start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("boom-handled")
    except ValueError:
        info = sys.exc_info()
        start_response(
            "503 Service Unavailable", [("Content-Type", "text/plain")], info
        )
    return [b"handled"]


def exc_after(start_response: StartResponse, key: str) -> list[bytes]:
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"partial")
    try:
        raise ValueError("boom-after-head")
    except ValueError:
        try:
            start_response("500 Internal Server Error", [], sys.exc_info())
        except ValueError as exc:
            write_marker(key, f"re-raised {exc}")
            raise
    write_marker(key, "not re-raised")
    return [b"not re-raised"]


def double_start(start_response: StartResponse) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        start_response("201 Created", [("Content-Type", "text/plain")])
    except Exception as exc:  # noqa: BLE001 - the test wants to see any error
        return [f"raised:{type(exc).__name__}".encode()]
    return [b"no-error"]


def bad_header(start_response: StartResponse, kind: str) -> list[bytes]:
    if kind == "value":
        start_response("200 OK", [("X-Number", 5)])
    elif kind == "name":
        start_response("200 OK", [(b"X-Bytes", "v")])
    elif kind == "newline":
        start_response("200 OK", [("X-Split", "a\r\nInjected: yes")])
    elif kind == "status":
        start_response("OK", [])
    elif kind == "not-a-list":
        start_response("200 OK", None)
    return [b"should not be sent"]


def file_response(environ: Environ, query: dict[str, str]) -> Any:
    handle = TrackedFile(query["path"], "rb")
    handle.key = query.get("key", "")
    handle.seek(int(query.get("offset", "0")))
    headers = [("Content-Type", "application/octet-stream")]
    if "length" in query:
        headers.append(("Content-Length", query["length"]))
    return handle, headers


def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    path: str = environ["PATH_INFO"]
    query = params(environ)
    key = query.get("key", "")

    if path.startswith("/env"):
        return respond_json(start_response, environ_json(environ))
    if path == "/input":
        pieces = read_input(
            environ, query.get("mode", "read"), int(query.get("n", "4"))
        )
        return respond_json(start_response, {"pieces": pieces})
    if path == "/upload":
        return respond_json(start_response, upload(environ, query))
    if path == "/rss":
        return respond_json(start_response, {"rss_kb": rss_kb()})
    if path == "/hello":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello world"]
    if path == "/hello-tuple":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (b"hello tuple",)
    if path == "/hello-cl":
        return respond(start_response, b"hello world")
    if path == "/stream":
        n, size = int(query.get("n", "5")), int(query.get("size", "10"))
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return TrackedStream(key, stream_chunks(n, size))
    if path == "/forever":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return TrackedStream(key, forever())
    if path == "/gated":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return TrackedStream(key, gated(key))
    if path == "/write-gated":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"first")
        return [b"released" if gate(key).wait(GATE_WAIT) else b"gate-timeout"]
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"w1,")
        write(b"w2,")
        return TrackedStream(key, iter([b"i1,", b"i2"]))
    if path == "/progress":
        return respond_json(start_response, {"sent": _progress.get(key)})
    if path == "/release":
        gate(key).set()
        return respond(start_response, b"released")
    if path == "/exc-before":
        return exc_before(start_response)
    if path == "/exc-after":
        return exc_after(start_response, key)
    if path == "/double-start":
        return double_start(start_response)
    if path == "/raise-before":
        raise RuntimeError("boom-before-start")
    if path == "/raise-in-iter":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return TrackedStream(key, raising(key))
    if path == "/non-bytes":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["text is not bytes"]
    if path == "/bad-header":
        return bad_header(start_response, query.get("kind", "value"))
    if path == "/file":
        handle, headers = file_response(environ, query)
        start_response("200 OK", headers)
        wrapper = environ["wsgi.file_wrapper"]
        result: Iterable[bytes] = wrapper(handle, int(query.get("blksize", "8192")))
        return result
    if path == "/bytesio":
        data = TrackedBytesIO(pattern(int(query.get("size", "100000"))))
        data.key = key
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        wrapped: Iterable[bytes] = environ["wsgi.file_wrapper"](
            data, int(query.get("blksize", "8192"))
        )
        return wrapped
    if path == "/barrier":
        parties = int(query.get("parties", "2"))
        timeout = float(query.get("timeout", "5"))
        try:
            barrier(query["name"], parties).wait(timeout)
            outcome = "passed"
        except threading.BrokenBarrierError:
            outcome = "broken"
        return respond(start_response, outcome.encode())
    if path == "/sleep":
        write_marker(key, "entered")
        time.sleep(float(query.get("s", "1")))
        return respond(start_response, b"slept")
    if path == "/status":
        code = query.get("code", "200")
        start_response(f"{code} Whatever", [])
        return []
    if path == "/cookies":
        start_response(
            "200 OK",
            [
                ("Set-Cookie", "a=1; Path=/"),
                ("Set-Cookie", "b=2; Path=/"),
                ("X-A", "x"),
            ],
        )
        return [b"cookies"]
    return respond(start_response, b"not found", status="404 Not Found")
