"""FileCache: private, atomic, multi-process credential files that never fail a read."""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import json
import logging
import os
import pickle
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import freezegun
import pytest

import rolesession
from helpers import ROLE, ROLE_B, ROLE_C, access_key, to_iso
from rolesession import FileCache, InvalidParameterError
from rolesession.testing import StsRecorder, reset
from tokens import make_jwt

KEY = "0123456789abcdef" * 4  # what cache_key() makes: a SHA-256 hex digest
OTHER_KEY = "fedcba9876543210" * 4
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def entry(
    lifetime: float = 3600, access_key: str = "ASIAEXAMPLE", received: float | None = None
) -> dict[str, Any]:
    """A cache entry as sessions write it: the STS response plus the receipt time."""
    now = time.time() if received is None else received
    return {
        "Version": 1,
        "Credentials": {
            "AccessKeyId": access_key,
            "SecretAccessKey": "secret",
            "SessionToken": "token",
            "Expiration": to_iso(now + lifetime),
        },
        "AssumedRoleUser": {
            "Arn": "arn:aws:sts::123456789012:assumed-role/Reader/s",
            "AssumedRoleId": "AROAEXAMPLE:s",
        },
        "ReceivedAt": now,
    }


def entries(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.json"))


def warning_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("rolesession") and r.levelno >= logging.WARNING]


def new_process() -> None:
    """What a new process sees: no sessions, no memory cache, no shared clients."""
    reset()


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Any:
    """A private directory of ours in which nothing can be created."""
    directory = tmp_path / "read-only"
    directory.mkdir()
    os.chmod(directory, 0o700)
    if not IS_ROOT:
        os.chmod(directory, 0o500)
        undo = ["chmod", "700", str(directory)]
    elif (
        shutil.which("chattr")
        and subprocess.run(["chattr", "+i", str(directory)], check=False).returncode == 0
    ):
        undo = ["chattr", "-i", str(directory)]  # root ignores modes; an immutable directory it cannot ignore
    else:
        pytest.skip("cannot make a read-only directory here")
    try:
        probe_ok = True
        try:
            (directory / "probe").touch()
        except OSError:
            probe_ok = False
        if probe_ok:
            pytest.skip("the directory is still writable")
        yield directory
    finally:
        subprocess.run(undo, check=False)


def foreign_dir(tmp_path: Path) -> Path:
    """A real directory owned by another user."""
    if not IS_ROOT:
        return Path("/")  # root's, so not ours; FileCache rejects it before touching it
    directory = tmp_path / "foreign"
    directory.mkdir(mode=0o755)
    os.chown(directory, NOBODY, NOBODY)
    return directory


# -- the directory --------------------------------------------------------------------------------


def test_a_missing_directory_is_created_private(tmp_path: Path) -> None:
    directory = tmp_path / "deep" / "cache"
    cache = FileCache(directory)
    assert cache.directory == str(directory)
    assert directory.is_dir() and mode(directory) == 0o700


def test_a_looser_directory_of_ours_is_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    os.chmod(directory, 0o775)
    FileCache(directory)
    assert mode(directory) == 0o700


