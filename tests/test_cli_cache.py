"""``rolesession cache -- COMMAND ...`` (SPEC "Profiles and MFA sessions", CLI).

Runs any ``credential_process`` helper and keeps its Version 1 output in the
CLI's file cache, keyed by what can change its answer (the command line,
the executable, the directory for relative paths, ``AWS_*`` and
``--key-env`` variables, the user), single-flight across processes, re-run
only when less than 15 minutes would be left.

The helper here is a small Python script that appends a line to a counter
file each time it runs, so the tests count runs across separate
``python -m rolesession`` processes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from rolesession import FileCache
from rolesession.cli import loops, main, process_cache
from rolesession.cli.errors import CliError
from rolesession.cli.process_cache import helper_key, parse_document

SECRET = "helper-secret-helper-secret-helper-secret"
TOKEN = "helper-session-token-" + "t" * 60

HELPER = f"""
import argparse, datetime, json, sys, time
parser = argparse.ArgumentParser()
parser.add_argument("counter")
parser.add_argument("--minutes", type=float, default=60)
parser.add_argument("--expiration")
parser.add_argument("--sleep", type=float, default=0)
parser.add_argument("--long-lived", action="store_true")
parser.add_argument("--fail", action="store_true")
parser.add_argument("--garbage", action="store_true")
parser.add_argument("--huge", action="store_true")
parser.add_argument("--key", default="ASIAHELPERKEY0000001")
args = parser.parse_args()
with open(args.counter, "a") as counter:
    counter.write("run\\n")
time.sleep(args.sleep)
if args.fail:
    print(json.dumps({{"SecretAccessKey": {SECRET!r}}}))
    sys.exit(3)
if args.garbage:
    print("SecretAccessKey = {SECRET}")
    sys.exit(0)
if args.huge:
    sys.stdout.write("x" * 200_000)
    sys.exit(0)
document = {{"Version": 1, "AccessKeyId": args.key, "SecretAccessKey": {SECRET!r}}}
if not args.long_lived:
    now = datetime.datetime.now(datetime.timezone.utc)
    expiration = args.expiration or (now + datetime.timedelta(minutes=args.minutes)).isoformat()
    document.update(SessionToken={TOKEN!r}, Expiration=expiration, AccountId="123456789012")
print(json.dumps(document))
"""


@pytest.fixture
def helper(tmp_path: Path) -> tuple[list[str], Path]:
    """The helper's command line (without options) and its counter file."""
    script = tmp_path / "helper.py"
    script.write_text(HELPER)
    counter = tmp_path / "runs"
    return [sys.executable, str(script), str(counter)], counter


def runs(counter: Path) -> int:
    return counter.read_text().count("run") if counter.exists() else 0


def cache_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rolesession", "cache", *argv],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def start(argv: list[str]) -> subprocess.Popen[str]:
    pipe = subprocess.PIPE
    return subprocess.Popen(argv, stdout=pipe, stderr=pipe, stdin=subprocess.DEVNULL, text=True)


def cache_directory() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "rolesession"


def entries() -> list[Path]:
    directory = cache_directory()
    return sorted(directory.glob("*.json")) if directory.exists() else []


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    [line] = done.stderr.splitlines()
    assert line.startswith("rolesession: error: ") and "Traceback" not in done.stderr
    assert done.stdout == ""
    return line


# -- cached across processes ----------------------------------------------------------------------


def test_ten_invocations_run_the_helper_once(helper: tuple[list[str], Path]) -> None:
    command, counter = helper
    outputs = [cache_cli("--", *command) for _ in range(10)]
    assert all(done.returncode == 0 for done in outputs), [d.stderr for d in outputs]
    assert runs(counter) == 1
    documents = [json.loads(done.stdout) for done in outputs]
    assert all(document == documents[0] for document in documents)
    document = documents[0]
    assert list(document) == ["Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration",
                              "AccountId"]  # fmt: skip
    assert document["Version"] == 1 and document["SecretAccessKey"] == SECRET
    assert document["SessionToken"] == TOKEN and document["AccountId"] == "123456789012"
    expiration = dt.datetime.fromisoformat(document["Expiration"].replace("Z", "+00:00"))
    left = expiration - dt.datetime.now(dt.timezone.utc)
    assert 55 * 60 < left.total_seconds() <= 60 * 60


