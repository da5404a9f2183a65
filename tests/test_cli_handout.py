"""Handing credentials out under the refresh engine's rules (SPEC "Reliability additions", CLI).

The CLI hands credentials to consumers that refresh with botocore's fixed
15-minute window. With less than 15 minutes left it makes one refresh
attempt under the engine's backoff -- never one per hand-out -- and the
``exec --server`` endpoint answers from what is held while that attempt
runs in the background. An MFA prompt never interrupts a running command
that still holds valid credentials.
"""

from __future__ import annotations

import getpass as stdlib_getpass
import json
import logging
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import freezegun.api
import pytest

from helpers import ACCOUNT, ROLE, ROLE_B, to_epoch
from rolesession.cli import commands, main
from rolesession.cli.commands import build_session, command_holding, container_credentials
from rolesession.cli.parser import parse_args
from rolesession.cli.server import CredentialServer
from rolesession.testing import StsRecorder

MFA_SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
HAND_OUTS = 12


def timed_get(url: str, token: str) -> tuple[float, int, dict[str, Any]]:
    """One request; real seconds (freezegun stops ``time.perf_counter``), status, body."""
    started = freezegun.api.real_perf_counter()
    request = urllib.request.Request(url, headers={"Authorization": token})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body = response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        status, body = exc.code, json.loads(exc.read())
    return freezegun.api.real_perf_counter() - started, status, body


def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll in real time (a worker thread may take a moment to pick its job up)."""
    deadline = freezegun.api.real_monotonic() + seconds
    while not condition() and freezegun.api.real_monotonic() < deadline:
        threading.Event().wait(0.01)  # real sleep: freezegun leaves Event.wait alone
    return condition()


def warnings_in(records: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in records.records if r.levelno >= logging.WARNING]


@pytest.fixture
def endpoint(sts_mock: None, sts_calls: StsRecorder) -> Iterator[tuple[Any, CredentialServer]]:
    """An ``exec --server`` endpoint for ROLE, its first credentials fetched."""
    session = build_session(parse_args(["exec", ROLE, "--no-cache", "--", "true"]))
    commands.hand_out(session, wait=True)
    with CredentialServer(lambda: container_credentials(session)) as server:
        yield session, server


def test_the_endpoint_answers_at_once_and_makes_one_attempt_per_backoff_while_sts_fails(
    frozen: Any, endpoint: tuple[Any, CredentialServer], sts_calls: StsRecorder,
    log_records: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    session, server = endpoint
    engine = session.get_credentials()
    first = timed_get(server.url, server.token)[2]
    assert sts_calls.count() == 1
    frozen.tick(3600 - 13 * 60)  # 13 min left: botocore asks again at every request now

    gate = sts_calls.block()  # STS hangs
    try:
        # Counted, not timed (a busy machine must not fail this): every answer comes while STS still
        # hangs -- the gate opens only below, and a request waiting for STS would time out (10 s).
        answers = [timed_get(server.url, server.token) for _ in range(HAND_OUTS)]
        assert all(status == 200 and body == first for _, status, body in answers)
        assert eventually(lambda: sts_calls.count() == 2)  # one attempt, hanging in the background
        assert sts_calls.count() == 2
        sts_calls.outage()
    finally:
        gate.set()
    engine.wait_for_background(10)
    assert len(warnings_in(log_records)) == 1  # the engine's, for the episode

    # Backing off: hand-outs serve what is held without calling STS.
    answers = [timed_get(server.url, server.token) for _ in range(HAND_OUTS)]
    assert all(status == 200 and body == first for _, status, body in answers)
    assert sts_calls.count() == 2

    frozen.tick(301)  # past any backoff (at most 300 s): one more attempt for the 12 hand-outs
    answers = [timed_get(server.url, server.token) for _ in range(HAND_OUTS)]
    engine.wait_for_background(10)
    assert all(status == 200 and body == first for _, status, body in answers)
    assert sts_calls.count() == 3
    assert len(warnings_in(log_records)) == 1  # still one episode: no WARNING per hand-out

    sts_calls.fail_with(None)  # STS is back: the next attempt after the backoff renews
    frozen.tick(301)
    timed_get(server.url, server.token)
    engine.wait_for_background(10)
    _, status, renewed = timed_get(server.url, server.token)
    assert status == 200 and renewed["AccessKeyId"] != first["AccessKeyId"]
    assert sts_calls.count() == 4


def test_the_endpoint_answers_500_only_when_nothing_valid_is_held(
    frozen: Any, endpoint: tuple[Any, CredentialServer], sts_calls: StsRecorder,
    log_records: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    _, server = endpoint
    sts_calls.outage()
    frozen.tick(3601)  # expired: there is nothing to hand out
    bodies = []
    for _ in range(3):
        _, status, body = timed_get(server.url, server.token)
        assert status == 500
        bodies.append(body)
        frozen.tick(10)  # past the engine's backoff (steps of at most 2, 4, 8 s)
    assert bodies[0]["code"] == "AssumeRoleError" and "could not be reached" in bodies[0]["message"]
    assert "SecretAccessKey" not in json.dumps(bodies)
    assert sts_calls.count() == 4  # the first fetch, then one attempt per request
    assert len(warnings_in(log_records)) == 1  # the endpoint's, once for the episode


def test_assume_with_a_healthy_sts_still_refreshes_first_with_less_than_15_minutes_left(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["assume", ROLE, "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)
    for left in (14 * 60, 11 * 60, 8 * 60):  # before, inside and late in the advisory window
        frozen.tick(to_epoch(first["Expiration"]) - left - time.time())
        assert main(["assume", ROLE, "--format", "json"]) == 0
        renewed = json.loads(capsys.readouterr().out)
        assert renewed["AccessKeyId"] != first["AccessKeyId"]
        assert to_epoch(renewed["Expiration"]) - to_epoch(first["Expiration"]) == pytest.approx(3600 - left)
        first = renewed
    assert sts_calls.count() == 4


# -- MFA prompts and a command that owns the terminal -----------------------------------------


class FakeTerminal:
    """A terminal's stdin for the ``--mfa-serial`` check."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def prompts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every MFA prompt shown, and in which thread; each answers 123456."""
    shown: list[str] = []

    def getpass(prompt: str) -> str:
        shown.append(threading.current_thread().name)
        return "123456"

    monkeypatch.setattr(sys, "stdin", FakeTerminal())
    monkeypatch.setattr(stdlib_getpass, "getpass", getpass)
    return shown


