"""``python -m fastapi_docs`` (from ``tests/``): run FastAPI's user-guide tests against covetpy.

    python -m fastapi_docs run                      # reference (cached), inprocess and network
    python -m fastapi_docs run --modes inprocess -k test_body
    python -m fastapi_docs report results.json --failures
    python -m fastapi_docs check results.json      # compare with tests/data/fastapi_docs_expected.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fastapi_docs import report
from fastapi_docs.runner import Results, run


def _print_results(results: Results, failures: bool) -> None:
    print(report.table(results))
    print(f"time: {report.timings_text(results)}")
    if failures:
        print(report.failures_text(results))


def _finish(results: Results, args: argparse.Namespace) -> int:
    if args.markdown:
        Path(args.markdown).write_text(report.markdown_page(results), encoding="utf-8")
    if args.update_expected:
        report.write_expected(results)
        print(f"wrote {report.EXPECTED_PATH}")
        return 0
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastapi_docs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    run_p = sub.add_parser("run", help="run the tests and print per-area counts")
    run_p.add_argument("--modes", default="inprocess,network",
                       help="comma-separated covetpy modes (reference always runs, or comes from the cache)")
    run_p.add_argument("--jobs", type=int, default=2, help="pytest processes at once (default 2)")
    run_p.add_argument("-k", dest="select", help="only test files whose path contains this")
    run_p.add_argument("--fresh-reference", action="store_true", help="rerun reference even if cached")
    run_p.add_argument("--out", help="write the results to this JSON file")

    rep_p = sub.add_parser("report", help="print the counts of a saved run")
    rep_p.add_argument("results", help="a JSON file written by `run --out`")

    chk_p = sub.add_parser("check", help="compare a saved run with the expected failures")
    chk_p.add_argument("results", help="a JSON file written by `run --out`")

    for p in (run_p, rep_p):
        p.add_argument("--failures", action="store_true", help="list each failing test with its reason")
        p.add_argument("--markdown", help="write the per-area table as a Markdown page here")
        p.add_argument("--update-expected", action="store_true",
                       help=f"rewrite {report.EXPECTED_PATH.name} from this run")

    args = parser.parse_args(argv)
    if args.command == "run":
        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        results = run(modes, jobs=args.jobs, select=args.select, fresh_reference=args.fresh_reference)
        if args.out:
            Path(args.out).write_text(json.dumps(results.to_json()), encoding="utf-8")
        _print_results(results, args.failures)
        return _finish(results, args)
    results = Results.from_json(json.loads(Path(args.results).read_text(encoding="utf-8")))
    if args.command == "report":
        _print_results(results, args.failures)
        return _finish(results, args)
    expected = json.loads(report.EXPECTED_PATH.read_text(encoding="utf-8"))
    problems = report.compare(results, expected)
    print("\n".join(problems) if problems else "results agree with the expected failures")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
