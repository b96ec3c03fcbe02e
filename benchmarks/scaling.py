#!/usr/bin/env python3
"""Scaling with workers, and cold start: covetpy vs Granian and nginx (and uvicorn).

Two measurements:

- **Workers**: the raw ASGI hello app (``apps/hello_asgi.py``, ``GET /``) on covetpy and
  Granian, and nginx answering ``GET /plain`` from its config, each with 1 and with 2
  worker processes. With 1 worker the usual pinning holds (server on CPU 0,
  ``wrk -t1 -c64`` on CPU 1). With 2 workers the server may use both CPUs of this
  two-core machine, and so does the load generator (``wrk -t2 -c128``, nothing pinned):
  the two compete for the same cores, which the report says next to the figures. The
  ratios that matter are between servers measured the same way.
- **Cold start**: time from spawning the server to the first ``200`` answer, polled every
  5 ms, for the hello app (covetpy, uvicorn, Granian) and for a FastAPI app
  (``apps/bench_fastapi.py``: covetpy native, FastAPI on covetpy ASGI, uvicorn,
  Granian); ``--cold-reps`` starts each (default 10), median, min and max.

One command: ``SCENARIOS=scaling benchmarks/run.sh [ARGS]``. Or, with that venv::

    benchmarks/.venv/bin/python benchmarks/scaling.py [--covetpy PATH] [--duration S] \\
        [--rounds R] [--cold-reps N] [--parts workers,cold-start]

Output: ``benchmarks/results-scaling.md`` (also printed), ``docs/img/scaling.png`` and
``docs/img/cold-start.png``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import bench

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APPS = bench.APPS
HOST = bench.HOST
WORKER_COUNTS = (1, 2)
POLL_INTERVAL = 0.005


@dataclass(frozen=True)
class Server:
    """A server whose worker count is a parameter."""

    name: str
    path: str
    # (workers, port, scratch directory) -> argv
    command: Callable[[int, int, Path], list[str]]
    clean_exits: tuple[int, ...] = (0,)
    stop_signal: signal.Signals = signal.SIGTERM


def worker_servers(args: argparse.Namespace) -> list[Server]:

    def covetpy(workers: int, port: int, _scratch: Path) -> list[str]:
        return bench.covetpy_argv(args.covetpy, bench.ASGI_APP, port, "--workers", str(workers))

    def granian(workers: int, port: int, _scratch: Path) -> list[str]:
        return bench.granian_argv(args.venv, "asgi", bench.ASGI_APP, port, workers=workers)

    def nginx(workers: int, port: int, scratch: Path) -> list[str]:
        conf = scratch / "nginx.conf"
        text = bench.nginx_config(port, scratch, scratch)
        conf.write_text(text.replace("worker_processes 1;", f"worker_processes {workers};"))
        return [str(args.nginx), "-e", "stderr", "-p", f"{scratch}/", "-c", str(conf)]

    return [
        Server("covetpy", "/", covetpy),
        Server("granian", "/", granian),
        Server("nginx", "/plain", nginx, stop_signal=signal.SIGQUIT),
    ]


def load_argv(workers: int, url: str, seconds: int) -> list[str]:
    if workers == 1:
        return ["taskset", "-c", bench.LOAD_CPU, "wrk", "-t1", "-c64", f"-d{seconds}s", url]
    return ["wrk", "-t2", "-c128", f"-d{seconds}s", url]


def spec_for(server: Server, workers: int, venv: Path) -> bench.ServerSpec:
    return bench.ServerSpec(
        scenario="scaling",
        name=f"{server.name}-w{workers}",
        protocols=(bench.H1,),
        command=lambda port, scratch: server.command(workers, port, scratch),
        cwd=APPS,
        env={"VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}"},
        clean_exits=server.clean_exits,
        stop_signal=server.stop_signal,
        target=bench.Target(path=server.path),
    )


@dataclass
class Cell:
    rps: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def median(self) -> float | None:
        return statistics.median(self.rps) if self.rps else None


def wrk_rps(argv: list[str], log: Path, seconds: int) -> float:
    return bench.run_wrk(argv, log, seconds, clean=True).rps


def measure_workers(args: argparse.Namespace, servers: Sequence[Server]) -> dict[tuple[str, int], Cell]:
    cells = {(s.name, w): Cell() for s in servers for w in WORKER_COUNTS}
    for rnd in range(1, args.rounds + 1):
        for workers in WORKER_COUNTS:
            shift = (rnd - 1) % len(servers)
            for server in [*servers[shift:], *servers[:shift]]:
                spec = spec_for(server, workers, args.venv)
                cell = cells[(server.name, workers)]
                print(f"[round {rnd}/{args.rounds}] {spec.name:12}", end="", file=sys.stderr, flush=True)
                bench.wait_until_idle(args.idle_wait)
                port = bench.free_port()
                log = args.logs / f"scaling-r{rnd}-{spec.name}"
                # Two workers may use both CPUs.
                cpu = bench.SERVER_CPU if workers == 1 else None
                running = bench.RunningServer(spec, port, Path(f"{log}-server.log"), cpu)
                try:
                    running.wait_ready()
                    running.check_response(args.logs)
                    url = f"http://{HOST}:{port}{server.path}"
                    wrk_rps(load_argv(workers, url, args.warmup), Path(f"{log}-warmup.txt"), args.warmup)
                    rps = wrk_rps(
                        load_argv(workers, url, args.duration), Path(f"{log}-load.txt"), args.duration
                    )
                    cell.rps.append(rps)
                    print(f" {rps:10,.0f} req/s", file=sys.stderr)
                except bench.BenchError as exc:
                    print(" ERROR (see report)", file=sys.stderr)
                    cell.errors.append(f"round {rnd}: {exc}")
                finally:
                    problem = running.stop()
                    if problem:
                        cell.errors.append(f"round {rnd}: {problem}")
    return cells


# --------------------------------------------------------------------------- cold start


@dataclass(frozen=True)
class ColdCase:
    app: str
    server: str
    argv: Callable[[int], list[str]]
    path: str = "/"
    clean_exits: tuple[int, ...] = (0,)


def cold_cases(args: argparse.Namespace) -> list[ColdCase]:
    term = (0, -signal.SIGTERM)

    def covetpy(app: str, interface: str) -> Callable[[int], list[str]]:
        return lambda port: bench.covetpy_argv(args.covetpy, app, port, "--interface", interface)

    def uvicorn(app: str) -> Callable[[int], list[str]]:
        return lambda port: bench.uvicorn_argv(args.venv, app, port)

    def granian(app: str) -> Callable[[int], list[str]]:
        return lambda port: bench.granian_argv(args.venv, "asgi", app, port)

    hello, fastapi = bench.ASGI_APP, bench.FASTAPI_APP
    items = bench.ITEMS.path
    return [
        ColdCase("hello (raw ASGI)", "covetpy", covetpy(hello, "asgi")),
        ColdCase("hello (raw ASGI)", "uvicorn", uvicorn(hello), clean_exits=term),
        ColdCase("hello (raw ASGI)", "granian", granian(hello)),
        ColdCase("FastAPI app", "covetpy native", covetpy(fastapi, "covet"), items),
        ColdCase("FastAPI app", "covetpy asgi", covetpy(fastapi, "asgi"), items),
        ColdCase("FastAPI app", "uvicorn", uvicorn(fastapi), items, term),
        ColdCase("FastAPI app", "granian", granian(fastapi), items),
    ]


def first_200(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float) -> float | None:
    """Poll until GET path answers 200; the monotonic time of that answer, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return time.monotonic()
        except (OSError, http.client.HTTPException):
            pass
        finally:
            conn.close()
        time.sleep(POLL_INTERVAL)
    return None


