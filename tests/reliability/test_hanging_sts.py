"""STS accepts connections and never answers (SPEC "Reliability additions").

- With valid credentials held, in the advisory and in the mandatory window,
  no reader waits for the hung STS; one attempt is made per backoff period;
  one WARNING is logged for the failure.
- With nothing valid held, concurrent readers share ONE attempt and its
  error; the 1-s retry floor counts from when that attempt *ended*.

Sessions use connect/read timeouts of 1 s and 2 HTTP requests per attempt, so
one attempt against a hung STS lasts about 2-3 s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import rolesession
from helpers import ROLE
from rolesession.testing import sts_clients

from .faultproxy import FaultProxy, real_clock
from .harness import (
    ATTEMPT_REQUESTS,
    ATTEMPT_SECONDS,
    NO_WAIT,
    frozen_read,
    run_readers,
    wait_until,
    warnings_from,
)

pytestmark = pytest.mark.usefixtures("debug_logs")

MINUTE = 60


def timeout_code(code: str | None) -> bool:
    """botocore's timeout classes (ReadTimeoutError, ConnectTimeoutError)."""
    return code is not None and "Timeout" in code


def held_then_hang(
    assume: Callable[..., rolesession.RoleSession], fault_proxy: FaultProxy
) -> tuple[rolesession.RoleSession, Any]:
    """A session holding fresh 1-hour credentials; then STS hangs on AssumeRole."""
    session = assume(ROLE)
    held = session.get_credentials().get_frozen_credentials()
    assert fault_proxy.count("AssumeRole") == 1
    fault_proxy.hang(action="AssumeRole")
    return session, held


@pytest.mark.parametrize(
    ("minutes_in", "backoff_floor", "backoff_ceiling"),
    [
        # Advisory window of 1-hour credentials: the last 15 min; its jittered
        # start lies in the first half (45-52 min), so at 53 min it has begun.
        # Backoff after a failure: 50-100 % of min(300 s, 7 min / 2) = 105-210 s.
        pytest.param(53, 105, 210, id="advisory"),
        # Mandatory window (last 60 s), 30 s left: backoff 7.5-15 s.
        pytest.param(59.5, 7.5, 15, id="mandatory"),
    ],
)
def test_readers_holding_valid_credentials_never_wait_for_a_hung_sts(
    fault_proxy: FaultProxy,
    assume: Callable[..., rolesession.RoleSession],
    frozen: Any,
    caplog: pytest.LogCaptureFixture,
    minutes_in: float,
    backoff_floor: float,
    backoff_ceiling: float,
) -> None:
    session, held = held_then_hang(assume, fault_proxy)
    frozen.tick(minutes_in * MINUTE)

    # Long enough for the refresh attempt to hang, be retried and fail.
    report = run_readers(frozen_read(session), threads=16, seconds=ATTEMPT_SECONDS + 0.5)

    attempts = fault_proxy.count("AssumeRole") - 1
    assert not report.errors, report.summary()
    assert report.stuck == 0, report.summary()
    assert report.worst < NO_WAIT, f"a reader waited for the hung STS: {report.summary()}"
    assert {c.access_key for c in report.values} == {held.access_key}, "readers must get the held credentials"
    assert 1 <= attempts <= ATTEMPT_REQUESTS, (
        f"{attempts} AssumeRole requests during the run ({report.summary()})"
    )
    assert wait_until(lambda: warnings_from(caplog.records), timeout=ATTEMPT_SECONDS), (
        "no WARNING for the failure"
    )
    warnings = warnings_from(caplog.records)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]

    # Backing off: no new attempt before the backoff's floor, whatever the readers do.
    frozen.tick(backoff_floor * 0.9)
    quiet = run_readers(frozen_read(session), threads=16, seconds=0.5)
    assert fault_proxy.count("AssumeRole") - 1 == attempts, "an attempt was made while backing off"
    assert not quiet.errors and quiet.worst < NO_WAIT, quiet.summary()

    # After the backoff's ceiling, the next read starts one new attempt, still without waiting.
    frozen.tick(backoff_ceiling - backoff_floor * 0.9 + 1)
    started = real_clock()
    assert session.get_credentials().get_frozen_credentials().access_key == held.access_key
    waited = real_clock() - started
    assert waited < NO_WAIT, f"the read after the backoff waited {waited * 1000:.1f} ms"
    assert fault_proxy.wait_for("AssumeRole", 1 + attempts + 1, timeout=2), "no attempt after the backoff"
    print(f"[hang/{minutes_in} min] {report.summary()}; AssumeRole requests in the run: {attempts}")


