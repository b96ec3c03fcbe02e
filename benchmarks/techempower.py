#!/usr/bin/env python3
"""TechEmpower-style benchmark against a real PostgreSQL: covetpy vs its peers, one worker.

Six tests, as the TechEmpower Framework Benchmarks define them:

- ``json``: ``GET /json``, ``{"message": "Hello, World!"}`` serialized per request;
- ``db``: ``GET /db``, one random ``World`` row as JSON;
- ``queries``: ``GET /queries?queries=20``, 20 random rows, one query each;
- ``fortunes``: ``GET /fortunes``, all ``Fortune`` rows plus one added at request time,
  sorted by message and rendered by an escaping HTML template;
- ``updates``: ``GET /updates?queries=20``, 20 random rows read, given new random
  numbers and written back;
- ``plaintext``: ``GET /plaintext``, ``Hello, World!``, 16 requests pipelined per write.

Implementations (one worker each, pinned to CPU 0, a pool of ``--pool-size`` database
connections each):

- ``covetpy-native``: ``apps/techempower/tfb_asgi.py`` (FastAPI + asyncpg) served by
  ``covetpy --interface covet``: its ``fastapi`` imports resolve to covetpy and the
  routes run natively;
- ``covetpy-asgi``, ``uvicorn``, ``granian``: the same file on real FastAPI, served as
  ASGI;
- ``flask-covetpy``, ``flask-gunicorn``: ``apps/techempower/tfb_wsgi.py`` (Flask +
  psycopg 3 pool) on ``covetpy --interface wsgi`` and on gunicorn's ``gthread`` worker,
  both with as many threads as the pool has connections.

PostgreSQL (Debian's ``postgresql`` package) is started by this script in a temporary
directory on a free local port and seeded as TechEmpower seeds it: ``World`` with 10,000
rows of random numbers and the 12 rows of ``Fortune``. This machine has two cores, so the
database shares CPU 1 with the load generator; the report gives the CPU each side used.

Every response is checked before it is measured: the JSON documents, 20 rows for
``queries=20`` and the clamping of ``queries`` (``0``, ``foo`` and ``501``), the fortune
table parsed back (13 rows, sorted, the ``<script>`` row escaped) and, after ``updates``,
the rows read back from the database.

All servers are started once and stay up (idle while another is measured); each round
measures one test on every server in turn, the order rotating by round, so the two sides
of a ratio are measured about a minute apart. Ratios are the median of per-round ratios:
this machine's speed drifts by up to 2x over minutes, far less within one.

One command, which installs PostgreSQL and the Python packages as needed:
``SCENARIOS=techempower benchmarks/run.sh [ARGS]``. Or, with that venv::

    benchmarks/.venv/bin/python benchmarks/techempower.py [--covetpy PATH] \\
        [--tests json,db,...] [--servers covetpy-native,...] [--duration S] [--rounds R]

Output: ``benchmarks/results-techempower.md`` (also printed) and
``docs/img/techempower.png``; raw wrk output and server logs in ``benchmarks/logs/``.
"""

from __future__ import annotations

import argparse
import html.parser
import http.client
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import bench

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APP_DIR = HERE / "apps" / "techempower"
ASGI_APP = "tfb_asgi:app"
WSGI_APP = "tfb_wsgi:app"
HOST = bench.HOST
DB_CPU = bench.LOAD_CPU
DATABASE = "hello_world"
WORLD_ROWS = 10_000
PIPELINE_DEPTH = 16
# The 12 rows TechEmpower seeds its Fortune table with.
FORTUNES = (
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. — Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "フレームワークのベンチマーク"),
)
ADDED_FORTUNE = (0, "Additional fortune added at request time.")


class CheckError(bench.BenchError):
    """A response that is not what the test requires."""


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bindir() -> Path:
    """The directory of the newest installed PostgreSQL server binaries."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        bindir = Path(out.stdout.strip())
        if (bindir / "postgres").exists():
            return bindir
    raise bench.BenchError("PostgreSQL server not found (Debian package: postgresql)")


def seed_sql() -> str:
    """SQL creating and filling World and Fortune as TechEmpower does."""
    fortunes = ",\n".join("({}, '{}')".format(i, message.replace("'", "''")) for i, message in FORTUNES)
    # Only constants of this file go into the SQL.
    return f"""
