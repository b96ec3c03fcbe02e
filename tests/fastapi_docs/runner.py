"""Runs FastAPI's ``tests/test_tutorial`` files with pytest in subprocesses and gathers the outcomes.

The files are split into batches (whole user-guide areas together, so an app's server is started once)
and the batches run ``jobs`` at a time. Each pytest process loads :mod:`fastapi_docs.plugin`, which sets the
mode up and writes one JSON line per test; a batch whose process dies still reports what it ran.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi_docs.fetch import cache_dir, fastapi_version, sdist_root
from fastapi_docs.plugin import MODE_ENV, MODES, RESULTS_ENV, first_line

TESTS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = TESTS_DIR.parent
PACKAGE_DIR = Path(os.environ.get("COVETPY_PACKAGE_DIR") or REPO_ROOT / "crates" / "embed" / "python")
"""Where the in-process modes import covetpy from (``$COVETPY_PACKAGE_DIR`` to test another checkout's
package; the network mode's servers use the package embedded in ``$COVETPY_BIN``)."""
PYTEST_INI = Path(__file__).resolve().parent / "pytest.ini"
TUTORIAL_PREFIX = "tests/test_tutorial/"
PER_TEST_TIMEOUT = 60
"""Seconds before pytest-timeout stops one test (a hung server must not hang the run)."""
BATCH_FILES = 15
"""Test files per pytest process: few processes (start-up costs a second each), several per job."""

_AREA_RE = re.compile(r"docs_src[./]([A-Za-z0-9_]+)")


def test_files(root: Path) -> list[Path]:
    """FastAPI's user-guide test files, in a stable order."""
    return sorted((root / "tests" / "test_tutorial").rglob("test_*.py"))


def area_of(path: Path) -> str:
    """The user-guide area (``docs_src`` directory) a test file exercises: the first it imports from."""
    match = _AREA_RE.search(path.read_text(encoding="utf-8", errors="replace"))
    if match:
        return match.group(1)
    return path.parent.name.removeprefix("test_")


def short_id(nodeid: str) -> str:
    """A pytest node id relative to FastAPI's ``tests/test_tutorial``."""
    return nodeid.removeprefix(TUTORIAL_PREFIX)


def file_of(test_id: str) -> str:
    """The test file part of a (short) test id."""
    return test_id.split("::", 1)[0]


@dataclass
class ModeResult:
    """Outcomes of one mode: per test id ``{"outcome", "message"}``, collection errors per file."""

    mode: str
    seconds: float = 0.0
    tests: dict[str, dict[str, str]] = field(default_factory=dict)
    collect_errors: dict[str, str] = field(default_factory=dict)
    file_errors: dict[str, str] = field(default_factory=dict)
    """Test files whose pytest process failed as a whole, with its last line."""
    servers_started: int = 0
    server_seconds: float = 0.0
    """How many covetpy servers the network client started, and the time spent waiting for them."""

    def passed(self) -> set[str]:
        """Ids of the tests that passed."""
        return {test_id for test_id, rec in self.tests.items() if rec["outcome"] == "passed"}

    def why_not_passed(self, test_id: str) -> str:
        """One line saying why ``test_id`` did not pass (or was not run) in this mode."""
        rec = self.tests.get(test_id)
        if rec is not None:
            message = rec["message"] or "(no message)"
            return message if rec["outcome"] == "failed" else f"{rec['outcome']}: {message}"
        test_file = file_of(test_id)
        for nodeid, message in self.collect_errors.items():
            if nodeid == test_file or test_file.startswith(nodeid.rstrip("/") + "/"):
                return f"collection error: {message}"
        if test_file in self.file_errors:
            return f"not run: {self.file_errors[test_file]}"
        return "not collected"

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 1),
            "tests": self.tests,
            "collect_errors": self.collect_errors,
            "file_errors": self.file_errors,
            "servers_started": self.servers_started,
            "server_seconds": round(self.server_seconds, 1),
        }

    @classmethod
    def from_json(cls, mode: str, data: dict[str, Any]) -> ModeResult:
        return cls(
            mode, float(data["seconds"]), dict(data["tests"]), dict(data["collect_errors"]),
            dict(data.get("file_errors", {})), int(data.get("servers_started", 0)),
            float(data.get("server_seconds", 0.0)),
        )


