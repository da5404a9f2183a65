"""The refresh engine: windows, background refresh, single flight, static stability, static and
interactive providers, refresh events, rejected credentials, clock skew, hand-outs, workers and fork.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import signal
import sys
import threading
import time
from typing import Any

import boto3
import freezegun
import freezegun.api
import pytest
from botocore.exceptions import ClientError

import rolesession
from helpers import MFA_SERIAL, ROLE, ROLE_B, access_key
from helpers import reject_signed_with as _reject
from rolesession import (
    AssumeRoleError,
    CredentialRefreshError,
    RefreshEvent,
    RefreshPolicy,
)
from rolesession.testing import StsRecorder, forget_sessions


def _reader(session):
    return session.get_credentials()


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


class Prompt:
    """Stands for a terminal prompt: never to be asked from a background thread."""

    interactive = True

    def __init__(self) -> None:
        self.threads: list[str] = []

    def __call__(self) -> str:
        self.threads.append(threading.current_thread().name)
        return "123456"



class _RejectAll(set):  # type: ignore[type-arg]
    def __contains__(self, item: object) -> bool:
        return True


class _Escaping(BaseException):
    """Not an ``Exception``: the engine lets it through, as it would ``SystemExit`` in a job."""


# -- windows and the wall clock --------------------------------------------------------------------


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


def test_expiry_follows_the_wall_clock_even_when_the_monotonic_clock_stood_still(
    sts_mock: None, sts_calls: StsRecorder, frozen: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC: "Time is the wall clock ... a frozen or suspended process sees true expiry when it wakes"."""
    credentials = rolesession.assume_role(ROLE, duration=900).get_credentials()
    first = credentials.get_frozen_credentials()
    with monkeypatch.context() as patch:
        # A suspended laptop: the monotonic clocks did not move, the wall clock did.
        patch.setattr(time, "monotonic", lambda: 1000.0)
        patch.setattr(time, "perf_counter", lambda: 1000.0)
        frozen.tick(901)
        woken = credentials.get_frozen_credentials()
    assert woken != first
    assert sts_calls.issued[woken.access_key] > time.time()
    assert sts_calls.count() == 2


# -- who waits: advisory and mandatory windows, single flight, the hot path ------------------------


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


def test_the_hot_path_is_a_clock_read_and_a_comparison(sts_mock: None) -> None:
    """SPEC: "no lock, no datetime arithmetic, no new objects beyond the clock's own float"."""
    credentials = rolesession.assume_role(ROLE).get_credentials()
    first = credentials.get_frozen_credentials()
    events: list[tuple[str, str]] = []

    def profile(frame: Any, event: str, arg: Any) -> None:
        name = getattr(arg, "__qualname__", repr(arg)) if event.startswith("c_") else frame.f_code.co_qualname
        events.append((event, name))

    sys.setprofile(profile)
    try:
        again = credentials.get_frozen_credentials()
    finally:
        sys.setprofile(None)
    assert again is first  # the same object, not a new one per read
    # Nothing is called but the clock: no lock, no datetime, no constructor.
    assert events[:4] == [
        ("call", "SessionCredentials.get_frozen_credentials"),
        ("c_call", "time"),
        ("c_return", "time"),
        ("return", "SessionCredentials.get_frozen_credentials"),
    ]
    assert [e for e in events[4:] if e != ("c_call", "setprofile")] == []


# -- static stability: failures, backoff and the retry floor ---------------------------------------


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


def test_unexpected_errors_become_credential_refresh_errors(sts_mock, sts_calls):
    sts_calls.fail_with(KeyError("Credentials"))  # not an STS or botocore error: a bug somewhere
    with pytest.raises(CredentialRefreshError) as info:
        rolesession.assume_role(ROLE).get_credentials().get_frozen_credentials()
    assert isinstance(info.value.__cause__, KeyError)
    assert ROLE in str(info.value)