def test_a_symlinked_directory_is_rejected(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    with pytest.raises(InvalidParameterError) as info:
        FileCache(link)
    assert info.value.parameter == "directory" and "symbolic link" in str(info.value)


def test_a_directory_of_another_user_is_rejected(tmp_path: Path) -> None:
    directory = foreign_dir(tmp_path)
    before = mode(directory)
    with pytest.raises(InvalidParameterError) as info:
        FileCache(directory)
    assert info.value.parameter == "directory" and "uid" in str(info.value)
    assert mode(directory) == before  # never tightened: it is not ours


@pytest.mark.parametrize("bad", ["", 42, b"/tmp", "/tmp/a\0b"])
def test_bad_directory_values_are_rejected(bad: Any) -> None:
    with pytest.raises(InvalidParameterError) as info:
        FileCache(bad)
    assert info.value.parameter == "directory"


def test_a_file_is_not_a_directory(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("")
    with pytest.raises(InvalidParameterError) as info:
        FileCache(plain)
    assert info.value.parameter == "directory"


def test_lock_timeout_is_checked() -> None:
    with pytest.raises(InvalidParameterError) as info:
        FileCache(lock_timeout=-1)
    with pytest.raises(InvalidParameterError):
        FileCache(lock_timeout=float("nan"))
    assert info.value.parameter == "lock_timeout"


@pytest.mark.parametrize("bits", [0o1777, 0o1700, 0o2770, 0o2700, 0o3775], ids=oct)
def test_a_sticky_or_setgid_directory_is_refused_and_left_alone(tmp_path: Path, bits: int) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    os.chmod(directory, bits)
    with pytest.raises(InvalidParameterError) as info:
        FileCache(directory)
    assert info.value.parameter == "directory" and "sticky or setgid" in str(info.value)
    assert mode(directory) == bits  # never chmod-ed


@pytest.fixture
def no_chmod(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records chmod calls instead of making them: a regression must not chmod /etc on this machine."""
    calls: list[str] = []
    monkeypatch.setattr(os, "chmod", lambda path, *args, **kwargs: calls.append(str(path)))
    return calls


@pytest.mark.parametrize(
    "directory", ["/", "/tmp", "/var/tmp", "/dev/shm", "/usr", "/etc", "/usr/../etc/", "/var/./tmp"]
)
def test_a_system_directory_is_refused_and_never_chmodded(directory: str, no_chmod: list[str]) -> None:
    if not os.path.isdir(directory):
        pytest.skip(f"{directory} does not exist here")
    with pytest.raises(InvalidParameterError) as info:
        FileCache(directory)
    assert info.value.parameter == "directory"
    assert no_chmod == []


def test_a_system_directory_reached_through_a_symlink_is_refused(tmp_path: Path, no_chmod: list[str]) -> None:
    (tmp_path / "alias").symlink_to("/")  # the last component is real: only realpath() sees /usr
    with pytest.raises(InvalidParameterError) as info:
        FileCache(tmp_path / "alias" / "usr")
    assert info.value.parameter == "directory"
    assert no_chmod == []


@pytest.mark.parametrize("spelling", ["absolute", "tilde"])
def test_the_home_directory_itself_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(home, 0o755)
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(InvalidParameterError) as info:
        FileCache(home if spelling == "absolute" else "~")
    assert info.value.parameter == "directory" and "system or shared" in str(info.value)
    assert mode(home) == 0o755
    FileCache(home / ".cache" / "rolesession")  # a directory inside it is fine


def test_a_shared_default_directory_is_bypassed_with_one_warning(
    tmp_path: Path, sts_mock: Any, log_records: pytest.LogCaptureFixture
) -> None:
    default = Path(os.environ["XDG_CACHE_HOME"]) / "rolesession"
    default.mkdir(parents=True)
    os.chmod(default, 0o1777)
    cache = FileCache()  # no error: the default directory is only ever bypassed
    [record] = warning_records(log_records)
    assert "sticky or setgid" in record.getMessage()
    assert access_key(rolesession.assume_role(ROLE, cache=cache))
    cache.set(KEY, entry())
    assert cache.get(KEY) is None
    assert list(default.iterdir()) == [] and mode(default) == 0o1777
    assert len(warning_records(log_records)) == 1


def test_a_new_directory_under_a_setgid_parent_is_made_private(tmp_path: Path) -> None:
    parent = tmp_path / "group-shared"
    parent.mkdir()
    os.chmod(parent, 0o2775)
    if not os.lstat(parent).st_mode & stat.S_ISGID:
        pytest.skip("this filesystem does not keep the setgid bit")
    cache = FileCache(parent / "c")  # made by us just now: the inherited setgid bit goes
    assert mode(parent / "c") == 0o700
    cache.set(KEY, entry())
    assert cache.get(KEY) is not None


# -- the default directory --------------------------------------------------------------------------------


def test_the_default_directory_is_under_xdg_cache_home(tmp_path: Path, sts_mock: Any) -> None:
    xdg = Path(os.environ["XDG_CACHE_HOME"])
    cache = FileCache()
    assert cache.directory == str(xdg / "rolesession")
    assert mode(xdg / "rolesession") == 0o700
    access_key(rolesession.assume_role(ROLE, cache=cache))
    assert len(entries(xdg / "rolesession")) == 1


def test_without_xdg_cache_home_the_default_is_dot_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert FileCache().directory == str(tmp_path / "home" / ".cache" / "rolesession")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec says to ignore it
    assert FileCache().directory == str(tmp_path / "home" / ".cache" / "rolesession")


def test_the_default_directory_is_public_and_read_at_each_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "one"))
    assert FileCache.default_directory() == str(tmp_path / "one" / "rolesession") == FileCache().directory
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "two"))
    assert FileCache.default_directory() == str(tmp_path / "two" / "rolesession")
    assert not (tmp_path / "two").exists()  # asking creates nothing


def test_key_for_makes_keys_the_cache_stores_apart_per_material_and_caller(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "cache")
    mine = FileCache.key_for({"operation": "my-broker", "account": "123456789012"})
    assert mine == FileCache.key_for({"account": "123456789012", "operation": "my-broker"})  # canonical
    others = {
        FileCache.key_for({"operation": "my-broker", "account": "210987654321"}),
        FileCache.key_for({"operation": "my-broker", "account": "123456789012"}, "alice"),
    }
    assert mine not in others and len(others) == 2
    cache.set(mine, entry())
    assert cache.get(mine) is not None and all(cache.get(key) is None for key in others)


def test_a_symlinked_default_directory_is_bypassed_with_one_warning(
    tmp_path: Path, sts_mock: Any, sts_calls: Any, log_records: pytest.LogCaptureFixture
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    xdg = Path(os.environ["XDG_CACHE_HOME"])
    xdg.mkdir()
    (xdg / "rolesession").symlink_to(elsewhere)
    cache = FileCache()  # no error: the default directory is only ever bypassed
    assert (
        len(warning_records(log_records)) == 1
        and "symbolic link" in warning_records(log_records)[0].getMessage()
    )
    session = rolesession.assume_role(ROLE, cache=cache)
    assert access_key(session)
    cache.set(KEY, entry())
    assert cache.get(KEY) is None
    assert list(elsewhere.iterdir()) == []
    assert len(warning_records(log_records)) == 1


def test_a_foreign_default_directory_is_bypassed(
    tmp_path: Path, log_records: pytest.LogCaptureFixture
) -> None:
    if not IS_ROOT:
        pytest.skip("needs root to give a directory away")
    xdg = Path(os.environ["XDG_CACHE_HOME"])
    (xdg / "rolesession").mkdir(parents=True)
    os.chown(xdg / "rolesession", NOBODY, NOBODY)
    cache = FileCache()
    cache.set(KEY, entry())
    assert list((xdg / "rolesession").iterdir()) == []
    assert len(warning_records(log_records)) == 1


# -- entries --------------------------------------------------------------------------------


def test_an_entry_is_one_private_json_file_per_key(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    stored = entry()
    cache.set(KEY, stored)
    path = tmp_path / "c" / f"{KEY}.json"
    assert [p.name for p in (tmp_path / "c").iterdir()] == [path.name]  # no temporary file left
    assert mode(path) == 0o600
    assert json.loads(path.read_text()) == {**stored, "CacheKey": KEY}  # bound to its key
    assert cache.get(KEY) == stored
    assert cache.persistent is True


def test_files_are_private_from_the_moment_they_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "c"
    cache = FileCache(directory)
    created: list[tuple[str, int, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        # Files are opened relative to the directory the cache holds open (dir_fd), or by a full path.
        if os.path.basename(path).lstrip(".").startswith(KEY) and flags & os.O_CREAT:
            created.append((os.path.basename(path), flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    with cache.lock(KEY):
        cache.set(KEY, entry())
    monkeypatch.undo()
    names = {name for name, _, _ in created}
    assert any(n.endswith(".tmp") for n in names) and f"{KEY}.lock" in names
    assert all(m & 0o077 == 0 for _, _, m in created), created
    assert all(flags & os.O_EXCL for name, flags, _ in created if name.endswith(".tmp"))
    assert mode(directory / f"{KEY}.lock") == 0o600


def test_a_fresh_filecache_on_the_same_directory_serves_without_sts(
    tmp_path: Path, sts_mock: Any, sts_calls: Any
) -> None:
    directory = tmp_path / "shared"
    first = rolesession.assume_role(ROLE, session_name="worker", cache=FileCache(directory))
    key = access_key(first)
    assert sts_calls.count() == 1 and len(entries(directory)) == 1

    new_process()
    second = rolesession.assume_role(ROLE, session_name="worker", cache=FileCache(directory))
    assert second is not first
    assert access_key(second) == key
    assert second.identity() == first.identity()
    assert sts_calls.count() == 1


def test_different_parameters_get_different_files(tmp_path: Path, sts_mock: Any, sts_calls: Any) -> None:
    cache = FileCache(tmp_path / "c")
    keys = {
        access_key(rolesession.assume_role(ROLE, cache=cache)),
        access_key(rolesession.assume_role(ROLE_B, cache=cache)),
        access_key(rolesession.assume_role(ROLE, duration=900, cache=cache)),
    }
    assert len(keys) == 3 and len(entries(tmp_path / "c")) == 3 and sts_calls.count() == 3


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b'{"Version": 1, "Credentials": {"AccessKeyId": "ASIA',  # truncated
        b"\x00\xff\xfe garbage",
        b"[1, 2, 3]",
        b'{"Version": 1, "Credentials": 7, "ReceivedAt": 0}',
        # the AWS CLI's own cache format: foreign here
        json.dumps(
            {
                "Credentials": {
                    "AccessKeyId": "A",
                    "SecretAccessKey": "S",
                    "SessionToken": "T",
                    "Expiration": "2999-01-01T00:00:00Z",
                }
            }
        ).encode(),
        b"{" * 100_000,
    ],
    ids=["empty", "truncated", "binary", "list", "wrong-types", "aws-cli", "huge"],
)
def test_a_corrupt_or_foreign_file_is_ignored_and_replaced(
    tmp_path: Path, sts_mock: Any, sts_calls: Any, content: bytes
) -> None:
    directory = tmp_path / "c"
    access_key(rolesession.assume_role(ROLE, cache=FileCache(directory)))
    [path] = entries(directory)
    path.write_bytes(content)

    new_process()
    cache = FileCache(directory)
    assert cache.get(path.stem) is None
    renewed = access_key(rolesession.assume_role(ROLE, cache=cache))
    assert sts_calls.count() == 2
    assert json.loads(path.read_text())["Credentials"]["AccessKeyId"] == renewed
    assert mode(path) == 0o600


def test_an_expired_file_is_pruned_when_met(
    tmp_path: Path, sts_mock: Any, sts_calls: Any, frozen: Any
) -> None:
    directory = tmp_path / "c"
    old = access_key(rolesession.assume_role(ROLE, duration=900, cache=FileCache(directory)))
    [path] = entries(directory)
    frozen.tick(901)

    new_process()
    cache = FileCache(directory)
    assert cache.get(path.stem) is None
    assert not path.exists()  # pruned, not merely skipped
    new = access_key(rolesession.assume_role(ROLE, duration=900, cache=cache))
    assert new != old and sts_calls.count() == 2 and path.exists()


def test_pruning_spares_a_file_another_process_just_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = FileCache(tmp_path / "c")
    cache.set(OTHER_KEY, entry())  # the first write sweeps; the next ones, within a minute, do not
    cache.set(KEY, entry(lifetime=900, received=time.time() - 1000))  # expired
    path = tmp_path / "c" / f"{KEY}.json"
    real_stat = os.stat
    replaced = []

    def replaced_meanwhile(target: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        # After this process read the expired file and before it removes it,
        # another process swaps a fresh entry in (a new inode, atomically).
        # (the cache names files relative to the directory it holds open)
        if os.path.basename(os.fspath(target)) == path.name and not replaced:
            replaced.append(True)
            FileCache(tmp_path / "c").set(KEY, entry())
        return real_stat(target, *args, **kwargs)

    monkeypatch.setattr(os, "stat", replaced_meanwhile)
    assert cache.get(KEY) is None  # what this process read had expired ...
    monkeypatch.undo()
    assert replaced and path.exists()  # ... but the file it would have pruned is the new one
    on_disk = json.loads(path.read_text())
    assert on_disk.pop("CacheKey") == KEY
    assert cache.get(KEY) == on_disk


def test_keys_that_are_not_hex_digests_never_reach_disk(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    for key in ("../escape", "ABCDEF" * 11, "short", ("digest", print), 42, KEY + "\n"):
        cache.set(key, entry())
        assert cache.get(key) is None
        cache.delete(key)
        with cache.lock(key):
            pass
    assert list((tmp_path / "c").iterdir()) == []
    assert not (tmp_path / "escape.json").exists()


def test_credentials_from_a_callable_token_stay_in_memory(
    tmp_path: Path, sts_mock: Any, sts_calls: Any
) -> None:
    cache = FileCache(tmp_path / "c")
    session = rolesession.assume_role_with_web_identity(ROLE, token=make_jwt, cache=cache)
    assert access_key(session)
    assert list((tmp_path / "c").iterdir()) == []


def test_a_symlink_planted_as_an_entry_is_not_followed(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    target = tmp_path / "target.json"
    target.write_text(json.dumps(entry()))
    (tmp_path / "c" / f"{KEY}.json").symlink_to(target)
    assert cache.get(KEY) is None
    cache.set(KEY, entry(access_key="ASIAOURS"))
    assert not (tmp_path / "c" / f"{KEY}.json").is_symlink()
    assert json.loads(target.read_text())["Credentials"]["AccessKeyId"] == "ASIAEXAMPLE"  # untouched


@pytest.mark.skipif(not IS_ROOT, reason="needs root to give a file away")
def test_an_entry_owned_by_another_user_is_ignored(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    cache.set(KEY, entry())
    os.chown(tmp_path / "c" / f"{KEY}.json", NOBODY, NOBODY)
    assert cache.get(KEY) is None


def test_delete_and_clear_remove_only_our_files(tmp_path: Path, sts_mock: Any) -> None:
    directory = tmp_path / "c"
    cache = FileCache(directory)
    other = "fedcba9876543210" * 4
    cache.set(KEY, entry())
    cache.set(other, entry())
    with cache.lock(KEY):
        pass
    (directory / f".{KEY}.0badc0de0badc0de.tmp").write_text("left by a crash")
    (directory / "README").write_text("not ours")
    cache.delete(KEY)
    assert cache.get(KEY) is None and cache.get(other) is not None
    cache.delete(KEY)  # twice is fine
    cache.clear()
    assert [p.name for p in directory.iterdir()] == ["README"]


def test_invalidate_deletes_the_file(tmp_path: Path, sts_mock: Any, sts_calls: Any) -> None:
    session = rolesession.assume_role(ROLE, cache=FileCache(tmp_path / "c"))
    access_key(session)
    assert len(entries(tmp_path / "c")) == 1
    session.invalidate()
    assert entries(tmp_path / "c") == []
    access_key(session)
    assert sts_calls.count() == 2 and len(entries(tmp_path / "c")) == 1


def test_a_refresh_by_one_process_is_picked_up_by_another(
    tmp_path: Path, sts_mock: Any, sts_calls: Any, frozen: Any
) -> None:
    directory = tmp_path / "c"
    a = rolesession.assume_role(ROLE, cache=FileCache(directory))
    first = access_key(a)
    new_process()
    b = rolesession.assume_role(ROLE, cache=FileCache(directory))
    assert access_key(b) == first and sts_calls.count() == 1

    frozen.tick(3600 - 30)  # both in their mandatory window
    assert access_key(a) == first  # still valid: served while a refreshes behind
    a.get_credentials().wait_for_background()
    renewed = access_key(a)
    assert renewed != first and sts_calls.count() == 2
    access_key(b)  # b's refresh finds a's file entry ...
    b.get_credentials().wait_for_background()
    assert access_key(b) == renewed  # ... and takes it, not STS's
    assert sts_calls.count() == 2


def test_a_file_cache_survives_pickling(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c", lock_timeout=2)
    cache.set(KEY, entry())
    copy = pickle.loads(pickle.dumps(cache))
    assert copy.directory == cache.directory and copy.lock_timeout == 2
    assert copy.get(KEY) == cache.get(KEY)
    assert pickle.loads(pickle.dumps(FileCache())).directory == FileCache().directory


def run_briefly(call: Any, seconds: float = 10.0) -> Any:
    """``call()`` in a thread: a regression that blocks fails the test instead of hanging it."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{call} blocked for {seconds} s"
    return result[0]


def unblock(fifo: Path) -> None:
    """Let a reader stuck opening ``fifo`` go (cleanup after a regression)."""
    with contextlib.suppress(OSError):
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_at_an_entry_path_is_a_miss_not_a_hang(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    fifo = tmp_path / "c" / f"{KEY}.json"
    os.mkfifo(fifo, 0o600)
    try:
        assert run_briefly(lambda: cache.get(KEY)) is None
        run_briefly(cache.clear)
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # not ours: clear() leaves it
    finally:
        unblock(fifo)
    cache.set(KEY, entry())  # and the next write replaces it
    assert cache.get(KEY) is not None and mode(fifo) == 0o600


def test_a_directory_at_an_entry_path_is_a_miss(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    (tmp_path / "c" / f"{KEY}.json").mkdir()
    assert cache.get(KEY) is None
    cache.clear()
    assert (tmp_path / "c" / f"{KEY}.json").is_dir()


def entry_text(**changes: str) -> str:
    """A valid entry's JSON with some raw values replaced (to write what json.dumps cannot)."""
    now = time.time()
    fields = {
        "ReceivedAt": repr(now),
        "Expiration": json.dumps(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + 3600))),
        "ClockSkew": "0",
    }
    fields.update(changes)
    return (
        '{"Version": 1, "Credentials": {"AccessKeyId": "ASIAODD", "SecretAccessKey": "s", '
        f'"SessionToken": "t", "Expiration": {fields["Expiration"]}}}, '
        '"AssumedRoleUser": {"Arn": "arn:aws:sts::123456789012:assumed-role/R/s", "AssumedRoleId": "A:s"}, '
        f'"ReceivedAt": {fields["ReceivedAt"]}, "ClockSkew": {fields["ClockSkew"]}}}'
    )


def iso(epoch: float) -> str:
    return json.dumps(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch)))


IMPLAUSIBLE_TIMES = {
    "received-10**400": lambda now: entry_text(ReceivedAt="1" + "0" * 400),
    "received-1e400": lambda now: entry_text(ReceivedAt="1e400"),
    "received-nan": lambda now: entry_text(ReceivedAt="NaN"),
    "received-infinity": lambda now: entry_text(ReceivedAt="-Infinity"),
    "received-negative": lambda now: entry_text(ReceivedAt="-5"),
    "received-a-string": lambda now: entry_text(ReceivedAt='"yesterday"'),
    "received-two-days-ahead": lambda now: entry_text(
        ReceivedAt=repr(now + 2 * 86400), Expiration=iso(now + 2 * 86400 + 3600)
    ),
    "expires-year-9999": lambda now: entry_text(Expiration='"9999-12-31T23:59:59Z"'),
    "lifetime-over-13-hours": lambda now: entry_text(Expiration=iso(now + 13 * 3600 + 60)),
    "expires-before-received": lambda now: entry_text(Expiration=iso(now - 60)),
    "expiration-not-a-date": lambda now: entry_text(Expiration='"soon"'),
    "clock-skew-of-years": lambda now: entry_text(ClockSkew="1e9"),
    "clock-skew-nan": lambda now: entry_text(ClockSkew="NaN"),
}


@pytest.mark.parametrize("make", IMPLAUSIBLE_TIMES.values(), ids=IMPLAUSIBLE_TIMES.keys())
def test_an_entry_with_implausible_times_is_a_miss_and_replaced(tmp_path: Path, make: Any) -> None:
    cache = FileCache(tmp_path / "c")
    path = tmp_path / "c" / f"{KEY}.json"
    path.write_text(make(time.time()))
    os.chmod(path, 0o600)
    assert cache.get(KEY) is None  # never raises, never serves
    good = entry()
    cache.set(KEY, good)
    assert cache.get(KEY) == good


@pytest.mark.parametrize(
    "received, lifetime, skew",
    [(0, 3600, 0), (0, 43200, 0), (3600, 3600, 0), (-11 * 3600, 43200, 0), (0, 3600, 7200), (0, 900, -300)],
    ids=["one-hour", "twelve-hours", "an-hour-ahead", "12h-received-11h-ago", "sts-ahead", "sts-behind"],
)
def test_plausible_times_are_served(tmp_path: Path, received: float, lifetime: float, skew: float) -> None:
    now = time.time()
    stored = entry(lifetime=lifetime + skew, received=now + received)
    if skew:
        stored["ClockSkew"] = skew  # STS's clock minus ours, as recorded by a skew-aware writer
    cache = FileCache(tmp_path / "c")
    cache.set(KEY, stored)
    assert cache.get(KEY) == stored


def test_set_does_not_write_what_get_would_never_serve(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    cache.set(KEY, json.loads(entry_text(Expiration='"9999-12-31T23:59:59Z"')))
    cache.set(KEY, {"not": "an entry"})
    cache.set(KEY, entry(lifetime=-60))  # expires before it was received
    assert list((tmp_path / "c").iterdir()) == []


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604, 0o660, 0o666, 0o620, 0o602], ids=oct)
def test_an_entry_looser_than_0600_is_a_miss_and_replaced(tmp_path: Path, loose: int) -> None:
    cache = FileCache(tmp_path / "c")
    stored = entry()
    cache.set(KEY, stored)
    path = tmp_path / "c" / f"{KEY}.json"
    os.chmod(path, loose)
    assert cache.get(KEY) is None
    cache.set(KEY, stored)
    assert mode(path) == 0o600 and cache.get(KEY) == stored


