"""``exec`` (without an endpoint) from the file cache, without boto3 or botocore.

The command's environment is built by the one function both paths share
(`shared_files.command_environment` + `documents.environ`) and the command
runs the same way (`child.run_command`, its exit code passed through). Each
run is a fresh interpreter against a moto server on loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROLE = "arn:aws:iam::123456789012:role/FastExec"
ROLE2 = "arn:aws:iam::123456789012:role/FastExecNext"
BOTH = ["boto3", "botocore"]

RUN = (
    "import json, sys\n"
    "from rolesession.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "mods = ('boto3', 'botocore', 'argparse', 'rolesession._sources')\n"
    "print(json.dumps(sorted(m for m in mods if m in sys.modules)), file=sys.stderr)\n"
    "sys.exit(code)\n"
)

#: The command: its whole environment, and what the shared files it was given hold.
CHILD = (
    "import json, os, sys\n"
    "env = dict(os.environ)\n"
    "files = {n: open(env[n]).read() for n in ('AWS_CONFIG_FILE', 'AWS_SHARED_CREDENTIALS_FILE')}\n"
    "print(json.dumps({'env': env, 'files': files}))\n"
    "sys.exit(int(sys.argv[1]))\n"
)


def exec_cli(*argv: str, code: int = 0) -> tuple[dict[str, Any], list[str]]:
    """``rolesession exec ARGV -- python CHILD code``: what the command saw, and which heavy modules ran."""
    done = subprocess.run(
        [sys.executable, "-c", RUN, "exec", *argv, "--", sys.executable, "-c", CHILD, str(code)],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == code, done.stderr
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    seen: dict[str, Any] = json.loads(done.stdout)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):  # a new private directory per run
        assert Path(seen["env"].pop(name)).name in ("config", "credentials")
    return seen, loaded


@pytest.mark.parametrize(
    ("roles", "options"),
    [
        pytest.param((ROLE,), (), id="one-role"),
        pytest.param((ROLE,), ("--region", "eu-west-1", "--session-name", "fx"), id="region"),
        pytest.param((ROLE, ROLE2), ("--duration", "1h"), id="chain"),
    ],
)
def test_the_command_sees_the_same_environment_through_both_paths(
    moto_server: str, roles: tuple[str, ...], options: tuple[str, ...]
) -> None:
    argv = (*roles, "--sts-endpoint-url", moto_server, *options)
    full, loaded = exec_cli(*argv)
    assert set(BOTH) <= set(loaded)  # nothing cached yet
    cached, loaded = exec_cli(*argv)
    assert loaded == []  # the hand-out memo: no parser, no parameter table, no boto3
    assert cached == full
    memo_files = [p for p in cache_directory().glob("*.json") if "HandOut" in p.read_text(encoding="utf-8")]
    for path in memo_files:
        path.unlink()
    again, loaded = exec_cli(*argv)  # no memo: the keys computed again after parsing, still no boto3
    assert loaded == ["argparse", "rolesession._sources"]
    assert again == full
    assert full["env"]["AWS_ACCESS_KEY_ID"] != os.environ["AWS_ACCESS_KEY_ID"]  # the role's, not the source's


def cache_directory() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "rolesession"


def test_the_commands_exit_code_is_passed_through(moto_server: str) -> None:
    exec_cli(ROLE, "--sts-endpoint-url", moto_server, code=3)
    _, loaded = exec_cli(ROLE, "--sts-endpoint-url", moto_server, code=7)
    assert loaded == []


def test_a_missing_command_on_the_cached_path_exits_5_as_on_the_full_path(moto_server: str) -> None:
    argv = [sys.executable, "-m", "rolesession", "exec", ROLE, "--sts-endpoint-url", moto_server]

    def missing() -> subprocess.CompletedProcess[str]:
        command = [*argv, "--", "/nonexistent/program"]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    runs = [missing()]  # the full path (nothing cached)
    exec_cli(ROLE, "--sts-endpoint-url", moto_server)  # writes the memo
    runs.append(missing())  # the memo's path
    assert [r.returncode for r in runs] == [5, 5]
    assert runs[0].stderr == runs[1].stderr and "command not found" in runs[0].stderr


def test_the_command_after_the_dashes_is_not_in_the_memo_key(moto_server: str) -> None:
    exec_cli(ROLE, "--sts-endpoint-url", moto_server, code=0)
    _, loaded = exec_cli(ROLE, "--sts-endpoint-url", moto_server, code=4)  # another command line
    assert loaded == []


def test_what_assume_cached_serves_exec_too(moto_server: str) -> None:
    """One key for both commands: entries ``assume`` wrote are ``exec``'s."""
    done = subprocess.run(
        [sys.executable, "-m", "rolesession", "assume", ROLE, "--sts-endpoint-url", moto_server,
         "--format", "json"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    seen, loaded = exec_cli(ROLE, "--sts-endpoint-url", moto_server)
    assert "boto3" not in loaded and "botocore" not in loaded  # (exec's own memo comes after this run)
    assert seen["env"]["AWS_ACCESS_KEY_ID"] == json.loads(done.stdout)["AccessKeyId"]


def test_with_a_shared_config_file_the_full_path_runs_and_the_command_sees_the_same(
    moto_server: str,
) -> None:
    """The profile's settings are read as botocore reads them: with a file there, botocore is loaded."""
    exec_cli(ROLE, "--sts-endpoint-url", moto_server, "--region", "us-east-1")
    Path(os.environ["AWS_CONFIG_FILE"]).write_text("[default]\nretry_mode = standard\n", encoding="utf-8")
    seen, loaded = exec_cli(ROLE, "--sts-endpoint-url", moto_server, "--region", "us-east-1")
    assert "botocore" in loaded
    assert "retry_mode = standard" in seen["files"]["AWS_CONFIG_FILE"]


@pytest.mark.parametrize("endpoint", ["--server", "--imds"])
def test_an_endpoint_takes_the_full_path(moto_server: str, endpoint: str) -> None:
    exec_cli(ROLE, "--sts-endpoint-url", moto_server)
    done = subprocess.run(
        [sys.executable, "-c", RUN, "exec", ROLE, "--sts-endpoint-url", moto_server, endpoint, "--", "true"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert set(BOTH) <= set(json.loads(done.stderr.strip().splitlines()[-1]))