def test_unexpected_errors_of_a_role_less_session_name_the_operation(sts_mock, sts_calls):
    sts_calls.fail_with(KeyError("Credentials"))
    with pytest.raises(CredentialRefreshError) as info:
        session = rolesession.mfa_session("arn:aws:iam::123456789012:mfa/alice", "123456", cache=None)
        session.get_credentials().get_frozen_credentials()
    assert "GetSessionToken" in str(info.value) and "None" not in str(info.value)


def test_a_failed_refresh_backs_off_at_least_one_second(
    sts_mock: None, sts_calls: StsRecorder, frozen: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC: backoff "drawn between 50 % and 100 % of min(300 s, half the time left before expiry),
    at least 1 s"."""
    # The lowest draw: 50 % of min(300, 2 s / 2) = 0.5 s, which the floor lifts to 1 s.
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    credentials = rolesession.assume_role(
        ROLE, duration=900, refresh=RefreshPolicy(jitter=False)
    ).get_credentials()
    held = credentials.get_frozen_credentials()
    frozen.tick(898)  # 2 s left: the mandatory window
    sts_calls.outage()
    assert credentials.get_frozen_credentials() == held  # failing, still valid: served
    credentials.wait_for_background()
    assert sts_calls.count() == 2
    frozen.tick(0.9)
    assert credentials.get_frozen_credentials() == held
    credentials.wait_for_background()
    assert sts_calls.count() == 2  # 0.9 s after the failure: still backing off
    frozen.tick(0.2)
    assert credentials.get_frozen_credentials() == held
    credentials.wait_for_background()
    assert sts_calls.count() == 3  # 1.1 s after it: tried again


def test_the_backoff_with_nothing_valid_counts_from_the_end_of_a_slow_failed_attempt(
    sts_mock, sts_calls, frozen, monkeypatch
):
    monkeypatch.setattr(random, "uniform", lambda low, high: high)  # the first step: 2 s
    credentials = rolesession.assume_role(ROLE).get_credentials()
    sts_calls.outage()
    sts_calls.during = lambda: frozen.tick(1.2)  # the attempt itself lasts 1.2 s
    with pytest.raises(AssumeRoleError):
        credentials.get_frozen_credentials()
    frozen.tick(1.9)  # 3.1 s after it started, 1.9 s after it ended
    with pytest.raises(AssumeRoleError):
        credentials.get_frozen_credentials()
    assert sts_calls.count() == 1
    frozen.tick(0.2)
    with pytest.raises(AssumeRoleError):
        credentials.get_frozen_credentials()
    assert sts_calls.count() == 2


def test_with_nothing_valid_attempts_back_off_exponentially_from_1_s_to_max_backoff(
    sts_mock, sts_calls, frozen, monkeypatch
):
    bounds: list[float] = []

    def at_bound(low: float, high: float) -> float:
        bounds.append(high)
        return high

    monkeypatch.setattr(random, "uniform", at_bound)
    credentials = rolesession.assume_role(ROLE, refresh=RefreshPolicy(max_backoff=100)).get_credentials()
    sts_calls.outage()
    for _ in range(6 * 60):  # a read a second for 6 minutes
        with pytest.raises(AssumeRoleError):
            credentials.get_frozen_credentials()
        frozen.tick(1)
    # Attempts at 0, 2, 6, 14, 30, 62, 126, 226 and 326 s: the bound doubles, capped at max_backoff.
    assert bounds == [2, 4, 8, 16, 32, 64, 100, 100, 100]
    assert sts_calls.count() == 9
    sts_calls.fail_with(None)
    frozen.tick(100)
    credentials.get_frozen_credentials()  # a success resets the steps
    credentials.invalidate()
    sts_calls.outage()
    bounds.clear()
    with pytest.raises(AssumeRoleError):
        credentials.get_frozen_credentials()
    assert bounds == [2]


def test_a_draw_of_the_full_jitter_is_never_below_1_s(sts_mock, sts_calls, frozen, monkeypatch):
    monkeypatch.setattr(random, "uniform", lambda low, high: low)  # full jitter draws 0 at worst
    credentials = rolesession.assume_role(ROLE).get_credentials()
    sts_calls.outage()
    for _ in range(10):
        with pytest.raises(AssumeRoleError):
            credentials.get_frozen_credentials()
        frozen.tick(0.5)
    assert sts_calls.count() == 5  # one attempt a second, never more


def test_the_backoff_counts_from_the_end_of_a_hanging_attempt(
    sts_mock, sts_calls: StsRecorder, frozen, monkeypatch
):
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    credentials = rolesession.assume_role(
        ROLE, duration=3600, refresh=RefreshPolicy(jitter=False)
    ).get_credentials()
    held = credentials.get_frozen_credentials()
    frozen.tick(3600 - 900)  # the advisory window: 900 s left
    sts_calls.outage()
    sts_calls.during = lambda: frozen.tick(100)  # the attempt hangs for 100 s
    assert credentials.get_frozen_credentials() == held
    credentials.wait_for_background()
    sts_calls.during = None
    # 800 s left at the end: backoff = 50 % of min(300, 400) = 150 s from the END
    frozen.tick(149)
    assert credentials.get_frozen_credentials() == held
    credentials.wait_for_background()
    assert sts_calls.count() == 2
    frozen.tick(2)
    credentials.get_frozen_credentials()
    credentials.wait_for_background()
    assert sts_calls.count() == 3


def test_readers_with_valid_credentials_never_wait_while_the_attempt_hangs(
    sts_mock, sts_calls: StsRecorder, frozen
):
    credentials = rolesession.assume_role(ROLE, duration=3600).get_credentials()
    held = credentials.get_frozen_credentials()
    frozen.tick(3600 - 30)  # mandatory window
    gate = sts_calls.block()
    try:
        # STS answers nothing until the gate opens: a read that waited for it would
        # never return here (how fast the reads are is benchmarks/' business).
        for _ in range(100):
            assert credentials.get_frozen_credentials() == held
        for _ in range(3000):  # (the clock is frozen: count sleeps) until the attempt hangs in STS
            if sts_calls.count() == 2:
                break
            time.sleep(0.01)
        for _ in range(100):
            assert credentials.get_frozen_credentials() == held
        assert sts_calls.count() == 2 and not gate.is_set()
    finally:
        gate.set()
    credentials.wait_for_background()


def test_a_reader_with_nothing_valid_waits_for_a_background_attempt_only_so_long(
    sts_mock, sts_calls: StsRecorder, frozen, monkeypatch
):
    # A worker's attempt reads STS with a 30-s timeout; a reader whose credentials
    # expired while it hangs must not inherit that: it waits BACKGROUND_WAIT at most.
    from rolesession import _refresh

    monkeypatch.setattr(_refresh, "BACKGROUND_WAIT", 0.2)
    credentials = rolesession.assume_role(ROLE, duration=3600).get_credentials()
    held = credentials.get_frozen_credentials()
    frozen.tick(3600 - 30)  # mandatory window: a worker refreshes
    gate = sts_calls.block()
    try:
        assert credentials.get_frozen_credentials() == held
        for _ in range(3000):  # (the clock is frozen: count sleeps) until the attempt hangs in STS
            if sts_calls.count() == 2:
                break
            time.sleep(0.01)
        frozen.tick(60)  # expired while the worker's attempt hangs
        with pytest.raises(CredentialRefreshError, match="goes on in the background"):
            credentials.get_frozen_credentials()
        assert sts_calls.count() == 2  # the reader joined the attempt, it did not make its own
    finally:
        gate.set()
    credentials.wait_for_background()
    assert credentials.get_frozen_credentials() != held  # the attempt's result, for a later read


def test_one_warning_per_failure_episode(sts_mock, sts_calls, frozen, caplog):
    credentials = rolesession.assume_role(ROLE, duration=3600).get_credentials()
    credentials.get_frozen_credentials()
    frozen.tick(3000)
    sts_calls.outage()
    caplog.set_level(logging.INFO, logger="rolesession")
    for _ in range(55):
        credentials.get_frozen_credentials()
        credentials.wait_for_background()
        frozen.tick(10)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert sts_calls.count() >= 4  # several failed attempts ...
    assert len(warnings) == 1  # ... one warning
    sts_calls.fail_with(None)
    frozen.tick(60)
    credentials.get_frozen_credentials()
    credentials.wait_for_background()
    assert any("after" in r.getMessage() and "failed attempt" in r.getMessage() for r in caplog.records)


# -- refresh() and invalidate() --------------------------------------------------------------------


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


# -- static and interactive providers --------------------------------------------------------------


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


def test_an_interactive_provider_is_never_asked_from_a_background_thread(sts_mock, sts_calls, frozen):
    prompt = Prompt()
    session = rolesession.assume_role(ROLE, duration=900, mfa_serial=MFA_SERIAL, mfa_token=prompt)
    credentials = session.get_credentials()
    first = credentials.get_frozen_credentials()
    for _ in range(89):  # through the advisory and mandatory windows
        frozen.tick(10)
        assert credentials.get_frozen_credentials() == first
        credentials.wait_for_background()
    assert prompt.threads == [threading.current_thread().name]
    frozen.tick(20)  # expired: the next read asks, in the foreground
    assert credentials.get_frozen_credentials() != first
    assert prompt.threads == [threading.current_thread().name] * 2


def test_an_interactive_read_never_puts_back_credentials_replaced_while_it_looked(sts_mock, frozen):
    # The read that postpones the refresh window of what it saw held must not undo a refresh
    # that installed newer credentials meanwhile (here: refresh() at exactly that moment).
    class RacingPrompt(Prompt):
        race = False

        @property  # type: ignore[override]
        def interactive(self) -> bool:
            if self.race:
                self.race = False
                credentials.refresh()
            return True

    prompt = RacingPrompt()
    session = rolesession.assume_role(ROLE, duration=900, mfa_serial=MFA_SERIAL, mfa_token=prompt)
    credentials = session.get_credentials()
    first = credentials.get_frozen_credentials()
    frozen.tick(13 * 60)  # due for refresh, still valid
    prompt.race = True
    assert credentials.get_frozen_credentials() == first  # what this read saw
    assert prompt.race is False and len(prompt.threads) == 2
    assert credentials.get_frozen_credentials() != first  # the refresh's credentials stay


# -- refresh events --------------------------------------------------------------------------------


def test_refresh_events_for_sts_calls_cache_hits_failures_and_episodes(sts_mock, sts_calls, frozen):
    events: list[RefreshEvent] = []
    policy = RefreshPolicy(on_event=events.append)
    session = rolesession.assume_role(ROLE, duration=3600, refresh=policy)
    session.identity()
    assert [e.outcome for e in events] == ["refreshed"]
    first = events[0]
    assert first.role_arn == ROLE and first.operation == "AssumeRole" and first.error_code is None
    assert first.expiration == session.expiration and first.seconds >= 0

    rolesession.assume_role(ROLE, duration=3600, refresh=policy, source=boto3.Session()).identity()
    assert events[-1].outcome == "cache-hit"

    frozen.tick(3000)
    sts_calls.refuse("AccessDenied")
    for _ in range(3):
        session.get_credentials().get_frozen_credentials()
        session.get_credentials().wait_for_background()
        frozen.tick(150)
    outcomes = [e.outcome for e in events[2:]]
    assert outcomes[:2] == ["failed", "serving-held"] and outcomes.count("serving-held") == 1
    assert {e.error_code for e in events[2:]} == {"AccessDenied"}
    secret = session.get_credentials().get_frozen_credentials().secret_key
    assert all(secret not in repr(e) for e in events)


def test_an_exception_in_the_event_hook_is_logged_never_raised(sts_mock, caplog):
    def hook(event: RefreshEvent) -> None:
        raise RuntimeError("broken dashboard")

    session = rolesession.assume_role(ROLE, refresh=RefreshPolicy(on_event=hook))
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        assert session.identity()["Arn"]
    assert any("on_event" in r.getMessage() for r in caplog.records)


def test_refresh_policies_compare_by_their_hooks_identity():
    @dataclasses.dataclass
    class Hook:  # equal-by-value and unhashable
        name: str

        def __call__(self, event: RefreshEvent) -> None:
            pass

    a, b = Hook("x"), Hook("x")
    assert RefreshPolicy(on_event=a) == RefreshPolicy(on_event=a)
    assert RefreshPolicy(on_event=a) != RefreshPolicy(on_event=b)
    assert hash(RefreshPolicy(on_event=a)) == hash(RefreshPolicy(on_event=a))
    with pytest.raises(rolesession.InvalidParameterError) as info:
        RefreshPolicy(on_event="print")  # type: ignore[arg-type]
    assert info.value.parameter == "on_event"


# -- rejected credentials --------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"])
def test_a_rejected_key_is_dropped_fetched_once_and_the_request_retried_once(sts_mock, sts_calls, code):
    session = rolesession.assume_role(ROLE)
    first = access_key(session)
    client = session.client("sts")
    seen = _reject(client, {first}, code)
    assert "assumed-role/Reader" in client.get_caller_identity()["Arn"]
    assert seen[0] == first and seen[1] != first and len(seen) == 2
    assert sts_calls.count("AssumeRole") == 2
    assert access_key(session) == seen[1]
    # the dropped credentials left the cache too: a new session does not adopt them
    assert access_key(rolesession.assume_role(ROLE, source=boto3.Session())) == seen[1]


def test_request_expired_is_clock_skew_and_drops_nothing(sts_mock, sts_calls, caplog):
    session = rolesession.assume_role(ROLE)
    first = access_key(session)
    client = session.client("sts")
    seen = _reject(client, {first}, "RequestExpired")
    with caplog.at_level(logging.WARNING, logger="rolesession"), pytest.raises(ClientError) as info:
        client.get_caller_identity()
    assert info.value.response["Error"]["Code"] == "RequestExpired"
    assert seen == [first]  # not retried: new credentials cannot fix a clock
    assert access_key(session) == first and sts_calls.count("AssumeRole") == 1
    assert not [r for r in caplog.records if "rejected" in r.getMessage()]


def test_a_second_rejection_surfaces_and_costs_one_fetch_only(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE)
    client = session.client("sts")
    everything = _RejectAll()
    _reject(client, everything)
    with pytest.raises(ClientError) as info:
        client.get_caller_identity()
    assert info.value.response["Error"]["Code"] == "ExpiredToken"
    assert sts_calls.count("AssumeRole") == 2


def test_many_requests_rejected_at_once_cost_one_fetch(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE)
    first = access_key(session)
    clients = [session.client("sts") for _ in range(8)]
    for client in clients:
        _reject(client, {first})
    sts_calls.delay = 0.2  # the new fetch overlaps every retry
    errors: list[BaseException] = []

    def call(client: Any) -> None:
        try:
            client.get_caller_identity()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sts_calls.count("AssumeRole") == 2


def test_a_parent_whose_credentials_sts_rejects_is_refreshed_and_the_hop_retried(sts_mock, sts_calls):
    parent = rolesession.assume_role(ROLE)
    parent_key = access_key(parent)
    hop = parent.assume_role(ROLE_B)
    sts_calls.fail_once(
        ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "AssumeRole")
    )
    assert hop.identity()["Account"] == "210987654321"
    assert access_key(parent) != parent_key
    # parent, hop (refused: parent key expired), parent again, hop again
    assert sts_calls.count("AssumeRole") == 4


