"""Caching: keys and callers, serving new sessions, MemoryCache, the warm registry's cache side."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import boto3
import pytest

import rolesession
import rolesession.testing
from helpers import ACCOUNT, ROLE, ROLE_B, RecordingCache, access_key, concurrently
from rolesession import (
    MemoryCache,
    Policy,
)
from rolesession.testing import StsRecorder, forget_sessions
from tokens import make_jwt, make_saml_response

OTHER_CALLER = {"aws_access_key_id": "AKIAOTHERCALLER00001", "aws_secret_access_key": "x" * 40}


def _read(session):
    return session.get_credentials().get_frozen_credentials()


class _BrokenCache:
    def get(self, key):
        raise OSError("disk on fire")

    set = delete = get

    def clear(self):
        pass


class _LockBreaksCache(MemoryCache):
    persistent = True

    def lock(self, key):
        class Broken:
            def __enter__(self):
                raise OSError("lock file on a read-only disk")

            def __exit__(self, *exc):
                raise OSError("cannot unlock")

        return Broken()


class _SlowKey:
    """A key whose hashing waits: a thread using it stays inside the cache."""

    def __init__(self, inside: threading.Event, release: threading.Event) -> None:
        self.inside, self.release = inside, release

    def __hash__(self) -> int:
        self.inside.set()
        self.release.wait(30)
        return 1


PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:saml-provider/Corp"


OTHER_PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:saml-provider/Other"


MFA_ALICE = f"arn:aws:iam::{ACCOUNT}:mfa/alice"


MFA_BOB = f"arn:aws:iam::{ACCOUNT}:mfa/bob"


READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


AUDIT = f"arn:aws:iam::{ACCOUNT}:policy/Audit"


def read(session: boto3.Session) -> Any:
    return session.get_credentials().get_frozen_credentials()


def _web(**kwargs: Any) -> rolesession.RoleSession:
    return rolesession.assume_role_with_web_identity(ROLE, **kwargs)


TOKEN = make_jwt()


ASSERTION = make_saml_response(ROLE, PRINCIPAL)


def _mfa_code() -> str:
    return "123456"


# Pairs of requests that differ in one field of the SPEC's key list only.
DIFFERENT_KEYS = {
    "transitive_tag_keys": (
        lambda c: rolesession.assume_role(
            ROLE, tags={"a": "1", "b": "2"}, transitive_tag_keys=["a"], cache=c
        ),
        lambda c: rolesession.assume_role(
            ROLE, tags={"a": "1", "b": "2"}, transitive_tag_keys=["b"], cache=c
        ),
    ),
    "mfa_serial": (
        lambda c: rolesession.assume_role(ROLE, mfa_serial=MFA_ALICE, mfa_token=_mfa_code, cache=c),
        lambda c: rolesession.assume_role(ROLE, mfa_serial=MFA_BOB, mfa_token=_mfa_code, cache=c),
    ),
    "provider_id": (
        lambda c: _web(token=TOKEN, provider_id="accounts.google.com", cache=c),
        lambda c: _web(token=TOKEN, provider_id="graph.facebook.com", cache=c),
    ),
    "principal_arn": (
        lambda c: rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=ASSERTION, cache=c),
        lambda c: rolesession.assume_role_with_saml(ROLE, OTHER_PRINCIPAL, assertion=ASSERTION, cache=c),
    ),
}


def _other_source() -> boto3.Session:
    return boto3.Session()  # the same caller (the environment's keys), another object: no warm session


# Pairs of requests the SPEC's canonical key treats as the same.
SAME_KEYS = {
    "policy-json-text-vs-policy": (
        lambda c: rolesession.assume_role(
            ROLE, policy=Policy.allow("s3:GetObject", "arn:aws:s3:::b/*"), cache=c
        ),
        lambda c: rolesession.assume_role(
            ROLE,
            policy='{\n  "Statement": [{"Resource": "arn:aws:s3:::b/*", "Action": "s3:GetObject",\n'
            '  "Effect": "Allow"}],\n  "Version": "2012-10-17"\n}',
            source=_other_source(),
            cache=c,
        ),
    ),
    "policy-arn-order": (
        lambda c: rolesession.assume_role(ROLE, policy_arns=[READ_ONLY, AUDIT], cache=c),
        lambda c: rolesession.assume_role(
            ROLE, policy_arns=[AUDIT, READ_ONLY], source=_other_source(), cache=c
        ),
    ),
    "transitive-key-order": (
        lambda c: rolesession.assume_role(
            ROLE, tags={"a": "1", "b": "2"}, transitive_tag_keys=["a", "b"], cache=c
        ),
        lambda c: rolesession.assume_role(
            ROLE, tags={"b": "2", "a": "1"}, transitive_tag_keys=["b", "a"], source=_other_source(), cache=c
        ),
    ),
    "region-is-not-in-the-key": (
        lambda c: rolesession.assume_role(ROLE, region="us-east-1", cache=c),
        lambda c: rolesession.assume_role(ROLE, region="eu-west-1", cache=c),
    ),
    "no-duration-is-3600": (
        lambda c: rolesession.assume_role(ROLE, cache=c),
        lambda c: rolesession.assume_role(ROLE, duration=3600, cache=c),
    ),
}



def _cached_entry() -> dict[str, Any]:
    """A real cache entry, as a session stores it."""
    cache = RecordingCache()
    rolesession.assume_role(ROLE, cache=cache).identity()
    [entry] = cache.data.values()
    return entry


def _served_from(entry: dict[str, Any], sts_calls: StsRecorder) -> bool:
    """Whether a new session takes ``entry``, found in its cache, as its credentials (no STS call)."""
    cache = RecordingCache()
    rolesession.assume_role(ROLE, cache=cache, source=boto3.Session()).identity()
    [key] = cache.data  # where a session for ROLE looks
    cache.data[key] = entry
    calls = sts_calls.count()
    rolesession.assume_role(ROLE, cache=cache, source=boto3.Session()).identity()
    return sts_calls.count() == calls


# -- keys, callers, serving new sessions, MemoryCache ----------------------------------------------


def test_a_new_session_is_served_from_the_cache(sts_mock, sts_calls):
    first = _read(rolesession.assume_role(ROLE, source=boto3.Session()))
    second = _read(rolesession.assume_role(ROLE, source=boto3.Session()))
    assert first == second
    assert sts_calls.count() == 1


def test_two_callers_never_share_an_entry(sts_mock, sts_calls):
    mine = _read(rolesession.assume_role(ROLE, source=boto3.Session()))
    theirs = _read(rolesession.assume_role(ROLE, source=boto3.Session(**OTHER_CALLER)))
    assert mine != theirs
    assert sts_calls.count() == 2


@pytest.mark.parametrize(
    "change",
    [
        {"session_name": "other"},
        {"duration": 1800},
        {"policy": rolesession.Policy.allow("s3:GetObject")},
        {"policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]},
        {"tags": {"a": "b"}},
        {"external_id": "ext"},
        {"source_identity": "alice"},
        {"sts_endpoint_url": "https://sts.us-east-1.amazonaws.com"},
    ],
)
def test_each_parameter_is_in_the_key(sts_mock, sts_calls, change):
    _read(rolesession.assume_role(ROLE))
    _read(rolesession.assume_role(ROLE, **change))
    assert sts_calls.count() == 2


def test_key_is_a_sha256_hex_digest_per_request_and_caller(sts_mock, sts_calls):
    cache = RecordingCache()
    _read(rolesession.assume_role(ROLE, cache=cache, source=boto3.Session()))
    _read(rolesession.assume_role(ROLE, cache=cache, source=boto3.Session(**OTHER_CALLER)))
    mine, theirs = cache.sets
    assert all(len(key) == 64 and int(key, 16) >= 0 and key == key.lower() for key in (mine, theirs))
    assert mine != theirs
    forget_sessions()
    _read(rolesession.assume_role(ROLE, cache=cache, source=boto3.Session()))
    assert cache.sets == [mine, theirs]  # the same request and caller: the same key, found


def test_tag_order_does_not_matter(sts_mock, sts_calls):
    _read(rolesession.assume_role(ROLE, tags={"a": "1", "b": "2"}))
    _read(rolesession.assume_role(ROLE, tags={"b": "2", "a": "1"}, source=boto3.Session()))
    assert sts_calls.count() == 1


def test_cache_none_always_calls_sts(sts_mock, sts_calls):
    _read(rolesession.assume_role(ROLE, cache=None))
    _read(rolesession.assume_role(ROLE, cache=None))
    assert sts_calls.count() == 2
    assert len(rolesession.default_cache()) == 0


def test_a_cached_entry_in_its_advisory_window_serves_then_refreshes(sts_mock, sts_calls, frozen):
    first = _read(rolesession.assume_role(ROLE, source=boto3.Session()))
    frozen.tick(53 * 60)
    late = rolesession.assume_role(ROLE, source=boto3.Session())
    assert _read(late) == first  # served at once, nobody waits
    late.get_credentials().wait_for_background()
    assert sts_calls.count() == 2
    assert _read(late) != first


def test_a_cached_entry_in_its_mandatory_window_is_refreshed_at_once(sts_mock, sts_calls, frozen):
    first = _read(rolesession.assume_role(ROLE, source=boto3.Session()))
    frozen.tick(3600 - 30)
    late = rolesession.assume_role(ROLE, source=boto3.Session())
    assert _read(late) == first  # valid for 30 s more: served, never waited for
    late.get_credentials().wait_for_background()
    assert sts_calls.count() == 2
    fresh = _read(late)
    assert sts_calls.issued[fresh.access_key] > time.time() + 3000


def test_an_outage_does_not_break_new_sessions_while_cached_credentials_are_valid(
    sts_mock, sts_calls, frozen
):
    first = _read(rolesession.assume_role(ROLE, source=boto3.Session()))
    sts_calls.outage()
    frozen.tick(3600 - 20)  # mandatory window, STS down
    assert _read(rolesession.assume_role(ROLE, source=boto3.Session())) == first
    frozen.tick(30)  # expired: never served
    with pytest.raises(rolesession.AssumeRoleError):
        _read(rolesession.assume_role(ROLE, source=boto3.Session()))


def test_expired_entries_are_never_served(sts_mock, sts_calls, frozen):
    first = _read(rolesession.assume_role(ROLE, duration=900))
    frozen.tick(901)
    again = _read(rolesession.assume_role(ROLE, duration=900, source=boto3.Session()))
    assert again != first and sts_calls.count() == 2


def test_memory_cache_is_bounded_lru():
    cache = MemoryCache(maxsize=2)
    cache.set("a", {"n": 1})
    cache.set("b", {"n": 2})
    assert cache.get("a") == {"n": 1}  # a is now the most recent
    cache.set("c", {"n": 3})
    assert cache.get("b") is None and cache.get("a") == {"n": 1} and len(cache) == 2
    cache.delete("a")
    assert cache.get("a") is None
    cache.clear()
    assert len(cache) == 0


def test_memory_cache_used_by_sessions_is_bounded(sts_mock, sts_calls):
    cache = MemoryCache(maxsize=1)
    _read(rolesession.assume_role(ROLE, cache=cache))
    _read(rolesession.assume_role(ROLE_B, cache=cache))
    _read(rolesession.assume_role(ROLE, cache=cache, source=boto3.Session()))
    assert sts_calls.count() == 3 and len(cache) == 1


def test_memory_cache_is_thread_safe():
    cache = MemoryCache(maxsize=64)
    errors = []

    def hammer(n):
        try:
            for i in range(2000):
                cache.set(f"{n}-{i % 100}", {"i": i})
                cache.get(f"{(n + 1) % 8}-{i % 100}")
                if i % 7 == 0:
                    cache.delete(f"{n}-{i % 100}")
        except Exception as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(cache) <= 64


def test_memory_cache_validates_maxsize():
    for bad in (0, -1, True, 1.5):
        with pytest.raises(rolesession.InvalidParameterError):
            MemoryCache(maxsize=bad)


def test_default_cache_is_process_wide():
    assert rolesession.default_cache() is rolesession.default_cache()
    assert isinstance(rolesession.default_cache(), MemoryCache)


def test_a_failing_custom_cache_never_fails_a_read(sts_mock, sts_calls, caplog):
    session = rolesession.assume_role(ROLE, cache=_BrokenCache())
    assert _read(session).access_key in sts_calls.issued
    warnings = [r for r in caplog.records if "credential cache" in r.getMessage()]
    assert len(warnings) == 1


def test_a_corrupt_entry_is_ignored(sts_mock, sts_calls):
    cache = RecordingCache()
    _read(rolesession.assume_role(ROLE, cache=cache))
    for key in list(cache.data):
        cache.set(key, {"Version": 1, "Credentials": "garbage"})
    _read(rolesession.assume_role(ROLE, cache=cache, source=boto3.Session()))
    assert sts_calls.count() == 2


def test_a_custom_cache_lock_that_fails_never_fails_a_read(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE, cache=_LockBreaksCache())
    assert _read(session).access_key in sts_calls.issued


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_memory_cache_is_usable_in_a_forked_child():
    cache = MemoryCache()
    inside, release = threading.Event(), threading.Event()
    other = threading.Thread(target=cache.set, args=(_SlowKey(inside, release), {"v": 0}))
    other.start()  # another thread is inside the cache when the process forks
    try:
        assert inside.wait(10)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit code
            try:
                signal.alarm(10)  # a lock inherited held would hang the child: SIGALRM ends it
                cache.set("k", {"v": 1})
                os._exit(0 if cache.get("k") == {"v": 1} else 2)
            finally:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
    finally:
        release.set()
        other.join(30)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


# -- what is in the key ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", list(DIFFERENT_KEYS))
def test_each_listed_field_is_in_the_cache_key(sts_mock: None, sts_calls: StsRecorder, field: str) -> None:
    cache = MemoryCache()
    first, second = (make(cache) for make in DIFFERENT_KEYS[field])
    assert read(first) != read(second)
    assert len(cache) == 2 and sts_calls.count() == 2


@pytest.mark.parametrize("case", list(SAME_KEYS))
def test_equivalent_requests_share_one_cache_entry(sts_mock: None, sts_calls: StsRecorder, case: str) -> None:
    cache = MemoryCache()
    first, second = (make(cache) for make in SAME_KEYS[case])
    assert first is not second
    assert read(first) == read(second)
    assert len(cache) == 1 and sts_calls.count() == 1


def test_sessions_with_the_same_cache_key_make_one_sts_call(sts_mock, sts_calls):
    # Different objects (their sources differ) whose STS request and caller
    # are the same: one fetches, the others find its cache entry.
    sts_calls.delay = 0.2
    results = concurrently(8, lambda: access_key(rolesession.assume_role(ROLE, source=boto3.Session())))
    assert len(set(results)) == 1 and sts_calls.count() == 1


def test_a_rotated_token_prunes_the_entry_it_can_no_longer_meet(sts_mock, sts_calls, frozen, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(make_jwt())
    cache = RecordingCache()
    session = rolesession.assume_role_with_web_identity(ROLE, token_file=token_file, cache=cache)
    session.identity()
    [old_key] = cache.data
    token_file.write_text(make_jwt())  # rotated: the caller (its hash) changed
    frozen.tick(3200)  # past any jittered start of the refresh
    session.get_credentials().get_frozen_credentials()
    session.get_credentials().wait_for_background()
    assert sts_calls.count() == 2
    assert old_key not in cache.data and len(cache.data) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"ReceivedAt": 10**400},
        {"ReceivedAt": float("nan")},
        {"ClockSkew": 10**400},
        {"ClockSkew": 10**6},
        {"ClockSkew": "3"},
    ],
)
def test_a_cache_entry_with_impossible_times_is_ignored(sts_mock, sts_calls, change):
    entry = _cached_entry()
    assert _served_from(entry, sts_calls)
    assert not _served_from({**entry, **change}, sts_calls)


# -- keys, callers, serving new sessions, MemoryCache ----------------------------------------------


def test_memory_cache_holds_1024_entries_by_default() -> None:
    cache = MemoryCache()
    assert cache.maxsize == 1024
    for i in range(1025):
        cache.set(f"k{i}", {"i": i})
    assert len(cache) == 1024 and cache.get("k0") is None and cache.get("k1024") == {"i": 1024}
