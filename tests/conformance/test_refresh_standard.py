"""AWS's cross-SDK credential-refresh standard, case by case (SPEC "Refresh standard").

Each of the standard's 24 published cases is one test, named after the case,
against moto's STS (in process) seen through `rolesession.testing.StsRecorder`
(which refuses, throttles or takes STS down for chosen roles) under a frozen
clock. Each asserts the standard's result, or rolesession's documented
deviation (docs/refresh.md, "The refresh standard, case by case").
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError

import rolesession
from helpers import ROLE, reject_signed_with
from rolesession import AssumeRoleError, CredentialRefreshError, RefreshEvent, RefreshPolicy
from rolesession.testing import StsRecorder

HOUR = 3600
#: For 1-hour credentials (lifetime < 90 min): the advisory window is the last 15 minutes.
ADVISORY = 900
MANDATORY = 60

pytestmark = pytest.mark.usefixtures("sts_mock")


class Held:
    """A session with 1-hour credentials fetched at the frozen start, and what it saw.

    ``make(refresh)`` makes the session (default: `assume_role` of ROLE for an hour).
    """

    def __init__(self, make: Any = None, **policy: Any) -> None:
        self.events: list[RefreshEvent] = []
        policy.setdefault("jitter", False)
        refresh = RefreshPolicy(on_event=self.events.append, **policy)
        self.session = (make or _assume_for_an_hour)(refresh)
        self.credentials = self.session.get_credentials()
        self.first = self.read()

    def read(self) -> Any:
        return self.credentials.get_frozen_credentials()

    def read_and_settle(self) -> Any:
        """A read, then wait for the background refresh it may have started."""
        value = self.read()
        self.credentials.wait_for_background(10)
        return value

    def outcomes(self) -> list[tuple[str, str | None]]:
        return [(e.outcome, e.error_code) for e in self.events]


def _assume_for_an_hour(refresh: RefreshPolicy) -> rolesession.RoleSession:
    return rolesession.assume_role(ROLE, duration=HOUR, refresh=refresh)


def expire_answers_in(sts: StsRecorder, seconds: float) -> None:
    """STS's answers carry credentials that expire ``seconds`` after now."""

    def edit(answer: dict[str, Any]) -> None:
        answer["Credentials"]["Expiration"] = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)

    sts.edit_answer = edit


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# -- held credentials and the windows ------------------------------------------------------------


def test_valid_held_set_is_served_without_a_call(sts_calls, frozen):
    held = Held()
    frozen.tick(HOUR - ADVISORY - 1)  # valid, not yet in the advisory window
    assert held.read_and_settle() == held.first
    assert sts_calls.count() == 1


def test_advisory_window_refresh_succeeds_the_next_read_gets_the_new_set(sts_calls, frozen):
    held = Held()
    frozen.tick(HOUR - ADVISORY + 1)
    # Deviation (documented): the refresh runs in the background; this reader is not kept waiting.
    assert held.read_and_settle() == held.first
    assert sts_calls.count() == 2
    assert held.read().access_key not in (held.first.access_key, None)


def test_mandatory_window_refresh_succeeds_the_next_read_gets_the_new_set(sts_calls, frozen):
    held = Held()
    frozen.tick(HOUR - MANDATORY + 1)
    assert held.read_and_settle() == held.first  # still valid: served while the refresh runs
    assert sts_calls.count() == 2
    assert held.read().access_key != held.first.access_key


def _refresh_fails_in(minutes_left: float, sts_calls: StsRecorder, frozen: Any, caplog: Any) -> None:
    held = Held()
    frozen.tick(HOUR - minutes_left * 60)
    sts_calls.outage()
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        assert held.read_and_settle() == held.first  # the held set is served
        frozen.tick(0.5)  # inside the backoff (at least 1 s)
        for _ in range(20):
            assert held.read_and_settle() == held.first
    assert sts_calls.count() == 2  # one failed attempt, none while backing off
    assert held.outcomes() == [
        ("refreshed", None),
        ("failed", "EndpointConnectionError"),
        ("serving-held", "EndpointConnectionError"),
    ]
    assert len(warnings(caplog)) == 1


def test_advisory_window_refresh_fails_the_held_set_is_served_and_backoff_applied(
    sts_calls, frozen, caplog
):
    _refresh_fails_in(10, sts_calls, frozen, caplog)


def test_mandatory_window_refresh_fails_the_held_set_is_served_and_backoff_applied(
    sts_calls, frozen, caplog
):
    _refresh_fails_in(0.5, sts_calls, frozen, caplog)


# -- expired and nothing held ------------------------------------------------------------------------


