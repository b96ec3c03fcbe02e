"""pytest plugin for the FastAPI test run, loaded with ``-p fastapi_docs.plugin`` before collection.

``COVETPY_DOCS_MODE`` says the mode: ``reference`` changes nothing; ``inprocess`` installs the
``fastapi`` -> ``covetpy`` import alias; ``network`` also makes ``fastapi.testclient`` the network client;
``network-fastapi`` uses the network client without the alias (the real FastAPI app served by covetpy as
ASGI), which shows what the network client cannot express whatever the framework.
Each test's outcome is appended as one JSON line to ``COVETPY_DOCS_RESULTS`` as soon as it is known, so
a test process that dies half way still leaves the results it had.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

MODE_ENV = "COVETPY_DOCS_MODE"
RESULTS_ENV = "COVETPY_DOCS_RESULTS"
MODES = ("reference", "inprocess", "network", "network-fastapi")

_mode = os.environ.get(MODE_ENV, "reference")
if _mode not in MODES:
    raise pytest.UsageError(f"{MODE_ENV}={_mode!r}: expected one of {', '.join(MODES)}")

if _mode in ("inprocess", "network"):
    from covetpy import _fastapi_alias

    _fastapi_alias.install()
if _mode in ("network", "network-fastapi"):
    from fastapi_docs import netclient

    netclient.INTERFACE = "covet" if _mode == "network" else "asgi"
    # imported before any test: `from fastapi.testclient import TestClient` finds this in sys.modules
    sys.modules["fastapi.testclient"] = netclient


def first_line(text: str, limit: int = 200) -> str:
    """The first non-empty line of ``text``, shortened to ``limit`` characters."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 3] + "..."
    return ""


def _message(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr: Any = report.longrepr
    if isinstance(report, pytest.CollectReport):
        # "ImportError while importing test module ..." first; the exception itself is the last "E" line
        errors = [line[1:].strip() for line in str(longrepr).splitlines() if line.startswith("E ")]
        if errors:
            return first_line(errors[-1])
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        return first_line(str(crash.message))
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
        return first_line(str(longrepr[2]))
    return first_line(str(longrepr)) if longrepr else ""


class _Recorder:
    def __init__(self, path: Path) -> None:
        self._handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed at session end
        self._failed: set[str] = set()

    def write(self, record: dict[str, str]) -> None:
        self._handle.write(json.dumps(record) + "\n")
        self._handle.flush()

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # one record per test: the call's outcome, or the setup/teardown error or skip that replaced it
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = report.outcome if report.when == "call" else ("skipped" if report.skipped else "error")
            if hasattr(report, "wasxfail"):
                outcome = "xfail" if report.skipped else "xpass"
            self.write({"id": report.nodeid, "outcome": outcome, "message": _message(report)})
            if outcome != "passed":
                self._failed.add(report.nodeid)
        elif report.when == "teardown" and report.failed and report.nodeid not in self._failed:
            self.write({"id": report.nodeid, "outcome": "error", "message": "teardown: " + _message(report)})

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.write({"collect_error": report.nodeid, "message": _message(report)})

    @pytest.hookimpl
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._handle.close()


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get(RESULTS_ENV)
    if path:
        config.pluginmanager.register(_Recorder(Path(path)), "fastapi_docs_recorder")
