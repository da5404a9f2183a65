"""``RefreshPolicy(on_event=...)`` reports every STS call and each failure episode.

SPEC "Reliability additions": the callable is given a `rolesession.RefreshEvent`
(``role_arn``, ``operation``, ``outcome`` in ``"refreshed"``, ``"failed"``,
``"serving-held"``, ``"cache-hit"``, ``seconds``, ``expiration``,
``error_code``) for every STS call and each failure episode; never a secret;
an exception raised by it is logged, never raised to the reader.

Assumed here beyond the SPEC's words: ``expiration`` is comparable with
``RoleSession.expiration`` (a tz-aware datetime), ``error_code`` is ``None``
on success, and events may be delivered on another thread (the tests wait).
"""

from __future__ import annotations

import datetime as _dt
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

import rolesession
from helpers import ROLE, SOURCE_KEY
from tokens import make_jwt

from .faultproxy import FaultProxy
from .harness import STS_CONFIG, wait_until

pytestmark = pytest.mark.usefixtures("debug_logs")

MINUTE = 60
OUTCOMES = {"refreshed", "failed", "serving-held", "cache-hit"}
FIELDS = ("role_arn", "operation", "outcome", "seconds", "expiration", "error_code")


class Events:
    """A thread-safe ``on_event`` callable keeping what it was given."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[Any] = []

    def __call__(self, event: Any) -> None:
        with self._lock:
            self.events.append(event)

    def outcomes(self) -> list[str]:
        with self._lock:
            return [e.outcome for e in self.events]

    def of(self, outcome: str) -> list[Any]:
        with self._lock:
            return [e for e in self.events if e.outcome == outcome]

    def wait(self, outcome: str, count: int = 1, timeout: float = 5.0) -> bool:
        return wait_until(lambda: len(self.of(outcome)) >= count, timeout)


def policy(events: Callable[[Any], None], **kwargs: Any) -> rolesession.RefreshPolicy:
    return rolesession.RefreshPolicy(on_event=events, **kwargs)  # type: ignore[call-arg]


def check_event(event: Any, outcome: str, *, operation: str = "AssumeRole") -> None:
    assert isinstance(event, rolesession.RefreshEvent), type(event)  # type: ignore[attr-defined]
    assert event.outcome in OUTCOMES
    assert (event.role_arn, event.operation, event.outcome) == (ROLE, operation, outcome), event
    assert isinstance(event.seconds, (int, float)) and not isinstance(event.seconds, bool), event.seconds
    if outcome != "serving-held":  # the duration of an STS call or a cache read
        assert 0 <= event.seconds < 30, event.seconds


def texts_of(event: Any) -> list[str]:
    return [repr(event), str(event)] + [str(getattr(event, name)) for name in FIELDS]


def test_a_fetch_from_sts_is_one_refreshed_event(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession]
) -> None:
    events = Events()
    session = assume(ROLE, refresh=policy(events))

    creds = session.get_credentials().get_frozen_credentials()

    assert events.wait("refreshed")
    (event,) = events.events
    check_event(event, "refreshed")
    assert event.error_code is None
    assert event.expiration == session.expiration
    assert isinstance(event.expiration, _dt.datetime) and event.expiration.tzinfo is not None
    for text in texts_of(event):
        assert creds.secret_key not in text and creds.token not in text
    assert fault_proxy.count("AssumeRole") == 1


def test_a_session_served_from_the_cache_reports_a_cache_hit(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession]
) -> None:
    cache = rolesession.MemoryCache()
    first_events, second_events = Events(), Events()
    first = assume(ROLE, cache=cache, refresh=policy(first_events))
    first.get_credentials().get_frozen_credentials()
    # Another policy: another session, same cache entry.
    second = assume(ROLE, cache=cache, refresh=policy(second_events))

    second.get_credentials().get_frozen_credentials()

    assert second is not first
    assert second_events.wait("cache-hit")
    assert fault_proxy.count("AssumeRole") == 1
    assert second_events.outcomes() == ["cache-hit"]
    (event,) = second_events.events
    check_event(event, "cache-hit")
    # The credentials the new session holds: the cache entry's (whole seconds).
    assert event.expiration == second.expiration and event.error_code is None
    assert abs((event.expiration - first.expiration).total_seconds()) < 1


def test_a_failure_episode_while_valid_reports_each_attempt_and_one_serving_held(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession], frozen: Any
) -> None:
    events = Events()
    session = assume(ROLE, refresh=policy(events))
    read = session.get_credentials().get_frozen_credentials
    held = read()
    held_until = session.expiration
    fault_proxy.reject_keys({SOURCE_KEY}, "AccessDenied")  # one request per attempt, never retried

    frozen.tick(53 * MINUTE)  # advisory window: attempt 1 fails
    read()
    assert events.wait("failed", 1)
    frozen.tick(211)  # past the backoff (105-210 s): attempt 2 fails
    read()
    assert events.wait("failed", 2)
    fault_proxy.clear()
    frozen.tick(2 * MINUTE)  # past attempt 2's backoff: the refresh succeeds
    assert wait_until(lambda: read().access_key != held.access_key)
    assert events.wait("refreshed", 2)

    attempts = fault_proxy.count("AssumeRole")
    outcomes = events.outcomes()
    assert outcomes.count("failed") == 2, outcomes
    assert outcomes.count("serving-held") == 1, f"one episode, one serving-held event: {outcomes}"
    assert outcomes.count("refreshed") == 2, outcomes
    assert outcomes.count("failed") + outcomes.count("refreshed") == attempts, (outcomes, attempts)
    for event in events.of("failed"):
        check_event(event, "failed")
        assert event.error_code == "AccessDenied"
    (episode,) = events.of("serving-held")
    check_event(episode, "serving-held")
    assert episode.expiration == held_until, "serving-held names the held credentials' expiry"


def test_a_failure_with_nothing_held_is_a_failed_event(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession]
) -> None:
    events = Events()
    session = assume(ROLE, refresh=policy(events))
    fault_proxy.reject_keys({SOURCE_KEY}, "AccessDenied")

    with pytest.raises(rolesession.AssumeRoleError):
        session.get_credentials().get_frozen_credentials()

    assert events.wait("failed")
    outcomes = events.outcomes()
    assert "refreshed" not in outcomes and "serving-held" not in outcomes, outcomes
    event = events.of("failed")[0]
    check_event(event, "failed")
    assert event.error_code == "AccessDenied"


def test_events_never_carry_a_secret(fault_proxy: FaultProxy) -> None:
    token = make_jwt()
    events = Events()
    session = rolesession.assume_role_with_web_identity(
        ROLE,
        token=token,
        sts_endpoint_url=fault_proxy.url,
        sts_config=STS_CONFIG,
        refresh=policy(events),
    )
    creds = session.get_credentials().get_frozen_credentials()
    session.invalidate()
    fault_proxy.echo_secrets("AccessDenied", action="AssumeRoleWithWebIdentity")
    with pytest.raises(rolesession.CredentialRefreshError):
        session.get_credentials().get_frozen_credentials()

    assert events.wait("refreshed") and events.wait("failed")
    secrets = (token, creds.secret_key, creds.token)
    found = [(e.outcome, s[:12]) for e in events.events for text in texts_of(e) for s in secrets if s in text]
    print(f"[events/secrets] {len(events.events)} events, secrets found: {len(found)}")
    assert not found
    check_event(events.of("failed")[0], "failed", operation="AssumeRoleWithWebIdentity")


def test_an_exception_in_the_callback_is_logged_never_raised(
    fault_proxy: FaultProxy,
    assume: Callable[..., rolesession.RoleSession],
    frozen: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[str] = []

    def explode(event: Any) -> None:
        calls.append(event.outcome)
        raise RuntimeError("callback exploded")

    session = assume(ROLE, refresh=policy(explode))
    read = session.get_credentials().get_frozen_credentials

    first = read()  # a synchronous fetch: the reader must not see the callback's error
    frozen.tick(53 * MINUTE)  # and a background refresh: it must still install its credentials
    assert wait_until(lambda: read().access_key != first.access_key)

    assert wait_until(lambda: calls.count("refreshed") >= 2)
    logged = [r for r in caplog.records if r.name.startswith("rolesession") and _mentions_callback_error(r)]
    assert logged, "the callback's exception was not logged"


def _mentions_callback_error(record: logging.LogRecord) -> bool:
    text = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        text += f" {type(record.exc_info[1]).__name__} {record.exc_info[1]}"
    return "RuntimeError" in text or "callback exploded" in text