def test_expired_refresh_succeeds_the_new_set_is_returned(sts_calls, frozen):
    held = Held()
    frozen.tick(HOUR + 1)
    renewed = held.read()
    assert renewed.access_key != held.first.access_key
    assert sts_calls.count() == 2


def test_expired_refresh_fails_raises_credential_refresh_error_by_default(sts_calls, frozen):
    held = Held()
    frozen.tick(HOUR + 1)
    sts_calls.outage()
    # Deviation (documented): the standard serves the expired set; rolesession raises, naming
    # the role and the cause, unless RefreshPolicy(serve_expired=True).
    with pytest.raises(CredentialRefreshError) as info:
        held.read()
    assert isinstance(info.value, AssumeRoleError) and info.value.code == "EndpointConnectionError"
    assert info.value.role_arn == ROLE


def test_expired_refresh_fails_serve_expired_serves_the_expired_set(sts_calls, frozen):
    held = Held(serve_expired=True)
    frozen.tick(HOUR + 1)
    sts_calls.outage()
    assert held.read() == held.first  # the expired set: the service answers
    assert held.read() == held.first  # during the backoff too, without a call
    assert sts_calls.count() == 2
    sts_calls.fail_with(None)
    frozen.tick(2)  # past the first backoff step (at most 2 s)
    assert held.read().access_key != held.first.access_key


def test_nothing_held_fetch_fails_raises(sts_calls):
    sts_calls.outage()
    session = rolesession.assume_role(ROLE)
    with pytest.raises(CredentialRefreshError) as info:
        session.get_credentials().get_frozen_credentials()
    assert isinstance(info.value, AssumeRoleError) and info.value.code == "EndpointConnectionError"
    assert sts_calls.count() == 1


def test_nothing_held_fetch_fails_then_succeeds_after_the_backoff(sts_calls, frozen):
    sts_calls.outage()
    credentials = rolesession.assume_role(ROLE).get_credentials()
    with pytest.raises(CredentialRefreshError):
        credentials.get_frozen_credentials()
    sts_calls.fail_with(None)
    # Deviation (documented): the next call fetches once the backoff (from 1 s, jittered,
    # exponential) allows -- not at once.
    with pytest.raises(CredentialRefreshError):
        credentials.get_frozen_credentials()
    assert sts_calls.count() == 1
    frozen.tick(2)  # the first step is at most 2 s
    assert credentials.get_frozen_credentials().access_key in sts_calls.issued
    assert sts_calls.count() == 2


def test_stale_response_is_a_failed_refresh(sts_calls, frozen):
    held = Held()
    frozen.tick(HOUR - ADVISORY + 1)
    expire_answers_in(sts_calls, -1)  # STS answers with credentials already expired
    assert held.read_and_settle() == held.first
    assert held.read_and_settle() == held.first  # not adopted
    assert ("failed", "StaleResponse") in held.outcomes()
    assert sts_calls.count() == 2


# -- lifetime -> advisory window -----------------------------------------------------------------------


@pytest.fixture
def lifetime_of(sts_calls: StsRecorder) -> Any:
    def make(seconds: float) -> Held:
        expire_answers_in(sts_calls, seconds)
        return Held()

    return make


def _refreshes_exactly_at(held: Held, sts_calls: StsRecorder, frozen: Any, lifetime: float, advisory: float):
    frozen.tick(lifetime - advisory - 1)
    held.read_and_settle()
    assert sts_calls.count() == 1, f"refreshed more than {advisory} s before expiry"
    frozen.tick(2)
    held.read_and_settle()
    assert sts_calls.count() == 2, f"no refresh {advisory - 1} s before expiry"


def test_lifetime_600_s_advisory_window_300_s(lifetime_of, sts_calls, frozen):
    _refreshes_exactly_at(lifetime_of(600), sts_calls, frozen, 600, 300)


def test_lifetime_1230_s_advisory_window_900_s(lifetime_of, sts_calls, frozen):
    _refreshes_exactly_at(lifetime_of(1230), sts_calls, frozen, 1230, 900)


def test_lifetime_21600_s_advisory_window_3600_s(lifetime_of, sts_calls, frozen):
    _refreshes_exactly_at(lifetime_of(21600), sts_calls, frozen, 21600, 3600)


def test_advisory_window_is_recomputed_per_credential_set(lifetime_of, sts_calls, frozen):
    held = lifetime_of(21600)
    expire_answers_in(sts_calls, 600)  # the next set lives 10 minutes
    frozen.tick(21600 - 3600 + 1)
    held.read_and_settle()
    assert sts_calls.count() == 2
    second = held.read()
    frozen.tick(600 - 300 - 1)  # the 10-minute set's own window (300 s), not the first set's 3600
    assert held.read_and_settle() == second
    assert sts_calls.count() == 2
    frozen.tick(2)
    held.read_and_settle()
    assert sts_calls.count() == 3


