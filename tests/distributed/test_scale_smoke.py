"""benchmarks/scale.py keeps working: a small run of the 10,000-account benchmark.

It needs no engine (fan_out's own thread pool), so it runs in every venv.
The full run (``python benchmarks/scale.py``) takes minutes and is not a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from distsupport import ROOT

ACCOUNTS = 200


def test_scale_benchmark_small_run(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--accounts", str(ACCOUNTS)]
    command += ["--modes", "default,adaptive-10", "--adaptive-accounts", "5"]
    command += ["--no-write", "--json", str(out)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| retries (`sts_config`)" in done.stdout  # the table
    standard, adaptive = json.loads(out.read_text())
    for row, accounts in ((standard, ACCOUNTS), (adaptive, 5)):
        sts = row["sts"]
        assert row["accounts"] == accounts and row["in_order"]  # every entry has its result, in order
        assert row["ok"] + sum(row["errors"].values()) == accounts
        # Every AssumeRole beyond one per account answered a throttle (and only those).
        assert sts["assume_role"] == accounts + sts["assume_role_retries"]
        assert sts["assume_role_retries"] <= sts["assume_role_throttled"]
        # The registry is bounded, and nothing but the registry keeps sessions alive.
        assert row["sessions_alive_after_gc"] <= row["registry_sessions"] <= 4096
        assert row["sessions_alive_without_registry"] == 0
    # 20 % throttled: 10 attempts absorb it (a failure would need 10 throttles in a row: p = 1e-7).
    assert standard["sts"]["throttle"] == 0.2 and standard["sts"]["assume_role_throttled"] > 0
    assert standard["ok"] == ACCOUNTS
