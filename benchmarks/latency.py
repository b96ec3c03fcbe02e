#!/usr/bin/env python3
"""Latency under constant load: p50/p99/p99.9 at 50% and 90% of each server's own peak, and
at the same rates for every server.

A closed-loop load generator such as wrk sends the next request only when an answer
came back, so a server that stalls is also sent less, and the stall hides from its
percentiles (coordinated omission). This harness measures each server's peak with wrk
(``wrk -t1 -c64``), then loads it at constant rates with
`oha <https://github.com/hatoo/oha>`_ (``-q RATE --latency-correction``: every
request's latency counts from the moment the schedule meant to send it, so time spent
queued behind a stall counts too).

A round first measures the peak of every server of a scenario, then loads each at 50% and
90% of its own peak (``own``) and at 50% and 90% of the round's slowest peak (``shared``:
the same offered rate for all). On a machine whose speed drifts within minutes, a peak
taken in a fast spell makes 90% of it a rate the server cannot keep a minute later; the
shared rates are the comparison that this does not bias, since every server is offered
the same load in the same stretch of time.

Scenarios:

- ``asgi-hello``: the raw ASGI app ``apps/hello_asgi.py`` on covetpy, Granian and uvicorn;
- ``native-json``: ``GET /items/42?q=hello``, covetpy native (``apps/bench_native.py``)
  against the same app on FastAPI and uvicorn (``apps/bench_fastapi.py``);
- ``single-query``: the TechEmpower ``/db`` test (``apps/techempower/tfb_asgi.py``, one
  PostgreSQL query per request; see ``techempower.py``) on covetpy native, FastAPI on
  covetpy ASGI, uvicorn and Granian.

Each round measures every server of a scenario in turn twice (start, warm-up, peak, stop;
then start, warm-up, the four rate runs, stop), the order rotating from round to round; the
report gives medians over rounds.
Servers on CPU 0, wrk and oha on CPU 1 (PostgreSQL too, for ``single-query``).

One command, which installs oha (``cargo install oha``), PostgreSQL and matplotlib as
needed: ``SCENARIOS=latency benchmarks/run.sh [ARGS]``. Or, with that venv::

    benchmarks/.venv/bin/python benchmarks/latency.py [--covetpy PATH] [--oha PATH] \\
        [--scenarios asgi-hello,native-json,single-query] [--duration S] [--rounds R]

Output: ``benchmarks/results-latency.md`` (also printed) and ``docs/img/latency.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import bench
import techempower

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
HOST = bench.HOST
LOADS = (0.5, 0.9)
#: The rates a server is offered: fractions of its own peak, or of the round's slowest peak.
BASES = ("own", "shared")
PERCENTILES = ("p50", "p90", "p99", "p99.9", "p99.99")
REPORTED = ("p50", "p99", "p99.9")
CONNECTIONS = 64
# A run whose achieved rate falls this far below the asked one is marked: the server
# (or oha) could not keep up, and its percentiles describe an overloaded server.
RATE_SHORTFALL = 0.97


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    servers: tuple[bench.ServerSpec, ...]
    path: str
    needs_db: bool = False


@dataclass(frozen=True)
class RatedRun:
    """One oha run at a constant rate."""

    asked: float
    achieved: float
    success: float
    percentiles: dict[str, float]  # milliseconds


@dataclass
class Cell:
    peaks: list[float] = field(default_factory=list)
    #: (base, load) -> one run per round.
    runs: dict[tuple[str, float], list[RatedRun]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def median_peak(self) -> float | None:
        return statistics.median(self.peaks) if self.peaks else None

    def median(self, load: float, key: str, base: str = "own") -> float | None:
        runs = self.runs.get((base, load), [])
        return statistics.median(r.percentiles[key] for r in runs) if runs else None

    def median_rate(self, load: float, base: str) -> float | None:
        runs = self.runs.get((base, load), [])
        return statistics.median(r.achieved for r in runs) if runs else None

    def shortfall(self, load: float, base: str = "own") -> bool:
        return any(r.achieved < RATE_SHORTFALL * r.asked for r in self.runs.get((base, load), []))


def make_scenarios(args: argparse.Namespace, db: techempower.Postgres | None) -> list[Scenario]:
    """The scenarios asked for, built from bench.py's and techempower.py's server specs."""
    base = bench.make_scenarios(args.covetpy, args.venv, Path("/usr/sbin/nginx"), args.data_dir)
    out: list[Scenario] = []
    for name in args.scenarios:
        if name == "asgi-hello":
            out.append(Scenario(name, "raw ASGI hello world, `GET /`", base["asgi"].servers, "/"))
        elif name == "native-json":
            out.append(
                Scenario(
                    name,
                    f"native JSON, `GET {bench.ITEMS.path}` (covetpy native vs FastAPI on uvicorn)",
                    base["native-items"].servers,
                    bench.ITEMS.path,
                )
            )
        elif name == "single-query":
            assert db is not None
            tfb_args = argparse.Namespace(covetpy=args.covetpy, venv=args.venv, pool_size=16)
            specs = tuple(
                techempower.server_spec(techempower.BY_NAME[n], tfb_args, db)
                for n in ("covetpy-native", "covetpy-asgi", "uvicorn", "granian")
            )
            out.append(
                Scenario(
                    name,
                    "TechEmpower single query, `GET /db` (PostgreSQL, pool of 16)",
                    specs,
                    "/db",
                    needs_db=True,
                )
            )
    return out


def oha_command(args: argparse.Namespace, url: str, rate: float, seconds: int) -> list[str]:
    return [
        "taskset", "-c", bench.LOAD_CPU, str(args.oha), "-z", f"{seconds}s",
        "-c", str(CONNECTIONS), "-q", f"{rate:.0f}", "--latency-correction",
        "--no-tui", "--output-format", "json", url,
    ]  # fmt: skip


def parse_oha(text: str, asked: float) -> RatedRun:
    try:
        doc = json.loads(text)
        summary = doc["summary"]
        pct = doc["latencyPercentiles"]
        return RatedRun(
            asked=asked,
            achieved=float(summary["requestsPerSec"]),
            success=float(summary["successRate"]),
            percentiles={k: float(pct[k]) * 1000.0 for k in PERCENTILES},
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise bench.BenchError(f"cannot read oha's output ({exc!r}):\n{text[:2000]}") from exc


def run_oha(args: argparse.Namespace, url: str, rate: float, log: Path) -> RatedRun:
    argv = oha_command(args, url, rate, args.duration)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 60)
    except subprocess.TimeoutExpired as exc:
        raise bench.BenchError(f"oha hung: {shlex.join(argv)}") from exc
    log.write_text(f"$ {shlex.join(argv)}\nexit {done.returncode}\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        raise bench.BenchError(f"{shlex.join(argv)} exited {done.returncode}: {done.stderr}")
    run = parse_oha(done.stdout, rate)
    if run.success < 1.0:
        raise bench.BenchError(f"{shlex.join(argv)}: success rate {run.success:.4f}; log {log}")
    return run


def kept_rate_run(args: argparse.Namespace, url: str, rate: float, log_stem: Path) -> RatedRun:
    """An oha run at rate, repeated (up to --retries times) while the rate was not kept.

    On a shared machine a stretch of hypervisor steal can make a server fall behind a rate it
    sustained a moment before; its queue then grows for the rest of the run, and the
    percentiles describe that stall rather than the server. The run that came closest to the
    rate is kept, and still marked in the report when even it fell short.
    """
    attempts = [run_oha(args, url, rate, Path(f"{log_stem}-a1.json"))]
    while attempts[-1].achieved < RATE_SHORTFALL * rate and len(attempts) <= args.retries:
        bench.wait_until_idle(args.idle_wait)
        attempts.append(run_oha(args, url, rate, Path(f"{log_stem}-a{len(attempts) + 1}.json")))
    return max(attempts, key=lambda r: r.achieved)


def run_peak(url: str, seconds: int, log: Path) -> float:
    argv = ["taskset", "-c", bench.LOAD_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", url]
    return bench.run_wrk(argv, log, seconds, clean=True).rps


@contextmanager
def fresh_server(
    spec: bench.ServerSpec, scenario: Scenario, args: argparse.Namespace, slug: str, cell: Cell, rnd: int
) -> Iterator[str]:
    """A fresh start of the server, checked to answer correctly and warmed up: its URL. A problem at
    its stop goes to the cell's errors."""
    bench.wait_until_idle(args.idle_wait)
    port = bench.free_port()
    server = bench.RunningServer(spec, port, args.logs / f"{slug}-server.log")
    try:
        server.wait_ready()
        if scenario.needs_db:
            techempower.wait_answering(port, server)
            techempower.check_test("db", port, args.db)
        else:
            server.check_response(args.data_dir)
        url = f"http://{HOST}:{port}{scenario.path}"
        run_peak(url, args.warmup, args.logs / f"{slug}-warmup.txt")
        yield url
        if not server.alive():
            raise bench.BenchError(f"server died: {server.describe_exit()}")
    finally:
        problem = server.stop()
        if problem:
            cell.errors.append(f"round {rnd}: {problem}")


