"""The refresh engine under slow and failing STS, and the reliability additions of SPEC.

In-process (moto + the ``sts_calls`` spy): outcomes shared by waiting readers,
the floor and the backoff counted from the end of an attempt, refresh events,
rejected credentials, clock skew, interactive providers, hand-outs, the
worker pool, cold-start single-flight across sessions. ``tests/reliability/``
proves the same against a real server behind a fault-injecting proxy.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
import traceback
import types
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

import rolesession
from helpers import MFA_SERIAL, ROLE, ROLE_B, RecordingCache
from rolesession import AssumeRoleError, RefreshEvent, RefreshPolicy
from rolesession.testing import StsRecorder, forget_sessions, sts_clients
from tokens import make_jwt


def frozen_key(session: rolesession.RoleSession) -> str:
    return session.get_credentials().get_frozen_credentials().access_key


# -- one attempt, its outcome shared; floor and backoff from its end ----------------------


def test_the_retry_floor_counts_from_the_end_of_a_slow_failed_attempt(sts_mock, sts_calls):
    credentials = rolesession.assume_role(ROLE).get_credentials()
    sts_calls.outage()
    sts_calls.delay = 1.2  # the attempt itself lasts longer than the floor
    with pytest.raises(AssumeRoleError):
        credentials.get_frozen_credentials()
    with pytest.raises(AssumeRoleError):
        credentials.get_frozen_credentials()  # < 1 s after the attempt ended: no new one
    assert sts_calls.count() == 1
    time.sleep(1.1)
    with pytest.raises(AssumeRoleError):
        credentials.get_frozen_credentials()
    assert sts_calls.count() == 2


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
    waits: list[float] = []
    try:
        for _ in range(200):
            started = time.perf_counter()
            assert credentials.get_frozen_credentials() == held
            waits.append(time.perf_counter() - started)
    finally:
        gate.set()
    credentials.wait_for_background()
    assert sts_calls.count() == 2
    assert max(waits) < 0.05, f"worst read {max(waits) * 1000:.1f} ms while STS hung"


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


# -- refresh events ---------------------------------------------------------------------


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


# -- rejected credentials -----------------------------------------------------------------


def _reject(client: Any, keys: set[str], code: str = "ExpiredToken") -> list[str]:
    """Make AWS (moto) refuse requests signed with ``keys``; returns the keys seen."""
    seen: list[str] = []

    def before_send(request: Any, **kwargs: Any) -> Any:
        header = request.headers["Authorization"]
        header = header.decode() if isinstance(header, bytes) else header
        key = header.split("Credential=")[1].split("/")[0]
        seen.append(key)
        if key not in keys:
            return None
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            "<Message>The security token included in the request is expired</Message></Error>"
            "<RequestId>r</RequestId></ErrorResponse>"
        ).encode()
        raw = types.SimpleNamespace(stream=lambda **kw: iter([body]))
        return AWSResponse(request.url, 400, {"Content-Type": "text/xml"}, raw)

    client.meta.events.register_first("before-send.sts.GetCallerIdentity", before_send)
    return seen


@pytest.mark.parametrize(
    "code", ["ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "RequestExpired"]
)
def test_a_rejected_key_is_dropped_fetched_once_and_the_request_retried_once(sts_mock, sts_calls, code):
    session = rolesession.assume_role(ROLE)
    first = frozen_key(session)
    client = session.client("sts")
    seen = _reject(client, {first}, code)
    assert "assumed-role/Reader" in client.get_caller_identity()["Arn"]
    assert seen[0] == first and seen[1] != first and len(seen) == 2
    assert sts_calls.count("AssumeRole") == 2
    assert frozen_key(session) == seen[1]
    # the dropped credentials left the cache too: a new session does not adopt them
    assert frozen_key(rolesession.assume_role(ROLE, source=boto3.Session())) == seen[1]


def test_a_second_rejection_surfaces_and_costs_one_fetch_only(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE)
    client = session.client("sts")
    everything = _RejectAll()
    _reject(client, everything)
    with pytest.raises(ClientError) as info:
        client.get_caller_identity()
    assert info.value.response["Error"]["Code"] == "ExpiredToken"
    assert sts_calls.count("AssumeRole") == 2


class _RejectAll(set):  # type: ignore[type-arg]
    def __contains__(self, item: object) -> bool:
        return True


def test_many_requests_rejected_at_once_cost_one_fetch(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE)
    first = frozen_key(session)
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
    parent_key = frozen_key(parent)
    hop = parent.assume_role(ROLE_B)
    sts_calls.fail_once(
        ClientError({"Error": {"Code": "ExpiredToken", "Message": "expired"}}, "AssumeRole")
    )
    assert hop.identity()["Account"] == "210987654321"
    assert frozen_key(parent) != parent_key
    # parent, hop (refused: parent key expired), parent again, hop again
    assert sts_calls.count("AssumeRole") == 4


# -- clock skew ----------------------------------------------------------------------------


def test_a_skew_under_two_seconds_is_noise_and_a_missing_or_bad_date_is_none(sts_mock, sts_calls):
    for skew, date in [(1.5, None), (600.0, ""), (600.0, "not a date")]:
        sts_calls.clock_skew, sts_calls.date_header = skew, date
        session = rolesession.assume_role(ROLE, cache=None)
        session.identity()
        # judged on the Expiration as STS sent it: no correction
        assert session.expiration.timestamp() == sts_calls.issued[frozen_key(session)]


@pytest.mark.parametrize(("skew", "side"), [(600.0, "behind"), (-600.0, "ahead of")])
def test_a_skew_over_60_s_logs_one_warning_per_process(sts_mock, sts_calls, caplog, skew, side):
    sts_calls.clock_skew = skew
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        for _ in range(3):
            rolesession.assume_role(ROLE, cache=None).identity()
    [warning] = [r.getMessage() for r in caplog.records if "clock" in r.getMessage()]
    assert f"600 s {side} STS's" in warning


def test_lifetime_and_time_left_are_judged_on_stss_clock(sts_mock, sts_calls, frozen):
    # STS's clock is 10 minutes ahead of this host's: its "Expiration" reads 10
    # minutes late here. Judged on STS's clock, 60 minutes are 60 minutes.
    sts_calls.clock_skew = 600.0
    session = rolesession.assume_role(ROLE, duration=3600, refresh=RefreshPolicy(jitter=False))
    credentials = session.get_credentials()
    credentials.get_frozen_credentials()
    assert session.expiration.timestamp() == pytest.approx(time.time() + 3600)
    frozen.tick(3600 - 900 - 1)  # not yet in the advisory window
    credentials.get_frozen_credentials()
    assert sts_calls.count() == 1
    frozen.tick(2)  # in it: judged against STS's clock, not 10 minutes late
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


# -- interactive providers, hand-outs ---------------------------------------------------------


class Prompt:
    """Stands for a terminal prompt: never to be asked from a background thread."""

    interactive = True

    def __init__(self) -> None:
        self.threads: list[str] = []

    def __call__(self) -> str:
        self.threads.append(threading.current_thread().name)
        return "123456"


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


# -- the worker pool ----------------------------------------------------------------------------


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


class _Escaping(BaseException):
    """Not an ``Exception``: the engine lets it through, as it would ``SystemExit`` in a job."""


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


# -- one session and one fetch for identical concurrent requests --------------------------------


def _concurrently(n: int, fn: Any) -> list[Any]:
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_32_concurrent_first_requests_make_one_session_and_one_sts_call(sts_mock, sts_calls):
    sts_calls.delay = 0.2

    def ask() -> Any:
        session = rolesession.assume_role(ROLE)
        return session, frozen_key(session)

    results = _concurrently(32, ask)
    assert len({id(s) for s, _ in results}) == 1
    assert len({k for _, k in results}) == 1
    assert sts_calls.count() == 1


def test_concurrent_identical_scoped_sessions_share_one_session_and_call(sts_mock, sts_calls):
    parent = rolesession.assume_role(ROLE)
    parent.identity()
    sts_calls.delay = 0.2
    policy = rolesession.Policy.allow("s3:GetObject", "arn:aws:s3:::bucket/t1/*")

    def ask() -> Any:
        scoped = parent.scoped(policy=policy.to_dict())
        return scoped, frozen_key(scoped)

    results = _concurrently(32, ask)
    assert len({id(s) for s, _ in results}) == 1
    assert sts_calls.count() == 2


def test_sessions_with_the_same_cache_key_make_one_sts_call(sts_mock, sts_calls):
    # Different objects (their sources differ) whose STS request and caller
    # are the same: one fetches, the others find its cache entry.
    sts_calls.delay = 0.2
    results = _concurrently(8, lambda: frozen_key(rolesession.assume_role(ROLE, source=boto3.Session())))
    assert len(set(results)) == 1 and sts_calls.count() == 1


def test_duplicates_in_fan_out_make_one_call(sts_mock, sts_calls):
    sts_calls.delay = 0.1
    results = rolesession.fan_out([ROLE] * 8, frozen_key, max_workers=8)
    assert all(r.ok for r in results) and sts_calls.count() == 1


def test_equal_sts_configs_count_as_the_same_request(sts_mock, sts_calls):
    a = rolesession.assume_role(ROLE, sts_config=Config(connect_timeout=2, retries={"mode": "standard"}))
    a.identity()
    b = rolesession.assume_role(ROLE, sts_config=Config(connect_timeout=2, retries={"mode": "standard"}))
    assert b is a and sts_calls.count() == 1
    c = rolesession.assume_role(ROLE, sts_config=Config(connect_timeout=3))
    assert c is not a


def test_the_sts_client_pool_is_bounded_per_signer(sts_mock, sts_calls):
    source = boto3.Session()
    for timeout in range(1, 41):
        rolesession.assume_role(
            ROLE, source=source, sts_config=Config(connect_timeout=timeout), cache=None
        ).identity()
    assert 0 < len(sts_clients()) <= 16  # one signer: at most 16 clients kept


def test_unhashable_callable_providers_work_and_compare_by_identity(sts_mock, sts_calls):
    @dataclasses.dataclass
    class Token:  # a plain dataclass: __eq__ by value, no __hash__
        value: str

        def __call__(self) -> str:
            return self.value

    token = Token(make_jwt())
    session = rolesession.assume_role_with_web_identity(ROLE, token=token)
    assert session.identity()["Arn"]
    assert rolesession.assume_role_with_web_identity(ROLE, token=token) is session
    other = rolesession.assume_role_with_web_identity(ROLE, token=Token(token.value))
    assert other is not session

    @dataclasses.dataclass
    class Code:
        def __call__(self) -> str:
            return "123456"

    mfa = rolesession.assume_role(ROLE, mfa_serial=MFA_SERIAL, mfa_token=Code())
    assert mfa.identity()["Arn"]


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


# -- what STS says, scrubbed and translated ----------------------------------------------------------


def test_a_secret_echoed_by_sts_is_scrubbed_from_the_chained_error(sts_mock, sts_calls):
    token = make_jwt()
    sts_calls.fail_with(
        ClientError(
            {"Error": {"Code": "InvalidIdentityToken", "Message": f"token {token} is not valid"}},
            "AssumeRoleWithWebIdentity",
        )
    )
    session = rolesession.assume_role_with_web_identity(ROLE, token=token, cache=None)
    with pytest.raises(AssumeRoleError) as info:
        session.identity()
    printed = "".join(traceback.format_exception(info.value))
    assert "token *** is not valid" in printed
    assert token not in printed and token not in repr(info.value.__cause__.response)
    for part in token.split("."):
        assert part not in printed


def test_an_answer_that_is_not_stss_xml_is_an_assume_role_error(sts_mock, sts_calls):
    sts_calls.fail_with(ResponseParserError("Unable to parse response (not XML), invalid XML received"))
    with pytest.raises(AssumeRoleError) as info:
        rolesession.assume_role(ROLE, cache=None).identity()
    assert info.value.code == "ResponseParserError"
    assert "could not be parsed" in str(info.value) and ROLE in str(info.value)


def test_assume_role_on_a_session_takes_no_source(sts_mock):
    session = rolesession.assume_role(ROLE)
    with pytest.raises(rolesession.InvalidParameterError) as info:
        session.assume_role(ROLE_B, source=boto3.Session())  # type: ignore[call-arg]
    assert info.value.parameter == "source"


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


def test_a_cache_entry_is_judged_on_its_recorded_skew(sts_mock, sts_calls, frozen):
    # STS 2 hours behind us: its Expiration precedes our receipt time, yet 1 hour is left.
    sts_calls.clock_skew = -7200.0
    first = rolesession.assume_role(ROLE, duration=3600)
    first.identity()
    assert sts_calls.issued[frozen_key(first)] < time.time()
    forget_sessions()
    again = rolesession.assume_role(ROLE, duration=3600)
    assert again is not first and again.expiration == first.expiration
    assert sts_calls.count() == 1