def measure_cold(args: argparse.Namespace) -> dict[tuple[str, str], list[float] | str]:
    results: dict[tuple[str, str], list[float] | str] = {}
    cases = cold_cases(args)
    for rep in range(1, args.cold_reps + 1):
        for case in cases:
            key = (case.app, case.server)
            if isinstance(results.get(key), str):
                continue
            port = bench.free_port()
            log = args.logs / f"cold-{rep}-{case.server.replace(' ', '-')}.log"
            argv = ["taskset", "-c", bench.SERVER_CPU, *case.argv(port)]
            with log.open("wb") as out:
                start = time.monotonic()
                proc = subprocess.Popen(
                    argv,
                    cwd=APPS,
                    env={**os.environ, "VIRTUAL_ENV": str(args.venv)},
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                answered = first_200(port, case.path, proc, 60.0)
            finally:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
            if answered is None:
                results[key] = f"no 200 within 60 s; log {log}:\n{bench.tail(log)}"
                continue
            seconds = answered - start
            existing = results.setdefault(key, [])
            assert isinstance(existing, list)
            existing.append(seconds)
            print(f"[cold {rep}/{args.cold_reps}] {case.app:16} {case.server:15} {seconds * 1000:7.0f} ms",
                  file=sys.stderr)  # fmt: skip
    return results


# --------------------------------------------------------------------------- report


def report(
    args: argparse.Namespace,
    servers: Sequence[Server],
    cells: dict[tuple[str, int], Cell] | None,
    cold: dict[tuple[str, str], list[float] | str] | None,
    started: str,
    charts: list[Path],
) -> str:
    lines = ["# Scaling and cold start", "", f"Run {started}.", ""]
    lines.append(
        "Command: `SCENARIOS=scaling benchmarks/run.sh` (or `benchmarks/.venv/bin/python "
        "benchmarks/scaling.py " + shlex.join(sys.argv[1:]) + "`)."
    )
    if cells is not None:
        lines += [
            "",
            "## Workers",
            "",
            f"Median of {args.rounds} interleaved rounds of {args.duration} s. 1 worker: server on CPU 0, "
            "`wrk -t1 -c64` on CPU 1. 2 workers: nothing pinned, `wrk -t2 -c128`; server and load "
            "generator share this machine's two cores, so 2-worker figures are lower than two cores "
            "of server would give.",
            "",
            "| server | 1 worker | 2 workers | 2 / 1 |",
            "|---|---:|---:|---:|",
        ]
        for server in servers:
            one, two = cells[(server.name, 1)].median(), cells[(server.name, 2)].median()
            scale = f"{two / one:.2f}x" if one and two else "—"
            lines.append(f"| {server.name} | {bench.fmt_rps(one)} | {bench.fmt_rps(two)} | {scale} |")
        lines += ["", "| ratio | 1 worker | 2 workers |", "|---|---:|---:|"]
        for peer in servers[1:]:
            row = [f"covetpy / {peer.name}"]
            for w in WORKER_COUNTS:
                a, b = cells[("covetpy", w)].median(), cells[(peer.name, w)].median()
                row.append(f"{a / b:.2f}x" if a and b else "—")
            lines.append("| " + " | ".join(row) + " |")
        errs = [f"{n}-w{w}: {e}" for (n, w), c in cells.items() for e in c.errors]
        lines += ["", "Errors:", "", *[f"- {e}" for e in errs]] if errs else []
    if cold is not None:
        lines += [
            "",
            "## Cold start to the first 200",
            "",
            f"{args.cold_reps} starts each, server on CPU 0, polled every {POLL_INTERVAL * 1000:.0f} ms from "
            "spawn until a GET answers 200 (hello: `/`; FastAPI app: `/items/42?q=hello`).",
            "",
            "| app | server | median ms | min ms | max ms |",
            "|---|---|---:|---:|---:|",
        ]
        for (app, server), value in cold.items():
            if isinstance(value, str):
                lines.append(f"| {app} | {server} | error | | |")
            else:
                ms = [v * 1000 for v in value]
                lines.append(
                    f"| {app} | {server} | {statistics.median(ms):.0f} | {min(ms):.0f} | {max(ms):.0f} |"
                )
        errs = [f"{a} / {s}: {v}" for (a, s), v in cold.items() if isinstance(v, str)]
        lines += ["", "Errors:", "", *[f"- {e}" for e in errs]] if errs else []
    lines += ["", "Machine and versions:", "", f"- CPU: {bench.cpu_model()}, {os.cpu_count()} CPUs"]
    lines += [f"- {v}" for v in bench.versions(args.covetpy, args.venv, args.nginx)]
    if charts:
        lines += [
            "",
            "Charts: "
            + ", ".join(f"`{c.relative_to(REPO) if c.is_relative_to(REPO) else c}`" for c in charts),
        ]
    return "\n".join(lines) + "\n"


def draw(
    cells: dict[tuple[str, int], Cell] | None,
    cold: dict[tuple[str, str], list[float] | str] | None,
    servers: Sequence[Server],
    args: argparse.Namespace,
) -> list[Path]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    out: list[Path] = []
    if cells is not None:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        width = 0.38
        for i, w in enumerate(WORKER_COUNTS):
            values = [cells[(s.name, w)].median() or 0.0 for s in servers]
            xs = [x + (i - 0.5) * width for x in range(len(servers))]
            bars = ax.bar(xs, values, width, label=f"{w} worker{'s' if w > 1 else ''}")
            for bar, v in zip(bars, values, strict=True):
                ax.annotate(
                    f"{v:,.0f}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=7
                )
        ax.set_xticks(range(len(servers)), [s.name for s in servers])
        ax.set_ylabel("requests/s")
        ax.set_title("hello world, 1 and 2 workers (2 cores shared with wrk at 2)", fontsize=10)
        ax.legend()
        fig.tight_layout()
        args.out_png.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(args.out_png, dpi=110)
        plt.close(fig)
        out.append(args.out_png)
    if cold is not None:
        rows = [(f"{a}\n{s}", v) for (a, s), v in cold.items() if isinstance(v, list)]
        fig, ax = plt.subplots(figsize=(7.2, 4.0))
        medians = [statistics.median(v) * 1000 for _, v in rows]
        bars = ax.barh(range(len(rows)), medians, color="#1f6feb")
        for bar, v in zip(bars, medians, strict=True):
            ax.annotate(f"{v:.0f} ms", (v, bar.get_y() + bar.get_height() / 2), va="center", fontsize=8)
        ax.set_yticks(range(len(rows)), [label for label, _ in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("ms from spawn to first 200 (median)")
        fig.tight_layout()
        fig.savefig(args.out_cold_png, dpi=110)
        plt.close(fig)
        out.append(args.out_cold_png)
    return out


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--covetpy",
        type=Path,
        default=Path(os.environ.get("COVETPY_BIN", str(REPO / "target/release/covetpy"))),
    )
    parser.add_argument("--venv", type=Path, default=HERE / ".venv")
    parser.add_argument(
        "--nginx",
        type=Path,
        default=Path(
            os.environ.get("NGINX_BIN")
            or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin:" + os.environ.get("PATH", ""))
            or "/usr/sbin/nginx"
        ),
    )
    parser.add_argument("--parts", default="workers,cold-start")
    parser.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", "10")))
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "3")))
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--cold-reps", type=int, default=10)
    parser.add_argument("--idle-wait", type=float, default=60.0)
    parser.add_argument("--out-md", type=Path, default=HERE / "results-scaling.md")
    parser.add_argument("--out-png", type=Path, default=REPO / "docs" / "img" / "scaling.png")
    parser.add_argument("--out-cold-png", type=Path, default=REPO / "docs" / "img" / "cold-start.png")
    parser.add_argument("--logs", type=Path, default=HERE / "logs")
    args = parser.parse_args(argv)
    args.parts = [p for p in args.parts.split(",") if p]
    if any(p not in ("workers", "cold-start") for p in args.parts):
        parser.error("--parts takes workers and/or cold-start")
    if min(args.duration, args.rounds, args.warmup, args.cold_reps) < 1:
        parser.error("--duration, --rounds, --warmup and --cold-reps must be >= 1")
    for name in ("covetpy", "venv", "logs", "nginx"):
        setattr(args, name, getattr(args, name).absolute())
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    args.logs.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    servers = worker_servers(args)
    cells = measure_workers(args, servers) if "workers" in args.parts else None
    cold = measure_cold(args) if "cold-start" in args.parts else None
    charts = draw(cells, cold, servers, args)
    text = report(args, servers, cells, cold, started, charts)
    args.out_md.write_text(text)
    print(text)
    ok_workers = cells is None or all(c.rps for c in cells.values())
    ok_cold = cold is None or all(isinstance(v, list) for v in cold.values())
    return 0 if ok_workers and ok_cold else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