# -- clock skew: judged on STS's clock -------------------------------------------------------------


def test_a_date_within_the_requests_interval_is_no_skew_and_a_missing_or_bad_date_is_none(
    sts_mock, sts_calls
):
    # NTP-style: STS wrote ``Date`` (whole seconds) while the request was under way, ± 1 s.
    for skew, date in [(0.9, None), (-0.9, None), (240.0, ""), (240.0, "not a date")]:
        sts_calls.clock_skew, sts_calls.date_header = skew, date
        session = rolesession.assume_role(ROLE, cache=None)
        session.identity()
        # judged on the Expiration as STS sent it: no correction
        assert session.expiration.timestamp() == sts_calls.issued[access_key(session)]


@pytest.mark.parametrize(("skew", "side"), [(240.0, "behind"), (-240.0, "ahead of")])
def test_a_skew_over_60_s_logs_one_warning_per_process(sts_mock, sts_calls, caplog, skew, side):
    sts_calls.clock_skew = skew
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        for _ in range(3):
            rolesession.assume_role(ROLE, cache=None).identity()
    [warning] = [r.getMessage() for r in caplog.records if "clock" in r.getMessage()]
    assert f"240 s {side} STS's" in warning


@pytest.mark.parametrize("skew", [301.0, -1784.0, 14_584_408.0])
def test_a_skew_beyond_sigv4s_tolerance_is_an_artefact_and_ignored(sts_mock, sts_calls, caplog, skew):
    # A successful answer proves the clocks are within ~5 minutes: a larger
    # figure comes from a frozen or jumping test clock, never corrected for.
    sts_calls.clock_skew = skew
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        session = rolesession.assume_role(ROLE, cache=None)
        session.identity()
    assert session.expiration.timestamp() == sts_calls.issued[access_key(session)]  # as STS sent it
    assert not [r for r in caplog.records if "clock" in r.getMessage()]


