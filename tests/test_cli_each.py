"""``rolesession each``: one real child per (account, region) against a moto server on loopback."""

from __future__ import annotations

import json
import sys
import textwrap
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from rolesession.cli import main

CHILD = textwrap.dedent(
    """
    import os, boto3
    identity = boto3.client("sts").get_caller_identity()
    print(identity["Account"], os.environ["AWS_REGION"], identity["Arn"].split("/")[1])
    """
)


@pytest.fixture
def org(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A fresh organization of three member accounts (one suspended) on the moto server."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).close()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    names = {}
    for n in range(3):
        account = client.create_account(AccountName=f"team-{n}", Email=f"t{n}@example.com")
        names[account["CreateAccountStatus"]["AccountId"]] = f"team-{n}"
    suspended = sorted(names)[2]
    client.close_account(AccountId=suspended)
    del names[suspended]
    master = client.describe_organization()["Organization"]["MasterAccountId"]
    names[master] = client.describe_account(AccountId=master)["Account"]["Name"]
    return names


def _child(tmp_path: Path) -> str:
    script = tmp_path / "who.py"
    script.write_text(CHILD)
    return str(script)


def test_each_runs_once_per_account_and_region_with_json_lines(
    org: dict[str, str], tmp_path: Path, capsys: Any
):
    argv = ["each", "--role", "Auditor", "--org", "--regions", "eu-west-1,us-east-2", "--format", "json"]
    code = main([*argv, "--", sys.executable, _child(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    records = [json.loads(line) for line in captured.out.splitlines()]
    got = sorted(
        (r["account"], r["account_name"], r["region"], r["status"], r["stdout"].split()[:2]) for r in records
    )
    want = sorted((a, n, g, 0, [a, g]) for a, n in org.items() for g in ("eu-west-1", "us-east-2"))
    assert got == want
    assert all(r["stdout"].split()[2] == "Auditor" and r["seconds"] >= 0 for r in records)
    assert "6 succeeded, 0 failed" in captured.err


def test_each_text_output_is_prefixed_and_a_failure_fails_the_whole(
    org: dict[str, str], tmp_path: Path, capsys
):
    accounts = tmp_path / "accounts.txt"
    chosen = sorted(org)[:2]
    accounts.write_text(f"# two accounts\n{chosen[0]}\n{chosen[1]}\n")
    script = tmp_path / "fail_one.py"
    script.write_text(CHILD + f"\nimport sys\nsys.exit(3 if identity['Account'] == '{chosen[1]}' else 0)\n")
    code = main(["each", "--role", "Auditor", "--accounts", f"@{accounts}", "--regions", "eu-west-1", "--",
                 sys.executable, str(script)])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    assert sorted(captured.out.splitlines()) == sorted(
        f"{a} eu-west-1 | {a} eu-west-1 Auditor" for a in chosen
    )
    assert f"1 succeeded, 1 failed: {chosen[1]} eu-west-1" in captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ["each", "--role", "R", "--", "true"],
        ["each", "--role", "R", "--org", "--accounts", "123456789012", "--", "true"],
        ["each", "--role", "R", "--accounts", "12345", "--", "true"],
        ["each", "--role", "R", "--accounts", "123456789012"],
        ["each", "--role", "R", "--accounts", "123456789012", "--ou", "ou-ab12-cdefgh12", "--", "true"],
    ],
)
def test_each_usage_errors_exit_2(argv: list[str], capsys: Any) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().out == ""


def test_ctrl_c_starts_no_new_run_and_forwards_the_signal(moto_server: str, tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import time

    started = tmp_path / "started"
    child = tmp_path / "slow.py"
    child.write_text(
        "import pathlib, sys, time\n"
        f"with open({str(started)!r}, 'a') as f: f.write('x')\n"
        "try:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    sys.exit(42)\n"
    )
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_server}
    argv = [
        "each",
        "--role",
        "R",
        "--accounts",
        "111111111111,222222222222,333333333333",
        "--max-workers",
        "1",
    ]
    parent = subprocess.Popen(
        [sys.executable, "-m", "rolesession", *argv, "--", sys.executable, str(child)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # the child is in its sleep
    parent.send_signal(signal.SIGINT)  # to the parent alone, not its process group
    _, err = parent.communicate(timeout=30)
    assert parent.returncode == 130, err
    assert started.read_text() == "x"  # no second run was started
    assert "(interrupted)" in err and "1 failed" in err  # the running one got SIGINT and exited 42
