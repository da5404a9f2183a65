"""The refresh engine: windows, background refresh, single-flight, static stability."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest

import rolesession
from helpers import ROLE
from rolesession import AssumeRoleError, CredentialRefreshError, RefreshPolicy


def _reader(session):
    return session.get_credentials()


def test_creating_a_session_calls_no_sts(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE)
    session.client("s3")  # a client, too, is made without credentials
    assert sts_calls.count() == 0
    session.get_credentials().get_frozen_credentials()
    assert sts_calls.count() == 1


def test_fifteen_minute_credentials_read_every_3s_for_5_minutes(sts_mock, sts_calls, frozen):
    creds = _reader(rolesession.assume_role(ROLE, duration=900))
    for _ in range(100):
        creds.get_frozen_credentials()
        creds.wait_for_background()
        frozen.tick(3)
    assert sts_calls.count() <= 2


def test_a_simulated_day_never_serves_expired_credentials(sts_mock, sts_calls, frozen):
    creds = _reader(rolesession.assume_role(ROLE, duration=3600))
    for _ in range(24 * 60):
        frozen_creds = creds.get_frozen_credentials()
        creds.wait_for_background()
        assert sts_calls.issued[frozen_creds.access_key] > time.time()
        frozen.tick(60)
    # hourly credentials refreshed in the first half of their 15-minute window
    assert 24 <= sts_calls.count() <= 34


def test_advisory_window_reads_never_wait_and_cause_one_refresh(sts_mock, sts_calls, frozen):
    creds = _reader(rolesession.assume_role(ROLE, duration=3600))
    first = creds.get_frozen_credentials()
    frozen.tick(3600 - 7 * 60)  # inside the advisory window, past any jittered start
    gate = sts_calls.block()
    try:
        # The refresh is blocked inside STS; if any read waited for it, this
        # loop would hang rather than return the held credentials.
        for _ in range(50):
            assert creds.get_frozen_credentials() == first
    finally:
        gate.set()
    creds.wait_for_background()
    assert sts_calls.count() == 2
    assert creds.get_frozen_credentials() != first


def _read_in_threads(creds, n, gate):
    """``n`` threads read at once while STS is held at ``gate``; returns (results, errors)."""
    results, errors = [], []
    started = threading.Barrier(n + 1)

    def read():
        started.wait()
        try:
            results.append(creds.get_frozen_credentials())
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(n)]
    for t in threads:
        t.start()
    started.wait()
    time.sleep(0.2)  # let every reader reach the engine
    gate.set()
    for t in threads:
        t.join(10)
    return results, errors


def test_mandatory_window_readers_keep_valid_credentials_while_one_refresh_runs(
    sts_mock, sts_calls, frozen
):
    creds = _reader(rolesession.assume_role(ROLE, duration=3600))
    first = creds.get_frozen_credentials()
    frozen.tick(3600 - 30)  # inside the last 60 s
    gate = sts_calls.block()
    try:
        # STS is blocked: a reader that waited for the refresh would hang here.
        for _ in range(32):
            assert creds.get_frozen_credentials() == first
    finally:
        gate.set()
    creds.wait_for_background()
    assert sts_calls.count() == 2  # the first fetch and exactly one refresh
    renewed = creds.get_frozen_credentials()
    assert renewed != first and sts_calls.issued[renewed.access_key] > time.time() + 3000


def test_with_nothing_valid_32_readers_share_one_fetch(sts_mock, sts_calls):
    creds = _reader(rolesession.assume_role(ROLE, duration=3600))
    results, errors = _read_in_threads(creds, 32, sts_calls.block())
    assert errors == [] and len(results) == 32
    assert sts_calls.count() == 1 and len({r.access_key for r in results}) == 1


def test_readers_waiting_during_a_failed_attempt_share_its_outcome(sts_mock, sts_calls):
    creds = _reader(rolesession.assume_role(ROLE, duration=3600))
    sts_calls.outage()
    results, errors = _read_in_threads(creds, 16, sts_calls.block())
    assert results == [] and len(errors) == 16
    assert all(isinstance(e, AssumeRoleError) and e.code == "EndpointConnectionError" for e in errors)
    assert len({id(e) for e in errors}) == 16  # each reader its own copy: tracebacks do not mix
    assert sts_calls.count() == 1  # one attempt for all of them


def test_outage_serves_valid_credentials_backs_off_then_raises_and_recovers(
    sts_mock, sts_calls, frozen, caplog
):
    creds = _reader(rolesession.assume_role(ROLE, duration=3600))
    held = creds.get_frozen_credentials()
    frozen.tick(45 * 60)
    sts_calls.outage()
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        reads = 0
        while time.time() < sts_calls.issued[held.access_key] - 1:
            assert creds.get_frozen_credentials() == held  # no read fails while valid
            creds.wait_for_background()
            reads += 1
            frozen.tick(5)
    attempts = sts_calls.count() - 1
    assert reads > 150
    assert 3 <= attempts <= 15  # a handful, not one per read
    assert any("serving the held credentials" in r.getMessage() for r in caplog.records)
    frozen.tick(5)  # now expired
    with pytest.raises(CredentialRefreshError) as info:
        creds.get_frozen_credentials()
    assert isinstance(info.value, AssumeRoleError)
    assert info.value.code == "EndpointConnectionError"
    calls = sts_calls.count()
    with pytest.raises(CredentialRefreshError):
        creds.get_frozen_credentials()  # within 1 s of the failure: no new attempt
    assert sts_calls.count() == calls
    sts_calls.fail_with(None)
    frozen.tick(2)
    recovered = creds.get_frozen_credentials()
    assert recovered != held and sts_calls.issued[recovered.access_key] > time.time()


def test_backoff_is_drawn_between_half_and_all_of_its_bound(sts_mock, sts_calls, frozen):
    creds = _reader(rolesession.assume_role(ROLE, duration=3600))
    creds.get_frozen_credentials()
    frozen.tick(53 * 60)  # past any jittered start; 7 minutes left: bound = min(300, 420 / 2) = 210 s
    sts_calls.outage()
    creds.get_frozen_credentials()
    creds.wait_for_background()
    assert sts_calls.count() == 2
    frozen.tick(104)
    creds.get_frozen_credentials()
    creds.wait_for_background()
    assert sts_calls.count() == 2  # still backing off (>= 105 s)
    frozen.tick(107)
    creds.get_frozen_credentials()
    creds.wait_for_background()
    assert sts_calls.count() == 3  # tried again (<= 210 s)


def test_refresh_forces_a_call_and_raises_on_failure(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE)
    first = session.get_credentials().get_frozen_credentials()
    session.refresh()
    assert sts_calls.count() == 2
    assert session.get_credentials().get_frozen_credentials() != first
    sts_calls.refuse("AccessDenied")
    with pytest.raises(AssumeRoleError) as info:
        session.refresh()
    assert info.value.code == "AccessDenied"
    # the failed forced refresh keeps the valid credentials
    assert session.get_credentials().get_frozen_credentials().access_key in sts_calls.issued


def test_invalidate_drops_credentials_and_cache_entry(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE)
    first = session.get_credentials().get_frozen_credentials()
    session.invalidate()
    assert sts_calls.count() == 1
    again = session.get_credentials().get_frozen_credentials()
    assert sts_calls.count() == 2 and again != first
    # the cache entry went too: a new session does not get the dropped credentials
    assert rolesession.assume_role(ROLE).get_credentials().get_frozen_credentials() == again


def test_jittered_start_lies_in_the_first_half_of_the_advisory_window(sts_mock, sts_calls, frozen):
    step = 2
    starts = set()
    for _ in range(20):
        session = rolesession.assume_role(ROLE, duration=3600, cache=None)
        creds = session.get_credentials()
        creds.get_frozen_credentials()
        expiry = session.expiration.timestamp()
        calls = sts_calls.count()
        frozen.tick(expiry - 900 - step - time.time())
        while sts_calls.count() == calls:  # step through the window until the refresh starts
            frozen.tick(step)
            creds.get_frozen_credentials()
            creds.wait_for_background()
        start = time.time()
        assert expiry - 900 <= start <= expiry - 900 + (900 - 60) / 2 + step
        starts.add(start - (expiry - 900))
    assert len(starts) > 10  # drawn per credential set


@pytest.mark.parametrize(
    ("lifetime", "advisory"),
    [(900, 300), (1200, 300), (1201, 900), (3600, 900), (5399, 900), (5400, 3600), (43200, 3600)],
)
def test_advisory_window_scales_with_lifetime(lifetime, advisory):
    assert RefreshPolicy().windows(lifetime) == (advisory, 60)


def test_explicit_windows_never_cover_more_than_three_quarters_of_the_lifetime():
    assert RefreshPolicy(advisory=3000, mandatory=120).windows(900) == (675, 120)
    assert RefreshPolicy(advisory=600, mandatory=120).windows(3600) == (600, 120)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"mandatory": 0}, "mandatory"),
        ({"mandatory": -5}, "mandatory"),
        ({"mandatory": True}, "mandatory"),
        ({"advisory": 60, "mandatory": 60}, "advisory"),
        ({"advisory": 30}, "advisory"),
        ({"advisory": "600"}, "advisory"),
        ({"max_backoff": 0}, "max_backoff"),
    ],
)
def test_refresh_policy_rejects_bad_windows(kwargs, parameter):
    with pytest.raises(rolesession.InvalidParameterError) as info:
        RefreshPolicy(**kwargs)
    assert info.value.parameter == parameter


def test_custom_refresh_policy_is_used(sts_mock, sts_calls, frozen):
    policy = RefreshPolicy(advisory=1800, mandatory=300, jitter=False)
    creds = _reader(rolesession.assume_role(ROLE, duration=3600, refresh=policy))
    creds.get_frozen_credentials()
    frozen.tick(3600 - 1800 - 1)
    creds.get_frozen_credentials()
    assert sts_calls.count() == 1
    frozen.tick(2)
    creds.get_frozen_credentials()
    creds.wait_for_background()
    assert sts_calls.count() == 2


def test_static_mfa_code_is_used_once_then_token_error(sts_mock, sts_calls, frozen, caplog):
    session = rolesession.assume_role(
        ROLE, duration=900, mfa_serial="arn:aws:iam::123456789012:mfa/alice", mfa_token="123456"
    )
    creds = session.get_credentials()
    first = creds.get_frozen_credentials()
    assert sts_calls.params()["TokenCode"] == "123456"
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        for _ in range(13 * 60 // 10):  # through the advisory and mandatory windows
            frozen.tick(10)
            if time.time() < sts_calls.issued[first.access_key]:
                assert creds.get_frozen_credentials() == first
                creds.wait_for_background()
    warnings = [r for r in caplog.records if "cannot be refreshed" in r.getMessage()]
    assert len(warnings) == 1
    frozen.tick(5 * 60)
    with pytest.raises(rolesession.TokenError, match="callable"):
        creds.get_frozen_credentials()
    assert sts_calls.count() == 1  # never resent


def test_callable_mfa_code_is_called_only_when_sts_is_called(sts_mock, sts_calls, frozen):
    codes = iter(["111111", "222222", "333333"])
    calls = []

    def mfa():
        calls.append(1)
        return next(codes)

    creds = _reader(
        rolesession.assume_role(
            ROLE, duration=900, mfa_serial="arn:aws:iam::123456789012:mfa/alice", mfa_token=mfa
        )
    )
    assert calls == []
    creds.get_frozen_credentials()
    creds.get_frozen_credentials()
    assert len(calls) == 1 and sts_calls.params()["TokenCode"] == "111111"
    frozen.tick(14 * 60)
    creds.get_frozen_credentials()
    creds.wait_for_background()
    assert len(calls) == 2 and sts_calls.params()["TokenCode"] == "222222"


def test_mfa_provider_failures_are_token_errors(sts_mock, sts_calls):
    def broken():
        raise RuntimeError("yubikey unplugged")

    for provider in (broken, lambda: "12345", lambda: 123456):
        session = rolesession.assume_role(
            ROLE, mfa_serial="arn:aws:iam::123456789012:mfa/alice", mfa_token=provider, cache=None
        )
        with pytest.raises(rolesession.TokenError):
            session.get_credentials().get_frozen_credentials()
    assert sts_calls.count() == 0


def test_unexpected_errors_become_credential_refresh_errors(sts_mock, sts_calls):
    sts_calls.fail_with(KeyError("Credentials"))  # not an STS or botocore error: a bug somewhere
    with pytest.raises(CredentialRefreshError) as info:
        rolesession.assume_role(ROLE).get_credentials().get_frozen_credentials()
    assert isinstance(info.value.__cause__, KeyError)


def test_many_threads_share_one_session_and_its_clients(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE)
    errors = []

    def work():
        try:
            arn = session.client("sts").get_caller_identity()["Arn"]
            assert "assumed-role/Reader" in arn
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sts_calls.count("AssumeRole") == 1


def test_the_hot_path_takes_no_lock(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE)
    creds = _reader(session)
    first = creds.get_frozen_credentials()
    gate = sts_calls.block()
    refresher = threading.Thread(target=session.refresh)  # a refresh hangs in STS ...
    refresher.start()
    try:
        while sts_calls.count() < 2:
            time.sleep(0.01)
        done = []
        reader = threading.Thread(target=lambda: done.append(creds.get_frozen_credentials()))
        reader.start()
        reader.join(5)
        assert done == [first]  # ... and a reader of fresh credentials does not wait for it
    finally:
        gate.set()
        refresher.join(30)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_with_fresh_locks_and_workers(sts_mock, sts_calls, frozen):
    session = rolesession.assume_role(ROLE, duration=3600)
    creds = _reader(session)
    first = creds.get_frozen_credentials()
    gate = sts_calls.block()
    refresher = threading.Thread(target=session.refresh)  # the parent is mid-refresh when it forks
    refresher.start()
    try:
        while sts_calls.count() < 2:
            time.sleep(0.01)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit code
            code = 1
            try:
                signal.alarm(30)  # a lock inherited held would hang the child: SIGALRM ends it
                gate.set()  # the child's copy: its own STS calls go through
                assert creds.get_frozen_credentials() == first
                creds.refresh()  # not waiting for the parent's attempt, which the child does not run
                renewed = creds.get_frozen_credentials()
                frozen.tick(3200)  # the advisory window: a background refresh on the child's workers
                creds.get_frozen_credentials()
                creds.wait_for_background(20)
                code = 0 if len({first, renewed, creds.get_frozen_credentials()}) == 3 else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        gate.set()
        refresher.join(30)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