def _has_pytest_timeout() -> bool:
    try:
        importlib.metadata.version("pytest-timeout")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _batches(root: Path, files: Sequence[Path]) -> list[list[Path]]:
    """Consecutive files, cut only between user-guide areas unless an area alone is over the size."""
    batches: list[list[Path]] = [[]]
    last_area = None
    for path in files:
        area = path.parent.name
        if batches[-1] and len(batches[-1]) >= BATCH_FILES and area != last_area:
            batches.append([])
        batches[-1].append(path)
        last_area = area
    return [batch for batch in batches if batch]


def _run_batch(mode: str, root: Path, batch: list[Path], out: Path, extra_env: dict[str, str]) -> str | None:
    env = dict(os.environ)
    env.update(extra_env)
    env[MODE_ENV] = mode
    env[RESULTS_ENV] = str(out)
    env["COVETPY_DOCS_APP_DIR"] = str(root)
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), str(PACKAGE_DIR)])
    env.setdefault("VIRTUAL_ENV", sys.prefix)
    args = [sys.executable, "-m", "pytest", "-c", str(PYTEST_INI), "--rootdir", str(root),
            "-p", "fastapi_docs.plugin", "-q", "--no-header", "--continue-on-collection-errors"]
    if _has_pytest_timeout():
        args += ["--timeout", str(PER_TEST_TIMEOUT)]
    args += [str(p.relative_to(root)) for p in batch]
    log = out.with_suffix(".log")
    with open(log, "wb") as handle:
        proc = subprocess.run(args, cwd=root, env=env, stdout=handle, stderr=subprocess.STDOUT, check=False)
    # 0: all passed, 1: some failed; 2-5 are pytest's own errors, negative codes a crash
    if proc.returncode in (0, 1):
        return None
    tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:]
    return f"pytest exited with {proc.returncode}: {first_line(''.join(tail))}"


