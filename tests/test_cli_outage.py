"""``rolesession assume`` runs share an STS outage through the file cache (``cli/failures.py``).

As a ``credential_process`` every ``aws`` command is a new run: without a
shared failure, each would wait out botocore's retries against a dead STS
(about 16 s) and call it again. The first run to fail leaves a marker with
its backoff; the others fail fast with the same line and exit code, and
when the backoff lapses one run per step calls STS.

Runs are separate processes in the concurrency test; elsewhere ``main()``
is called in process with `rolesession.testing.reset()` between runs (a
new process's state) under the ``frozen`` clock.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import ROLE, LocalSts
from rolesession.cli import main
from rolesession.cli.failures import FIRST_BACKOFF, MAX_BACKOFF, REFUSAL_FOR
from rolesession.testing import StsRecorder, reset


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """One run of ``rolesession assume``, as a new process would make it."""
    reset()
    code = main(["assume", ROLE, "--format", "credential-process", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def markers() -> list[Path]:
    directory = Path(os.environ["XDG_CACHE_HOME"]) / "rolesession"
    return sorted(directory.glob("*.failure")) if directory.exists() else []


def marker() -> dict[str, Any]:
    [path] = markers()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    return json.loads(path.read_text())  # type: ignore[no-any-return]


def test_during_an_outage_one_run_per_backoff_step_calls_sts(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    sts_calls.outage()
    code, out, err = run(capsys)
    assert code == 5 and out == ""
    calls = sts_calls.count()
    assert calls >= 1
    assert marker()["Step"] == 0 and FIRST_BACKOFF / 2 <= marker()["Until"] - time.time() <= FIRST_BACKOFF

    for _ in range(10):  # within the backoff: the same line, at once, calling nothing
        assert run(capsys) == (5, "", err)
    assert sts_calls.count() == calls

    steps = []
    for _ in range(8):  # each lapse lets one run through, and the backoff grows to its cap
        frozen.tick(MAX_BACKOFF + 1)
        assert run(capsys)[0] == 5
        steps.append(marker()["Until"] - time.time())
        assert run(capsys)[0] == 5  # the next run fails fast again
    assert sts_calls.count() == calls * 9
    assert steps[-1] <= MAX_BACKOFF and steps[-1] >= MAX_BACKOFF / 2 and steps[0] <= 2 * FIRST_BACKOFF

    sts_calls.fail_with(None)  # STS is back: the next run after the backoff succeeds, the marker goes
    frozen.tick(MAX_BACKOFF + 1)
    code, out, _ = run(capsys)
    assert code == 0 and json.loads(out)["AccessKeyId"].startswith("ASIA")
    assert markers() == []


def test_a_refusal_is_shared_briefly_and_never_grows(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    sts_calls.refuse("AccessDenied", "not authorized to perform sts:AssumeRole")
    code, _, err = run(capsys)
    assert code == 4 and "AccessDenied" in err
    assert run(capsys) == (4, "", err)
    assert sts_calls.count() == 1
    for _ in range(3):
        frozen.tick(REFUSAL_FOR + 1)
        assert run(capsys)[0] == 4
        assert marker()["Until"] - time.time() == pytest.approx(REFUSAL_FOR)
    assert sts_calls.count() == 4


def test_no_cache_shares_nothing(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    sts_calls.outage()
    assert run(capsys, "--no-cache")[0] == 5
    calls = sts_calls.count()
    assert run(capsys, "--no-cache")[0] == 5
    assert sts_calls.count() == 2 * calls and markers() == []


def test_a_failed_refresh_is_shared_and_the_valid_credentials_handed_out(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys)
    first = json.loads(out)
    frozen.tick(3000)  # 10 minutes left: each run would try a refresh first
    sts_calls.outage()
    code, out, _ = run(capsys)
    assert code == 0 and json.loads(out) == first
    calls = sts_calls.count()
    assert marker()["ValidUntil"] is not None
    for _ in range(5):  # the other runs hand out the cached set without trying
        code, out, _ = run(capsys)
        assert code == 0 and json.loads(out) == first
    assert sts_calls.count() == calls


def test_other_requests_have_markers_of_their_own(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    sts_calls.refuse("AccessDenied", roles=[ROLE])
    assert run(capsys)[0] == 4
    code = main(["assume", "arn:aws:iam::123456789012:role/Other", "--format", "json"])
    capsys.readouterr()
    assert code == 0


def test_concurrent_runs_after_a_lapse_make_one_attempt(tmp_path: Path) -> None:
    with LocalSts() as sts:
        sts.faults = [(503, "ServiceUnavailable")] * 10_000
        argv = [sys.executable, "-m", "rolesession", "assume", ROLE, "--sts-endpoint-url", sts.url,
                "--format", "credential-process"]  # fmt: skip
        first = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert first.returncode == 4 and "ServiceUnavailable" in first.stderr
        per_run = len(sts.requests)  # botocore's own retries
        assert per_run >= 1
        path = markers()[0]
        lapsed = {**json.loads(path.read_text()), "Until": time.time() - 1}
        path.write_text(json.dumps(lapsed))
        runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(6)]  # fmt: skip
        results = [(p.wait(120), p.stderr.read()) for p in runs if p.stderr is not None]
        assert all(code == 4 for code, _ in results)
        assert all(err == first.stderr for _, err in results), results
        assert len(sts.requests) == 2 * per_run  # one of the six called STS
        assert json.loads(path.read_text())["Step"] == 1


def test_no_marker_in_a_directory_that_is_not_private(tmp_path: Path) -> None:
    from rolesession import FileCache
    from rolesession.cli.failures import Marker, SharedFailures

    directory = tmp_path / "cache"
    cache = FileCache(directory)
    key = "a" * 64
    shared = SharedFailures(cache, key)
    shared.write(Marker("STS could not be reached", 5, time.time() + 5, 0))
    assert shared.read() is not None and stat.S_IMODE((directory / f"{key}.failure").stat().st_mode) == 0o600
    shared.delete()
    directory.chmod(0o755)  # readable by others: markers are neither written nor believed
    loose = SharedFailures(cache, key)
    loose.write(Marker("STS could not be reached", 5, time.time() + 5, 0))
    assert not (directory / f"{key}.failure").exists() and loose.read() is None


def test_only_sts_failures_are_shared(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    # A failing MFA command says nothing about the next run's: no marker, the next run tries.
    mfa = ["--mfa-serial", "arn:aws:iam::123456789012:mfa/alice", "--mfa-command", "false"]
    assert run(capsys, *mfa)[0] == 5
    assert markers() == [] and sts_calls.count() == 0
    assert run(capsys, *mfa)[0] == 5
    assert markers() == []