def announce(rnd: int, args: argparse.Namespace, scenario: Scenario, spec: bench.ServerSpec) -> None:
    label = f"[round {rnd}/{args.rounds}] {scenario.name:13} {spec.name:16}"
    print(label, end="", file=sys.stderr, flush=True)


def measure_peak(
    spec: bench.ServerSpec, scenario: Scenario, args: argparse.Namespace, cell: Cell, rnd: int
) -> float:
    slug = f"lat-r{rnd}-{scenario.name}-{spec.name}"
    with fresh_server(spec, scenario, args, slug, cell, rnd) as url:
        peak = run_peak(url, args.duration, args.logs / f"{slug}-peak.txt")
    cell.peaks.append(peak)
    print(f" peak {peak:,.0f}", file=sys.stderr)
    return peak


def measure_rates(
    spec: bench.ServerSpec,
    scenario: Scenario,
    args: argparse.Namespace,
    cell: Cell,
    rnd: int,
    rates: dict[tuple[str, float], float],
) -> None:
    """The rate runs of one server, slowest rate first; a rate asked twice (the slowest server's
    own and shared rates are the same) is run once and counted for both."""
    slug = f"lat-r{rnd}-{scenario.name}-{spec.name}"
    done: dict[int, RatedRun] = {}
    shown: list[str] = []
    with fresh_server(spec, scenario, args, f"{slug}-rates", cell, rnd) as url:
        for (base, load), rate in sorted(rates.items(), key=lambda item: item[1]):
            key = round(rate)
            if key not in done:
                done[key] = kept_rate_run(args, url, rate, args.logs / f"{slug}-{base}-{int(load * 100)}")
            run = done[key]
            cell.runs.setdefault((base, load), []).append(run)
            shown.append(
                f"{base} {load:.0%}: {run.achieved:,.0f}/s p50 {run.percentiles['p50']:.2f} "
                f"p99 {run.percentiles['p99']:.2f} ms"
            )
    print(" " + "; ".join(shown), file=sys.stderr)


