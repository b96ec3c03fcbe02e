#!/usr/bin/env python3
"""What an upload in progress costs: RSS per uploading connection and CPU per MiB uploaded.

The app (``apps/upload_sink.py``, raw ASGI) reads every request body to its end. Two
measurements per server (covetpy, uvicorn, Granian; one worker pinned to CPU 0):

- **memory**: N clients (default 200) each send the head of a 100 MiB POST and then keep
  pushing body bytes as fast as the server takes them; after ``--megabytes`` MiB per
  connection (default 4) the resident memory of the server's process tree is read.
  Per connection = (RSS while uploading - RSS before) / N. What a server buffers between the
  socket and the app (its read buffer, the body pieces on their way, their Python copies)
  is what this measures.
- **CPU**: ``wrk -t1 -c16`` POSTs a 1 MiB body for ``--duration`` seconds from CPU 1; the
  server's CPU time (user + system, from ``/proc``) divided by the requests served.
  CPU time is what the server spent, independent of how much the hypervisor stole.

One command: ``SCENARIOS=uploads benchmarks/run.sh [ARGS]``; or, with that venv,
``benchmarks/.venv/bin/python benchmarks/uploads.py [--covetpy PATH] [--connections N]``;
``--covetpy-before OLD_BINARY`` measures an older build in the same run, for a before/after.
Output: ``benchmarks/results-uploads.md`` (also printed).
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import bench

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APP = "upload_sink:app"
HOST = bench.HOST
DECLARED = 100 * 1024 * 1024
PIECE = b"x" * 65536
SOURCE_ADDRESSES = tuple(f"127.0.0.{i}" for i in range(2, 10))


def server_argv(name: str, args: argparse.Namespace, port: int) -> list[str]:
    if name in ("covetpy", "covetpy-before"):
        binary = args.covetpy if name == "covetpy" else args.covetpy_before
        return bench.covetpy_argv(binary, APP, port, "--interface", "asgi")
    if name == "uvicorn":
        return bench.uvicorn_argv(args.venv, APP, port)
    return bench.granian_argv(args.venv, "asgi", APP, port)


def spec_for(name: str, args: argparse.Namespace) -> bench.ServerSpec:
    return bench.ServerSpec(
        scenario="uploads",
        name=name,
        protocols=(bench.H1,),
        command=lambda port, _scratch: server_argv(name, args, port),
        cwd=bench.APPS,
        env={"VIRTUAL_ENV": str(args.venv)},
        # uvicorn re-raises SIGTERM.
        clean_exits=(0, -signal.SIGTERM),
    )


def post(port: int, body: bytes) -> bytes:
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.endswith(str(len(body)).encode()):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer


def measure_memory(server: bench.RunningServer, args: argparse.Namespace) -> float:
    """KiB of RSS per connection while N connections upload."""
    answer = post(server.port, b"a" * 100_000)
    if not answer.startswith(b"HTTP/1.1 200") or not answer.endswith(b"100000"):
        raise bench.BenchError(f"the upload sink answered {answer[:200]!r}")
    time.sleep(1.0)
    base = bench.session_rss_kib(server.proc.pid)
    socks = []
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % DECLARED
    try:
        for i in range(args.connections):
            sock = socket.socket()
            sock.bind((SOURCE_ADDRESSES[i % len(SOURCE_ADDRESSES)], 0))
            sock.connect((HOST, server.port))
            sock.sendall(head)
            sock.setblocking(False)
            socks.append(sock)
        sent = [0] * len(socks)
        goal = args.megabytes * 1024 * 1024
        deadline = time.monotonic() + 120
        while min(sent) < goal and time.monotonic() < deadline:
            for i, sock in enumerate(socks):
                if sent[i] < goal:
                    try:
                        sent[i] += sock.send(PIECE)
                    except BlockingIOError:
                        pass
        if min(sent) < goal:
            raise bench.BenchError(f"uploads stalled at {min(sent)} bytes of {goal}")
        time.sleep(2.0)
        return (bench.session_rss_kib(server.proc.pid) - base) / len(socks)
    finally:
        for sock in socks:
            sock.close()


def measure_cpu(server: bench.RunningServer, args: argparse.Namespace, body_file: Path) -> float:
    """Server CPU milliseconds per 1 MiB upload under wrk."""
    script = body_file.with_suffix(".lua")
    script.write_text(
        'wrk.method = "POST"\n'
        f'local f = assert(io.open({bench.lua_string(str(body_file))}, "rb"))\n'
        'wrk.body = f:read("*a")\nf:close()\n'
    )
    argv = [
        "taskset", "-c", bench.LOAD_CPU, "wrk", "-t1", "-c16", f"-d{args.duration}s",
        "-s", str(script), f"http://{HOST}:{server.port}/",
    ]  # fmt: skip
    before = bench.session_cpu(server.proc.pid)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 60)
    after = bench.session_cpu(server.proc.pid)
    if done.returncode != 0:
        raise bench.BenchError(f"{shlex.join(argv)}: {done.stderr}")
    m = bench.parse_wrk(done.stdout)
    if m.failed or m.non_2xx:
        raise bench.BenchError(f"wrk: {m.failed} failed, {m.non_2xx} non-2xx")
    return (after - before) * 1000.0 / m.requests


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--covetpy",
        type=Path,
        default=Path(os.environ.get("COVETPY_BIN", str(REPO / "target/release/covetpy"))),
    )
    parser.add_argument(
        "--covetpy-before",
        type=Path,
        help="an older covetpy binary, measured as server `covetpy-before` alongside the others",
    )
    parser.add_argument("--venv", type=Path, default=HERE / ".venv")
    parser.add_argument("--servers", default="covetpy,uvicorn,granian")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--megabytes", type=int, default=4)
    parser.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", "5")))
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "3")))
    parser.add_argument("--out-md", type=Path, default=HERE / "results-uploads.md")
    parser.add_argument("--logs", type=Path, default=HERE / "logs")
    args = parser.parse_args(argv)
    args.covetpy, args.venv, args.logs = args.covetpy.absolute(), args.venv.absolute(), args.logs.absolute()
    args.logs.mkdir(parents=True, exist_ok=True)
    names = [n for n in args.servers.split(",") if n]
    if args.covetpy_before is not None:
        args.covetpy_before = args.covetpy_before.absolute()
        names.insert(1, "covetpy-before")
    memory: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    errors: list[str] = []
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory(prefix="covetpy-uploads-") as tmp:
        body_file = Path(tmp) / "1mib.bin"
        body_file.write_bytes(b"u" * (1 << 20))
        for rnd in range(1, args.rounds + 1):
            shift = (rnd - 1) % len(names)
            for name in [*names[shift:], *names[:shift]]:
                try:
                    server = bench.RunningServer(
                        spec_for(name, args), bench.free_port(), args.logs / f"uploads-{name}.log"
                    )
                    try:
                        server.wait_ready(30.0)
                        memory[name].append(measure_memory(server, args))
                        cpu[name].append(measure_cpu(server, args, body_file))
                    finally:
                        problem = server.stop()
                        if problem:
                            errors.append(f"round {rnd} {name}: {problem}")
                    print(
                        f"[round {rnd}/{args.rounds}] {name:8} {memory[name][-1]:7.0f} KiB/conn "
                        f"{cpu[name][-1]:6.2f} CPU ms per MiB",
                        file=sys.stderr,
                    )
                except bench.BenchError as exc:
                    errors.append(f"round {rnd} {name}: {exc}")
                    print(f"[round {rnd}/{args.rounds}] {name}: ERROR {exc}", file=sys.stderr)
    lines = [
        "# Uploads in progress",
        "",
        f"Run {started}, {args.rounds} interleaved rounds, medians. Memory: {args.connections} connections "
        f"each {args.megabytes} MiB into a 100 MiB POST to `{APP}`; CPU: `wrk -t1 -c16 -d{args.duration}s` "
        "POSTing 1 MiB bodies, server CPU time per request.",
        "",
        "Command: `SCENARIOS=uploads benchmarks/run.sh` (or `benchmarks/.venv/bin/python "
        "benchmarks/uploads.py " + shlex.join(argv) + "`).",
        "",
        "| server | RSS per uploading connection | server CPU per 1 MiB upload |",
        "|---|---:|---:|",
    ]
    for name in names:
        mem = f"{statistics.median(memory[name]):,.0f} KiB" if memory[name] else "error"
        ms = f"{statistics.median(cpu[name]):.2f} ms" if cpu[name] else "error"
        lines.append(f"| {name} | {mem} | {ms} |")
    lines += ["", f"- CPU: {bench.cpu_model()}, {os.cpu_count()} CPUs"]
    lines += [f"- {v}" for v in bench.versions(args.covetpy, args.venv)]
    lines += [f"- error: {e}" for e in errors]
    report = "\n".join(lines) + "\n"
    args.out_md.write_text(report)
    print(report)
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