CREATE TABLE world (id integer NOT NULL PRIMARY KEY, randomnumber integer NOT NULL);
INSERT INTO world (id, randomnumber)
    SELECT x, 1 + floor(random() * {WORLD_ROWS})::integer
    FROM generate_series(1, {WORLD_ROWS}) AS x;
CREATE TABLE fortune (id integer NOT NULL PRIMARY KEY, message varchar(2048) NOT NULL);
INSERT INTO fortune (id, message) VALUES
{fortunes};
VACUUM ANALYZE;
"""  # noqa: S608


class Postgres:
    """A throwaway PostgreSQL server in a temporary directory, on a free TCP port.

    Run as the ``postgres`` user when this script runs as root (the server refuses
    root). Trust authentication on 127.0.0.1 only; durability off (``fsync``,
    ``synchronous_commit``), as the benchmark needs no crash safety.
    """

    def __init__(self, cpu: str = DB_CPU, log_dir: Path | None = None) -> None:
        self.bindir = postgres_bindir()
        self.cpu = cpu
        self.port = bench.free_port()
        self.root = Path(tempfile.mkdtemp(prefix="covetpy-pg-"))
        self.log_path = (log_dir or self.root) / "postgres.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")
        self.root.chmod(0o755)

    @property
    def url(self) -> str:
        """The URL the apps connect by (TCP, as a database on another host would be)."""
        return f"postgresql://postgres@{HOST}:{self.port}/{DATABASE}"

    def _run(self, argv: list[str], stdin: str | None = None) -> str:
        done = subprocess.run(
            [*self.as_user, *argv],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if done.returncode != 0:
            raise bench.BenchError(
                f"{shlex.join(argv)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
            )
        return done.stdout

    def psql(self, sql: str, database: str = DATABASE) -> str:
        """Run SQL through psql over the server's Unix socket; returns unaligned rows."""
        return self._run(
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.root),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
            ],  # fmt: skip
            stdin=sql,
        )

    def start(self) -> None:
        data = self.root / "data"
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]  # fmt: skip
        )
        argv = [
            *self.as_user, "taskset", "-c", self.cpu, str(self.bindir / "postgres"),
            "-D", str(data), "-p", str(self.port), "-k", str(self.root),
            "-c", f"listen_addresses={HOST}", "-c", "max_connections=200",
            "-c", "shared_buffers=128MB", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise bench.BenchError(f"PostgreSQL exited at start-up:\n{bench.tail(self.log_path)}")
            try:
                self.psql("SELECT 1", database="postgres")
                break
            except bench.BenchError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.psql(f"CREATE DATABASE {DATABASE}", database="postgres")
        self.psql(seed_sql())

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the live server processes (postmaster and backends).

        Backends call setsid(), so they are found as the postmaster's children rather
        than by session.
        """
        try:
            postmaster = int((self.root / "data" / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0.0
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                pid = int(stat.parent.name)
                rest = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError, ValueError):
                continue
            # rest[1] is the parent pid; utime and stime are fields 14 and 15 of stat.
            if pid == postmaster or int(rest[1]) == postmaster:
                total += int(rest[11]) + int(rest[12])
        return total / bench.CLK_TCK

    def version(self) -> str:
        return bench.command_output([str(self.bindir / "postgres"), "--version"])

    def stop(self) -> None:
        if self.proc is not None:
            try:
                # SIGINT is PostgreSQL's fast shutdown.
                os.killpg(self.proc.pid, signal.SIGINT)
                self.proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def postgres(log_dir: Path | None = None) -> Iterator[Postgres]:
    """A started, seeded PostgreSQL, stopped and removed on exit."""
    db = Postgres(log_dir=log_dir)
    try:
        db.start()
        yield db
    finally:
        db.stop()


# --------------------------------------------------------------------------- servers


@dataclass(frozen=True)
class Implementation:
    """One stack serving the tests: a name, its family and how to start it."""

    name: str
    # What the report says it is.
    title: str
    command: Callable[[argparse.Namespace, int], list[str]]
    # Exit statuses that count as a clean stop: uvicorn and gunicorn re-raise SIGTERM.
    clean_exits: tuple[int, ...] = (0,)


def covetpy_command(interface: str, app: str) -> Callable[[argparse.Namespace, int], list[str]]:
    def command(args: argparse.Namespace, port: int) -> list[str]:
        extra = ["--threads", str(args.pool_size)] if interface == "wsgi" else []
        return bench.covetpy_argv(args.covetpy, app, port, "--interface", interface, *extra, app_dir=APP_DIR)

    return command


def uvicorn_command(args: argparse.Namespace, port: int) -> list[str]:
    return bench.uvicorn_argv(args.venv, ASGI_APP, port)


def granian_command(args: argparse.Namespace, port: int) -> list[str]:
    return bench.granian_argv(args.venv, "asgi", ASGI_APP, port)


def gunicorn_command(args: argparse.Namespace, port: int) -> list[str]:
    return [
        str(args.venv / "bin" / "gunicorn"), "-w", "1", "-k", "gthread",
        "--threads", str(args.pool_size), "-b", f"{HOST}:{port}", WSGI_APP,
    ]  # fmt: skip


IMPLEMENTATIONS = (
    Implementation("covetpy-native", "FastAPI app, covetpy native", covetpy_command("covet", ASGI_APP)),
    Implementation("covetpy-asgi", "FastAPI on covetpy (ASGI)", covetpy_command("asgi", ASGI_APP)),
    Implementation("uvicorn", "FastAPI on uvicorn", uvicorn_command, (0, -signal.SIGTERM)),
    Implementation("granian", "FastAPI on Granian", granian_command),
    Implementation("flask-covetpy", "Flask on covetpy (WSGI)", covetpy_command("wsgi", WSGI_APP)),
    Implementation("flask-gunicorn", "Flask on gunicorn gthread", gunicorn_command, (0, -signal.SIGTERM)),
)  # fmt: skip
BY_NAME = {impl.name: impl for impl in IMPLEMENTATIONS}


def server_spec(impl: Implementation, args: argparse.Namespace, db: Postgres) -> bench.ServerSpec:
    """A bench.ServerSpec for one implementation, connected to the database."""
    return bench.ServerSpec(
        scenario="techempower",
        name=impl.name,
        protocols=(bench.H1,),
        command=lambda port, _scratch: impl.command(args, port),
        cwd=APP_DIR,
        env={
            "DATABASE_URL": db.url,
            "TFB_POOL_SIZE": str(args.pool_size),
            "VIRTUAL_ENV": str(args.venv),
            "PATH": f"{args.venv / 'bin'}:{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(APP_DIR),
        },
        clean_exits=impl.clean_exits,
    )


# --------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


def get(port: int, path: str) -> Response:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return Response(resp.status, resp.getheader("content-type") or "", resp.read())
    except (OSError, http.client.HTTPException) as exc:
        raise CheckError(f"GET {path}: {exc!r}") from exc
    finally:
        conn.close()


def json_of(resp: Response, path: str) -> object:
    if resp.status != 200:
        raise CheckError(f"GET {path}: status {resp.status}: {resp.body[:300]!r}")
    if not resp.content_type.startswith("application/json"):
        raise CheckError(f"GET {path}: content-type {resp.content_type!r}")
    try:
        return json.loads(resp.body)
    except ValueError as exc:
        raise CheckError(f"GET {path}: not JSON: {resp.body[:300]!r}") from exc


def world_rows(doc: object, count: int, path: str) -> list[tuple[int, int]]:
    """The (id, randomNumber) pairs of a list of World objects, checked."""
    if not isinstance(doc, list) or len(doc) != count:
        raise CheckError(f"GET {path}: expected a list of {count} rows, got {doc!r:.300}")
    return [world_row(item, path) for item in doc]


def world_row(item: object, path: str) -> tuple[int, int]:
    if not (
        isinstance(item, dict)
        and set(item) == {"id", "randomNumber"}
        and all(type(item[k]) is int for k in item)
        and 1 <= item["id"] <= WORLD_ROWS
        and 1 <= item["randomNumber"] <= WORLD_ROWS
    ):
        raise CheckError(f"GET {path}: not a World row: {item!r:.300}")
    return item["id"], item["randomNumber"]


class FortuneTable(html.parser.HTMLParser):
    """The (id, message) cells of the fortunes page, unescaped, and the tags seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def check_fortunes(resp: Response) -> None:
    if resp.status != 200 or not resp.content_type.startswith("text/html"):
        raise CheckError(f"GET /fortunes: {resp.status} {resp.content_type!r}")
    text = resp.body.decode("utf-8")
    table = FortuneTable()
    table.feed(text)
    expected = [["id", "message"]] + [
        [str(i), m] for i, m in sorted([*FORTUNES, ADDED_FORTUNE], key=lambda r: r[1])
    ]
    if table.rows != expected:
        raise CheckError(f"GET /fortunes: table {table.rows!r:.600}, expected {expected!r:.600}")
    if "script" in table.tags:
        raise CheckError("GET /fortunes: the <script> fortune is not escaped")


def check_queries(port: int, path: str) -> None:
    """``/queries`` or ``/updates``: 20 rows, and the clamping of odd values."""
    for query, count in (("20", 20), ("0", 1), ("foo", 1), ("501", 500), ("", 1)):
        url = f"{path}?queries={query}"
        world_rows(json_of(get(port, url), url), count, url)


def check_updates(port: int, db: Postgres) -> None:
    check_queries(port, "/updates")
    url = "/updates?queries=20"
    rows = world_rows(json_of(get(port, url), url), 20, url)
    if len({i for i, _ in rows}) != 20:
        raise CheckError(f"GET {url}: the same row twice: {rows}")
    ids = ",".join(str(i) for i, _ in rows)
    sql = f"SELECT id, randomnumber FROM world WHERE id IN ({ids})"  # noqa: S608 (ints)
    stored = {int(i): int(n) for i, n in (line.split("|") for line in db.psql(sql).split())}
    wrong = [(i, n, stored.get(i)) for i, n in rows if stored.get(i) != n]
    if wrong:
        raise CheckError(f"GET {url}: rows not written (id, answered, stored): {wrong}")


def check_test(test: str, port: int, db: Postgres) -> None:
    """Every check of one test against a running server; CheckError if one fails."""
    if test == "json":
        doc = json_of(get(port, "/json"), "/json")
        if doc != {"message": "Hello, World!"}:
            raise CheckError(f"GET /json: {doc!r}")
    elif test == "db":
        world_row(json_of(get(port, "/db"), "/db"), "/db")
    elif test == "queries":
        check_queries(port, "/queries")
    elif test == "fortunes":
        check_fortunes(get(port, "/fortunes"))
    elif test == "updates":
        check_updates(port, db)
    elif test == "plaintext":
        resp = get(port, "/plaintext")
        if (resp.status, resp.body) != (200, b"Hello, World!") or not (
            resp.content_type.startswith("text/plain")
        ):
            raise CheckError(f"GET /plaintext: {resp.status} {resp.content_type!r} {resp.body!r}")
    else:
        raise ValueError(test)


# --------------------------------------------------------------------------- load

TESTS = ("json", "db", "queries", "fortunes", "updates", "plaintext")
TEST_PATHS = {
    "json": "/json",
    "db": "/db",
    "queries": "/queries?queries=20",
    "fortunes": "/fortunes",
    "updates": "/updates?queries=20",
    "plaintext": "/plaintext",
}
TEST_TITLES = {
    "json": "JSON",
    "db": "single query",
    "queries": "20 queries",
    "fortunes": "fortunes",
    "updates": "20 updates",
    "plaintext": f"plaintext (pipelined {PIPELINE_DEPTH})",
}


def pipeline_script(path: str, depth: int = PIPELINE_DEPTH) -> str:
    """A wrk Lua script that writes ``depth`` requests for path at once."""
    return (
        "init = function(args)\n"
        "  local r = {}\n"
        f"  for i = 1, {depth} do r[i] = wrk.format(nil, {bench.lua_string(path)}) end\n"
        "  req = table.concat(r)\n"
        "end\n"
        "request = function() return req end\n"
    )


def wrk_command(test: str, port: int, seconds: int, script_dir: Path) -> list[str]:
    argv = ["taskset", "-c", bench.LOAD_CPU, "wrk", "-t1", "-c64", f"-d{seconds}s", "--latency"]
    if test == "plaintext":
        script = script_dir / "pipeline.lua"
        script.write_text(pipeline_script(TEST_PATHS[test]))
        argv += ["-s", str(script)]
    return [*argv, f"http://{HOST}:{port}{TEST_PATHS[test]}"]


@dataclass(frozen=True)
class Run:
    """One measured load run."""

    rps: float
    requests: int
    errors: int
    latency: str
    server_cpu: float
    load_cpu: float
    db_cpu: float
    # Interrupt handling, mostly the network stack carrying the measured traffic.
    irq_cpu: float
    other_cpu: float
    steal: float


def measure(test: str, port: int, args: argparse.Namespace, db: Postgres, slug: str, server_pid: int) -> Run:
    warm = wrk_command(test, port, args.warmup, args.logs)
    bench.run_wrk(warm, args.logs / f"{slug}-warmup.txt", args.warmup)
    bench.wait_until_idle(10.0)
    argv = wrk_command(test, port, args.duration, args.logs)
    before = (bench.machine_cpu(), bench.session_cpu(server_pid), bench.children_cpu(), db.cpu_seconds())
    m = bench.run_wrk(argv, args.logs / f"{slug}-load.txt", args.duration)
    after = (bench.machine_cpu(), bench.session_cpu(server_pid), bench.children_cpu(), db.cpu_seconds())
    wall = max(after[0].wall - before[0].wall, 1e-9)
    server, load, dbc = (after[i] - before[i] for i in (1, 2, 3))  # type: ignore[operator]
    other = (after[0].busy - before[0].busy) - server - load - dbc
    return Run(
        rps=m.rps,
        requests=m.requests,
        errors=m.failed + m.non_2xx,
        latency=m.latency,
        server_cpu=server / wall,
        load_cpu=load / wall,
        db_cpu=dbc / wall,
        irq_cpu=(after[0].irq - before[0].irq) / wall,
        other_cpu=max(other, 0.0) / wall,
        steal=(after[0].steal - before[0].steal) / wall,
    )


def disturbed(run: Run) -> bool:
    """Other processes or the hypervisor took CPU time the measured ones needed (bench's
    rule; the database counts as measured, not as other)."""
    return bench.disturbed(bench.CpuUse(run.server_cpu, run.load_cpu, run.other_cpu, run.steal))


def measure_undisturbed(
    test: str,
    port: int,
    args: argparse.Namespace,
    db: Postgres,
    slug: str,
    server_pid: int,
    notes: list[str],
) -> Run:
    """measure(), repeated (up to --interference-retries times) while disturbed; the
    least disturbed attempt is kept and one still disturbed is noted."""
    attempts = [measure(test, port, args, db, f"{slug}-a1", server_pid)]
    while disturbed(attempts[-1]) and len(attempts) <= args.interference_retries:
        attempts.append(measure(test, port, args, db, f"{slug}-a{len(attempts) + 1}", server_pid))
    kept = min(attempts, key=lambda r: max(r.other_cpu, r.steal))
    if disturbed(kept):
        notes.append(
            f"{slug}: disturbed in all {len(attempts)} attempts; kept the least "
            f"(other processes {kept.other_cpu:.2f} CPUs, steal {kept.steal:.2f})"
        )
    return kept


@dataclass
class Cell:
    by_round: dict[int, Run] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def runs(self) -> list[Run]:
        return list(self.by_round.values())

    def median(self) -> float | None:
        return statistics.median(r.rps for r in self.runs) if self.runs else None

    def mean_of(self, attr: str) -> float:
        return statistics.mean(getattr(r, attr) for r in self.runs) if self.runs else 0.0


Cells = dict[tuple[str, str], Cell]


def wait_answering(port: int, server: bench.RunningServer, timeout: float = 60.0) -> None:
    """Wait until GET /json answers (lifespan start-up, pool connected)."""
    deadline = time.monotonic() + timeout
    while True:
        if not server.alive():
            raise bench.BenchError(f"server died at start-up: {server.describe_exit()}")
        try:
            if get(port, "/json").status == 200:
                return
        except CheckError:
            pass
        if time.monotonic() > deadline:
            raise bench.BenchError(f"{server.spec.label} did not answer within {timeout:.0f} s")
        time.sleep(0.1)


def start_all(
    impls: Sequence[Implementation],
    args: argparse.Namespace,
    db: Postgres,
    cells: Cells,
    tests: Sequence[str],
) -> dict[str, bench.RunningServer]:
    """Start every implementation at once, each on its own port; those that fail are noted
    in their cells and left out."""
    servers: dict[str, bench.RunningServer] = {}
    for impl in impls:
        port = bench.free_port()
        server = bench.RunningServer(
            server_spec(impl, args, db), port, args.logs / f"tfb-{impl.name}-server.log"
        )
        try:
            server.wait_ready()
            wait_answering(port, server)
        except bench.BenchError as exc:
            for test in tests:
                cells[(impl.name, test)].errors.append(f"start-up: {exc}")
            print(f"{impl.name}: ERROR {exc}", file=sys.stderr)
            server.stop()
            continue
        servers[impl.name] = server
    return servers


def run_all(
    impls: Sequence[Implementation], tests: Sequence[str], args: argparse.Namespace, db: Postgres
) -> tuple[Cells, list[str]]:
    """Measure every (implementation, test) once per round.

    All servers run for the whole benchmark (idle ones take no CPU), so one test is
    measured on every server within a minute: this machine's speed drifts by 2x over
    minutes, and ratios of measurements taken close together drift far less than
    ratios of measurements taken one server after another.
    """
    cells: Cells = {(i.name, t): Cell() for i in impls for t in tests}
    notes: list[str] = []
    servers = start_all(impls, args, db, cells, tests)
    try:
        for rnd in range(1, args.rounds + 1):
            for test in tests:
                order = [i for i in impls if i.name in servers]
                shift = (rnd - 1) % max(len(order), 1)
                for impl in [*order[shift:], *order[:shift]]:
                    server = servers[impl.name]
                    cell = cells[(impl.name, test)]
                    label = f"[round {rnd}/{args.rounds}] {impl.name:15} {test:10}"
                    print(f"{label} ...", end="", flush=True, file=sys.stderr)
                    bench.wait_until_idle(args.idle_wait)
                    try:
                        check_test(test, server.port, db)
                        run = measure_undisturbed(
                            test,
                            server.port,
                            args,
                            db,
                            f"tfb-r{rnd}-{impl.name}-{test}",
                            server.proc.pid,
                            notes,
                        )
                        if not server.alive():
                            raise bench.BenchError(f"server died: {server.describe_exit()}")
                    except bench.BenchError as exc:
                        print(" ERROR (see report)", file=sys.stderr)
                        cell.errors.append(f"round {rnd}: {exc}")
                        if not server.alive():
                            del servers[impl.name]
                        continue
                    print(
                        f" {run.rps:10,.0f} req/s  errors {run.errors}  {run.latency}  CPU server "
                        f"{run.server_cpu:.2f} wrk {run.load_cpu:.2f} db {run.db_cpu:.2f} "
                        f"irq {run.irq_cpu:.2f} other {run.other_cpu:.2f} steal {run.steal:.2f}",
                        file=sys.stderr,
                    )
                    if run.errors:
                        notes.append(
                            f"round {rnd} {impl.name} {test}: {run.errors} socket errors or "
                            f"non-2xx of {run.requests}"
                        )
                    cell.by_round[rnd] = run
    finally:
        for name, server in servers.items():
            problem = server.stop()
            if problem:
                notes.append(f"{name}: {problem}")
    return cells, notes


# --------------------------------------------------------------------------- report

# (numerator, denominator, target or None) for the ratio table.
RATIOS = (
    ("covetpy-native", "uvicorn", {"db": 3.0, "fortunes": 3.0}),
    ("covetpy-asgi", "granian", {t: 1.0 for t in TESTS}),
    ("covetpy-asgi", "uvicorn", {}),
    ("flask-covetpy", "flask-gunicorn", {}),
)


def round_ratios(cells: Cells, num: str, den: str, test: str) -> list[float]:
    """num / den within each round both were measured in (measured a minute apart)."""
    a, b = cells.get((num, test)), cells.get((den, test))
    if a is None or b is None:
        return []
    return [
        a.by_round[r].rps / b.by_round[r].rps for r in a.by_round if r in b.by_round and b.by_round[r].rps
    ]


def ratio(cells: Cells, num: str, den: str, test: str) -> float | None:
    """The median of the per-round ratios."""
    ratios = round_ratios(cells, num, den, test)
    return statistics.median(ratios) if ratios else None


def build_report(
    cells: Cells,
    notes: list[str],
    impls: Sequence[Implementation],
    tests: Sequence[str],
    args: argparse.Namespace,
    db: Postgres,
    started: str,
    chart: Path | None,
) -> str:
    names = [i.name for i in impls]
    lines = [
        "# TechEmpower-style benchmark",
        "",
        f"Run {started}: {args.rounds} rounds; in each, every test is measured on every server in "
        f"turn ({args.duration} s after {args.warmup} s of warm-up; all servers stay up, idle while "
        f"not measured; the order rotates by round); median requests/s. One server worker on CPU 0; wrk "
        f"(`wrk -t1 -c64`) and PostgreSQL on CPU 1 (this machine has two cores). Pool of "
        f"{args.pool_size} connections per server; WSGI servers run {args.pool_size} threads.",
        "",
        "Command: `SCENARIOS=techempower benchmarks/run.sh` (or `benchmarks/.venv/bin/python "
        "benchmarks/techempower.py " + shlex.join(sys.argv[1:]) + "`).",
        "",
        "| test | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for test in tests:
        row = [TEST_TITLES[test]]
        for name in names:
            cell = cells[(name, test)]
            med = cell.median()
            row.append(f"{med:,.0f}" if med is not None else ("error" if cell.errors else "—"))
        lines.append("| " + " | ".join(row) + " |")
    pairs = [(n, d, goals) for n, d, goals in RATIOS if n in names and d in names]
    if pairs:
        lines += [
            "",
            "Ratios: the median of the per-round ratios, each of two measurements taken about a "
            "minute apart, with the lowest and highest round in parentheses (target in brackets):",
            "",
        ]
        lines += ["| test | " + " | ".join(f"{n} / {d}" for n, d, _ in pairs) + " |"]
        lines += ["|---|" + "---:|" * len(pairs)]
        for test in tests:
            row = [TEST_TITLES[test]]
            for n, d, goals in pairs:
                r = ratio(cells, n, d, test)
                spread = round_ratios(cells, n, d, test)
                text = f"{r:.2f}x" if r is not None else "—"
                if len(spread) > 1:
                    text += f" ({min(spread):.2f}–{max(spread):.2f})"
                if r is not None and test in goals:
                    goal = goals[test]
                    text += f" [>= {goal:g}x {'met' if r >= goal else 'NOT met'}]"
                row.append(text)
            lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "CPU used during the measurement, mean of rounds (server / wrk / PostgreSQL / interrupts, "
        "mostly the network stack / other processes), in CPUs:",
        "",
        "| test | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for test in tests:
        row = [TEST_TITLES[test]]
        for name in names:
            cell = cells[(name, test)]
            row.append(
                " / ".join(
                    f"{cell.mean_of(a):.2f}"
                    for a in ("server_cpu", "load_cpu", "db_cpu", "irq_cpu", "other_cpu")
                )
                if cell.runs
                else "—"
            )
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "Implementations:", ""]
    for impl in impls:
        shown = (
            shlex.join(impl.command(args, 0))
            .replace(" --port 0", " --port P")
            .replace(f"{HOST}:0", f"{HOST}:P")
        )
        lines.append(f"- `{impl.name}`: {impl.title}: `{shown}` (cwd `benchmarks/apps/techempower`)")
    lines += ["", "Machine and versions:", ""]
    lines += [f"- CPU: {bench.cpu_model()}, {os.cpu_count()} CPUs", f"- {db.version()}"]
    lines += [f"- {v}" for v in bench.versions(args.covetpy, args.venv)]
    lines.append(f"- drivers: {driver_versions(args.venv)}")
    if chart is not None:
        lines += ["", f"Chart: `{chart.relative_to(REPO) if chart.is_relative_to(REPO) else chart}`"]
    errors = [(k, e) for k, c in cells.items() for e in c.errors]
    if notes or errors:
        lines += ["", "Notes and errors:", ""]
        lines += [f"- {n}" for n in notes]
        lines += [f"- {name} {test}: {e}" for (name, test), e in errors]
    return "\n".join(lines) + "\n"


def driver_versions(venv: Path) -> str:
    return bench.command_output([
        str(venv / "bin" / "python"), "-c",
        "import importlib.metadata as m; print(', '.join(f'{p} {m.version(p)}' for p in "
        "('asyncpg', 'psycopg', 'psycopg-pool', 'jinja2')))",
    ])  # fmt: skip


def draw_chart(cells: Cells, impls: Sequence[Implementation], tests: Sequence[str], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    cols = min(3, len(tests))
    rows = (len(tests) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
    colors = ["#1f6feb", "#58a6ff", "#8b949e", "#d29922", "#2da44e", "#a371f7"]
    for ax, test in zip(axes.flat, tests, strict=False):
        names = [i.name for i in impls]
        values = [cells[(n, test)].median() or 0.0 for n in names]
        bars = ax.bar(range(len(names)), values, color=colors[: len(names)])
        ax.set_title(TEST_TITLES[test])
        ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
        ax.set_ylabel("requests/s")
        for bar, value in zip(bars, values, strict=True):
            ax.annotate(f"{value:,.0f}", (bar.get_x() + bar.get_width() / 2, value),
                        ha="center", va="bottom", fontsize=7)  # fmt: skip
    for ax in list(axes.flat)[len(tests) :]:
        ax.axis("off")
    fig.suptitle("TechEmpower-style tests, one worker, PostgreSQL (median requests/s)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------- main


def csv_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--covetpy",
        type=Path,
        default=Path(os.environ.get("COVETPY_BIN", str(REPO / "target/release/covetpy"))),
    )
    parser.add_argument("--venv", type=Path, default=HERE / ".venv")
    parser.add_argument("--tests", default=",".join(TESTS), help=f"subset of {','.join(TESTS)}")
    parser.add_argument("--servers", default=",".join(BY_NAME), help=f"subset of {','.join(BY_NAME)}")
    parser.add_argument("--duration", type=int, default=int(os.environ.get("DURATION", "10")))
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", "3")))
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=16)
    parser.add_argument("--idle-wait", type=float, default=60.0)
    parser.add_argument(
        "--interference-retries",
        type=int,
        default=2,
        help="times to repeat a measurement disturbed by other processes or steal (default 2)",
    )
    parser.add_argument("--out-md", type=Path, default=HERE / "results-techempower.md")
    parser.add_argument("--out-png", type=Path, default=REPO / "docs" / "img" / "techempower.png")
    parser.add_argument("--logs", type=Path, default=HERE / "logs")
    args = parser.parse_args(argv)
    unknown = [t for t in csv_list(args.tests) if t not in TESTS] + [
        s for s in csv_list(args.servers) if s not in BY_NAME
    ]
    if unknown:
        parser.error(f"unknown test or server: {', '.join(unknown)}")
    if min(args.duration, args.rounds, args.warmup, args.pool_size) < 1:
        parser.error("--duration, --rounds, --warmup and --pool-size must be >= 1")
    args.covetpy = args.covetpy.absolute()
    args.venv = args.venv.absolute()
    args.logs = args.logs.absolute()
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if not os.access(args.covetpy, os.X_OK):
        print(f"error: covetpy binary {args.covetpy} is not executable", file=sys.stderr)
        return 2
    impls = [BY_NAME[s] for s in csv_list(args.servers)]
    tests = [t for t in TESTS if t in csv_list(args.tests)]
    args.logs.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        with postgres(args.logs) as db:
            print(f"==> PostgreSQL on {HOST}:{db.port} (CPU {DB_CPU}), seeded", file=sys.stderr)
            cells, notes = run_all(impls, tests, args, db)
            chart = args.out_png if draw_chart(cells, impls, tests, args.out_png) else None
            report = build_report(cells, notes, impls, tests, args, db, started, chart)
    except bench.BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args.out_md.write_text(report)
    print(report)
    return 0 if all(c.runs for c in cells.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
