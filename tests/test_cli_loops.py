"""A ``credential_process`` that runs ``rolesession`` resolving through itself (SPEC "Reliability
additions": "A CLI run that finds itself started by its own `credential_process` (a profile whose
source resolves through itself) exits 3 naming the profile").

End to end: a temporary AWS config whose profile's ``credential_process``
runs ``python -m rolesession`` (through ``sh``, which appends a line to a
marker file at each run so the test counts the invocations).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROLE, ROLE_B, SOURCE_KEY, SOURCE_SECRET
from rolesession.cli import loops, main
from rolesession.cli.parser import parse_args

#: Without the guard the processes fork without end; the test stops them here.
PATIENCE = 60.0


def rolesession_process(marker: Path, *args: str) -> str:
    """A ``credential_process`` value running the CLI and counting its runs in ``marker``."""
    command = shlex.join([sys.executable, "-m", "rolesession", "assume", *args, "--format",
                          "credential-process", "--no-cache"])  # fmt: skip
    return shlex.join(["sh", "-c", f"echo run >> {shlex.quote(str(marker))}; exec {command}"])


def environment(config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env.pop(loops.VARIABLE, None)
    return {**env, "AWS_CONFIG_FILE": str(config), **extra}


def run_bounded(argv: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the CLI; kill its whole process tree if it is still going after `PATIENCE`."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "rolesession", *argv], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
    done = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return done, time.monotonic() - started


def runs(marker: Path) -> int:
    return marker.read_text().count("run") if marker.exists() else 0


def test_a_profile_whose_credential_process_runs_rolesession_through_itself_exits_3(
    moto_server: str, tmp_path: Path
) -> None:
    marker = tmp_path / "runs"
    config = tmp_path / "aws-config"
    process = rolesession_process(marker, ROLE, "--sts-endpoint-url", moto_server)
    config.write_text(f"[profile x]\ncredential_process = {process}\n")
    argv = ["assume", ROLE, "--sts-endpoint-url", moto_server, "--format", "credential-process"]
    done, seconds = run_bounded(argv, environment(config, AWS_PROFILE="x"))
    assert done.returncode == 3, (done.returncode, done.stderr[-500:], runs(marker))
    [line] = done.stderr.splitlines()
    assert line.startswith("rolesession: error: profile 'x' loops")
    assert "--profile" in line and "Traceback" not in done.stderr
    assert seconds < 30
    assert 1 + runs(marker) <= 3  # this run and the one its credential_process started


def test_a_loop_through_two_profiles_exits_3_naming_the_chain(moto_server: str, tmp_path: Path) -> None:
    marker = tmp_path / "runs"
    config = tmp_path / "aws-config"
    to_x = rolesession_process(marker, ROLE, "--profile", "x", "--sts-endpoint-url", moto_server)
    to_y = rolesession_process(marker, ROLE, "--profile", "y", "--sts-endpoint-url", moto_server)
    config.write_text(f"[profile x]\ncredential_process = {to_y}\n[profile y]\ncredential_process = {to_x}\n")
    argv = ["whoami", "--profile", "x", "--sts-endpoint-url", moto_server]
    done, _ = run_bounded(argv, environment(config))
    assert done.returncode == 3, done.stderr[-500:]
    [line] = done.stderr.splitlines()
    assert "profile 'x' loops" in line and "('x' -> 'y' -> 'x')" in line
    assert 1 + runs(marker) <= 3


def test_a_credential_process_running_rolesession_with_another_profile_works(
    moto_server: str, tmp_path: Path
) -> None:
    marker = tmp_path / "runs"
    config = tmp_path / "aws-config"
    process = rolesession_process(marker, ROLE, "--profile", "base", "--sts-endpoint-url", moto_server)
    config.write_text(
        f"[profile base]\naws_access_key_id = {SOURCE_KEY}\naws_secret_access_key = {SOURCE_SECRET}\n"
        f"[profile x]\ncredential_process = {process}\n"
    )
    env = environment(config, AWS_PROFILE="x")
    done, _ = run_bounded(["whoami", ROLE_B, "--sts-endpoint-url", moto_server], env)
    assert done.returncode == 0, done.stderr
    assert ":assumed-role/Hub/" in json.loads(done.stdout)["Arn"]
    assert runs(marker) == 1

    # The command exec runs is not part of any resolution: it does not inherit the record.
    show = "import os; print(os.environ.get('ROLESESSION_RESOLVING_PROFILES'))"
    argv = ["exec", ROLE_B, "--sts-endpoint-url", moto_server, "--", sys.executable, "-c", show]
    done, _ = run_bounded(argv, env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "None"


@pytest.mark.parametrize(
    ("argv", "env", "profile"),
    [
        (["assume", ROLE, "--profile", "ops"], {}, "ops"),
        (["assume", ROLE], {"AWS_PROFILE": "dev"}, None),  # the environment's keys come first
        (["assume", ROLE], {"AWS_PROFILE": "dev", "AWS_ACCESS_KEY_ID": ""}, "dev"),
        (["assume", ROLE], {"AWS_PROFILE": "dev", "AWS_DEFAULT_PROFILE": "a", "AWS_ACCESS_KEY_ID": ""}, "a"),
        (["assume", ROLE], {"AWS_ACCESS_KEY_ID": ""}, "default"),
        (["whoami"], {"AWS_PROFILE": "dev", "AWS_ACCESS_KEY_ID": ""}, "dev"),
        (["assume", ROLE, "--web-identity-token-file", "/t"], {"AWS_ACCESS_KEY_ID": ""}, None),
    ],
)
def test_the_profile_a_run_resolves_through(
    argv: list[str], env: dict[str, str], profile: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert loops.source_profile(parse_args(argv)) == profile


def test_a_run_in_process_leaves_the_environment_as_it_found_it(
    sts_mock: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "aws-config"
    config.write_text(f"[profile ops]\naws_access_key_id = {SOURCE_KEY}\naws_secret_access_key = x\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.delenv(loops.VARIABLE, raising=False)
    assert main(["assume", ROLE, "--profile", "ops", "--no-cache"]) == 0
    assert loops.VARIABLE not in os.environ
    monkeypatch.setenv(loops.VARIABLE, "a%2Cb,c")  # a profile named "a,b", then "c"
    assert main(["assume", ROLE, "--profile", "ops", "--no-cache"]) == 0
    assert os.environ[loops.VARIABLE] == "a%2Cb,c"
    monkeypatch.setenv(loops.VARIABLE, "a%2Cb,ops")
    assert main(["assume", ROLE, "--profile", "ops", "--no-cache"]) == 3
    assert "('ops' -> 'ops')" in capsys.readouterr().err
