"""``assume`` answered from the file cache without boto3 or botocore (SPEC "CLI", fast path).

Each run is a fresh interpreter against a moto server on loopback; it reports
on stderr which of boto3/botocore it loaded. A cached answer must load
neither and print the bytes the full path printed; every case the cached
path cannot be certain of must load them (the full path) and answer right.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rolesession import FileCache
from rolesession.cli.failures import Marker
from rolesession.cli.fast import shared_failures
from rolesession.cli.parser import parse_args

ROLE = "arn:aws:iam::123456789012:role/FastPath"
ROLE2 = "arn:aws:iam::123456789012:role/FastPathNext"
BOTH = ["boto3", "botocore"]

RUN = (
    "import json, sys\n"
    "from rolesession.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "print(json.dumps(sorted(m for m in ('boto3', 'botocore') if m in sys.modules)), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def cli(*argv: str, **env: str) -> tuple[str, list[str]]:
    """``rolesession ARGV`` in a fresh interpreter: its output, and which of boto3/botocore it loaded."""
    result = subprocess.run(
        [sys.executable, "-c", RUN, *argv],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stderr.strip().splitlines()[-1])
    return result.stdout, loaded


def assume(
    endpoint: str, *more: str, roles: tuple[str, ...] = (ROLE,), form: str = "credential-process"
) -> list[str]:
    return ["assume", *roles, "--format", form, "--sts-endpoint-url", endpoint, *more]


def entries() -> list[str]:
    """The keys of the credential entries in the CLI's file cache (not the hand-out memos)."""
    directory = Path(os.environ["XDG_CACHE_HOME"]) / "rolesession"
    found = ((p.stem, FileCache().get(p.stem)) for p in directory.glob("*.json"))
    return [key for key, entry in found if entry is not None and "HandOut" not in entry]


def set_left(left: float, lifetime: float = 3600) -> None:
    """Make every cached entry one lasting ``lifetime`` seconds with ``left`` seconds to go."""
    cache, now = FileCache(), time.time()
    for key in entries():
        entry = cache.get(key)
        assert entry is not None
        expiry = dt.datetime.fromtimestamp(now + left, dt.timezone.utc)
        entry["Credentials"]["Expiration"] = expiry.isoformat()
        entry["ReceivedAt"] = now + left - lifetime
        cache.set(key, entry)


def access_key(output: str) -> str:
    return str(json.loads(output)["AccessKeyId"])


@pytest.mark.parametrize("form", ["credential-process", "json", "env"])
def test_a_cached_hand_out_loads_neither_and_prints_the_full_paths_bytes(moto_server: str, form: str) -> None:
    full, loaded = cli(*assume(moto_server, form=form))
    assert loaded == BOTH  # nothing cached yet: STS was called
    cached, loaded = cli(*assume(moto_server, form=form))
    assert loaded == []
    assert cached == full


def test_a_chain_is_answered_from_every_hops_entry(moto_server: str) -> None:
    argv = assume(moto_server, "--session-name", "fast", "--duration", "1h", roles=(ROLE, ROLE2))
    full, loaded = cli(*argv)
    assert loaded == BOTH and len(entries()) == 2
    cached, loaded = cli(*argv)
    assert (cached, loaded) == (full, [])


def test_less_than_15_minutes_left_takes_the_full_path_which_refreshes(moto_server: str) -> None:
    held, _ = cli(*assume(moto_server))
    set_left(10 * 60)
    answer, loaded = cli(*assume(moto_server))
    assert loaded == BOTH
    assert access_key(answer) != access_key(held)


def test_inside_the_advisory_window_takes_the_full_path(moto_server: str) -> None:
    held, _ = cli(*assume(moto_server))
    set_left(30 * 60, lifetime=2 * 3600)  # the default advisory window of 2-hour credentials is 60 minutes
    answer, loaded = cli(*assume(moto_server))
    assert loaded == BOTH
    assert access_key(answer) == access_key(held)  # handed out; the refresh ran behind


def test_an_expired_entry_takes_the_full_path(moto_server: str) -> None:
    held, _ = cli(*assume(moto_server))
    set_left(-60)
    answer, loaded = cli(*assume(moto_server))
    assert loaded == BOTH and access_key(answer) != access_key(held)


def test_a_corrupt_entry_takes_the_full_path(moto_server: str) -> None:
    held, _ = cli(*assume(moto_server))
    directory = Path(os.environ["XDG_CACHE_HOME"]) / "rolesession"
    [key] = entries()
    (directory / f"{key}.json").write_text("{not json")
    answer, loaded = cli(*assume(moto_server))
    assert loaded == BOTH and access_key(answer) != access_key(held)


def test_another_caller_key_takes_the_full_path(moto_server: str) -> None:
    held, _ = cli(*assume(moto_server))
    answer, loaded = cli(*assume(moto_server), AWS_ACCESS_KEY_ID="AKIAOTHERCALLER00001")
    assert loaded == BOTH and access_key(answer) != access_key(held)


@pytest.mark.parametrize(
    "other",
    [("--session-name", "another"), ("--duration", "2h"), ("--external-id", "x-123"), ("--no-cache",)],
)
def test_another_parameter_takes_the_full_path(moto_server: str, other: tuple[str, ...]) -> None:
    held, _ = cli(*assume(moto_server))
    answer, loaded = cli(*assume(moto_server, *other))
    assert loaded == BOTH and access_key(answer) != access_key(held)


@pytest.mark.parametrize("variable", ["AWS_PROFILE", "AWS_ROLE_ARN"])
def test_a_variable_naming_another_source_takes_the_full_path(moto_server: str, variable: str) -> None:
    cli(*assume(moto_server))
    Path(os.environ["AWS_CONFIG_FILE"]).write_text("[profile keys]\nregion = us-east-1\n")
    _, loaded = cli(*assume(moto_server), **{variable: "keys" if variable == "AWS_PROFILE" else ROLE})
    assert loaded == BOTH


def test_a_region_only_botocore_can_find_takes_the_full_path(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    full, _ = cli(*assume(moto_server, form="env"))
    Path(os.environ["AWS_CONFIG_FILE"]).write_text("[default]\nregion = eu-west-1\n")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    answer, loaded = cli(*assume(moto_server, form="env"))
    assert loaded == BOTH
    assert "AWS_REGION=eu-west-1" in answer and answer.replace("eu-west-1", "us-east-1") == full


def test_a_shared_failure_marker_takes_the_full_path(moto_server: str) -> None:
    held, _ = cli(*assume(moto_server))
    argv = assume(moto_server)
    failures = shared_failures(parse_args(argv), FileCache())
    failures.write(Marker("STS is unreachable", 5, time.time() + 120, 0, valid_until=time.time() + 3000))
    answer, loaded = cli(*argv)
    assert loaded == BOTH
    assert answer == held  # the marker holds: the valid credentials cached, no new attempt