def test_ten_concurrent_invocations_run_the_helper_once(helper: tuple[list[str], Path]) -> None:
    command, counter = helper
    argv = [sys.executable, "-m", "rolesession", "cache", "--", *command, "--sleep", "1"]
    processes = [start(argv) for _ in range(10)]
    results = [(*p.communicate(timeout=180), p.returncode) for p in processes]
    assert all(code == 0 for _, _, code in results), [err for _, err, _ in results]
    assert runs(counter) == 1
    assert len({out for out, _, _ in results}) == 1


def test_processes_that_waited_for_a_run_take_its_output_even_with_less_than_15_minutes_left(
    helper: tuple[list[str], Path],
) -> None:
    command, counter = helper
    argv = [sys.executable, "-m", "rolesession", "cache", "--", *command, "--minutes", "10", "--sleep", "5"]
    processes = [start(argv) for _ in range(4)]
    results = [(*p.communicate(timeout=180), p.returncode) for p in processes]
    assert all(code == 0 for _, _, code in results), [err for _, err, _ in results]
    # Those waiting for the lock take what the run they waited for stored (one run; a
    # process starting only after it stored runs the helper itself: at most two).
    assert runs(counter) <= 2


def test_the_helper_runs_again_when_less_than_15_minutes_would_be_left(
    helper: tuple[list[str], Path],
) -> None:
    command, counter = helper
    for expected in (1, 2, 3):  # 10 minutes left at once: each invocation runs the helper
        done = cache_cli("--", *command, "--minutes", "10")
        assert done.returncode == 0, done.stderr
        assert runs(counter) == expected
    longer = counter.with_name("runs-20")
    for _ in range(3):  # 20 minutes left: served from the cache
        assert cache_cli("--", *command[:-1], str(longer), "--minutes", "20").returncode == 0
    assert runs(longer) == 1


def test_the_15_minute_rule_as_the_clock_moves(
    helper: tuple[list[str], Path], frozen: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    command, counter = helper
    argv = ["cache", "--", *command, "--expiration", "2026-03-01T13:00:00Z"]  # frozen at 12:00

    def invoke() -> dict[str, Any]:
        assert main(argv) == 0
        return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]

    first = invoke()
    assert first["Expiration"] == "2026-03-01T13:00:00Z" and runs(counter) == 1
    frozen.tick(44 * 60)  # 16 minutes left
    assert invoke() == first and runs(counter) == 1
    frozen.tick(2 * 60)  # 14 minutes left: botocore would come back at once, so the helper runs
    assert invoke() == first and runs(counter) == 2


def test_cache_files_are_private(helper: tuple[list[str], Path]) -> None:
    command, _ = helper
    assert cache_cli("--", *command).returncode == 0
    directory = cache_directory()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    [entry] = entries()
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    for path in directory.iterdir():
        assert stat.S_IMODE(path.lstat().st_mode) & 0o077 == 0, path
    # The file cache's own format: any FileCache reads it back under the helper's key.
    cached = FileCache().get(helper_key(command))
    assert cached is not None and cached["Credentials"]["SecretAccessKey"] == SECRET