def test_an_entry_stricter_than_0600_is_served(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    cache.set(KEY, entry())
    os.chmod(tmp_path / "c" / f"{KEY}.json", 0o400)
    assert cache.get(KEY) is not None


def test_clear_leaves_a_users_files_that_merely_have_our_names(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    cache = FileCache(directory)
    names = {
        "ours": f"{KEY}.json",
        "ours-loose": f"{'1' * 64}.json",
        "users-json": f"{'2' * 64}.json",
        "users-text": f"{'3' * 64}.json",
        "users-lock": f"{'4' * 64}.lock",
        "idle-lock": f"{'5' * 64}.lock",
        "held-lock": f"{'6' * 64}.lock",
        "link": f"{'7' * 64}.json",
    }
    cache.set(KEY, entry())
    cache.set("1" * 64, entry())
    os.chmod(directory / names["ours-loose"], 0o644)  # untrusted as credentials, but ours to remove
    (directory / names["users-json"]).write_text(json.dumps({"mine": True, "Version": 1}))
    (directory / names["users-text"]).write_text("my notes")
    (directory / names["users-lock"]).write_text("my lock notes")
    with cache.lock("5" * 64):
        pass
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(entry()))
    (directory / names["link"]).symlink_to(outside)
    with FileCache(directory).lock("6" * 64):  # held, as by another process
        cache.clear()
        left = {p.name for p in directory.iterdir()}
    assert left == {names[n] for n in ("users-json", "users-text", "users-lock", "held-lock", "link")}
    assert json.loads((directory / names["users-json"]).read_text()) == {"mine": True, "Version": 1}
    assert outside.exists()
    cache.clear()  # released now: the lock file of ours goes too
    assert names["held-lock"] not in {p.name for p in directory.iterdir()}


def test_a_write_lost_to_a_concurrent_clear_is_not_an_unwritable_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_records: pytest.LogCaptureFixture
) -> None:
    cache = FileCache(tmp_path / "c")
    real_replace = os.replace

    def clear_first(source: Any, target: Any, **dir_fds: Any) -> None:
        FileCache(tmp_path / "c").clear()  # another process clears between our write and rename
        real_replace(source, target, **dir_fds)

    monkeypatch.setattr(os, "replace", clear_first)
    cache.set(KEY, entry())
    monkeypatch.undo()
    assert warning_records(log_records) == []
    cache.set(KEY, entry())  # still writable
    assert cache.get(KEY) is not None
    assert [p.name for p in (tmp_path / "c").iterdir()] == [f"{KEY}.json"]