def test_lifetime_and_time_left_are_judged_on_stss_clock(sts_mock, sts_calls, frozen):
    # STS's clock is 4 minutes ahead of this host's: its "Expiration" reads 4
    # minutes late here. Judged on STS's clock, 60 minutes are 60 minutes.
    sts_calls.clock_skew = 240.0
    session = rolesession.assume_role(ROLE, duration=3600, refresh=RefreshPolicy(jitter=False))
    credentials = session.get_credentials()
    credentials.get_frozen_credentials()
    assert session.expiration.timestamp() == pytest.approx(time.time() + 3600)
    frozen.tick(3600 - 900 - 1)  # not yet in the advisory window
    credentials.get_frozen_credentials()
    assert sts_calls.count() == 1
    frozen.tick(2)  # in it: judged against STS's clock, not 4 minutes late
    credentials.get_frozen_credentials()
    credentials.wait_for_background()
    assert sts_calls.count() == 2


def test_skew_survives_the_cache(sts_mock, sts_calls, frozen):
    sts_calls.clock_skew = -120.0
    cache = rolesession.MemoryCache()
    first = rolesession.assume_role(ROLE, cache=cache)
    expiry = first.expiration
    assert expiry.timestamp() == pytest.approx(time.time() + 3600)
    sts_calls.clock_skew = 0.0
    again = rolesession.assume_role(ROLE, cache=cache, source=boto3.Session())
    assert again.expiration == expiry and sts_calls.count() == 1