def run_all(scenarios: Sequence[Scenario], args: argparse.Namespace) -> dict[tuple[str, str], Cell]:
    cells = {(sc.name, s.name): Cell() for sc in scenarios for s in sc.servers}
    for rnd in range(1, args.rounds + 1):
        for sc in scenarios:
            shift = (rnd - 1) % len(sc.servers)
            order = [*sc.servers[shift:], *sc.servers[:shift]]
            peaks: dict[str, float] = {}
            for spec in order:
                announce(rnd, args, sc, spec)
                cell = cells[(sc.name, spec.name)]
                try:
                    peaks[spec.name] = measure_peak(spec, sc, args, cell, rnd)
                except bench.BenchError as exc:
                    print(" ERROR (see report)", file=sys.stderr)
                    cell.errors.append(f"round {rnd}, peak: {exc}")
            if not peaks:
                continue
            slowest = min(peaks.values())
            for spec in order:
                if spec.name not in peaks:
                    continue
                announce(rnd, args, sc, spec)
                cell = cells[(sc.name, spec.name)]
                rates = {("own", load): load * peaks[spec.name] for load in LOADS}
                rates.update({("shared", load): load * slowest for load in LOADS})
                try:
                    measure_rates(spec, sc, args, cell, rnd, rates)
                except bench.BenchError as exc:
                    print(" ERROR (see report)", file=sys.stderr)
                    cell.errors.append(f"round {rnd}, rates: {exc}")
    return cells


