"""SPEC "Behaviour" statements (refresh, caching, errors from AWS, security) no other file pins down.

``LocalSts`` is a loopback STS speaking the real query protocol, for the
statements where the HTTP path matters (who signs, what botocore retries).
"""

from __future__ import annotations

import itertools
import logging
import random
import re
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
import botocore.retries.standard
import pytest
from botocore.config import Config

import rolesession
from helpers import ACCOUNT, ROLE, ROLE_B, to_iso
from rolesession import FileCache, MemoryCache, Policy, RefreshPolicy
from rolesession.testing import StsRecorder, reset
from tokens import make_jwt, make_saml_response

PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:saml-provider/Corp"
OTHER_PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:saml-provider/Other"
MFA_ALICE = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
MFA_BOB = f"arn:aws:iam::{ACCOUNT}:mfa/bob"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
AUDIT = f"arn:aws:iam::{ACCOUNT}:policy/Audit"


def read(session: boto3.Session) -> Any:
    return session.get_credentials().get_frozen_credentials()


# -- a loopback STS ----------------------------------------------------------------------

_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


class LocalSts:
    """An STS endpoint on 127.0.0.1 answering ``AssumeRole`` with fresh credentials.

    ``requests`` records each request's form fields plus ``signer`` (the
    access key in its SigV4 ``Authorization`` header). ``faults`` are served
    first, one per request: ``(status, code)`` for an STS error document, or
    ``"drop"`` to close the connection without answering.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.faults: list[tuple[int, str] | str] = []
        self._serial = itertools.count(1)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                fields = {k: v[0] for k, v in parse_qs(body).items()}
                match = re.search(r"Credential=([A-Z0-9]+)/", self.headers.get("Authorization", ""))
                fields["signer"] = match.group(1) if match else ""
                owner.requests.append(fields)
                fault = owner.faults.pop(0) if owner.faults else None
                if fault == "drop":
                    self.close_connection = True
                    return
                if fault is not None:
                    status, code = fault
                    self._send(
                        status,
                        f'<ErrorResponse xmlns="{_NS}"><Error><Type>Sender</Type><Code>{code}'
                        f"</Code><Message>{code} (local STS)</Message></Error><RequestId>1</RequestId>"
                        "</ErrorResponse>",
                    )
                    return
                self._send(200, owner.assume_role_response(fields))

            def _send(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def assume_role_response(self, fields: dict[str, str]) -> str:
        n = next(self._serial)
        role = fields.get("RoleArn", ROLE)
        account, name = role.split(":")[4], role.rsplit("/", 1)[1]
        session_name = fields.get("RoleSessionName", "s")
        expires = to_iso(time.time() + int(fields.get("DurationSeconds", 3600)))
        return (
            f'<AssumeRoleResponse xmlns="{_NS}"><AssumeRoleResult><Credentials>'
            f"<AccessKeyId>ASIALOCAL{n:011d}</AccessKeyId><SecretAccessKey>local-secret-{n}</SecretAccessKey>"
            f"<SessionToken>local-token-{n}</SessionToken><Expiration>{expires}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROALOCAL:{session_name}</AssumedRoleId>"
            f"<Arn>arn:aws:sts::{account}:assumed-role/{name}/{session_name}</Arn></AssumedRoleUser>"
            "</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>"
            "</AssumeRoleResponse>"
        )

    def __enter__(self) -> LocalSts:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# == Refresh ===============================================================================


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


def test_the_first_read_by_many_threads_is_one_sts_call(sts_mock: None, sts_calls: StsRecorder) -> None:
    """SPEC: "Mandatory window, or no valid credentials: readers wait for one refresh (single-flight)"."""
    credentials = rolesession.assume_role(ROLE).get_credentials()
    gate = sts_calls.block()
    start = threading.Barrier(17)
    keys: list[str] = []

    def reader() -> None:
        start.wait()
        keys.append(credentials.get_frozen_credentials().access_key)

    threads = [threading.Thread(target=reader) for _ in range(16)]
    for t in threads:
        t.start()
    start.wait()
    time.sleep(0.2)  # every reader is now waiting for the one call under way
    gate.set()
    for t in threads:
        t.join(10)
    assert sts_calls.count() == 1
    assert len(keys) == 16 and len(set(keys)) == 1


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


# == Caching ================================================================================


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


@pytest.mark.parametrize("field", list(DIFFERENT_KEYS))
def test_each_listed_field_is_in_the_cache_key(sts_mock: None, sts_calls: StsRecorder, field: str) -> None:
    cache = MemoryCache()
    first, second = (make(cache) for make in DIFFERENT_KEYS[field])
    assert read(first) != read(second)
    assert len(cache) == 2 and sts_calls.count() == 2


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


@pytest.mark.parametrize("case", list(SAME_KEYS))
def test_equivalent_requests_share_one_cache_entry(sts_mock: None, sts_calls: StsRecorder, case: str) -> None:
    cache = MemoryCache()
    first, second = (make(cache) for make in SAME_KEYS[case])
    assert first is not second
    assert read(first) == read(second)
    assert len(cache) == 1 and sts_calls.count() == 1


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


# == Errors from AWS ============================================================================


@pytest.fixture
def instant_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard retries, without their sleep."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


@pytest.mark.parametrize(
    "fault",
    [
        (400, "Throttling"),
        (400, "ThrottlingException"),
        (503, "ServiceUnavailable"),
        (500, "InternalFailure"),
        "drop",
    ],
    ids=["throttling", "throttling-exception", "503", "500", "dropped-connection"],
)
def test_throttling_and_transport_faults_are_retried_by_botocore(
    instant_backoff: None, sts_calls: StsRecorder, fault: Any
) -> None:
    with LocalSts() as local:
        local.faults = [fault]
        session = rolesession.assume_role(ROLE, sts_endpoint_url=local.url, cache=None)
        assert read(session).access_key.startswith("ASIALOCAL")
        assert len(local.requests) == 2
        assert local.requests[0] == local.requests[1]  # botocore resent the same request
    assert sts_calls.count() == 1  # one library call; the retry was botocore's


def test_persistent_throttling_gives_up_after_three_attempts(instant_backoff: None) -> None:
    with LocalSts() as local:
        local.faults = [(400, "Throttling")] * 5
        session = rolesession.assume_role(ROLE, sts_endpoint_url=local.url, cache=None)
        with pytest.raises(rolesession.AssumeRoleError) as info:
            read(session)
        assert len(local.requests) == 3
    assert info.value.code == "Throttling" and info.value.role_arn == ROLE


def test_a_refusal_is_not_retried_over_http(instant_backoff: None) -> None:
    with LocalSts() as local:
        local.faults = [(403, "AccessDenied")]
        session = rolesession.assume_role(
            ROLE, sts_endpoint_url=local.url, cache=None, sts_config=Config(connect_timeout=2)
        )
        with pytest.raises(rolesession.AssumeRoleError) as info:
            read(session)
        assert len(local.requests) == 1
    assert info.value.code == "AccessDenied" and "trust policy" in str(info.value)


# == Security ===================================================================================


@pytest.fixture
def late_logger() -> Iterator[str]:
    """The name of a botocore logger the test creates late; forgotten afterwards."""
    name = "botocore.rolesession_spec_created_late"
    assert name not in logging.Logger.manager.loggerDict
    yield name
    logging.Logger.manager.loggerDict.pop(name, None)


def test_a_botocore_logger_created_after_import_is_redacted(
    sts_mock: None, log_records: pytest.LogCaptureFixture, late_logger: str
) -> None:
    """SPEC: redaction "in every botocore logger's records" -- including one a botocore module makes
    later: the library covers new loggers at every STS call and every client it makes."""
    session = rolesession.assume_role(ROLE)
    held = read(session)  # the STS client exists before the logger does ...
    logger = logging.getLogger(late_logger)  # (as a lazily imported botocore module would make it)
    read(rolesession.assume_role(ROLE_B))  # ... and is reused after
    logger.debug(
        "Response body: %r", {"Credentials": {"SessionToken": held.token, "SecretAccessKey": held.secret_key}}
    )
    logger.debug("Sending request with headers %s", {"X-Amz-Security-Token": held.token, "Host": "sts"})
    messages = [r.getMessage() for r in log_records.records if r.name == late_logger]
    assert len(messages) == 2
    for message in messages:
        assert held.token not in message and held.secret_key not in message and "***" in message
    assert "'Host': 'sts'" in messages[1]  # and nothing else changed


def test_records_without_secrets_in_a_late_logger_are_untouched(
    log_records: pytest.LogCaptureFixture, late_logger: str
) -> None:
    args = ({"AccessKeyId": "ASIAEXAMPLE"},)
    logging.getLogger(late_logger).debug("params %r", *args)
    [record] = [r for r in log_records.records if r.name == late_logger]
    assert record.msg == "params %r" and record.args == args[0]


def test_other_loggers_are_never_rewritten(log_records: pytest.LogCaptureFixture) -> None:
    """The library redacts botocore's records; an application's own records are its business."""
    logging.getLogger("app.audit").info("rotated %s", "SessionToken=abc")
    [record] = [r for r in log_records.records if r.name == "app.audit"]
    assert record.getMessage() == "rotated SessionToken=abc"


def test_the_info_line_names_role_operation_expiry_and_call_duration(
    sts_mock: None, log_records: pytest.LogCaptureFixture
) -> None:
    session = rolesession.assume_role_with_saml(
        ROLE, PRINCIPAL, assertion=make_saml_response(ROLE, PRINCIPAL)
    )
    session.identity()
    [line] = [
        r.getMessage() for r in log_records.records if r.name == "rolesession" and r.levelno == logging.INFO
    ]
    assert "AssumeRoleWithSAML" in line and ROLE in line
    assert to_iso(session.expiration.timestamp()) in line
    assert re.search(r"\(\d+ ms\)$", line)