def test_readers_with_nothing_valid_share_one_attempt(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession]
) -> None:
    session = assume(ROLE)
    fault_proxy.hang(action="AssumeRole")

    report = run_readers(frozen_read(session), threads=16, reads=1, deadline=2 * ATTEMPT_SECONDS)

    requests = fault_proxy.count("AssumeRole")
    assert report.stuck == 0, f"readers still waiting after {2 * ATTEMPT_SECONDS} s: {report.summary()}"
    assert requests <= ATTEMPT_REQUESTS, f"{requests} AssumeRole requests for 16 readers ({report.summary()})"
    assert report.worst < ATTEMPT_SECONDS, f"a reader waited longer than one attempt: {report.summary()}"
    assert len(report.errors) == 16, report.summary()
    for error in report.errors:
        assert isinstance(error, rolesession.AssumeRoleError), repr(error)
        assert timeout_code(error.code), f"code {error.code!r} does not name the timeout"
        assert error.role_arn == ROLE
    print(f"[hang/nothing valid] {report.summary()}; AssumeRole requests: {requests}")


def test_a_read_inside_the_backoff_after_a_hung_attempt_makes_no_request(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession], frozen: Any
) -> None:
    # Judged on the frozen clock, not on how fast this machine is: the backoff
    # (at least 1 s with nothing valid) counts from the end of the hung attempt.
    session = assume(ROLE)
    read = frozen_read(session)
    fault_proxy.hang(action="AssumeRole")

    with pytest.raises(rolesession.AssumeRoleError) as first:
        read()
    requests = fault_proxy.count("AssumeRole")
    assert timeout_code(first.value.code), first.value.code

    frozen.tick(0.9)
    with pytest.raises(rolesession.CredentialRefreshError):
        read()  # inside the backoff: the last error, no request
    assert fault_proxy.count("AssumeRole") == requests

    fault_proxy.clear()
    frozen.tick(1.2)  # 2.1 s after the attempt: past the first step (at most 2 s)
    assert read().access_key.startswith("ASIA")
    assert fault_proxy.count("AssumeRole") == requests + 1


def test_a_background_refresh_gets_through_an_sts_slower_than_the_readers_timeout(
    fault_proxy: FaultProxy, frozen: Any
) -> None:
    # The library's own STS settings (5-s read timeout, 3 tries): an STS answering in
    # 5.5 s never gets through to a reader; a background refresh, which no reader
    # waits on, has a 30-s read timeout.
    session = rolesession.assume_role(ROLE, sts_endpoint_url=fault_proxy.url)
    read = frozen_read(session)
    first = read()
    fault_proxy.slow(5.5, action="AssumeRole")
    frozen.tick(53 * MINUTE)  # the advisory window, past any jittered start

    assert read().access_key == first.access_key  # served at once; the refresh runs behind
    assert wait_until(lambda: read().access_key != first.access_key, timeout=25), (
        f"no new credentials: {fault_proxy.counts()}"
    )
    assert fault_proxy.count("AssumeRole") == 2, "the background request timed out and was retried"
    timeouts = sorted(client.meta.config.read_timeout for client in sts_clients())
    assert timeouts == [5, 30], "readers with nothing valid keep the short read timeout"