def test_the_key_is_the_command_line_and_the_user(
    helper: tuple[list[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    command, counter = helper
    a = cache_cli("--", *command, "--key", "ASIAHELPERKEYAAAAAAA")
    b = cache_cli("--", *command, "--key", "ASIAHELPERKEYBBBBBBB")
    assert json.loads(a.stdout)["AccessKeyId"] != json.loads(b.stdout)["AccessKeyId"]
    assert runs(counter) == 2 and len(entries()) == 2
    key = helper_key(command)
    monkeypatch.setattr(process_cache, "_user", lambda: "uid:4242:mallory")
    assert helper_key(command) != key


# -- passed through, not cached -------------------------------------------------------------------


def test_long_lived_keys_are_passed_through_and_never_cached(helper: tuple[list[str], Path]) -> None:
    command, counter = helper
    for expected in (1, 2):
        done = cache_cli("--", *command, "--long-lived")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {
            "Version": 1, "AccessKeyId": "ASIAHELPERKEY0000001", "SecretAccessKey": SECRET,
        }  # fmt: skip
        assert runs(counter) == expected
    assert entries() == []


def test_no_cache_runs_the_helper_every_time(helper: tuple[list[str], Path]) -> None:
    command, counter = helper
    for expected in (1, 2, 3):
        done = cache_cli("--no-cache", "--", *command)
        assert done.returncode == 0, done.stderr
        assert runs(counter) == expected
    assert entries() == []


# -- failures ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "problem"),
    [
        ("--fail", "exited with status 3"),
        ("--garbage", "is not JSON"),
        ("--huge", "printed more than"),
    ],
)
def test_a_failing_helper_exits_5_with_one_line_and_no_secret(
    option: str, problem: str, helper: tuple[list[str], Path]
) -> None:
    command, counter = helper
    done = cache_cli("--", *command, option)
    assert done.returncode == 5
    line = one_error_line(done)
    assert problem in line and repr(command[0]) in line
    assert SECRET not in done.stderr
    assert entries() == []
    assert runs(counter) == 1


def test_a_missing_helper_exits_5() -> None:
    done = cache_cli("--", "no-such-credential-helper", "--profile", "x")
    assert done.returncode == 5
    assert "'no-such-credential-helper': command not found" in one_error_line(done)


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        (b"[1, 2]", "is a JSON list, not an object"),
        (b'{"AccessKeyId": "A", "SecretAccessKey": "S"}', '"Version": 1'),
        (b'{"Version": true, "AccessKeyId": "A", "SecretAccessKey": "S"}', '"Version": 1'),
        (b'{"Version": 1, "AccessKeyId": "A"}', "no SecretAccessKey string"),
        (b'{"Version": 1, "AccessKeyId": 7, "SecretAccessKey": "S"}', "no AccessKeyId string"),
        (b'{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S", "SessionToken": 1}', "SessionToken"),
        (b'{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S", "Expiration": "S3CRET"}', "ISO 8601"),
        (b'{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "S3CRET"', "is not JSON"),
        (b"\xff\xfeS3CRET", "not UTF-8"),
    ],
)
def test_invalid_documents_are_named_without_their_values(output: bytes, problem: str) -> None:
    with pytest.raises(CliError) as caught:
        parse_document(output, "helper")
    assert problem in str(caught.value) and "S3CRET" not in str(caught.value)
    assert caught.value.exit_code == 5


def test_a_document_is_read_as_botocore_reads_it() -> None:
    document = parse_document(
        b'{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "SEKRIT", "SessionToken": "T0KEN", '
        b'"Expiration": "2026-03-01T13:00:00+01:00"}'
    )
    assert document.as_json() == {
        "Version": 1, "AccessKeyId": "A", "SecretAccessKey": "SEKRIT", "SessionToken": "T0KEN",
        "Expiration": "2026-03-01T12:00:00Z",
    }  # fmt: skip
    assert "SEKRIT" not in repr(document) and "T0KEN" not in repr(document)


@pytest.mark.parametrize("argv", [["cache"], ["cache", "--"], ["cache", "aws-sso-util", "login"]])
def test_the_helper_goes_after_a_double_dash(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert "rolesession cache -- COMMAND" in capsys.readouterr().err


def test_help_shows_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "--help"]) == 0
    assert "credential_process = rolesession cache -- " in capsys.readouterr().out


# -- the key: what can change the helper's answer (SPEC "Meeting the user's setup") ----------------

GET_CREDS = """#!{python}
import json, os, datetime
expiration = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).isoformat()
with open("runs", "a") as counter:
    counter.write("run\\n")
key = {key!r} + os.environ.get("ACCOUNT", "NONE")
print(json.dumps({{"Version": 1, "AccessKeyId": key, "SecretAccessKey": "s", "SessionToken": "t",
                  "Expiration": expiration}}))
"""


def cache_in(cwd: Path, *argv: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "rolesession", "cache", *argv], capture_output=True, text=True, timeout=120,
        stdin=subprocess.DEVNULL, check=False, cwd=cwd, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["AccessKeyId"])


def project(tmp_path: Path, name: str) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    script = directory / "get-creds"
    script.write_text(GET_CREDS.format(python=sys.executable, key=f"ASIA{name.upper()}"))
    script.chmod(0o700)
    return directory


