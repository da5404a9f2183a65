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
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _isolate_environment() -> None:
    """Fake source credentials, no AWS config files, a private cache directory."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    scratch = tempfile.mkdtemp(prefix="rolesession-bench-")
    os.environ.update(
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.path.join(scratch, "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(scratch, "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        XDG_CACHE_HOME=os.path.join(scratch, "cache"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (smoke run)")
    parser.add_argument("--no-write", action="store_true", help="do not rewrite docs/performance.md")
    args = parser.parse_args(argv)

    _isolate_environment()
    sys.path.insert(0, str(HERE))
    import cases  # after the environment is set: it imports moto, boto3, rolesession
    import report

    results = cases.run_all(quick=args.quick, log=lambda line: print(line, file=sys.stderr, flush=True))
    table = report.table(results)
    print(table)
    if not args.no_write:
        path = ROOT / "docs" / "performance.md"
        path.write_text(report.page(results, table, cases.environment()), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return 0 if all(r.passed for r in results if r.passed is not None) else 1


if __name__ == "__main__":
    sys.exit(main())