def test_configured_advisory_window_overrides_the_table(sts_calls, frozen):
    held = Held(advisory=1800)
    frozen.tick(HOUR - 1800 - 1)
    held.read_and_settle()
    assert sts_calls.count() == 1
    frozen.tick(2)
    held.read_and_settle()
    assert sts_calls.count() == 2


# -- non-recoverable errors --------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["AccessDenied", "RegionDisabledException"])
def test_non_recoverable_error_with_nothing_held_is_raised_as_itself(sts_calls, code):
    sts_calls.refuse(code)
    with pytest.raises(AssumeRoleError) as info:
        rolesession.assume_role(ROLE).get_credentials().get_frozen_credentials()
    assert info.value.code == code and code in str(info.value)


def test_non_recoverable_error_is_cached_5_s_without_a_call(sts_calls, frozen):
    sts_calls.refuse("AccessDenied")
    credentials = rolesession.assume_role(ROLE).get_credentials()
    with pytest.raises(AssumeRoleError):
        credentials.get_frozen_credentials()
    sts_calls.fail_with(None)  # STS would answer now: the cached error is raised anyway
    for _ in range(49):
        frozen.tick(0.1)
        with pytest.raises(AssumeRoleError) as info:
            credentials.get_frozen_credentials()
        assert info.value.code == "AccessDenied"
    assert sts_calls.count() == 1
    frozen.tick(0.2)  # 5.1 s after the refusal
    assert credentials.get_frozen_credentials().access_key in sts_calls.issued
    assert sts_calls.count() == 2


def test_non_recoverable_error_with_a_valid_set_held_serves_it_and_reports(sts_calls, frozen, caplog):
    held = Held()
    frozen.tick(HOUR - ADVISORY + 1)
    sts_calls.refuse("AccessDenied")
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        # Deviation (documented): the standard raises; rolesession serves the valid set and
        # reports the refusal through the WARNING and on_event.
        assert held.read_and_settle() == held.first
    [warning] = warnings(caplog)
    assert "AccessDenied" in warning and ROLE in warning
    assert ("failed", "AccessDenied") in held.outcomes()
    assert ("serving-held", "AccessDenied") in held.outcomes()


# -- rejected credentials and backoffs ------------------------------------------------------------------


def test_rejected_key_matching_the_held_set_the_next_read_refreshes(sts_calls):
    held = Held()
    client = held.session.client("sts")
    seen = reject_signed_with(client, {held.first.access_key})
    client.get_caller_identity()  # rejected, refreshed, retried with the new set
    assert seen[0] == held.first.access_key and seen[1] != seen[0]
    assert held.read().access_key == seen[1]
    assert sts_calls.count("AssumeRole") == 2


def test_rejected_key_matching_refresh_fails_the_held_set_is_still_served(sts_calls):
    held = Held()
    client = held.session.client("sts")
    reject_signed_with(client, {held.first.access_key})
    sts_calls.outage()
    with pytest.raises(ClientError) as info:
        client.get_caller_identity()
    assert info.value.response["Error"]["Code"] == "ExpiredToken"  # the service's answer, not ours
    assert held.read() == held.first  # still valid: still served (the rejection may be an artefact)
    assert sts_calls.count("AssumeRole") == 2


def test_rejected_key_not_held_is_a_no_op(sts_calls):
    held = Held()
    held.session.refresh()
    current = held.read()
    assert current != held.first
    assert held.credentials.reject(held.first.access_key) is False  # a stale rejection
    assert held.read() == current
    assert sts_calls.count() == 2


def test_rejection_during_a_backoff_makes_no_call(sts_calls, frozen):
    held = Held()
    frozen.tick(HOUR - ADVISORY + 1)
    sts_calls.outage()
    held.read_and_settle()  # failed: backing off
    calls = sts_calls.count()
    client = held.session.client("sts")
    reject_signed_with(client, {held.first.access_key})
    with pytest.raises(ClientError, match="ExpiredToken"):
        client.get_caller_identity()
    assert held.read_and_settle() == held.first
    assert sts_calls.count() == calls


def test_read_or_invalidate_during_a_backoff_makes_no_call(sts_calls, frozen):
    held = Held()
    frozen.tick(HOUR - ADVISORY + 1)
    sts_calls.outage()
    held.read_and_settle()  # failed: backing off, the held set served
    calls = sts_calls.count()
    held.session.invalidate()
    with pytest.raises(AssumeRoleError) as info:
        held.read()  # nothing valid during the backoff: the last error at once
    assert info.value.code == "EndpointConnectionError"
    assert sts_calls.count() == calls