def test_a_relative_helper_in_two_projects_has_two_entries(tmp_path: Path) -> None:
    a, b = project(tmp_path, "projecta"), project(tmp_path, "projectb")
    assert cache_in(a, "--", "./get-creds") == "ASIAPROJECTANONE"
    assert cache_in(b, "--", "./get-creds") == "ASIAPROJECTBNONE"  # not project A's keys
    assert cache_in(a, "--", "./get-creds") == "ASIAPROJECTANONE"  # each from its own entry
    assert runs(a / "runs") == 1 and runs(b / "runs") == 1
    # Run as "python get-creds": a relative argument is as good as a relative command.
    assert cache_in(b, "--", sys.executable, "get-creds") == "ASIAPROJECTBNONE"
    assert cache_in(a, "--", sys.executable, "get-creds") == "ASIAPROJECTANONE"


def test_key_env_separates_what_a_variable_changes(tmp_path: Path) -> None:
    a = project(tmp_path, "projecta")
    assert cache_in(a, "--key-env", "ACCOUNT", "--", "./get-creds", ACCOUNT="DEV") == "ASIAPROJECTADEV"
    assert cache_in(a, "--key-env", "ACCOUNT", "--", "./get-creds", ACCOUNT="PROD") == "ASIAPROJECTAPROD"
    assert cache_in(a, "--key-env", "ACCOUNT", "--", "./get-creds", ACCOUNT="DEV") == "ASIAPROJECTADEV"
    assert runs(a / "runs") == 2


def test_every_aws_variable_is_in_the_key(tmp_path: Path) -> None:
    a = project(tmp_path, "projecta")
    assert cache_in(a, "--", "./get-creds", AWS_PROFILE="dev") == "ASIAPROJECTANONE"
    assert cache_in(a, "--", "./get-creds", AWS_PROFILE="prod") == "ASIAPROJECTANONE"
    assert cache_in(a, "--", "./get-creds", AWS_PROFILE="dev") == "ASIAPROJECTANONE"
    assert runs(a / "runs") == 2


def test_the_key_follows_the_executable_path_and_the_directory(tmp_path: Path) -> None:
    a, b = project(tmp_path, "projecta"), project(tmp_path, "projectb")
    env = {"PATH": str(a)}
    base = helper_key(["get-creds"], environ=env, cwd=str(tmp_path))
    assert helper_key(["get-creds"], environ={"PATH": str(b)}, cwd=str(tmp_path)) != base
    assert helper_key(["get-creds"], environ=env, cwd=str(b)) == base  # from PATH: cwd plays no part
    assert helper_key(["./get-creds"], environ=env, cwd=str(a)) != helper_key(
        ["./get-creds"], environ=env, cwd=str(b)
    )
    assert helper_key(["get-creds"], ["ACCOUNT"], environ=env, cwd=str(a)) != base  # unset is a value
    assert helper_key(["get-creds"], ["ACCOUNT"], environ={**env, "ACCOUNT": ""}, cwd=str(a)) != helper_key(
        ["get-creds"], ["ACCOUNT"], environ=env, cwd=str(a)
    )