def test_a_cache_entry_is_judged_on_its_recorded_skew(sts_mock, sts_calls, frozen):
    # STS 4 minutes behind us: 15-minute credentials read "11 minutes" on our clock.
    sts_calls.clock_skew = -240.0
    policy = RefreshPolicy(jitter=False)
    first = rolesession.assume_role(ROLE, duration=900, refresh=policy)
    first.identity()
    assert sts_calls.issued[access_key(first)] == pytest.approx(time.time() + 660)
    forget_sessions()
    frozen.tick(500)  # 400 s left on STS's clock (no refresh due), 160 s by a naive reading
    again = rolesession.assume_role(ROLE, duration=900, refresh=policy)
    again.get_credentials().get_frozen_credentials()
    again.get_credentials().wait_for_background()
    assert again is not first and again.expiration == first.expiration
    assert sts_calls.count() == 1


@pytest.fixture
def plain_freezegun(monkeypatch: pytest.MonkeyPatch) -> None:
    """freezegun as users have it: the real time for code within 5 frames of ``threading``."""
    monkeypatch.setattr(freezegun.api, "call_stack_inspection_limit", 5)


@pytest.mark.parametrize("moment", ["advisory", "mandatory", "expired"])
def test_a_32_reader_storm_under_plain_freezegun_makes_one_call(
    sts_mock, sts_calls, plain_freezegun, moment
):
    # Reader threads read the clock within freezegun's inspection limit of
    # ``threading``: their own clock reads get the real time, months away.
    # Advisory: 450 s left is past any jittered start (900 s to 480 s before expiry).
    offset = {"advisory": 3600 - 450, "mandatory": 3600 - 30, "expired": 3601}[moment]
    for run in range(5):
        forget_sessions()  # a new session each run
        before = sts_calls.count()
        with freezegun.freeze_time("2026-03-01 12:00:00") as clock:
            credentials = rolesession.assume_role(ROLE, duration=3600, cache=None).get_credentials()
            credentials.get_frozen_credentials()
            clock.tick(offset)
            keys = _storm(credentials.get_frozen_credentials, threads=32, reads=20)
            credentials.wait_for_background(10)
            latest = credentials.get_frozen_credentials().access_key
        refreshes = sts_calls.count() - before - 1
        assert refreshes == 1, f"run {run}: {refreshes} STS calls for one refresh point"
        assert latest in sts_calls.issued and keys <= set(sts_calls.issued)