# -- the sweep: a bounded directory -----------------------------------------------------------


@pytest.fixture
def clock() -> Iterator[Any]:
    """freezegun from the real current time, so real file times (lock files') age with it."""
    with freezegun.freeze_time(datetime.datetime.now(datetime.timezone.utc), tick=False) as frozen_clock:
        yield frozen_clock


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_rotated_keys_do_not_accumulate(tmp_path: Path, clock: Any) -> None:
    directory = tmp_path / "c"
    cache = FileCache(directory)
    for rotation in range(200):  # a new key each time, as token rotations and parent refreshes make
        key = digest(f"token {rotation}")
        with cache.lock(key):
            cache.set(key, entry(lifetime=3600))
        clock.tick(3601)  # past its expiry: that key is never met again
    clock.tick(-3601)
    names = sorted(p.name for p in directory.iterdir())
    assert names == [f"{key}.json", f"{key}.lock"], f"{len(names)} files after 200 rotations"
    assert cache.get(key) is not None


def test_rotated_web_identity_tokens_do_not_accumulate(
    tmp_path: Path, sts_mock: Any, sts_calls: Any, clock: Any
) -> None:
    directory = tmp_path / "c"
    cache = FileCache(directory)
    for _ in range(25):
        new_process()
        session = rolesession.assume_role_with_web_identity(ROLE, token=make_jwt(), cache=cache)
        assert access_key(session)
        clock.tick(3601)
    assert sts_calls.count() == 25
    assert len(entries(directory)) == 1 and len(list(directory.iterdir())) <= 2


