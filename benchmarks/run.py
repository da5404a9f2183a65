"""Measure every SPEC performance target against its baseline, side by side in one run.

    .venv/bin/python benchmarks/run.py            # or: make bench
    .venv/bin/python benchmarks/run.py --quick    # fewer repetitions (a smoke run)
    .venv/bin/python benchmarks/run.py --no-write # do not rewrite docs/performance.md

STS is moto in-process (``mock_aws``); the clock of the 15-minute case is
freezegun. Prints a table of ratios with pass/fail per target and writes
``docs/performance.md``. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from measure import Log, isolate_environment  # noqa: E402

ROOT = HERE.parent


def run_all(*, quick: bool, log: Log) -> list[Any]:
    # After isolate_environment(): the case modules import moto, boto3 and rolesession.
    import cases
    from cli_cases import CASES as CLI
    from default_chain_cases import CASES as DEFAULT_CHAIN
    from org_cases import CASES as ORGS
    from outbound_token_cases import CASES as OUTBOUND_TOKENS

    results: list[Any] = []
    for case in (*cases.CASES, *DEFAULT_CHAIN, *CLI, *OUTBOUND_TOKENS, *ORGS):
        cases.reset_library()
        outcome = case(quick, log)
        results.extend(outcome if isinstance(outcome, tuple) else (outcome,))
    cases.reset_library()
    cases.INFO[:] = cases.session_costs(quick, log)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite docs/performance.md")
    args = parser.parse_args(argv)

    isolate_environment()
    import cases
    import report

    results = run_all(quick=args.quick, log=lambda line: print(line, file=sys.stderr, flush=True))
    table = report.table(results)
    print(table)
    if not args.no_write:
        path = ROOT / "docs" / "performance.md"
        path.write_text(report.page(results, table, cases.environment()), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return 0 if all(r.passed for r in results if r.passed is not None) else 1


if __name__ == "__main__":
    sys.exit(main())
