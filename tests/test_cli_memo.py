"""The hand-out memo: ``assume`` answered before any parsing, only where the full path would answer the same.

A run that hands credentials out records where its hops' entries are, under
a key over every input (`rolesession.cli.fast.memo_key`); the next run with
the same inputs prints those entries without a parser, the parameter table or
boto3. Every input changed is another key (a miss: the full path runs), and an
entry refreshed since the memo was written is a miss too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rolesession import FileCache, RoleCredentials
from rolesession.cli import fast, main

ROLE = "arn:aws:iam::123456789012:role/Memo"
ROLE2 = "arn:aws:iam::123456789012:role/MemoNext"
BOTH = ["boto3", "botocore"]

RUN = (
    "import json, sys\n"
    "from rolesession.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "mods = ('boto3', 'botocore', 'argparse', 'rolesession._sources', 'rolesession.cli.options',\n"
    "        'typing', 'logging', 'dataclasses', 'socket', '_hashlib')\n"
    "print(json.dumps(sorted(m for m in mods if m in sys.modules)), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def cli(*argv: str) -> tuple[str, list[str]]:
    """``rolesession ARGV`` in a fresh interpreter: its output, and which of the heavy modules it loaded."""
    result = subprocess.run(
        [sys.executable, "-c", RUN, *argv], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stderr.strip().splitlines()[-1])
    return result.stdout, loaded


def memos() -> list[dict[str, Any]]:
    directory = Path(os.environ["XDG_CACHE_HOME"]) / "rolesession"
    found = (FileCache().get(p.stem) for p in directory.glob("*.json"))
    return [entry for entry in found if entry is not None and "HandOut" in entry]


COMBINATIONS = [
    pytest.param((ROLE,), (), "credential-process", id="one-role"),
    pytest.param((ROLE,), ("--session-name", "memo-x"), "json", id="session-name"),
    pytest.param((ROLE,), ("--duration", "45m"), "env", id="duration"),
    pytest.param((ROLE,), ("--region", "eu-west-1"), "env", id="region"),
    pytest.param(
        (ROLE, ROLE2), ("--duration", "1h", "--session-name", "hop"), "credential-process", id="chain"
    ),
    pytest.param((ROLE, ROLE2), ("-v",), "json", id="chain-verbose"),
]


@pytest.mark.parametrize(("roles", "options", "form"), COMBINATIONS)
def test_the_memo_and_the_recomputed_keys_answer_what_the_full_path_printed(
    moto_server: str, roles: tuple[str, ...], options: tuple[str, ...], form: str
) -> None:
    argv = ["assume", *roles, "--format", form, "--sts-endpoint-url", moto_server, *options]
    full, loaded = cli(*argv)
    assert set(BOTH) <= set(loaded)  # nothing cached yet: STS was called
    [memo] = memos()
    assert len(memo["HandOut"]["Hops"]) == len(roles)
    assert memo["Credentials"]["SecretAccessKey"] == "" and memo["Credentials"]["SessionToken"] == ""
    # The memo: no parser, no parameter table, no boto3 (nor typing, logging, dataclasses, OpenSSL).
    assert cli(*argv) == (full, [])
    # Without it, the keys are computed again from the parsed options (`cached_chain`): the entries
    # the full path wrote are found under them -- the two paths' keys agree.
    directory = Path(os.environ["XDG_CACHE_HOME"]) / "rolesession"
    for path in directory.glob("*.json"):
        entry = FileCache().get(path.stem)
        if entry is not None and "HandOut" in entry:
            path.unlink()
    cached, loaded = cli(*argv)
    assert cached == full
    assert "boto3" not in loaded and "botocore" not in loaded and "rolesession._sources" in loaded
    assert len(memos()) == 1  # and that run wrote the memo again


def test_an_entry_refreshed_since_the_memo_is_not_answered_from_it(
    moto_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["assume", ROLE, ROLE2, "--format", "json", "--sts-endpoint-url", moto_server]
    assert main(argv) == 0
    held = capsys.readouterr().out
    assert fast.answer(argv) == 0 and capsys.readouterr().out == held
    [memo] = memos()
    first_key = memo["HandOut"]["Hops"][0][0]
    cache = FileCache()
    entry = cache.get(first_key)
    assert entry is not None
    entry["Credentials"]["AccessKeyId"] = "ASIAREFRESHEDELSEWHE"  # another process refreshed the first hop
    cache.set(first_key, entry)
    assert fast.answer(argv) is None  # the second hop's key would be another one now


def test_a_memo_past_its_refresh_mark_is_not_answered_from(
    moto_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["assume", ROLE, "--format", "json", "--sts-endpoint-url", moto_server]
    assert main(argv) == 0
    capsys.readouterr()
    [memo] = memos()
    later = memo["HandOut"]["Until"] + 1
    real = time.time
    try:
        time.time = lambda: later  # type: ignore[assignment]
        assert fast.answer(argv) is None
    finally:
        time.time = real  # type: ignore[assignment]


def test_a_shared_failure_marker_is_not_answered_over(
    moto_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["assume", ROLE, "--format", "json", "--sts-endpoint-url", moto_server]
    assert main(argv) == 0
    capsys.readouterr()
    [memo] = memos()
    Path(FileCache().directory, f"{memo['HandOut']['Marker']}.failure").write_text("{}")
    assert fast.answer(argv) is None


@pytest.mark.parametrize(
    "argv",
    [
        ["assume", ROLE, "--external-id", "x-1"],  # an option the cached paths do not serve
        ["assume", ROLE, "--no-cache"],
        ["whoami", ROLE],
    ],
)
def test_runs_the_cached_paths_do_not_serve_write_no_memo(
    moto_server: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--sts-endpoint-url", moto_server]) == 0
    capsys.readouterr()
    assert memos() == []


# -- every input is in the key ---------------------------------------------------------------


ARGV = ["assume", ROLE, "--format", "credential-process"]


def _changes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """One way to change each input the full path's keys and document depend on."""
    config = Path(os.environ["AWS_CONFIG_FILE"])
    credentials = Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    real_uname = os.uname()

    class Uname:
        nodename = real_uname.nodename + "-other"

    return {
        "argv": lambda: None,  # (the changed argv is passed below)
        "access key": lambda: monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAOTHERCALLER00001"),
        "secret key": lambda: monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "other-secret"),
        "session token": lambda: monkeypatch.setenv("AWS_SESSION_TOKEN", "token"),
        "region": lambda: monkeypatch.setenv("AWS_REGION", "eu-west-1"),
        "default region": lambda: monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1"),
        "profile": lambda: monkeypatch.setenv("AWS_PROFILE", "prod"),
        "session name": lambda: monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "named"),
        "lambda name": lambda: monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn"),
        "sts endpoint variable": lambda: monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1"),
        "config file path": lambda: monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "elsewhere")),
        "config file content": lambda: config.write_text("[default]\nregion = eu-west-1\n"),
        "credentials file": lambda: credentials.write_text("[default]\n"),
        "home": lambda: monkeypatch.setenv("HOME", str(tmp_path)),
        "cache home": lambda: monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c2")),
        "user": lambda: monkeypatch.setenv("LOGNAME", "somebody-else"),
        "uid": lambda: monkeypatch.setattr(os, "getuid", lambda: 4242),
        "host": lambda: monkeypatch.setattr(os, "uname", lambda: Uname),
        "version": lambda: monkeypatch.setattr(fast, "__version__", "99.0"),
    }


