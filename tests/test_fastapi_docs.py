"""FastAPI's user-guide tests run against covetpy (in-process and over HTTP against the real binary).

FastAPI's own tests of its user-guide examples (tests/test_tutorial in FastAPI's sdist, fetched into a
cache at run time) are the statement of FastAPI's behaviour; see tests/fastapi_docs. Only the tests that
pass against the real FastAPI on this machine count. The tests known not to pass under covetpy yet are
listed per mode, each with its reason, in tests/data/fastapi_docs_expected.json: this test fails when a
counted test fails and is not listed, and when a listed one passes (the list must stay truthful).

    python -m fastapi_docs run --update-expected     # from tests/: rewrite the list from a run
"""

from __future__ import annotations

import json

import pytest
from conftest import require_binary
from fastapi_docs import report
from fastapi_docs.fetch import FetchError
from fastapi_docs.runner import Results, run


@pytest.fixture(scope="module")
def results() -> Results:
    require_binary()
    try:
        return run(report.COVET_MODES)
    except FetchError as exc:
        pytest.fail(f"FastAPI's sdist is needed (PyPI must be reachable once): {exc}")


def test_reference_run_counts_tests(results: Results) -> None:
    """A reference run that passes nothing would make every comparison vacuous."""
    counted = results.counted()
    assert len(counted) > 500, report.table(results)
    assert results.modes["reference"].file_errors == {}, results.modes["reference"].file_errors


@pytest.mark.parametrize("mode", report.COVET_MODES)
def test_matches_expected_failures(results: Results, mode: str) -> None:
    expected = json.loads(report.EXPECTED_PATH.read_text(encoding="utf-8"))
    only_mode = Results(results.fastapi_version, results.areas, {"reference": results.modes["reference"],
                                                                  mode: results.modes[mode]})
    problems = report.compare(only_mode, expected)
    summary = f"{report.table(only_mode)}\ntime: {report.timings_text(only_mode)}"
    assert not problems, "\n".join([*problems[:60], f"({len(problems)} in all)", summary])