def test_the_endpoint_never_prompts_while_valid_credentials_are_held(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, prompts: list[str]
) -> None:
    argv = ["exec", ROLE, "--mfa-serial", MFA_SERIAL, "--no-cache", "--", "true"]
    session = build_session(parse_args(argv))
    first = commands.hand_out(session, wait=True)  # before the command starts: asked here
    assert len(prompts) == 1
    with command_holding(session), CredentialServer(lambda: container_credentials(session)) as server:
        frozen.tick(3600 - 10 * 60)  # 10 min left, inside every refresh window
        for _ in range(HAND_OUTS):
            _, status, body = timed_get(server.url, server.token)
            assert status == 200 and body["AccessKeyId"] == first.access_key
        session.get_credentials().wait_for_background(10)
        assert len(prompts) == 1 and sts_calls.count() == 1

        frozen.tick(11 * 60)  # expired: nothing valid, so the request itself asks
        _, status, body = timed_get(server.url, server.token)
        assert status == 200 and body["AccessKeyId"] != first.access_key
    assert len(prompts) == 2
    assert sts_calls.params()["TokenCode"] == "123456"


def test_a_later_hop_refreshing_in_the_background_does_not_prompt_while_the_command_holds_valid_ones(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, prompts: list[str],
    log_records: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    argv = ["exec", ROLE, ROLE_B, "--mfa-serial", MFA_SERIAL, "--no-cache", "--", "true"]
    session = build_session(parse_args(argv))
    commands.hand_out(session, wait=True)
    assert len(prompts) == 1
    with command_holding(session), CredentialServer(lambda: container_credentials(session)) as server:
        frozen.tick(50 * 60)  # both hops have 10 min left: the last hop renews from its valid parent
        timed_get(server.url, server.token)
        session.get_credentials().wait_for_background(10)
        assert len(prompts) == 1 and sts_calls.count() == 3

        frozen.tick(53 * 60)  # the MFA hop expired; the last hop has 7 min left
        _, status, body = timed_get(server.url, server.token)
        session.get_credentials().wait_for_background(10)
        assert status == 200
        assert prompts == [prompts[0]]  # no prompt over the running command

        frozen.tick(8 * 60)  # now the command holds nothing valid: asking is the only way
        _, status, body = timed_get(server.url, server.token)
        assert status == 200 and body["AccessKeyId"].startswith("ASIA")
    assert len(prompts) == 2
    assert prompts[1] != "rolesession-refresh"  # the request's own thread asked


CHILD = "import os; print(os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_CREDENTIAL_EXPIRATION'])"


# -- exec refreshes before handing out -------------------------------------------------------------


def test_exec_refreshes_credentials_with_less_than_15_minutes_left_before_handing_them_out(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, capfd: pytest.CaptureFixture[str]
) -> None:
    """SPEC: consumers of "environment variables" refresh with botocore's fixed windows, so
    ``exec`` refreshes first when less than 15 minutes are left."""
    assert main(["assume", ROLE, "--format", "json"]) == 0
    first = json.loads(capfd.readouterr().out)
    frozen.tick(1800)  # 30 min left: the cached set is handed out as it is
    assert main(["exec", ROLE, "--", sys.executable, "-c", CHILD]) == 0
    key, expiration = capfd.readouterr().out.split()
    assert (key, expiration) == (first["AccessKeyId"], first["Expiration"])
    assert sts_calls.count() == 1
    frozen.tick(1000)  # 13 min left: a child's botocore would call its provider at every request
    assert main(["exec", ROLE, "--", sys.executable, "-c", CHILD]) == 0
    key, _ = capfd.readouterr().out.split()
    assert key != first["AccessKeyId"]
    assert sts_calls.count() == 2