def run_mode(
    mode: str, root: Path, files: Sequence[Path], jobs: int = 2, extra_env: dict[str, str] | None = None
) -> ModeResult:
    """Run ``files`` (from the sdist at ``root``) in ``mode``.

    A batch whose pytest process fails as a whole (a conftest that cannot import stops pytest before any
    test) is run again one test directory at a time, so that one broken area costs only its own tests."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    result = ModeResult(mode)
    started = time.monotonic()
    tutorial = root / "tests" / "test_tutorial"
    with tempfile.TemporaryDirectory(prefix=f"fastapi-docs-{mode}-") as tmp:
        counter = iter(range(1 << 30))

        def run_all(batches: list[list[Path]]) -> list[tuple[list[Path], str]]:
            outs = [Path(tmp) / f"batch{next(counter)}.jsonl" for _ in batches]
            env = extra_env or {}
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                errors = list(pool.map(lambda b, o: _run_batch(mode, root, b, o, env), batches, outs))
            for out in outs:
                if out.exists():
                    _merge(result, out.read_text(encoding="utf-8").splitlines(), root)
            return [(batch, error) for batch, error in zip(batches, errors, strict=True) if error]

        failed = run_all(_batches(root, files))
        reported = {file_of(t) for t in result.tests} | set(result.collect_errors)
        retry: list[list[Path]] = []
        for batch, _ in failed:
            by_dir: dict[Path, list[Path]] = {}
            for path in batch:
                if str(path.relative_to(tutorial)) not in reported:
                    by_dir.setdefault(path.parent, []).append(path)
            retry += list(by_dir.values())
        for batch, error in run_all(retry) if retry else []:
            for path in batch:
                result.file_errors[str(path.relative_to(tutorial))] = error
    result.seconds = time.monotonic() - started
    return result


def _merge(result: ModeResult, lines: Iterable[str], root: Path) -> None:
    for line in lines:
        if not line.strip():
            continue
        record = json.loads(line)
        if "message" in record:
            # the same reason on every machine: no checkout or cache paths in it
            record["message"] = record["message"].replace(str(root), "<fastapi>").replace(
                str(PACKAGE_DIR), "<covetpy>").replace(str(REPO_ROOT), "<repo>")
        if "server" in record:
            result.servers_started += 1
            result.server_seconds += record["seconds"]
            continue
        if "collect_error" in record:
            result.collect_errors[short_id(record["collect_error"])] = record["message"]
            continue
        test_id = short_id(record["id"])
        previous = result.tests.get(test_id)
        # a teardown error after a pass replaces the pass; nothing replaces a failure
        if previous is None or previous["outcome"] == "passed":
            result.tests[test_id] = {"outcome": record["outcome"], "message": record["message"]}


def environment_key() -> str:
    """A digest of the installed distributions and of what the reference run loads of this harness."""
    digest = hashlib.sha256()
    dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    digest.update("\n".join(dists).encode())
    digest.update(sys.version.encode())
    for helper in ("plugin.py", "pytest.ini"):
        digest.update((Path(__file__).resolve().parent / helper).read_bytes())
    return digest.hexdigest()[:16]


def reference(root: Path, files: Sequence[Path], jobs: int, fresh: bool = False) -> ModeResult:
    """The reference run, reused from the cache when nothing it depends on has changed."""
    cached = cache_dir() / f"reference-{fastapi_version()}-{environment_key()}.json"
    if cached.exists() and not fresh:
        result = ModeResult.from_json("reference", json.loads(cached.read_text(encoding="utf-8")))
        wanted = {str(p.relative_to(root / "tests" / "test_tutorial")) for p in files}
        if wanted <= {file_of(t) for t in result.tests} | set(result.collect_errors):
            return result
    result = run_mode("reference", root, files, jobs)
    if len(files) == len(test_files(root)):
        cached.write_text(json.dumps(result.to_json()), encoding="utf-8")
    return result


@dataclass
class Results:
    """A whole run: the FastAPI version, the area of each test file, and each mode's outcomes."""

    fastapi_version: str
    areas: dict[str, str]
    modes: dict[str, ModeResult]

    def counted(self) -> set[str]:
        """The tests that pass against the real FastAPI here: only these count."""
        return self.modes["reference"].passed()

    def area(self, test_id: str) -> str:
        return self.areas.get(file_of(test_id), file_of(test_id).split("/", 1)[0])

    def failing(self, mode: str) -> dict[str, str]:
        """Counted tests that do not pass in ``mode``, each with its reason."""
        result = self.modes[mode]
        passed = result.passed()
        return {t: result.why_not_passed(t) for t in sorted(self.counted()) if t not in passed}

    def to_json(self) -> dict[str, Any]:
        return {
            "fastapi_version": self.fastapi_version,
            "areas": self.areas,
            "modes": {name: mode.to_json() for name, mode in self.modes.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Results:
        modes = {name: ModeResult.from_json(name, value) for name, value in data["modes"].items()}
        return cls(data["fastapi_version"], dict(data["areas"]), modes)


def run(
    modes: Sequence[str] = ("inprocess", "network"),
    jobs: int = 2,
    select: str | None = None,
    fresh_reference: bool = False,
) -> Results:
    """Fetch the sdist if needed, run the reference (or reuse it) and ``modes``; ``select`` keeps only
    the test files whose path contains it."""
    root = sdist_root()
    files = test_files(root)
    if select:
        files = [p for p in files if select in str(p.relative_to(root))]
    tutorial = root / "tests" / "test_tutorial"
    areas = {str(p.relative_to(tutorial)): area_of(p) for p in files}
    results = Results(fastapi_version(), areas, {"reference": reference(root, files, jobs, fresh_reference)})
    for mode in modes:
        if mode != "reference":
            results.modes[mode] = run_mode(mode, root, files, jobs)
    return results
