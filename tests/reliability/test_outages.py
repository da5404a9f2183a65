"""STS refuses, resets, answers 5xx, answers garbage, or throttles.

- Every failure surfaces as an `AssumeRoleError` naming the role and a
  meaningful code (the STS error code, or the botocore exception's class
  name), chained from the botocore error -- never a bare exception, never an
  "unexpected ..." wrapper.
- Static stability: while the held credentials are valid, readers get them,
  one WARNING per failure episode, no attempt while backing off.
- Throttling of the first requests is absorbed by botocore's retries.
- When the fault clears, the session recovers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

import rolesession
from helpers import ROLE

from .faultproxy import FaultProxy, real_clock
from .harness import ATTEMPT_REQUESTS, NO_WAIT, frozen_read, run_readers, wait_until, warnings_from

pytestmark = pytest.mark.usefixtures("debug_logs")

MINUTE = 60

#: fault name -> (how to switch it on, the code the AssumeRoleError must carry)
OUTAGES: dict[str, tuple[Callable[[FaultProxy], Any], str]] = {
    "refused": (lambda p: p.refuse(listener=True), "EndpointConnectionError"),
    "closed": (lambda p: p.refuse(action="AssumeRole"), "ConnectionClosedError"),
    "reset": (lambda p: p.reset(action="AssumeRole"), "ConnectionClosedError"),
    "500": (lambda p: p.http_5xx(500, action="AssumeRole"), "InternalFailure"),
    "503": (lambda p: p.http_5xx(503, action="AssumeRole"), "ServiceUnavailable"),
    "502-html": (lambda p: p.http_5xx(502, body="html", action="AssumeRole"), "502"),
    "non-xml": (lambda p: p.non_xml(action="AssumeRole"), "ResponseParserError"),
    "throttled": (lambda p: p.throttle(action="AssumeRole"), "Throttling"),
}


def attempts_finished(proxy: FaultProxy, requests: int) -> bool:
    """Wait until ``requests`` AssumeRole requests arrived, then a moment for the client to see the last."""
    arrived = proxy.wait_for("AssumeRole", requests, timeout=5)
    time.sleep(0.3)
    return arrived


@pytest.mark.parametrize("fault", list(OUTAGES))
def test_a_failure_with_nothing_held_is_an_assume_role_error_with_a_meaningful_code(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession], fault: str
) -> None:
    switch_on, code = OUTAGES[fault]
    session = assume(ROLE)
    switch_on(fault_proxy)

    with pytest.raises(rolesession.RoleSessionError) as caught:
        session.get_credentials().get_frozen_credentials()

    error = caught.value
    assert type(error) is rolesession.AssumeRoleError, f"{type(error).__name__}: {error}"
    assert isinstance(error, rolesession.CredentialRefreshError)
    assert error.code == code, f"{fault}: code {error.code!r}, message {error}"
    assert error.role_arn == ROLE
    assert ROLE in str(error)
    assert "unexpected" not in str(error).lower()
    # Chained from botocore's error (ResponseParserError is botocore's, though not a BotoCoreError).
    cause = error.__cause__
    assert isinstance(cause, (BotoCoreError, ClientError, ResponseParserError)), repr(cause)
    assert fault_proxy.count("AssumeRole") <= ATTEMPT_REQUESTS


def _held_in_window(
    assume: Callable[..., rolesession.RoleSession], fault_proxy: FaultProxy, frozen: Any, minutes_in: float
) -> tuple[rolesession.RoleSession, Any]:
    session = assume(ROLE)
    held = session.get_credentials().get_frozen_credentials()
    frozen.tick(minutes_in * MINUTE)
    return session, held


@pytest.mark.parametrize(
    ("fault", "minutes_in", "backoff_ceiling"),
    [pytest.param(name, 53, 210, id=f"advisory-{name}") for name in OUTAGES]
    + [pytest.param(name, 59.5, 15, id=f"mandatory-{name}") for name in ("refused", "503")],
)
def test_static_stability_serves_held_credentials_then_recovers(
    fault_proxy: FaultProxy,
    assume: Callable[..., rolesession.RoleSession],
    frozen: Any,
    caplog: pytest.LogCaptureFixture,
    fault: str,
    minutes_in: float,
    backoff_ceiling: float,
) -> None:
    session, held = _held_in_window(assume, fault_proxy, frozen, minutes_in)
    before = fault_proxy.count("AssumeRole")
    OUTAGES[fault][0](fault_proxy)
    read = frozen_read(session)

    started = real_clock()
    first = read()
    waited = real_clock() - started
    assert first.access_key == held.access_key
    assert wait_until(lambda: warnings_from(caplog.records)), "no WARNING for the failed refresh"
    failed_requests = fault_proxy.count("AssumeRole") - before

    # Backing off: every reader gets the held credentials, STS is left alone.
    report = run_readers(read, threads=8, reads=50, pause=0)
    assert not report.errors, report.summary()
    assert {c.access_key for c in report.values} == {held.access_key}
    assert fault_proxy.count("AssumeRole") - before == failed_requests, "an attempt while backing off"
    assert len(warnings_from(caplog.records)) == 1, [r.getMessage() for r in warnings_from(caplog.records)]
    if fault != "refused":  # a refused connection never reaches the proxy's records
        assert 1 <= failed_requests <= ATTEMPT_REQUESTS
    if minutes_in == 53:
        assert waited < NO_WAIT, f"an advisory-window reader waited {waited * 1000:.0f} ms"

    # The fault clears; after the backoff the session refreshes by itself.
    fault_proxy.clear()
    frozen.tick(backoff_ceiling + 1)
    assert wait_until(lambda: read().access_key != held.access_key), "the session did not recover"
    assert fault_proxy.count("AssumeRole", fault="forward") == 2
    assert not report.errors


def test_one_warning_per_failure_episode(
    fault_proxy: FaultProxy,
    assume: Callable[..., rolesession.RoleSession],
    frozen: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    session, held = _held_in_window(assume, fault_proxy, frozen, 53)
    read = frozen_read(session)
    fault_proxy.http_5xx(503, action="AssumeRole")

    read()  # episode 1, attempt 1
    assert attempts_finished(fault_proxy, 1 + ATTEMPT_REQUESTS)
    assert wait_until(lambda: warnings_from(caplog.records))
    frozen.tick(211)  # past the backoff (at most 210 s here)
    read()  # episode 1, attempt 2
    assert attempts_finished(fault_proxy, 1 + 2 * ATTEMPT_REQUESTS), fault_proxy.counts()
    episode_one = len(warnings_from(caplog.records))

    fault_proxy.clear()
    frozen.tick(3 * MINUTE)  # 56 min + 30 s: past this attempt's backoff, still valid
    assert wait_until(lambda: read().access_key != held.access_key), "no recovery"
    recovered = fault_proxy.count("AssumeRole", fault="forward")

    fault_proxy.http_5xx(503, action="AssumeRole")
    frozen.tick(53 * MINUTE)  # into the new credentials' advisory window: episode 2
    before = fault_proxy.count("AssumeRole")
    read()
    assert attempts_finished(fault_proxy, before + ATTEMPT_REQUESTS)
    assert wait_until(lambda: len(warnings_from(caplog.records)) > episode_one, timeout=2)
    messages = [r.getMessage() for r in warnings_from(caplog.records)]

    assert recovered == 2
    assert episode_one == 1, f"two failed attempts of one episode logged {episode_one} WARNINGs: {messages}"
    assert len(messages) == 2, messages


@pytest.mark.parametrize(
    ("throttled", "sts_config_default"),
    [
        pytest.param(1, False, id="first-request-2-attempts"),
        pytest.param(2, True, id="first-2-library-default"),
    ],
)
def test_throttling_of_the_first_requests_is_absorbed(
    fault_proxy: FaultProxy,
    assume: Callable[..., rolesession.RoleSession],
    caplog: pytest.LogCaptureFixture,
    throttled: int,
    sts_config_default: bool,
) -> None:
    # The library's own STS defaults (3 attempts) absorb two throttled requests.
    session = assume(ROLE, sts_config=None) if sts_config_default else assume(ROLE)
    fault_proxy.throttle(action="AssumeRole", times=throttled)

    creds = session.get_credentials().get_frozen_credentials()

    assert creds.access_key.startswith("ASIA")
    assert fault_proxy.count("AssumeRole", fault="throttle") == throttled
    assert fault_proxy.count("AssumeRole", fault="forward") == 1
    assert not warnings_from(caplog.records)


@pytest.mark.parametrize("fault", ["refused", "reset", "503", "non-xml"])
def test_recovers_when_the_fault_clears(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession], fault: str
) -> None:
    session = assume(ROLE)
    read = frozen_read(session)
    OUTAGES[fault][0](fault_proxy)
    with pytest.raises(rolesession.AssumeRoleError):
        read()

    fault_proxy.clear()
    time.sleep(2.1)  # the first backoff step with nothing valid: at most 2 s

    assert read().access_key.startswith("ASIA")
    assert fault_proxy.count("AssumeRole", fault="forward") == 1


#: The upper bounds of the backoff steps with nothing valid (full jitter from 1 s, doubling,
#: capped at max_backoff = 300 s): with every draw at its bound, attempts start at these times.
STEP_BOUNDS = [2, 4, 8, 16, 32, 64, 128, 256, 300]


@pytest.mark.parametrize("fault", ["500", "throttled"])
def test_with_nothing_valid_attempts_back_off_exponentially_to_max_backoff(
    fault_proxy: FaultProxy,
    assume: Callable[..., rolesession.RoleSession],
    frozen: Any,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    """SPEC "Refresh standard": no reader with nothing valid brings STS more than one attempt
    per backoff step. Reads every 0.5 s for 10 minutes (on the frozen clock)."""
    monkeypatch.setattr("random.uniform", lambda low, high: high)  # every step at its bound
    read = frozen_read(assume(ROLE))
    OUTAGES[fault][0](fault_proxy)
    attempts: list[float] = []
    started = time.time()
    for _ in range(1200):
        before = fault_proxy.count("AssumeRole")
        with pytest.raises(rolesession.AssumeRoleError) as info:
            read()
        if fault_proxy.count("AssumeRole") > before:
            attempts.append(time.time() - started)
        assert info.value.code == OUTAGES[fault][1]
        frozen.tick(0.5)
    expected, at = [0.0], 0.0
    for bound in STEP_BOUNDS:
        at += bound
        expected.append(at)
    assert attempts == [t for t in expected if t < 600], attempts
    per_minute = [sum(1 for t in attempts if m * 60 <= t < (m + 1) * 60) for m in range(10)]
    requests = fault_proxy.count("AssumeRole")
    print(f"[nothing valid/{fault}] attempts per simulated minute {per_minute}; {requests} requests")
    assert requests <= len(attempts) * ATTEMPT_REQUESTS