def build_report(
    scenarios: Sequence[Scenario],
    cells: dict[tuple[str, str], Cell],
    args: argparse.Namespace,
    started: str,
    chart: Path | None,
) -> str:
    lines = [
        "# Latency at constant load",
        "",
        f"Run {started}: {args.rounds} interleaved rounds. In each round and scenario, first every "
        f"server's peak ({args.warmup} s warm-up, {args.duration} s with `wrk -t1 -c{CONNECTIONS}`), then "
        f"every server again ({args.warmup} s warm-up) at constant rates for {args.duration} s each with "
        f"`oha -c {CONNECTIONS} -q RATE --latency-correction` (latency counted from each request's "
        "scheduled send time): 50% and 90% of its own peak (`own`) and 50% and 90% of the round's slowest "
        "peak (`shared`, the same rate for every server). A rate run that fell short of its rate is "
        f"repeated up to {args.retries} times and the closest kept. Medians over rounds; server on CPU 0, "
        "load on CPU 1.",
        "",
        "Command: `SCENARIOS=latency benchmarks/run.sh` (or `benchmarks/.venv/bin/python "
        "benchmarks/latency.py " + shlex.join(sys.argv[1:]) + "`).",
    ]
    for sc in scenarios:
        lines += [
            "",
            f"## {sc.title}",
            "",
            "| server | peak req/s | rates | load | rate req/s | p50 ms | p99 ms | p99.9 ms |",
            "|---|---:|---|---:|---:|---:|---:|---:|",
        ]
        for spec in sc.servers:
            cell = cells[(sc.name, spec.name)]
            peak = cell.median_peak()
            for base in BASES:
                for load in LOADS:
                    rate = cell.median_rate(load, base)
                    pct = [cell.median(load, k, base) for k in REPORTED]
                    mark = " (could not keep the rate)" if cell.shortfall(load, base) else ""
                    lines.append(
                        f"| {spec.name} | {bench.fmt_rps(peak)} | {base} | {load:.0%} | "
                        f"{bench.fmt_rps(rate)}{mark} | "
                        + " | ".join(f"{v:.2f}" if v is not None else "—" for v in pct)
                        + " |"
                    )
        covet = cells.get((sc.name, sc.servers[0].name))
        for base, label in (("own", "90% of each server's own peak"), ("shared", "90% of the slowest peak")):
            p99 = covet.median(0.9, "p99", base) if covet else None
            if p99 is None:
                continue
            verdicts = []
            for spec in sc.servers[1:]:
                other = cells[(sc.name, spec.name)].median(0.9, "p99", base)
                if other is not None:
                    verdicts.append(f"{spec.name} {other:.2f} ms ({'below' if p99 < other else 'NOT below'})")
            first = sc.servers[0].name
            lines += ["", f"p99 at {label}: {first} {p99:.2f} ms vs " + ", ".join(verdicts) + "."]
        errors = [f"{s.name}: {e}" for s in sc.servers for e in cells[(sc.name, s.name)].errors]
        if errors:
            lines += ["", "Errors:", ""] + [f"- {e}" for e in errors]
    lines += ["", "Machine and versions:", "", f"- CPU: {bench.cpu_model()}, {os.cpu_count()} CPUs"]
    lines += [f"- {v}" for v in bench.versions(args.covetpy, args.venv)]
    lines.append(f"- oha: `{bench.command_output([str(args.oha), '--version'])}`")
    if args.db is not None:
        lines.append(f"- {args.db.version()}; drivers: {techempower.driver_versions(args.venv)}")
    if chart is not None:
        lines += ["", f"Chart: `{chart.relative_to(REPO) if chart.is_relative_to(REPO) else chart}`"]
    return "\n".join(lines) + "\n"


