"""The ``rolesession`` command line: formats, chaining, options, caching, exit codes, exec, demo.

Most tests run the CLI as a user does -- ``python -m rolesession`` in a
subprocess against the loopback moto server -- with the environment the
``aws_env`` fixture prepared (fake source keys, a private ``XDG_CACHE_HOME``).
Tests that must see the STS parameters or move the clock call ``main()`` in
process with the ``sts_calls`` spy.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest

import rolesession
import rolesession.cli
from helpers import (
    ACCOUNT,
    ENV_NAMES,
    OTHER_ACCOUNT,
    ROLE,
    ROLE_B,
    ROLE_C,
    SOURCE_KEY,
    THIRD_ACCOUNT,
    to_epoch,
)
from rolesession import SecretCommandError, mfa_from_command
from rolesession._secret_commands import last_mfa_code
from rolesession.cli import main
from rolesession.cli.commands import build_session
from rolesession.cli.parser import parse_args
from rolesession.testing import StsRecorder
from tokens import make_saml_response

CREDENTIAL_FIELDS = {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
MFA_SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
SAML_PROVIDER = f"arn:aws:iam::{ACCOUNT}:saml-provider/CorporateIdP"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rolesession", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def assume_json(url: str, *args: str) -> dict[str, str]:
    done = cli("assume", *args, "--sts-endpoint-url", url, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def caller_arn(url: str, creds: dict[str, str]) -> str:
    client = boto3.client(
        "sts",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    return str(client.get_caller_identity()["Arn"])


def assert_one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("rolesession: error: ")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    return lines[0]


def in_process(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- output formats ------------------------------------------------------------------


def test_env_format_is_export_lines_a_shell_can_eval(moto_server: str) -> None:
    done = cli("assume", ROLE, "--sts-endpoint-url", moto_server)
    assert done.returncode == 0, done.stderr
    values = {}
    for line in done.stdout.splitlines():
        word, assignment = shlex.split(line)
        assert word == "export"
        name, _, value = assignment.partition("=")
        values[name] = value
    assert set(values) == ENV_NAMES
    assert values["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert values["AWS_REGION"] == values["AWS_DEFAULT_REGION"] == "us-east-1"
    # A real shell sees the same values (the session token has '/', '+' and '=').
    shell = subprocess.run(
        ["sh", "-c", 'eval "$1"; printf "%s\\n" "$AWS_ACCESS_KEY_ID" "$AWS_SESSION_TOKEN"', "sh",
         done.stdout],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shell.stdout.splitlines() == [values["AWS_ACCESS_KEY_ID"], values["AWS_SESSION_TOKEN"]]
    creds = {
        "AccessKeyId": values["AWS_ACCESS_KEY_ID"],
        "SecretAccessKey": values["AWS_SECRET_ACCESS_KEY"],
        "SessionToken": values["AWS_SESSION_TOKEN"],
    }
    assert caller_arn(moto_server, creds).startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/")


def test_json_format_is_the_sts_credentials_object(moto_server: str) -> None:
    creds = assume_json(moto_server, ROLE)
    assert set(creds) == CREDENTIAL_FIELDS
    assert creds["Expiration"].endswith("Z")
    left = to_epoch(creds["Expiration"]) - time.time()
    assert 3000 < left <= 3600
    assert caller_arn(moto_server, creds).startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/")


def test_credential_process_format_feeds_a_profile_in_aws_config(
    moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    done = cli("assume", ROLE, "--sts-endpoint-url", moto_server, "--format", "credential-process")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["Version"] == 1
    assert set(document) == CREDENTIAL_FIELDS | {"Version"}

    command = shlex.join(
        [sys.executable, "-m", "rolesession", "assume", ROLE, "--sts-endpoint-url", moto_server,
         "--format", "credential-process"]
    )
    config = tmp_path / "aws-config"
    config.write_text(f"[profile via-cli]\ncredential_process = {command}\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    session = boto3.Session(profile_name="via-cli")
    frozen = session.get_credentials().get_frozen_credentials()
    # Served from the file cache the first invocation filled: the same credentials.
    assert frozen.access_key == document["AccessKeyId"]
    arn = session.client("sts", endpoint_url=moto_server).get_caller_identity()["Arn"]
    assert arn.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/")


# -- chaining ------------------------------------------------------------------------------


def test_several_arns_chain_and_whoami_names_the_last_hop(moto_server: str) -> None:
    done = cli("whoami", ROLE, ROLE_B, ROLE_C, "--sts-endpoint-url", moto_server)
    assert done.returncode == 0, done.stderr
    identity = json.loads(done.stdout)
    assert set(identity) == {"UserId", "Account", "Arn"}
    assert identity["Account"] == THIRD_ACCOUNT
    assert identity["Arn"].startswith(f"arn:aws:sts::{THIRD_ACCOUNT}:assumed-role/Target/")

    creds = assume_json(moto_server, ROLE, ROLE_B)
    assert caller_arn(moto_server, creds).startswith(f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Hub/")


def test_whoami_without_arns_is_the_source_identity(echo_sts: str) -> None:
    done = cli("whoami", "--sts-endpoint-url", echo_sts)
    assert done.returncode == 0, done.stderr
    identity = json.loads(done.stdout)
    assert identity == {
        "UserId": SOURCE_KEY,
        "Account": ACCOUNT,
        "Arn": f"arn:aws:iam::{ACCOUNT}:user/{SOURCE_KEY}",
    }


def test_profile_is_the_source(echo_sts: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "aws-config"
    config.write_text("[profile ops]\naws_access_key_id = AKIAOPSOPSOPSOPSOPS1\naws_secret_access_key = x\n")
    env = dict(os.environ, AWS_CONFIG_FILE=str(config))
    done = cli("whoami", "--profile", "ops", "--sts-endpoint-url", echo_sts, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["UserId"] == "AKIAOPSOPSOPSOPSOPS1"  # not the environment's keys

    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    last_hop = build_session(parse_args(["assume", ROLE, ROLE_B, "--profile", "ops"]))
    assert isinstance(last_hop.parent, rolesession.RoleSession)
    source = last_hop.parent.parent  # the profile session signs the first AssumeRole
    assert isinstance(source, boto3.Session) and not isinstance(source, rolesession.RoleSession)
    assert source.profile_name == "ops"
    assert source.get_credentials().access_key == "AKIAOPSOPSOPSOPSOPS1"

    missing = cli("assume", ROLE, "--profile", "nope", "--sts-endpoint-url", echo_sts, env=env)
    assert missing.returncode == 2
    assert "--profile" in assert_one_error_line(missing)


def test_whoami_without_arns_rejects_role_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = in_process(capsys, "whoami", "--session-name", "ops")
    assert code == 2
    assert "--session-name" in err and "ROLE_ARN" in err
    assert out == ""


# -- options become STS parameters ---------------------------------------------------------


def test_last_hop_and_every_hop_options(
    sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}
    policy = {"Version": "2012-10-17", "Statement": [statement]}
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps(policy, indent=4))
    managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    code, out, err = in_process(
        capsys, "assume", ROLE, ROLE_B,
        "--session-name", "cli-test", "--region", "eu-west-1",
        "--duration", "30m", "--policy", f"@{policy_file}", "--policy-arn", managed,
        "--tag", "team=blue", "--tag", "empty=", "--external-id", "ext-123",
        "--source-identity", "alice", "--no-cache",
    )  # fmt: skip
    assert code == 0, err
    assert sts_calls.count() == 2
    first, last = sts_calls.params(0), sts_calls.params(1)
    assert first == {"RoleArn": ROLE, "RoleSessionName": "cli-test"}
    assert last["RoleArn"] == ROLE_B
    assert last["RoleSessionName"] == "cli-test"
    assert last["DurationSeconds"] == 1800
    assert json.loads(last["Policy"]) == policy
    assert last["PolicyArns"] == [{"arn": managed}]
    assert last["Tags"] == [{"Key": "empty", "Value": ""}, {"Key": "team", "Value": "blue"}]
    assert last["ExternalId"] == "ext-123"
    assert last["SourceIdentity"] == "alice"
    assert "export AWS_REGION=eu-west-1" in out.splitlines()


def test_single_arn_takes_the_last_hop_options(
    sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = in_process(
        capsys, "assume", ROLE, "--duration", "2h", "--policy", '{"Version":"2012-10-17","Statement":[]}',
        "--external-id", "ext-123", "--no-cache",
    )  # fmt: skip
    assert code == 0, err
    params = sts_calls.params()
    assert params["DurationSeconds"] == 7200
    assert params["Policy"] == '{"Statement":[],"Version":"2012-10-17"}'
    assert params["ExternalId"] == "ext-123"


def test_mfa_command_gives_the_first_hop_its_code(
    sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    command = shlex.join([sys.executable, "-c", "print('Touch your YubiKey...'); print('AWS:alice  123456')"])
    code, _, err = in_process(
        capsys, "assume", ROLE, ROLE_B, "--mfa-serial", MFA_SERIAL, "--mfa-command", command, "--no-cache"
    )
    assert code == 0, err
    first, last = sts_calls.params(0), sts_calls.params(1)
    assert first["SerialNumber"] == MFA_SERIAL
    assert first["TokenCode"] == "123456"
    assert "SerialNumber" not in last and "TokenCode" not in last
    assert "123456" not in err


def test_mfa_command_failure_is_one_line_without_its_output(
    sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    command = shlex.join([sys.executable, "-c", "print('secret-ish 12345'); raise SystemExit(3)"])
    code, out, err = in_process(
        capsys, "assume", ROLE, "--mfa-serial", MFA_SERIAL, "--mfa-command", command, "--no-cache"
    )
    assert code == 5
    assert err.count("\n") == 1 and "exited with status 3" in err
    assert "secret-ish" not in err and out == ""
    assert sts_calls.count() == 0


def test_web_identity_token_file_signs_in_the_first_hop(
    sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOi.eyJzdWIiOiJhcHAifQ.c2ln\n")
    code, _, err = in_process(
        capsys, "assume", ROLE, ROLE_B, "--web-identity-token-file", str(token_file),
        "--session-name", "ci-run", "--duration", "1800", "--no-cache",
    )  # fmt: skip
    assert code == 0, err
    (op1, first), (op2, last) = sts_calls.calls
    assert op1 == "AssumeRoleWithWebIdentity" and op2 == "AssumeRole"
    assert first["WebIdentityToken"] == "eyJhbGciOi.eyJzdWIiOiJhcHAifQ.c2ln"
    assert first["RoleSessionName"] == "ci-run" and "DurationSeconds" not in first
    assert last["DurationSeconds"] == 1800


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (["--web-identity-token-file", "{token}", "--tag", "a=b"], "--tag"),
        (["--web-identity-token-file", "{token}", "--profile", "x"], "--profile"),
        (["--saml-assertion-command", "true"], "--principal-arn"),
        (["--principal-arn", SAML_PROVIDER], "--principal-arn"),
        (["--mfa-command", "true"], "--mfa-serial"),
        (["--tag", "a=1", "--tag", "a=2"], "twice"),
        (["--mfa-serial", MFA_SERIAL, "--mfa-command", "'unbalanced"], "--mfa-command"),
    ],
)
def test_option_combinations_that_cannot_work_are_usage_errors(
    argv: list[str], mentions: str, capsys: pytest.CaptureFixture[str], sts_calls: StsRecorder, tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("a-token")
    code, out, err = in_process(capsys, "assume", ROLE, *[a.format(token=token) for a in argv])
    assert code == 2
    assert mentions in err and err.count("\n") == 1
    assert out == ""
    assert sts_calls.count() == 0


def test_mfa_serial_without_a_command_or_terminal_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], sts_calls: StsRecorder
) -> None:
    code, _, err = in_process(capsys, "assume", ROLE, "--mfa-serial", MFA_SERIAL)
    assert code == 2
    assert "--mfa-command" in err
    assert sts_calls.count() == 0


# -- --mfa-command output parsing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "code"),
    [
        ("123456\n", "123456"),
        ("AWS:alice  654321\n", "654321"),  # ykman oath accounts code
        ("Touch your YubiKey...\nAWS:alice@example  000042\n", "000042"),
        ("111111 then 222222", "222222"),  # the last one
        ("code: 987654.", "987654"),
        ("987654 (expires in 12 s)", "987654"),
        ("1234567", None),  # part of a longer number
        ("12345", None),
        ("abc123456", None),  # part of a word
        ("123456abc", None),
        ("otp 123 456", None),
        ("", None),
        ("expires 2026-11-22 ... 314159\n", "314159"),
    ],
)
def test_last_standalone_six_digit_number_is_the_code(output: str, code: str | None) -> None:
    assert last_mfa_code(output) == code


def test_mfa_command_runs_without_a_shell(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    # With a shell, ';' would run a second command and create the marker.
    provider = mfa_from_command(f"echo 123456 ; touch {marker}")
    assert provider() == "123456"
    assert not marker.exists()


def test_mfa_command_errors_never_carry_the_output() -> None:
    with pytest.raises(SecretCommandError, match="command not found"):
        mfa_from_command("/nonexistent/otp-tool")()
    with pytest.raises(SecretCommandError, match="no 6-digit") as info:
        mfa_from_command(shlex.join([sys.executable, "-c", "print('pin 12345678')"]))()
    assert "12345678" not in str(info.value)


# -- SAML assertion command: the command line is the caller in the cache key ------------------


def saml_script(tmp_path: Path, runs: Path) -> tuple[Path, str]:
    """A sign-in command printing a SAML response (wrapped, as base64 tools do); counts its runs."""
    assertion = make_saml_response(ROLE, SAML_PROVIDER)
    wrapped = "\n".join(assertion[i : i + 76] for i in range(0, len(assertion), 76))
    script = tmp_path / "sign_in.py"
    script.write_text(
        "import sys\n"
        f"with open({str(runs)!r}, 'a') as f:\n"
        "    f.write('run\\n')\n"
        f"print({wrapped!r})\n"
    )
    return script, assertion


def test_saml_assertion_command_is_cached_by_its_command_line(moto_server: str, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    script, _ = saml_script(tmp_path, runs)
    command = shlex.join([sys.executable, str(script)])
    args = ("--saml-assertion-command", command, "--principal-arn", SAML_PROVIDER)

    first = assume_json(moto_server, ROLE, *args)
    second = assume_json(moto_server, ROLE, *args)
    assert second == first  # from the file cache
    assert runs.read_text().count("run") == 1  # the sign-in ran once

    other = assume_json(moto_server, ROLE, "--saml-assertion-command", f"{command} --fresh", *args[2:])
    assert other["AccessKeyId"] != first["AccessKeyId"]  # another command line, another caller
    assert runs.read_text().count("run") == 2


def test_saml_assertion_command_sends_its_output(
    sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script, assertion = saml_script(tmp_path, tmp_path / "runs")
    code, _, err = in_process(
        capsys, "assume", ROLE, "--saml-assertion-command", shlex.join([sys.executable, str(script)]),
        "--principal-arn", SAML_PROVIDER, "--duration", "1800", "--no-cache",
    )  # fmt: skip
    assert code == 0, err
    operation, params = sts_calls.calls[0]
    assert operation == "AssumeRoleWithSAML"
    assert params["PrincipalArn"] == SAML_PROVIDER
    assert params["DurationSeconds"] == 1800
    assert params["SAMLAssertion"] == assertion  # line breaks of the wrapped base64 removed


# -- the file cache ------------------------------------------------------------------------


def test_second_invocation_is_served_from_the_file_cache(moto_server: str) -> None:
    args = ("assume", ROLE, ROLE_B, "--sts-endpoint-url", moto_server, "--format", "json", "-v")
    first, second = cli(*args), cli(*args)
    assert first.returncode == second.returncode == 0
    assert len(re.findall(r"AssumeRole arn:", first.stderr)) == 2  # -v logs each STS call
    assert "AssumeRole" not in second.stderr
    assert json.loads(second.stdout) == json.loads(first.stdout)
    cache_dir = Path(os.environ["XDG_CACHE_HOME"]) / "rolesession"
    files = [path.read_text(encoding="utf-8") for path in cache_dir.glob("*.json")]
    # One entry per hop, and the hand-out memo (where they are, for the next identical run; no secret).
    assert sorted('"HandOut"' in text for text in files) == [False, False, True]

    uncached = cli(*args, "--no-cache")
    assert uncached.returncode == 0
    assert len(re.findall(r"AssumeRole arn:", uncached.stderr)) == 2
    assert json.loads(uncached.stdout)["AccessKeyId"] != json.loads(first.stdout)["AccessKeyId"]


def test_no_cache_writes_nothing(
    sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert in_process(capsys, "assume", ROLE, "--no-cache")[0] == 0
    assert in_process(capsys, "assume", ROLE, "--no-cache")[0] == 0
    assert sts_calls.count() == 2
    assert not (Path(os.environ["XDG_CACHE_HOME"]) / "rolesession").exists()


# -- refreshed before handing out -----------------------------------------------------------


def json_out(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, str]:
    code, out, err = in_process(capsys, "assume", *argv, "--format", "json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_credentials_with_less_than_15_minutes_left_are_refreshed_first(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    first = json_out(capsys, ROLE)
    assert sts_calls.count() == 1

    frozen.tick(1800)  # 30 min left: handed out as they are, from the file cache
    assert json_out(capsys, ROLE) == first
    assert sts_calls.count() == 1

    frozen.tick(960)  # 14 min left: botocore would re-run credential_process at every request
    renewed = json_out(capsys, ROLE)
    assert sts_calls.count() == 2
    assert renewed["AccessKeyId"] != first["AccessKeyId"]
    assert to_epoch(renewed["Expiration"]) - time.time() == pytest.approx(3600, abs=5)

    frozen.tick(60)  # the renewed set is in the cache for the next invocation
    assert json_out(capsys, ROLE) == renewed
    assert sts_calls.count() == 2


def test_fifteen_minute_roles_are_not_refreshed_at_every_invocation(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    first = json_out(capsys, ROLE, "--duration", "900")
    frozen.tick(200)  # 11.7 min left, but a new set would not last longer than 15 min either
    assert json_out(capsys, ROLE, "--duration", "900") == first
    assert sts_calls.count() == 1


def test_a_failed_refresh_before_handing_out_keeps_the_valid_credentials(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    first = json_out(capsys, ROLE)
    frozen.tick(3000)  # 10 min left
    sts_calls.outage()
    code, out, err = in_process(capsys, "assume", ROLE, "--format", "json")
    assert code == 0
    assert json.loads(out) == first
    # The engine's one WARNING for the failure episode (the CLI adds none of its own).
    [warning] = err.splitlines()
    assert warning.startswith("rolesession: warning: ") and "serving the held credentials" in warning


# -- exit codes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (["assume", "not-an-arn"], "ROLE_ARN"),
        (["assume", ROLE, "--no-such-option"], "--no-such-option"),
        (["assume", ROLE, "--duration", "60"], "--duration"),
        (["assume", ROLE, "--format", "yaml"], "--format"),
        (["assume", ROLE, "--policy", "{not json"], "--policy"),
        (["assume", ROLE, "--region", "Mars"], "--region"),
        (["exec", ROLE, "true"], "--"),
        ([], "command"),
    ],
)
def test_invalid_usage_exits_2_with_one_line(argv: list[str], mentions: str) -> None:
    done = cli(*argv)
    assert done.returncode == 2
    assert mentions in assert_one_error_line(done)


def test_no_source_credentials_exits_3(moto_server: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    for argv in (["assume", ROLE], ["whoami"]):
        done = cli(*argv, "--sts-endpoint-url", moto_server, env=env)
        assert done.returncode == 3
        assert "no source credentials" in assert_one_error_line(done)


def test_a_missing_aws_profile_exits_3(moto_server: str) -> None:
    for argv in (["assume", ROLE], ["whoami"]):
        done = cli(*argv, "--sts-endpoint-url", moto_server, env=dict(os.environ, AWS_PROFILE="nowhere"))
        assert done.returncode == 3
        assert "nowhere" in assert_one_error_line(done)


@contextlib.contextmanager
def fake_sts(answer: Callable[[BaseHTTPRequestHandler], tuple[int, str]]) -> Iterator[str]:
    """A loopback STS endpoint answering every call with ``answer(request)``: (status, XML)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status, text = answer(self)
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def refusing_sts() -> Iterator[str]:
    """An STS endpoint that answers every call with AccessDenied."""
    refusal = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
        "<Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform "
        "sts:AssumeRole</Message></Error><RequestId>1</RequestId></ErrorResponse>"
    )
    with fake_sts(lambda _: (403, refusal)) as url:
        yield url


