"""Bad input on the command line: exit 2 with one line naming the option or variable (SPEC
"Reliability additions": "`sts_endpoint_url` must be an http(s) URL with a valid host and port;
`region` must be a valid region name (CLI: exit 2 naming the option or environment variable)",
and "files named with `@` ... are read only up to the largest valid size"); output into a
closed pipe ends quietly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROLE
from rolesession import InvalidParameterError
from rolesession.cli import describe, exit_code, main
from rolesession.cli.options import OPTIONS, option_for
from rolesession.testing import StsRecorder


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rolesession", *args], capture_output=True, text=True, timeout=60,
        env=env, check=False,
    )  # fmt: skip


def one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("rolesession: error: ") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["--region", "Mars"], "--region"),
        (["--region", "us-east-1 "], "--region"),
        (["--region", "us-" + "east-" * 20 + "1"], "--region"),
        (["--sts-endpoint-url", "http://[::1"], "--sts-endpoint-url"),
        (["--sts-endpoint-url", "http://127.0.0.1:99999"], "--sts-endpoint-url"),
        (["--sts-endpoint-url", "http://127.0.0.1:port"], "--sts-endpoint-url"),
        (["--sts-endpoint-url", "http://:8080/"], "--sts-endpoint-url"),
        (["--sts-endpoint-url", "ftp://sts.example.com"], "--sts-endpoint-url"),
    ],
)
@pytest.mark.parametrize("command", [["assume", ROLE], ["exec", ROLE], ["whoami"]])
def test_a_bad_region_or_endpoint_option_exits_2_naming_it(
    command: list[str],
    argv: list[str],
    names: str,
    sts_calls: StsRecorder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tail = ["--", "true"] if command[0] == "exec" else []
    code = main([*command, *argv, "--no-cache", *tail])
    out, err = capsys.readouterr()
    assert code == 2
    assert one_line(err).startswith(f"rolesession: error: {names}: ")
    assert out == "" and sts_calls.count() == 0


@pytest.mark.parametrize("name", ["AWS_REGION", "AWS_DEFAULT_REGION"])
@pytest.mark.parametrize("command", [["assume", ROLE], ["whoami"]])
def test_a_bad_region_variable_exits_2_naming_it(
    name: str, command: list[str], sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv(name, "us-east-1 ")
    assert main([*command, "--no-cache"]) == 2
    assert one_line(capsys.readouterr().err).startswith(f"rolesession: error: {name}: ")
    assert sts_calls.count() == 0
    # --region decides the region; the variable is not used, and not judged.
    monkeypatch.setenv(name, "")
    assert main(["assume", ROLE, "--region", "nope nope", "--no-cache"]) == 2


def test_a_bad_region_variable_in_a_real_run_exits_2() -> None:
    done = cli("assume", ROLE, env=dict(os.environ, AWS_REGION="us-east-1 "))
    assert done.returncode == 2
    assert "AWS_REGION" in one_line(done.stderr)


def test_the_library_parameters_map_to_options_from_one_table() -> None:
    assert option_for("region") == "--region"
    assert option_for("sts_endpoint_url") == "--sts-endpoint-url"
    assert option_for("transitive_tag_keys") == "--tag"
    assert option_for("AWS_REGION") == "AWS_REGION"  # a variable is named as it is
    assert option_for("AWS_DEFAULT_REGION") == "AWS_DEFAULT_REGION"
    assert {o.flag for o in OPTIONS} >= {"--region", "--sts-endpoint-url", "--policy", "--tag"}
    for parameter, shown in (
        ("region", "--region: 'x' is bad"),
        ("sts_endpoint_url", "--sts-endpoint-url: 'x' is bad"),
        ("AWS_REGION", "AWS_REGION: 'x' is bad"),
        ("AWS_DEFAULT_REGION", "AWS_DEFAULT_REGION: 'x' is bad"),
    ):
        error = InvalidParameterError(f"{parameter}: 'x' is bad", parameter=parameter, reason="'x' is bad")
        assert isinstance(error, InvalidParameterError)
        assert (exit_code(error), describe(error)) == (2, shown)


# -- --policy @FILE ------------------------------------------------------------------------------


def test_a_policy_from_dev_urandom_ends_at_once_with_exit_2() -> None:
    started = time.monotonic()
    done = cli("assume", ROLE, "--policy", "@/dev/urandom")
    assert done.returncode == 2
    assert "--policy" in one_line(done.stderr)
    assert time.monotonic() - started < 30  # a bounded read: never a hang


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        (b'{"Version": "2012-10-17", "Statement": []}' + b" " * 40_000, "larger than 32768 bytes"),
        (b'{"Version": "2012-10-17", "Statement": [], "Sid": "\xff\xfe"}', "not UTF-8"),
    ],
)
def test_an_oversized_or_undecodable_policy_file_exits_2_naming_policy(
    content: bytes, mentions: str, tmp_path: Path, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "policy.json"
    path.write_bytes(content)
    assert main(["assume", ROLE, "--policy", f"@{path}", "--no-cache"]) == 2
    line = one_line(capsys.readouterr().err)
    assert "--policy" in line and mentions in line
    assert sts_calls.count() == 0


def test_an_indented_policy_file_under_the_limit_is_read(
    sts_mock: None, sts_calls: StsRecorder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    statement = '{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}'
    path = tmp_path / "policy.json"
    path.write_text('{"Version": "2012-10-17",' + " " * 30_000 + f'"Statement": [{statement}]}}')
    assert main(["assume", ROLE, "--policy", f"@{path}", "--no-cache"]) == 0, capsys.readouterr().err
    assert '"Statement":[{"Action":"s3:GetObject"' in sts_calls.params()["Policy"]


# -- a reader that goes away --------------------------------------------------------------------


def test_demo_into_a_pipe_closed_after_one_line_ends_quietly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "rolesession", "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # what `| head -1` does
    err = process.stderr.read().decode()
    process.wait(120)
    assert first.startswith(b"rolesession demo:")
    assert process.returncode in (0, 141), err
    assert "BrokenPipe" not in err and "Traceback" not in err and "Exception ignored" not in err


@pytest.mark.parametrize("argv", [["assume", ROLE], ["whoami"], ["--help"]])
def test_output_into_a_closed_pipe_ends_quietly(argv: list[str], moto_server: str) -> None:
    read, write = os.pipe()
    os.close(read)  # nobody will ever read
    extra = ["--sts-endpoint-url", moto_server] if argv[0] != "--help" else []
    done = subprocess.run(
        [sys.executable, "-m", "rolesession", *argv, *extra], stdout=write, stderr=subprocess.PIPE,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    os.close(write)
    assert done.returncode in (0, 141), done.stderr
    assert done.stderr == ""


# -- durations and MFA serials ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("3600", 3600), ("3600s", 3600), ("45m", 2700), ("2h", 7200), ("90m", 5400), ("1h30m", 5400),
     ("1h30m15s", 5415), ("1h15s", 3615), ("12h", 43200), (" 1h30m ", 5400)],
)  # fmt: skip
def test_durations_may_be_compound(
    text: str, seconds: int, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    from rolesession.cli.parser import parse_args

    assert parse_args(["assume", ROLE, "--duration", text]).duration == seconds


@pytest.mark.parametrize(
    "text", ["", "h", "1h30", "30m1h", "1h1h", "1.5h", "1d", "-900", "1 h", "m30", "1hm"]
)
def test_a_duration_that_is_not_one_exits_2_naming_duration(
    text: str, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["assume", ROLE, "--duration", text, "--no-cache"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "--duration" in one_line(err) and out == "" and sts_calls.count() == 0


@pytest.mark.parametrize(
    "serial",
    [
        "arn:aws:iam::1234:mfa/me",
        "arn:aws:iam::123456789012:role/me",
        "short",
        "arn:aws:sts::123456789012:mfa/me",
    ],
)
@pytest.mark.parametrize("command", [["assume", ROLE], ["exec", ROLE]])
def test_an_invalid_mfa_serial_exits_2_naming_it(
    serial: str, command: list[str], sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    tail = ["--", "true"] if command[0] == "exec" else []
    code = main([*command, "--mfa-serial", serial, "--mfa-command", "echo 123456", "--no-cache", *tail])
    out, err = capsys.readouterr()
    assert code == 2
    assert "--mfa-serial" in one_line(err) and out == "" and sts_calls.count() == 0


@pytest.mark.parametrize(
    "serial", ["arn:aws:iam::123456789012:mfa/me", "arn:aws-us-gov:iam::123456789012:u2f/a/b", "GAHT12345678"]
)
def test_valid_mfa_serials_are_accepted(serial: str) -> None:
    from rolesession.cli.parser import parse_args

    assert parse_args(["assume", ROLE, "--mfa-serial", serial]).mfa_serial == serial


@pytest.mark.parametrize(
    "serial",
    ["GAHT12345678", "short", "x" * 9, "x" * 256, "x" * 257, "GAHT 12345", "GAHT#12345", "GAHT\u00e912345",
     "arn:aws:iam::123456789012:mfa/me", "a+=/:,.@-_b", ""],
)  # fmt: skip
def test_the_cli_checks_a_serial_as_the_library_does(serial: str, sts_calls: StsRecorder) -> None:
    """The CLI keeps its own copy of the rule (it uses public names only): the two must agree."""
    import argparse

    from rolesession import InvalidParameterError, mfa_session
    from rolesession.cli.options import mfa_serial

    try:
        mfa_session(mfa_serial=serial, mfa_token="123456", cache=None)
        library = True
    except InvalidParameterError as exc:
        library = exc.parameter != "mfa_serial"
    except Exception:  # anything past validation: the serial was accepted
        library = True
    try:
        mfa_serial(serial)
        cli = True
    except argparse.ArgumentTypeError:
        cli = False
    assert cli == library


def test_the_exec_help_example_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    import re

    from rolesession.cli.parser import EXEC_EXAMPLES, parse_args

    for line in EXEC_EXAMPLES.replace("\\\n", " ").splitlines():
        argv = line.split("#")[0].split()[1:]  # without "rolesession"
        split = argv.index("--")
        parse_args(argv)  # every option value in the example passes its check
        assert argv[split + 1 :]
    serials = re.findall(r"--mfa-serial (\S+)", EXEC_EXAMPLES)
    assert serials == ["arn:aws:iam::123456789012:mfa/me"]