def _storm(read: Any, threads: int, reads: int) -> set[str]:
    """``threads`` threads started together, each reading ``reads`` times; the access keys seen."""
    barrier = threading.Barrier(threads)
    keys: set[str] = set()

    def run() -> None:
        barrier.wait()
        for _ in range(reads):
            keys.add(read().access_key)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    return keys


def test_a_clock_ticking_during_a_background_refresh_is_no_skew(sts_mock, sts_calls, plain_freezegun, caplog):
    with freezegun.freeze_time("2026-03-01 12:00:00") as clock, caplog.at_level(logging.WARNING):
        session = rolesession.assume_role(ROLE, duration=3600, refresh=RefreshPolicy(jitter=False))
        credentials = session.get_credentials()
        credentials.get_frozen_credentials()
        clock.tick(3600 - 800)
        sts_calls.during = lambda: clock.tick(200)  # the clock moves on while STS answers
        credentials.get_frozen_credentials()
        credentials.wait_for_background(10)
        sts_calls.during = None
        renewed = credentials.get_frozen_credentials()
        assert renewed.access_key in sts_calls.issued
        # STS wrote its Date while the request was under way: no skew, Expiration as sent.
        assert session.expiration.timestamp() == sts_calls.issued[renewed.access_key]
    assert not [r for r in caplog.records if "clock" in r.getMessage()]