def test_the_sweep_runs_at_most_once_a_minute_per_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Any
) -> None:
    directory = str(tmp_path / "c")
    cache, other = FileCache(directory), FileCache(directory)
    listings: list[str] = []
    real_listdir = os.listdir

    def spy(path: Any = ".") -> list[str]:
        listings.append(directory)  # the path, or the descriptor of the directory held open
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", spy)
    for _ in range(10):
        cache.set(KEY, entry())
        cache.get(KEY)
    assert listings == [directory]
    clock.tick(59)
    cache.set(KEY, entry())
    assert len(listings) == 1
    other.set(KEY, entry())  # per cache object
    assert len(listings) == 2
    clock.tick(2)
    cache.set(KEY, entry())
    assert len(listings) == 3


def test_the_sweep_reads_no_live_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: Any) -> None:
    directory = tmp_path / "c"
    cache = FileCache(directory)
    for n in range(50):
        cache.set(digest(str(n)), entry())
    clock.tick(61)
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if not flags & (os.O_WRONLY | os.O_RDWR):
            opened.append(os.path.basename(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    cache.set(KEY, entry())  # sweeps: one listdir, one lstat per file, no read
    monkeypatch.undo()
    assert opened == [] and len(entries(directory)) == 51


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def test_the_sweep_removes_only_what_is_ours_and_no_longer_needed(tmp_path: Path, clock: Any) -> None:
    directory = tmp_path / "c"
    cache = FileCache(directory)
    cache.set(digest("warm-up"), entry())  # the first write's sweep
    now = time.time()
    key = {name: digest(name) for name in ("live", "expired", "unstamped", "idle", "held", "young", "noted")}
    cache.set(key["live"], entry())
    with cache.lock(key["live"]):
        pass
    age(directory / f"{key['live']}.lock", 3600)  # old, but its entry is alive
    cache.set(key["expired"], entry(lifetime=3600, received=now - 7200))
    cache.set(key["unstamped"], entry())
    age(directory / f"{key['unstamped']}.json", 3600)  # a valid entry whose stamp was lost: read, kept
    for name in ("idle", "held", "young"):
        with cache.lock(key[name]):
            pass
    age(directory / f"{key['idle']}.lock", 600)
    age(directory / f"{key['held']}.lock", 600)
    age(directory / f"{key['young']}.lock", 10)
    (directory / f"{key['noted']}.lock").write_text("not an empty lock file")
    age(directory / f"{key['noted']}.lock", 600)
    stale_temp = directory / f".{KEY}.{'a' * 16}.tmp"
    fresh_temp = directory / f".{KEY}.{'b' * 16}.tmp"
    stale_temp.write_text("left by a crash")
    fresh_temp.write_text("being written")
    age(stale_temp, 120)
    # Foreign things with entry names and old times: never opened, never removed.
    user_json = directory / f"{'2' * 64}.json"
    user_json.write_text(json.dumps({"mine": True}))
    age(user_json, 7200)
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(entry(lifetime=3600, received=now - 7200)))
    age(outside, 7200)
    link = directory / f"{'7' * 64}.json"
    link.symlink_to(outside)
    age(link, 7200)
    (directory / f"{'8' * 64}.json").mkdir()
    fifo = directory / f"{'9' * 64}.json"
    if hasattr(os, "mkfifo"):
        os.mkfifo(fifo, 0o600)
        age(fifo, 7200)
    (directory / "README").write_text("not ours")
    before = {p.name for p in directory.iterdir()}

    clock.tick(61)
    age(fresh_temp, 5)
    try:
        with FileCache(directory).lock(key["held"]):  # held, as by another process
            run_briefly(lambda: cache.set(key["live"], entry()))  # this write sweeps
    finally:
        unblock(fifo)
    gone = before - {p.name for p in directory.iterdir()}
    assert gone == {f"{key['expired']}.json", f"{key['idle']}.lock", stale_temp.name}
    assert outside.exists() and json.loads(user_json.read_text()) == {"mine": True}


def test_the_sweep_never_fails_a_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_records: pytest.LogCaptureFixture, clock: Any
) -> None:
    directory = tmp_path / "c"
    cache = FileCache(directory)
    cache.set(KEY, entry(lifetime=60))  # expired a minute on: the next sweep reads it
    clock.tick(61)

    raised: list[str] = []

    def broken(*args: Any, **kwargs: Any) -> Any:
        raised.append("sweep")
        raise RuntimeError("a bug in the sweep")

    monkeypatch.setattr(json, "loads", broken)  # the sweep reads the expired entry: it breaks
    cache.set(OTHER_KEY, entry())
    monkeypatch.undo()
    assert raised
    assert cache.get(OTHER_KEY) is not None
    clock.tick(61)
    monkeypatch.setattr(os, "listdir", lambda path: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    cache.set(OTHER_KEY, entry())
    monkeypatch.undo()
    assert cache.get(OTHER_KEY) is not None
    assert warning_records(log_records) == []


# -- locks --------------------------------------------------------------------------------


def test_the_lock_excludes_other_holders(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    entered = threading.Event()

    def contender() -> None:
        with FileCache(tmp_path / "c").lock(KEY):  # another object, as another process would have
            entered.set()

    with cache.lock(KEY):
        thread = threading.Thread(target=contender)
        thread.start()
        assert not entered.wait(0.3)
    assert entered.wait(10)
    thread.join()


def test_a_held_lock_is_waited_for_a_bounded_time_then_skipped(
    tmp_path: Path, log_records: pytest.LogCaptureFixture
) -> None:
    holder = FileCache(tmp_path / "c")
    impatient = FileCache(tmp_path / "c", lock_timeout=0.1)
    ran = []
    with holder.lock(KEY):
        done = threading.Event()

        def waiter() -> None:
            with impatient.lock(KEY):
                ran.append(True)
            done.set()

        threading.Thread(target=waiter).start()
        assert done.wait(10)  # returned while the lock was still held
    assert ran == [True]
    [record] = warning_records(log_records)
    assert "going on without it" in record.getMessage()


# -- a cache that cannot be written ----------------------------------------------------------------------


def test_an_unwritable_directory_is_bypassed_with_exactly_one_warning(
    read_only_dir: Path, sts_mock: Any, sts_calls: Any, log_records: pytest.LogCaptureFixture
) -> None:
    cache = FileCache(read_only_dir)
    keys = [access_key(rolesession.assume_role(role, cache=cache)) for role in (ROLE, ROLE_B, ROLE_C)]
    assert all(keys) and sts_calls.count() == 3
    cache.set(KEY, entry())
    cache.delete(KEY)
    cache.clear()
    assert list(read_only_dir.iterdir()) == []
    [record] = warning_records(log_records)
    assert str(read_only_dir) in record.getMessage() and record.levelno == logging.WARNING


def test_a_directory_that_cannot_be_created_is_bypassed(
    read_only_dir: Path, sts_mock: Any, log_records: pytest.LogCaptureFixture
) -> None:
    cache = FileCache(read_only_dir / "sub")
    assert access_key(rolesession.assume_role(ROLE, cache=cache))
    assert cache.get(KEY) is None
    assert len(warning_records(log_records)) == 1


def test_a_full_disk_is_bypassed_with_one_warning_and_no_litter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sts_mock: Any, log_records: pytest.LogCaptureFixture
) -> None:
    real_write = os.write

    def no_space(fd: int, data: Any) -> int:
        if fd > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", no_space)
    cache = FileCache(tmp_path / "c")
    assert access_key(rolesession.assume_role(ROLE, cache=cache))
    assert access_key(rolesession.assume_role(ROLE_B, cache=cache))
    assert entries(tmp_path / "c") == [] and not list((tmp_path / "c").glob(".*.tmp"))
    [record] = warning_records(log_records)
    assert "ENOSPC" in record.getMessage()


# -- import cost --------------------------------------------------------------------------------


def test_file_cache_is_exported_lazily() -> None:
    code = textwrap.dedent(
        """
        import sys, rolesession
        assert "FileCache" in rolesession.__all__
        assert "rolesession._file_cache" not in sys.modules and "filelock" not in sys.modules
        cache = rolesession.FileCache
        assert cache.__module__ == "rolesession" and "rolesession._file_cache" in sys.modules
        assert "filelock" not in sys.modules  # only taking a lock imports it
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- many processes --------------------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    import rolesession
    from rolesession.testing import StsRecorder

    directory, endpoint, ready, go, reads, refreshes, rewrites = sys.argv[1:8]
    roles = sys.argv[8:]
    calls = StsRecorder().install().calls
    open(os.path.join(ready, str(os.getpid())), "w").close()
    deadline = time.time() + 60
    while not os.path.exists(go) and time.time() < deadline:
        time.sleep(0.002)

    keys, errors, corrupt = {}, [], 0

    def check_files():
        global corrupt
        for name in os.listdir(directory):
            if name.endswith(".json"):
                try:
                    with open(os.path.join(directory, name), "rb") as handle:
                        json.loads(handle.read())
                except FileNotFoundError:
                    pass
                except ValueError:
                    corrupt += 1

    # Phase 1: every read by a new session on a new FileCache object, as a
    # new process would: all of them must share one STS call per role.
    for i in range(int(reads)):
        role = roles[i % len(roles)]
        try:
            session = rolesession.assume_role(
                role, session_name="hammer", cache=rolesession.FileCache(directory),
                sts_endpoint_url=endpoint,
            )
            keys.setdefault(role, set()).add(session.get_credentials().get_frozen_credentials().access_key)
        except Exception as exc:
            errors.append(repr(exc))
        check_files()
    phase_one_calls = len(calls)

    # Phase 2: forced refreshes -- every process rewriting one entry while
    # the others read it.
    session = rolesession.assume_role(
        roles[0], session_name="rewrite", cache=rolesession.FileCache(directory), sts_endpoint_url=endpoint
    )
    for _ in range(int(refreshes)):
        try:
            session.refresh()
        except Exception as exc:
            errors.append(repr(exc))
        check_files()

    # Phase 3: FileCache alone, flat out -- large entries rewritten and read
    # back by every process at once. A torn write would show as a miss or a
    # file that does not parse.
    cache = rolesession.FileCache(directory)
    hot = "ab" * 32
    big = {
        "Version": 1,
        "Credentials": {
            "AccessKeyId": f"ASIA{os.getpid()}", "SecretAccessKey": "secret", "SessionToken": "t" * 20000,
            "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
        },
        "AssumedRoleUser": {
            "Arn": "arn:aws:sts::123456789012:assumed-role/Hot/s", "AssumedRoleId": "AROAHOT:s",
        },
        "ReceivedAt": time.time(),
    }
    misses = 0
    for _ in range(int(rewrites)):
        cache.set(hot, big)
        if cache.get(hot) is None:
            misses += 1
        check_files()

    print(json.dumps({
        "misses": misses,
        "phase_one_calls": phase_one_calls,
        "keys": {role: sorted(found) for role, found in keys.items()},
        "errors": errors,
        "corrupt": corrupt,
    }))
    """
)


def test_many_processes_share_one_directory(tmp_path: Path, moto_server: str) -> None:
    processes, reads, refreshes, rewrites = 10, 30, 5, 200
    roles = [ROLE, ROLE_B]
    directory, ready, go = tmp_path / "shared", tmp_path / "ready", tmp_path / "go"
    ready.mkdir()
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(directory),
                moto_server,
                str(ready),
                str(go),
                str(reads),
                str(refreshes),
                str(rewrites),
                *roles,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        deadline = time.time() + 120
        while len(list(ready.iterdir())) < processes and time.time() < deadline:
            if any(w.poll() is not None for w in workers):
                break
            time.sleep(0.01)
        go.touch()  # all start together
        outputs = [w.communicate(timeout=180) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert all(w.returncode == 0 for w in workers), [err for _, err in outputs]
    results = [json.loads(out) for out, _ in outputs]

    assert [r["errors"] for r in results] == [[]] * processes
    assert sum(r["corrupt"] for r in results) == 0
    assert sum(r["misses"] for r in results) == 0
    # processes x reads = 300 reads; one STS call per role served all of them
    assert sum(r["phase_one_calls"] for r in results) == len(roles)
    for role in roles:
        handed_out = {key for r in results for key in r["keys"][role]}
        assert len(handed_out) == 1
    # every file left parses, is private, and no temporary file is left behind
    files = list(directory.iterdir())
    assert not [f for f in files if f.name.endswith(".tmp")]
    for path in files:
        assert mode(path) == 0o600
        if path.suffix == ".json":
            assert FileCache(directory).get(path.stem) is not None  # a whole, valid entry
    assert len([f for f in files if f.suffix == ".json"]) == len(roles) + 2


# -- the interface both caches share (and users implement) ----------------------------


class DictCache:
    """The documented minimum: four methods, nothing else."""

    def __init__(self) -> None:
        self.data: dict[Any, dict[str, Any]] = {}

    def get(self, key: Any) -> dict[str, Any] | None:
        return self.data.get(key)

    def set(self, key: Any, entry: dict[str, Any]) -> None:
        self.data[key] = json.loads(json.dumps(entry))  # as a remote store would keep it

    def delete(self, key: Any) -> None:
        self.data.pop(key, None)

    def clear(self) -> None:
        self.data.clear()


def test_both_caches_implement_the_documented_protocol(tmp_path: Path) -> None:
    assert isinstance(FileCache(tmp_path / "c"), rolesession.CredentialCache)
    assert isinstance(rolesession.MemoryCache(), rolesession.CredentialCache)
    assert isinstance(DictCache(), rolesession.CredentialCache)


def test_a_user_cache_with_the_four_methods_works(sts_mock: Any, sts_calls: Any) -> None:
    cache = DictCache()
    first = access_key(rolesession.assume_role(ROLE, cache=cache))
    [key] = cache.data
    assert isinstance(key, str) and len(key) == 64 and int(key, 16) >= 0
    new_process()
    assert access_key(rolesession.assume_role(ROLE, cache=cache)) == first
    assert sts_calls.count() == 1


def test_only_non_persistent_caches_get_callable_token_entries(sts_mock: Any) -> None:
    persistent, in_memory = DictCache(), DictCache()
    in_memory.persistent = False  # type: ignore[attr-defined]
    for cache in (persistent, in_memory):
        access_key(rolesession.assume_role_with_web_identity(ROLE, token=make_jwt, cache=cache))
    assert persistent.data == {}  # no `persistent` attribute means persistent
    [key] = in_memory.data
    assert isinstance(key, tuple)


def test_a_cache_that_raises_never_fails_a_read(sts_mock: Any, log_records: pytest.LogCaptureFixture) -> None:
    class Broken(DictCache):
        def get(self, key: Any) -> dict[str, Any] | None:
            raise ConnectionError("cache server down")

        def set(self, key: Any, entry: dict[str, Any]) -> None:
            raise ConnectionError("cache server down")

    session = rolesession.assume_role(ROLE, cache=Broken())
    assert access_key(session)
    session.refresh()
    assert len(warning_records(log_records)) == 1


def read(session: boto3.Session) -> Any:
    return session.get_credentials().get_frozen_credentials()


# -- a lock held by a hung process -----------------------------------------------------------------


def test_a_refresh_waits_for_a_hung_processs_lock_a_bounded_time(
    tmp_path: Path, sts_mock: None, sts_calls: StsRecorder, log_records: pytest.LogCaptureFixture
) -> None:
    """SPEC FileCache: "a refresh is single-flight across processes; a stale lock is waited for
    a bounded time"."""
    directory = tmp_path / "c"
    read(rolesession.assume_role(ROLE, cache=FileCache(directory)))
    [entry] = directory.glob("*.json")
    entry.unlink()  # the other process died before writing its entry ...
    reset()
    got: list[str] = []
    with FileCache(directory).lock(entry.stem):  # ... or hangs holding the lock
        session = rolesession.assume_role(ROLE, cache=FileCache(directory, lock_timeout=0.2))
        reader = threading.Thread(target=lambda: got.append(read(session).access_key))
        reader.start()
        reader.join(10)  # returns while the lock is still held
        assert not reader.is_alive()
    assert got and sts_calls.count() == 2
    assert any(
        "going on without it" in r.getMessage() for r in log_records.records if r.levelno == logging.WARNING
    )
    assert entry.exists()  # and the entry was written for the others


# -- entries bound to their request ---------------------------------------------------------------


def test_an_entry_renamed_over_another_keys_file_is_ignored_with_a_warning_and_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = FileCache(tmp_path / "c")
    cache.set(KEY, entry(access_key="ASIAPROD"))
    os.replace(tmp_path / "c" / f"{KEY}.json", tmp_path / "c" / f"{OTHER_KEY}.json")
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        assert cache.get(OTHER_KEY) is None  # prod's credentials are never served for dev's request
    [warning] = warning_records(caplog)
    assert "written for another request" in warning.getMessage() and OTHER_KEY in warning.getMessage()
    cache.set(OTHER_KEY, entry(access_key="ASIADEV"))
    assert cache.get(OTHER_KEY) == entry(access_key="ASIADEV") | {"ReceivedAt": ANY_TIME}


class _AnyTime:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, float)


ANY_TIME: Any = _AnyTime()


def test_an_entry_without_its_key_is_a_quiet_miss(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache = FileCache(tmp_path / "c")
    path = tmp_path / "c" / f"{KEY}.json"
    path.write_text(entry_text())  # as an earlier version wrote it: no key recorded
    os.chmod(path, 0o600)
    with caplog.at_level(logging.DEBUG, logger="rolesession"):
        assert cache.get(KEY) is None
    assert not warning_records(caplog)


def test_prod_credentials_renamed_over_devs_entry_are_never_served_for_dev(
    sts_mock: None, sts_calls: StsRecorder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 17, 12: a process asking for role/dev got assumed-role/prod from a renamed entry."""
    directory = tmp_path / "c"
    read(rolesession.assume_role(ROLE, cache=FileCache(directory)))
    [prod_entry] = directory.glob("*.json")
    read(rolesession.assume_role(ROLE_B, cache=FileCache(directory)))
    [dev_entry] = set(directory.glob("*.json")) - {prod_entry}
    os.replace(prod_entry, dev_entry)
    reset()  # a new process
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        dev = rolesession.assume_role(ROLE_B, cache=FileCache(directory))
        assert ":assumed-role/" + ROLE_B.rsplit("/", 1)[1] + "/" in dev.identity()["Arn"]
    assert sts_calls.count("AssumeRole") == 3  # refetched, not served from prod's entry
    assert any("written for another request" in r.getMessage() for r in warning_records(caplog))
    assert json.loads(dev_entry.read_text())["CacheKey"] == dev_entry.stem  # replaced


# -- lifetimes: STS's limits, one table ---------------------------------------------------------------


def test_a_36_hour_entry_is_served_only_for_an_mfa_session(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    session_token = entry(lifetime=36 * 3600)
    session_token["AssumedRoleUser"] = {"Arn": "", "AssumedRoleId": ""}  # GetSessionToken names no role
    cache.set(KEY, session_token)
    assert cache.get(KEY) == session_token
    cache.set(OTHER_KEY, entry(lifetime=36 * 3600))  # a role's: STS never issues 36 hours
    assert cache.get(OTHER_KEY) is None


# -- the way to the directory -------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [0o777, 0o757])
def test_a_parent_writable_by_others_without_the_sticky_bit_is_refused(tmp_path: Path, bits: int) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    os.chmod(parent, bits)
    with pytest.raises(InvalidParameterError) as info:
        FileCache(parent / "c")
    assert info.value.parameter == "directory" and "writable by every user" in str(info.value)


def test_a_grandparent_writable_by_others_is_refused_too(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    (shared / "mine").mkdir(parents=True)
    os.chmod(shared, 0o777)
    with pytest.raises(InvalidParameterError, match="writable by every user"):
        FileCache(shared / "mine" / "c")


def test_a_sticky_parent_writable_by_others_is_accepted(tmp_path: Path) -> None:
    parent = tmp_path / "tmp-like"
    parent.mkdir()
    os.chmod(parent, 0o1777)  # like /tmp: others cannot rename what is ours
    cache = FileCache(parent / "c")
    cache.set(KEY, entry())
    assert cache.get(KEY) is not None


def test_a_parent_reached_through_our_own_symlink_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    cache = FileCache(tmp_path / "alias" / "c")
    cache.set(KEY, entry())
    assert (tmp_path / "real" / "c" / f"{KEY}.json").exists()


def test_a_world_writable_directory_behind_a_symlink_on_the_way_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    (tmp_path / "alias").symlink_to(shared)  # the path names no shared directory; the link leads to one
    with pytest.raises(InvalidParameterError, match="writable by every user"):
        FileCache(tmp_path / "alias" / "c")


@pytest.mark.skipif(not IS_ROOT, reason="making another user's files needs root")
def test_a_symlink_of_another_user_on_the_way_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    link = tmp_path / "alias"
    link.symlink_to(tmp_path / "real")
    os.lchown(link, NOBODY, NOBODY)  # they could point it anywhere, any time
    with pytest.raises(InvalidParameterError, match="symbolic link of uid"):
        FileCache(link / "c")


@pytest.mark.skipif(not IS_ROOT, reason="making another user's files needs root")
def test_a_parent_of_another_user_is_refused(tmp_path: Path) -> None:
    parent = foreign_dir(tmp_path)
    (parent / "c").mkdir(mode=0o700)  # ours, inside theirs: they can rename it away and plant their own
    with pytest.raises(InvalidParameterError, match="belongs to uid"):
        FileCache(parent / "c")


def test_the_default_directory_under_a_shared_parent_is_bypassed_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    xdg = tmp_path / "xdg"
    xdg.mkdir()
    os.chmod(xdg, 0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        cache = FileCache()
        cache.set(KEY, entry())
    assert cache.get(KEY) is None
    assert not (xdg / "rolesession" / f"{KEY}.json").exists()
    [warning] = warning_records(caplog)
    assert "writable by every user" in warning.getMessage()


# -- the directory held open -------------------------------------------------------------------------


def test_the_directory_is_held_open_so_a_swap_after_the_check_is_not_followed(tmp_path: Path) -> None:
    directory = tmp_path / "c"
    cache = FileCache(directory)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    directory.rename(tmp_path / "moved")
    directory.symlink_to(elsewhere)  # planted after the check
    cache.set(KEY, entry())
    with cache.lock(KEY):
        pass
    assert list(elsewhere.iterdir()) == []  # nothing written through the planted link
    assert (tmp_path / "moved" / f"{KEY}.json").exists()
    assert cache.get(KEY) is not None
    cache.clear()
    assert not (tmp_path / "moved" / f"{KEY}.json").exists()


def test_a_symlink_planted_as_a_lock_file_is_not_followed(tmp_path: Path) -> None:
    cache = FileCache(tmp_path / "c")
    target = tmp_path / "victim"
    target.write_text("precious")
    (tmp_path / "c" / f"{KEY}.lock").symlink_to(target)
    with cache.lock(KEY):  # filelock >= 3.20.1 refuses the link; the cache goes on without a lock
        pass
    assert target.read_text() == "precious"