@pytest.mark.parametrize("value", ["", "A=B"])
def test_a_key_env_that_is_not_a_name_exits_2(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cache", "--key-env", value, "--", "true"]) == 2
    assert "--key-env" in capsys.readouterr().err


# -- a helper resolving its own profile (the loop guard) -------------------------------------------

LOOPING_HELPER = """
import os, subprocess, sys
# The test's own brake: without rolesession's guard this would go on for ever.
depth = int(os.environ.get("TEST_DEPTH", "0"))
if depth >= 3:
    sys.exit(9)
os.environ["TEST_DEPTH"] = str(depth + 1)
options = sys.argv[1:]
inner = subprocess.run([sys.executable, "-m", "rolesession", "cache", *options, "--", sys.executable,
                        __file__, *options], capture_output=True, text=True)
sys.stderr.write(inner.stderr)
sys.exit(inner.returncode)
"""


@pytest.mark.parametrize("options", [[], ["--no-cache"]], ids=["cached", "no-cache"])
def test_a_helper_that_runs_itself_through_rolesession_cache_exits_3(
    options: list[str], tmp_path: Path
) -> None:
    script = tmp_path / "looping.py"
    script.write_text(LOOPING_HELPER)
    done = cache_cli(*options, "--", sys.executable, str(script), *options)
    assert done.returncode == 5  # the outer run: its helper failed
    assert "exited with status 3" in done.stderr  # the inner run found the loop and exited 3
    assert "loops" in done.stderr and str(script) in done.stderr
    assert entries() == []


def test_a_helper_leaving_a_process_on_its_stdout_does_not_hold_the_run(tmp_path: Path) -> None:
    # An SSO helper that opens a browser: the browser inherits stdout (and stderr) and lives on.
    script = tmp_path / "opens_a_browser.py"
    pid_file = tmp_path / "browser.pid"
    script.write_text(
        "import datetime, json, subprocess, sys\n"
        "browser = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(browser.pid))\n"
        "now = datetime.datetime.now(datetime.timezone.utc)\n"
        "expiration = (now + datetime.timedelta(hours=1)).isoformat()\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': 'ASIABROWSER', 'SecretAccessKey': 's',\n"
        "                  'SessionToken': 't', 'Expiration': expiration}), flush=True)\n"
    )
    try:
        with open(tmp_path / "stderr", "w") as stderr:  # the browser holds this one: not a pipe we wait on
            done = subprocess.run(
                [sys.executable, "-m", "rolesession", "cache", "--", sys.executable, str(script)],
                stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, text=True, timeout=120,
                check=False,
            )  # fmt: skip
        assert done.returncode == 0, (tmp_path / "stderr").read_text()
        assert json.loads(done.stdout)["AccessKeyId"] == "ASIABROWSER"
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), 9)


# -- the cached answer without a parser or boto3 -------------------------------------------------

_REPORT = (
    "import json, sys\n"
    "from rolesession.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "mods = ('boto3', 'botocore', 'argparse', 'logging', 'subprocess', 'dataclasses', 'typing')\n"
    "print(json.dumps(sorted(m for m in mods if m in sys.modules)), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def reporting_cli(*argv: str) -> tuple[str, list[str]]:
    """``rolesession ARGV`` in a fresh interpreter: its output, and which heavy modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", _REPORT, *argv],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return done.stdout, loaded


def test_a_cached_output_is_printed_without_boto3_or_a_parser(helper: tuple[list[str], Path]) -> None:
    argv, counter = helper
    first, loaded = reporting_cli("cache", "--", *argv)
    assert "subprocess" in loaded and "boto3" not in loaded  # the helper ran
    cached, loaded = reporting_cli("cache", "--", *argv)
    assert loaded == []  # no boto3, botocore, parser, logging or subprocess
    assert cached == first and runs(counter) == 1


def test_with_an_option_the_parsed_path_answers_from_the_same_entry_without_boto3(
    helper: tuple[list[str], Path],
) -> None:
    argv, counter = helper
    first, _ = reporting_cli("cache", "--", *argv)
    cached, loaded = reporting_cli("cache", "-v", "--", *argv)
    assert "argparse" in loaded and "boto3" not in loaded and "botocore" not in loaded
    assert cached == first and runs(counter) == 1


def test_the_cached_answer_keeps_the_loop_check(helper: tuple[list[str], Path]) -> None:
    argv, counter = helper
    cache_cli("--", *argv)  # cached: the loop is refused before the cache is read
    env = {**os.environ, loops.VARIABLE: quote("cache -- " + shlex.join(argv), safe="")}
    done = subprocess.run(
        [sys.executable, "-m", "rolesession", "cache", "--", *argv],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 3 and "rolesession again" in done.stderr
    assert runs(counter) == 1


def test_a_document_is_a_frozen_value_whose_repr_holds_no_secret() -> None:
    from rolesession.cli.process_cache import Document

    document = Document("AKIAEXAMPLE", "wJalrSECRET", "FQoGTOKEN", 1.0e9, "123456789012")
    assert document == Document("AKIAEXAMPLE", "wJalrSECRET", "FQoGTOKEN", 1.0e9, "123456789012")
    assert len({document, Document("AKIAEXAMPLE", "wJalrSECRET", "FQoGTOKEN", 1.0e9, "123456789012")}) == 1
    with pytest.raises(AttributeError):
        document.token = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del document.token
    assert "wJalrSECRET" not in repr(document) and "FQoGTOKEN" not in repr(document)