# -- hand-outs (what the CLI gives consumers) ------------------------------------------------------


def test_hand_out_refreshes_when_less_than_asked_is_left(sts_mock, sts_calls, frozen):
    credentials = rolesession.assume_role(ROLE, duration=3600).get_credentials()
    first = credentials.hand_out(900, wait=True)
    assert sts_calls.count() == 1
    frozen.tick(3600 - 800)  # 800 s left < 900 asked
    renewed = credentials.hand_out(900, wait=True)
    assert renewed.access_key != first.access_key and sts_calls.count() == 2


def test_hand_out_without_waiting_answers_from_what_is_held(sts_mock, sts_calls: StsRecorder, frozen):
    credentials = rolesession.assume_role(ROLE, duration=3600).get_credentials()
    first = credentials.hand_out(900, wait=False)
    frozen.tick(3600 - 800)
    gate = sts_calls.block()
    try:
        for _ in range(12):
            assert credentials.hand_out(900, wait=False).access_key == first.access_key
    finally:
        gate.set()
    credentials.wait_for_background()
    assert sts_calls.count() == 2  # one background attempt for 12 hand-outs
    assert credentials.hand_out(900, wait=False).access_key != first.access_key


@pytest.mark.parametrize("start", ["advisory-read", "hand-out"])
def test_a_queued_background_attempt_is_run_by_the_reader_that_needs_it(
    sts_mock, sts_calls, frozen, monkeypatch, start
):
    # Every worker busy (say, 32 refreshes hanging on STS): the queued attempt must not keep
    # a reader with nothing valid waiting behind them; the reader runs it, the worker skips it.
    policy = RefreshPolicy(advisory=300, mandatory=120, jitter=False)  # due 300 s before expiry
    credentials = rolesession.assume_role(ROLE, duration=3600, refresh=policy).get_credentials()
    first = credentials.get_frozen_credentials()
    queued: list[Any] = []
    monkeypatch.setattr("rolesession._workers.submit", queued.append)
    if start == "hand-out":
        frozen.tick(3600 - 800)  # not yet due for the engine; due for a consumer asking 900 s
        assert credentials.hand_out(900, wait=False).access_key == first.access_key
    else:
        frozen.tick(3600 - 200)
        assert credentials.get_frozen_credentials() == first
    assert len(queued) == 1 and sts_calls.count() == 1
    frozen.tick(800)  # expired, the attempt still queued
    got: list[Any] = []
    reader = threading.Thread(target=lambda: got.append(credentials.get_frozen_credentials()), daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive() and got and got[0] != first
    queued[0]()  # the worker reaches it at last: nothing left to do
    assert sts_calls.count() == 2


def test_hand_out_while_backing_off_makes_no_call(sts_mock, sts_calls, frozen):
    credentials = rolesession.assume_role(ROLE, duration=3600).get_credentials()
    first = credentials.hand_out(900, wait=True)
    frozen.tick(3600 - 800)
    sts_calls.outage()
    for _ in range(12):
        assert credentials.hand_out(900, wait=True).access_key == first.access_key
        frozen.tick(1)
    assert sts_calls.count() == 2  # the first attempt; then backing off (>= 1 s, up to 200 s)


def test_hand_out_of_short_credentials_does_not_refresh_each_time(sts_mock, sts_calls):
    credentials = rolesession.assume_role(ROLE, duration=900).get_credentials()
    for _ in range(5):
        credentials.hand_out(900, wait=True)  # 15-minute credentials can never have more left
    assert sts_calls.count() == 1


# -- background workers and fork -------------------------------------------------------------------


def test_a_read_that_starts_a_background_refresh_starts_no_thread(sts_mock, sts_calls, frozen, monkeypatch):
    credentials = rolesession.assume_role(ROLE, duration=3600).get_credentials()
    credentials.get_frozen_credentials()  # the fetch warms the pool up
    starts: list[str] = []
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        starts.append(threading.current_thread().name)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    frozen.tick(3200)  # past any jittered start
    reader = threading.current_thread().name
    credentials.get_frozen_credentials()
    assert reader not in starts
    credentials.wait_for_background()
    assert sts_calls.count() == 2


def test_a_failing_job_does_not_kill_the_worker(sts_mock, sts_calls, frozen):
    credentials = rolesession.assume_role(ROLE, duration=3600).get_credentials()
    first = credentials.get_frozen_credentials()
    frozen.tick(3200)  # past any jittered start of the advisory window
    sts_calls.fail_once(_Escaping())
    assert credentials.get_frozen_credentials() == first  # the background job raises out of the engine
    credentials.wait_for_background(10)
    assert sts_calls.count() == 2
    credentials.get_frozen_credentials()  # the next background refresh still runs
    credentials.wait_for_background(10)
    assert sts_calls.count() == 3 and credentials.get_frozen_credentials() != first


def test_background_refreshes_run_on_daemon_threads(
    sts_mock: None, sts_calls: StsRecorder, frozen: Any
) -> None:
    """SPEC: "Background work runs on daemon threads" (a refresh never keeps a process alive)."""
    credentials = rolesession.assume_role(ROLE, duration=3600).get_credentials()
    held = credentials.get_frozen_credentials()
    frozen.tick(3600 - 7 * 60)  # the advisory window, past any jittered start
    gate = sts_calls.block()
    try:
        assert credentials.get_frozen_credentials() == held
        workers = [t for t in threading.enumerate() if t.name == "rolesession-refresh"]
        assert workers and all(t.daemon for t in workers)
    finally:
        gate.set()
    credentials.wait_for_background()
    assert credentials.get_frozen_credentials() != held


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