@pytest.fixture
def echo_sts() -> Iterator[str]:
    """An STS endpoint whose GetCallerIdentity names the access key that signed the call."""

    def answer(request: BaseHTTPRequestHandler) -> tuple[int, str]:
        match = re.search(r"Credential=([A-Z0-9]+)/", request.headers.get("Authorization", ""))
        key = match.group(1) if match else "unsigned"
        return 200, (
            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<GetCallerIdentityResult><Arn>arn:aws:iam::{ACCOUNT}:user/{key}</Arn>"
            f"<UserId>{key}</UserId><Account>{ACCOUNT}</Account></GetCallerIdentityResult>"
            "<ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
        )

    with fake_sts(answer) as url:
        yield url


def test_sts_error_exits_4_naming_the_code(refusing_sts: str) -> None:
    for argv in (["assume", ROLE], ["whoami"]):
        done = cli(*argv, "--sts-endpoint-url", refusing_sts)
        assert done.returncode == 4
        assert "AccessDenied" in assert_one_error_line(done)


def test_sts_error_in_process_exits_4(
    sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    sts_calls.refuse("RegionDisabledException", "STS is not activated")
    code, out, err = in_process(capsys, "assume", ROLE, "--no-cache")
    assert code == 4
    assert "RegionDisabledException" in err and err.count("\n") == 1
    assert out == ""


def test_unreachable_sts_exits_5() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    for argv in (["assume", ROLE], ["whoami"]):
        done = cli(*argv, "--sts-endpoint-url", url)
        assert done.returncode == 5
        assert "could not be reached" in assert_one_error_line(done)


# -- exec ---------------------------------------------------------------------------------------


def test_exec_passes_the_credentials_and_the_exit_code(moto_server: str) -> None:
    creds = assume_json(moto_server, ROLE)
    child = "import os, sys; print(os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_REGION']); sys.exit(7)"
    done = cli("exec", ROLE, "--sts-endpoint-url", moto_server, "--", sys.executable, "-c", child)
    assert done.returncode == 7, done.stderr
    assert done.stdout.split() == [creds["AccessKeyId"], "us-east-1"]


def test_exec_passes_arguments_that_look_like_options(moto_server: str) -> None:
    child = "import sys; print(sys.argv[1:])"
    done = cli(
        "exec", ROLE, "--sts-endpoint-url", moto_server, "--", sys.executable, "-c", child, "--format", "--"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['--format', '--']"


def test_exec_of_a_missing_command_exits_5(moto_server: str) -> None:
    done = cli("exec", ROLE, "--sts-endpoint-url", moto_server, "--", "/nonexistent/program")
    assert done.returncode == 5
    assert "command not found" in assert_one_error_line(done)


def test_exec_fails_before_running_the_command_when_sts_refuses(refusing_sts: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    done = cli("exec", ROLE, "--sts-endpoint-url", refusing_sts, "--", "touch", str(marker))
    assert done.returncode == 4
    assert not marker.exists()


# -- the package -----------------------------------------------------------------------------


def test_import_rolesession_does_not_load_the_cli() -> None:
    code = "import sys, rolesession; print(sorted(m for m in sys.modules if m.startswith('rolesession.cli')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_version_and_help_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = in_process(capsys, "--version")
    assert code == 0 and out.startswith("rolesession ")
    code, out, _ = in_process(capsys, "exec", "--help")
    assert code == 0 and "--server" in out


# -- demo -------------------------------------------------------------------------------------


def test_demo_tells_the_whole_story_on_a_fresh_machine(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)  # no ~/.aws at all
    done = cli("demo", env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for step in (
        "Assume a role",
        "Chain roles",
        "session policy",
        "Web identity",
        "SAML",
        "Expiry and refresh",
        "Fan out over 5 accounts",
        "command line",
    ):
        assert step in out
    assert "demo keys set in this process" in out
    assert ":assumed-role/Target/" in out and ":assumed-role/Federated/" in out
    assert len(re.findall(r"4444444444\d\d: arn:aws:sts::4444444444\d\d:assumed-role/Auditor/", out)) == 5
    assert "new credentials: ASIA" in out
    assert "Traceback" not in done.stderr
    assert "SecretAccessKey" not in out and "SessionToken" not in out


def test_demo_without_moto_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "moto.server", None)  # import fails as if not installed
    code, out, err = in_process(capsys, "demo")
    assert code == 5
    assert "pip install '.[demo]'" in err and err.count("\n") == 1
    assert out == ""


# -- installation and exec's environment -----------------------------------------------------------


def test_the_rolesession_command_is_installed() -> None:
    """SPEC: "CLI (`rolesession`, also `python -m rolesession`)"."""
    [entry] = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == "rolesession"]
    assert entry.load() is rolesession.cli.main
    script = Path(sys.executable).parent / "rolesession"
    assert script.exists(), "the console script is missing from the environment"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.startswith("rolesession ")


def test_exec_runs_the_command_with_the_same_environment_plus_the_credentials(
    sts_mock: None, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_SETTING", "kept")
    child = "import json, os; print(json.dumps(dict(os.environ)))"
    assert main(["exec", ROLE, "--region", "eu-west-3", "--", sys.executable, "-c", child]) == 0
    env = json.loads(capfd.readouterr().out)
    assert env["APP_SETTING"] == "kept"
    assert (
        env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
        and env["AWS_ACCESS_KEY_ID"] != os.environ["AWS_ACCESS_KEY_ID"]
    )
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-3"
    assert {"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"} <= set(env)