def draw_chart(scenarios: Sequence[Scenario], cells: dict[tuple[str, str], Cell], path: Path) -> bool:
    """Latency percentile curves at 90% of the slowest peak (the same rate for every server), one
    panel per scenario."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, len(scenarios), figsize=(5.2 * len(scenarios), 4.0), squeeze=False)
    for ax, sc in zip(axes.flat, scenarios, strict=True):
        for spec in sc.servers:
            cell = cells[(sc.name, spec.name)]
            values = [cell.median(0.9, k, "shared") for k in PERCENTILES]
            if any(v is None for v in values):
                continue
            ax.plot(range(len(PERCENTILES)), values, marker="o", label=spec.name)
        ax.set_xticks(range(len(PERCENTILES)), PERCENTILES)
        ax.set_yscale("log")
        ax.set_ylabel("latency, ms (log)")
        ax.set_title(f"{sc.name} at 90% of the slowest peak", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


@contextmanager
def maybe_postgres(needed: bool, log_dir: Path) -> Iterator[techempower.Postgres | None]:
    with ExitStack() as stack:
        yield stack.enter_context(techempower.postgres(log_dir)) if needed else None


SCENARIOS = ("asgi-hello", "native-json", "single-query")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--covetpy",
        type=Path,
        default=Path(os.environ.get("COVETPY_BIN", str(REPO / "target/release/covetpy"))),
    )
    parser.add_argument(
        "--oha", type=Path, default=Path(os.environ.get("OHA_BIN", str(HERE / ".tools/bin/oha")))
    )
    parser.add_argument("--venv", type=Path, default=HERE / ".venv")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"subset of {','.join(SCENARIOS)}")
    parser.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", "10")))
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "3")))
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--idle-wait", type=float, default=60.0)
    parser.add_argument(
        "--retries", type=int, default=2, help="repeats of a rate run that fell short (default 2)"
    )
    parser.add_argument("--out-md", type=Path, default=HERE / "results-latency.md")
    parser.add_argument("--out-png", type=Path, default=REPO / "docs" / "img" / "latency.png")
    parser.add_argument("--logs", type=Path, default=HERE / "logs")
    args = parser.parse_args(argv)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario: {', '.join(unknown)}")
    if min(args.duration, args.rounds, args.warmup) < 1:
        parser.error("--duration, --rounds and --warmup must be >= 1")
    for name in ("covetpy", "venv", "logs", "oha"):
        setattr(args, name, getattr(args, name).absolute())
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    for tool in (args.covetpy, args.oha):
        if not os.access(tool, os.X_OK):
            print(f"error: {tool} is not executable", file=sys.stderr)
            return 2
    args.logs.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        with maybe_postgres("single-query" in args.scenarios, args.logs) as db:
            args.db = db
            args.data_dir = Path(tempfile.mkdtemp(prefix="covetpy-latency-data-"))
            bench.write_bench_data(args.data_dir)
            scenarios = make_scenarios(args, db)
            cells = run_all(scenarios, args)
            chart = args.out_png if draw_chart(scenarios, cells, args.out_png) else None
            report = build_report(scenarios, cells, args, started, chart)
    except bench.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.out_md.write_text(report)
    print(report)
    return 0 if all(c.peaks for c in cells.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