@pytest.mark.parametrize(
    "change",
    [
        "argv", "access key", "secret key", "session token", "region", "default region", "profile",
        "session name", "lambda name", "sts endpoint variable", "config file path", "config file content",
        "credentials file", "home", "cache home", "user", "uid", "host", "version",
    ],
)  # fmt: skip
def test_changing_any_input_changes_the_memo_key(
    change: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    Path(os.environ["AWS_CONFIG_FILE"]).write_text("[default]\n")
    before = fast.memo_key(ARGV)
    assert before is not None and fast.memo_key(list(ARGV)) == before  # the same inputs, the same key
    _changes(monkeypatch, tmp_path)[change]()
    argv = [*ARGV, "--session-name", "x"] if change == "argv" else ARGV
    assert fast.memo_key(argv) != before


def test_a_changed_input_is_a_miss_end_to_end(
    moto_server: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["assume", ROLE, "--format", "json", "--sts-endpoint-url", moto_server]
    assert main(argv) == 0
    capsys.readouterr()
    assert fast.answer(argv) == 0
    capsys.readouterr()
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "another-name")
    assert fast.answer(argv) is None  # another session name: another key the full path computes
    monkeypatch.delenv("AWS_ROLE_SESSION_NAME")
    assert fast.answer([*argv, "--format", "env"]) is None  # another argv


def test_the_memo_holds_no_secret(moto_server: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["assume", ROLE, "--format", "json", "--sts-endpoint-url", moto_server]
    assert main(argv) == 0
    handed = json.loads(capsys.readouterr().out)
    directory = Path(os.environ["XDG_CACHE_HOME"]) / "rolesession"
    [memo_file] = [p for p in directory.glob("*.json") if "HandOut" in p.read_text(encoding="utf-8")]
    text = memo_file.read_text(encoding="utf-8")
    assert handed["SecretAccessKey"] not in text and handed["SessionToken"] not in text
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in text
    assert RoleCredentials.from_entry(json.loads(text)) is not None  # a plausible entry: swept with its hop


def test_a_shared_file_named_through_a_variable_is_in_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """botocore expands ``$VAR`` and ``~`` in AWS_CONFIG_FILE: the key follows the file it reads."""
    monkeypatch.setenv("FAST_MEMO_DIR", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", "$FAST_MEMO_DIR/config")
    (tmp_path / "config").write_text("[default]\n")
    before = fast.memo_key(ARGV)
    (tmp_path / "config").write_text("[default]\nregion = eu-west-1\n")
    assert fast.memo_key(ARGV) != before
