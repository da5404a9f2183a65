"""``--profile NAME`` naming a role profile (SPEC "Profiles and MFA sessions", CLI).

The profile is resolved by ``from_profile`` (its keys decide how its role is
assumed), ``ROLE_ARN``s chain on from it, and with none its role is the
result. The MFA session it may go through is kept in the file cache and
shared by every CLI process: proven with separate ``python -m rolesession``
processes against the loopback moto server and an ``mfa_process`` that counts
its runs. The recursion guard records the profile whose credentials botocore
resolves -- the root of the walk.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import rolesession
import rolesession.testing
from helpers import ROLE, ROLE_B
from rolesession.cli import commands, loops, main, secret_commands
from rolesession.cli.commands import build_session, command_holding, container_credentials
from rolesession.cli.parser import parse_args
from rolesession.testing import StsRecorder as StsSpy

BASE_KEY = "AKIABASEPROFILEKEY01"
BASE_SECRET = "base-secret-base-secret-base-secret-1234"
MFA = "arn:aws:iam::123456789012:mfa/alice"
BASE_CREDENTIALS = f"[base]\naws_access_key_id = {BASE_KEY}\naws_secret_access_key = {BASE_SECRET}\n"
#: Without the recursion guard the processes fork without end; the test stops them here.
PATIENCE = 60.0


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str, credentials: str = "") -> Path:
    (tmp_path / "config").write_text(config)
    (tmp_path / "credentials").write_text(credentials)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    return tmp_path / "config"


def in_process(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assume_roles(calls: StsSpy) -> list[dict[str, Any]]:
    return [call.params for call in calls.calls if call.operation == "AssumeRole"]


def cli(*argv: str, stdin: Any = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rolesession", *argv],
        capture_output=True, text=True, timeout=120, stdin=stdin, check=False,
    )  # fmt: skip


def counting_command(tmp_path: Path, code: str = "123456") -> tuple[str, Path]:
    """A command line printing an MFA code, appending a line to a counter file at each run."""
    counter = tmp_path / "codes-asked"
    script = tmp_path / "mfa.py"
    script.write_text(
        f"with open({str(counter)!r}, 'a') as f:\n    f.write('asked\\n')\nprint('AWS:alice  {code}')\n"
    )
    return shlex.join([sys.executable, str(script)]), counter


def asked(counter: Path) -> int:
    return counter.read_text().count("asked") if counter.exists() else 0


# -- a role profile, resolved by from_profile -------------------------------------------------------


PROD = f"""
[profile prod]
role_arn = {ROLE}
source_profile = base
role_session_name = prod-session
external_id = partner-7
duration_seconds = 1800
source_identity = alice
session_tags = team=data
region = eu-west-1
"""


def test_a_role_profile_is_assumed_as_its_keys_say_and_role_arns_chain_on_from_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sts_mock: None, sts_calls: StsSpy,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    write_config(tmp_path, monkeypatch, PROD, BASE_CREDENTIALS)
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # it would beat the profile's region, as in botocore
    argv = ["assume", "--profile", "prod", ROLE_B, "--duration", "900", "--tag", "env=prod",
            "--session-name", "ops-cli", "--format", "json", "--no-cache"]  # fmt: skip
    code, out, err = in_process(capsys, *argv)
    assert code == 0, err
    assert set(json.loads(out)) == {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    profile_hop, last_hop = assume_roles(sts_calls)
    assert profile_hop["RoleArn"] == ROLE and profile_hop["RoleSessionName"] == "prod-session"
    assert profile_hop["ExternalId"] == "partner-7" and profile_hop["DurationSeconds"] == 1800
    assert profile_hop["SourceIdentity"] == "alice"
    assert profile_hop["Tags"] == [{"Key": "team", "Value": "data"}]
    # The options of the last hop and of every hop reach the ROLE_ARN after the profile's role.
    assert last_hop["RoleArn"] == ROLE_B and last_hop["RoleSessionName"] == "ops-cli"
    assert last_hop["DurationSeconds"] == 900 and last_hop["Tags"] == [{"Key": "env", "Value": "prod"}]
    assert "ExternalId" not in last_hop and "SourceIdentity" not in last_hop

    session = build_session(parse_args(argv))
    assert session.role_arn == ROLE_B and session.region_name == "eu-west-1"  # the profile's region
    profile_session = session.parent
    assert isinstance(profile_session, rolesession.RoleSession) and profile_session.role_arn == ROLE
    source = profile_session.parent  # the profile's source_profile signs its role
    assert source is not None and source.get_credentials().access_key == BASE_KEY


def test_without_a_role_arn_the_profiles_role_is_the_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sts_mock: None, sts_calls: StsSpy,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    write_config(tmp_path, monkeypatch, PROD, BASE_CREDENTIALS)
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # it would beat the profile's region, as in botocore
    code, out, err = in_process(capsys, "assume", "--profile", "prod", "--format", "env", "--no-cache")
    assert code == 0, err
    exported = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    assert exported["AWS_ACCESS_KEY_ID"].startswith("ASIA") and exported["AWS_REGION"] == "eu-west-1"
    assert [p["RoleArn"] for p in assume_roles(sts_calls)] == [ROLE]

    # whoami prints the role's identity, not the source's.
    code, out, err = in_process(capsys, "whoami", "--profile", "prod", "--no-cache")
    assert code == 0, err
    assert json.loads(out)["Arn"] == "arn:aws:sts::123456789012:assumed-role/Reader/prod-session"

    # exec runs the command with the role's credentials.
    seen = tmp_path / "seen"
    show = f"import os; open({str(seen)!r}, 'w').write(os.environ['AWS_ACCESS_KEY_ID'])"
    code, _, err = in_process(capsys, "exec", "--profile", "prod", "--", sys.executable, "-c", show)
    assert code == 0, err
    assert seen.read_text().startswith("ASIA") and seen.read_text() != BASE_KEY

    # --region and --sts-endpoint-url override the profile's.
    code, out, err = in_process(capsys, "assume", "--profile", "prod", "--region", "us-west-2", "--no-cache")
    assert code == 0, err
    assert "export AWS_REGION=us-west-2" in out.splitlines()


def test_a_profile_without_a_role_is_the_source_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sts_mock: None, sts_calls: StsSpy,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    write_config(tmp_path, monkeypatch, PROD, BASE_CREDENTIALS)
    session = build_session(parse_args(["assume", ROLE_B, "--profile", "base", "--no-cache"]))
    assert session.parent is not None and session.parent.get_credentials().access_key == BASE_KEY
    assert not isinstance(session.parent, rolesession.RoleSession)

    # With no ROLE_ARN, the profile's own credentials (what the default chain finds in it).
    code, out, err = in_process(capsys, "assume", "--profile", "base", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["AccessKeyId"] == BASE_KEY
    assert sts_calls.count() == 0


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (["--duration", "900"], "duration_seconds"),  # the profile's role takes its values from the profile
        (["--session-name", "x"], "--session-name applies to a ROLE_ARN chained after"),
        (["--tag", "a=b"], "--tag"),
        (["--mfa-serial", MFA], "--mfa-serial does not apply with --profile prod"),
        ([ROLE_B, "--mfa-serial", MFA], "--mfa-serial does not apply"),
        (["--web-identity-token-file", "/t"], "--web-identity-token-file"),
    ],
)
def test_options_a_role_profile_decides_itself_are_usage_errors(
    argv: list[str], mentions: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sts_calls: StsSpy,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    write_config(tmp_path, monkeypatch, PROD, BASE_CREDENTIALS)
    code, out, err = in_process(capsys, "assume", "--profile", "prod", *argv)
    assert (code, out) == (2, "")
    assert mentions in err and err.count("\n") == 1
    assert sts_calls.count() == 0


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (PROD.replace("= 1800", "= soon"), "[profile prod] duration_seconds"),
        (PROD.replace("= 1800", "= 60"), "[profile prod] duration_seconds"),
        (PROD.replace("source_profile = base", "source_profile = prod"), "[profile prod] source_profile"),
        (PROD.replace("session_tags = team=data", "session_tags = team"), "[profile prod] session_tags"),
    ],
)
def test_an_invalid_profile_exits_2_naming_the_profile_and_key(
    config: str, named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sts_calls: StsSpy,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    write_config(tmp_path, monkeypatch, config, BASE_CREDENTIALS)
    code, out, err = in_process(capsys, "assume", "--profile", "prod", "--no-cache")
    assert (code, out) == (2, "")
    assert err.startswith(f"rolesession: error: {named}: ") and err.count("\n") == 1
    assert sts_calls.count() == 0


# -- MFA: one code, shared by every CLI process ------------------------------------------------------


def mfa_config(tmp_path: Path, mfa_process: str | None) -> str:
    lines = [f"[profile prod]\nrole_arn = {ROLE}\nsource_profile = base\nmfa_serial = {MFA}\n"]
    if mfa_process is not None:
        lines.append(f"mfa_process = {mfa_process}\n")
    lines.append(f"[profile other]\nrole_arn = {ROLE_B}\nsource_profile = base\nmfa_serial = {MFA}\n")
    if mfa_process is not None:
        lines.append(f"mfa_process = {mfa_process}\n")
    return "".join(lines)


def test_the_mfa_session_is_asked_for_once_and_shared_by_separate_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_server: str
) -> None:
    command, counter = counting_command(tmp_path)
    write_config(tmp_path, monkeypatch, mfa_config(tmp_path, command), BASE_CREDENTIALS)
    argv = ["assume", "--profile", "prod", "--sts-endpoint-url", moto_server, "--format", "json"]
    first, second = cli(*argv), cli(*argv)
    assert first.returncode == 0 and second.returncode == 0, (first.stderr, second.stderr)
    assert asked(counter) == 1  # the second process found the MFA session (and the role) cached
    creds = json.loads(first.stdout)
    assert creds["AccessKeyId"].startswith("ASIA") and json.loads(second.stdout) == creds

    # Another role from the same MFA device: the cached MFA session signs it, no code.
    other = cli("assume", "--profile", "other", "--sts-endpoint-url", moto_server, "--format", "json")
    assert other.returncode == 0, other.stderr
    assert json.loads(other.stdout)["AccessKeyId"] != creds["AccessKeyId"]
    assert asked(counter) == 1

    # With the cache off, the code is asked again.
    assert cli(*argv, "--no-cache").returncode == 0
    assert asked(counter) == 2


def test_processes_starting_together_ask_for_one_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_server: str
) -> None:
    command, counter = counting_command(tmp_path)
    write_config(tmp_path, monkeypatch, mfa_config(tmp_path, command), BASE_CREDENTIALS)
    argv = [sys.executable, "-m", "rolesession", "assume", "--profile", "prod",
            "--sts-endpoint-url", moto_server, "--format", "json"]  # fmt: skip
    pipe, devnull = subprocess.PIPE, subprocess.DEVNULL
    processes = [subprocess.Popen(argv, stdout=pipe, stderr=pipe, stdin=devnull, text=True) for _ in range(4)]
    results = [(p.communicate(timeout=120), p.returncode) for p in processes]
    assert all(code == 0 for _, code in results), [err for (_, err), _ in results]
    assert asked(counter) == 1
    assert len({json.loads(out)["AccessKeyId"] for (out, _), _ in results}) == 1


def test_mfa_command_stands_for_the_profiles_mfa_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_server: str
) -> None:
    process, by_profile = counting_command(tmp_path)
    (tmp_path / "cli").mkdir()
    given, by_option = counting_command(tmp_path / "cli", "654321")
    write_config(tmp_path, monkeypatch, mfa_config(tmp_path, process), BASE_CREDENTIALS)
    done = cli("assume", "--profile", "prod", "--mfa-command", given, "--sts-endpoint-url", moto_server)
    assert done.returncode == 0, done.stderr
    assert (asked(by_option), asked(by_profile)) == (1, 0)


def test_without_a_terminal_or_command_the_code_is_needed_only_when_sts_is_called(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_server: str
) -> None:
    write_config(tmp_path, monkeypatch, mfa_config(tmp_path, None), BASE_CREDENTIALS)
    argv = ["assume", "--profile", "prod", "--sts-endpoint-url", moto_server, "--format", "json"]
    missing = cli(*argv)
    assert missing.returncode == 5 and missing.stdout == ""
    [line] = missing.stderr.splitlines()
    assert "needs an MFA code for " + MFA in line and "--mfa-command" in line and "mfa_process" in line

    command, counter = counting_command(tmp_path)
    assert cli(*argv, "--mfa-command", command).returncode == 0
    cached = cli(*argv)  # the cached MFA session serves: no code needed
    assert cached.returncode == 0, cached.stderr
    assert asked(counter) == 1


class NotATerminal:
    def isatty(self) -> bool:
        return False


def test_without_a_terminal_a_cached_mfa_session_serves_to_its_end_without_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frozen: Any, sts_mock: None, sts_calls: StsSpy,
    log_records: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    write_config(tmp_path, monkeypatch, mfa_config(tmp_path, None), BASE_CREDENTIALS)
    command, counter = counting_command(tmp_path)
    build_session(parse_args(["assume", "--profile", "prod", "--mfa-command", command])).identity()
    assert asked(counter) == 1 and sts_calls.count("GetSessionToken") == 1

    monkeypatch.setattr(sys, "stdin", NotATerminal())
    rolesession.testing.reset()  # a new process: only the file cache remains
    frozen.tick(43200 - 30 * 60)  # the MFA session is in its last half hour: due for renewal
    later = build_session(parse_args(["assume", "--profile", "prod"]))
    assert later.get_credentials().get_frozen_credentials().access_key.startswith("ASIA")
    mfa = later.parent
    assert isinstance(mfa, rolesession.RoleSession) and mfa.role_arn is None
    mfa.get_credentials().wait_for_background(10)
    # No code can be had, so no renewal is tried in the background (it could only fail and warn).
    assert [r.getMessage() for r in log_records.records if r.levelno >= logging.WARNING] == []
    assert sts_calls.count("GetSessionToken") == 1

    rolesession.testing.reset()
    frozen.tick(31 * 60)  # the MFA session has ended: now a code is needed, and asked for
    with pytest.raises(rolesession.TokenError, match="--mfa-command"):
        build_session(parse_args(["assume", "--profile", "prod"])).get_credentials().get_frozen_credentials()


class FakeTerminal:
    def isatty(self) -> bool:
        return True


def test_the_prompt_never_interrupts_a_command_holding_valid_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frozen: Any, sts_mock: None, sts_calls: StsSpy
) -> None:
    prompts: list[str] = []

    def getpass(prompt: str) -> str:
        prompts.append(threading.current_thread().name)
        return "123456"

    monkeypatch.setattr(sys, "stdin", FakeTerminal())
    monkeypatch.setattr(secret_commands.getpass, "getpass", getpass)
    write_config(tmp_path, monkeypatch, mfa_config(tmp_path, None), BASE_CREDENTIALS)
    session = build_session(parse_args(["exec", "--profile", "prod", "--no-cache", "--", "true"]))
    first = commands.hand_out(session, wait=True)  # before the command starts: asked here
    assert len(prompts) == 1 and sts_calls.count("GetSessionToken") == 1
    assert sts_calls.params(0)["TokenCode"] == "123456"
    with command_holding(session):
        frozen.tick(43200 - 10 * 60)  # the role expired long ago; the MFA session has 10 minutes left
        assert container_credentials(session)["AccessKeyId"] != first.access_key
        frozen.tick(50 * 60)  # the MFA session expired; the role has 10 minutes left
        container_credentials(session)
        session.get_credentials().wait_for_background(10)
        assert len(prompts) == 1  # the role's background refresh did not ask over the command

        frozen.tick(11 * 60)  # now the command holds nothing valid: asking is the only way
        container_credentials(session)
    assert len(prompts) == 2 and prompts[1] != "rolesession-refresh"
    assert sts_calls.count("GetSessionToken") == 2


# -- the recursion guard records the root of the walk ---------------------------------------------


def test_the_guard_records_the_profile_botocore_resolves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(
        tmp_path,
        monkeypatch,
        PROD
        + f"[profile top]\nrole_arn = {ROLE_B}\nsource_profile = prod\n"
        + f"[profile ec2]\nrole_arn = {ROLE_B}\ncredential_source = Ec2InstanceMetadata\n",
        BASE_CREDENTIALS,
    )
    roots = {"top": "base", "prod": "base", "base": "base", "ec2": None, "nope": "nope"}
    for profile, root in roots.items():
        assert loops.source_profile(parse_args(["assume", "--profile", profile])) == root
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.setenv("AWS_PROFILE", "top")
    assert loops.source_profile(parse_args(["assume", ROLE])) == "base"


PROD_FROM_BASE = f"[profile prod]\nrole_arn = {ROLE}\nsource_profile = base\n"


def rolesession_process(marker: Path, *args: str) -> str:
    """A ``credential_process`` value running the CLI and counting its runs in ``marker``."""
    command = shlex.join([sys.executable, "-m", "rolesession", "assume", *args, "--format",
                          "credential-process", "--no-cache"])  # fmt: skip
    return shlex.join(["sh", "-c", f"echo run >> {shlex.quote(str(marker))}; exec {command}"])


@pytest.mark.parametrize("back_to", ["prod", "base"])
def test_a_role_profile_whose_source_runs_rolesession_back_through_it_exits_3(
    back_to: str, moto_server: str, tmp_path: Path
) -> None:
    marker = tmp_path / "runs"
    config = tmp_path / "aws-config"
    process = rolesession_process(marker, ROLE_B, "--profile", back_to, "--sts-endpoint-url", moto_server)
    config.write_text(f"{PROD_FROM_BASE}[profile base]\ncredential_process = {process}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env.pop(loops.VARIABLE, None)
    env["AWS_CONFIG_FILE"] = str(config)
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "rolesession", "assume", "--profile", "prod", "--sts-endpoint-url",
         moto_server],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        out, err = child.communicate(timeout=PATIENCE)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        out, err = child.communicate()
    runs = marker.read_text().count("run") if marker.exists() else 0
    assert child.returncode == 3, (child.returncode, err[-500:], runs)
    [line] = err.splitlines()
    assert line.startswith("rolesession: error: profile 'base' loops") and "('base' -> 'base')" in line
    assert "--profile" in line and "Traceback" not in err and out == ""
    assert time.monotonic() - started < 30
    assert runs == 1  # the credential_process child refused at once


def test_a_role_profile_whose_source_runs_rolesession_with_real_credentials_works(
    moto_server: str, tmp_path: Path
) -> None:
    marker = tmp_path / "runs"
    config = tmp_path / "aws-config"
    process = rolesession_process(marker, ROLE_B, "--profile", "keys", "--sts-endpoint-url", moto_server)
    config.write_text(
        f"{PROD_FROM_BASE}[profile base]\ncredential_process = {process}\n"
        f"[profile keys]\naws_access_key_id = {BASE_KEY}\naws_secret_access_key = {BASE_SECRET}\n"
    )
    env = dict(os.environ, AWS_CONFIG_FILE=str(config))
    env.pop(loops.VARIABLE, None)
    done = subprocess.run(
        [sys.executable, "-m", "rolesession", "whoami", "--profile", "prod", "--sts-endpoint-url",
         moto_server],
        env=env, capture_output=True, text=True, timeout=PATIENCE, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/Reader/")
    assert marker.read_text().count("run") == 1
