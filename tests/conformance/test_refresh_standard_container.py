"""The refresh standard's cases for a source that is not STS: the container endpoint.

`rolesession.from_environment()` wraps botocore's own providers (container,
instance metadata, SSO, ``credential_process``) in the same engine as the
STS sources; the standard's cases that concern *when* credentials are
fetched, served and backed off hold for them too. Here, against the ECS /
EKS Pod Identity endpoint speaking its real protocol on loopback
(``default_chain_fakes.ContainerServer``), under a frozen clock. The cases
that only STS can produce (non-recoverable STS error codes, role chaining)
are in ``test_refresh_standard.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

import rolesession
from default_chain_fakes import ContainerServer
from helpers import reject_signed_with
from rolesession import CredentialRefreshError

from . import test_refresh_standard as standard

HOUR = 3600
ADVISORY = 900  # 1-hour credentials: the last 15 minutes
MANDATORY = 60
KEY = "ASIACONTAINERKEY"

pytestmark = pytest.mark.usefixtures("sts_mock")


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[ContainerServer]:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    server = ContainerServer(lifetime=HOUR)
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{server.url}/creds")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", str(server.token))
    try:
        yield server
    finally:
        server.close()


class Held(standard.Held):
    """`test_refresh_standard.Held` on a default-chain session holding the endpoint's first set."""

    def __init__(self, **policy: Any) -> None:
        super().__init__(lambda refresh: rolesession.from_environment(cache=None, refresh=refresh), **policy)
        assert self.session.describe()["provider"] == "container-role"


def test_valid_held_set_is_served_without_a_call(endpoint, frozen):
    held = Held()
    frozen.tick(HOUR - ADVISORY - 1)
    assert held.read_and_settle() == held.first
    assert len(endpoint.issued) == 1


@pytest.mark.parametrize("left", [ADVISORY - 1, MANDATORY - 1], ids=["advisory", "mandatory"])
def test_window_refresh_succeeds_the_next_read_gets_the_new_set(endpoint, frozen, left):
    held = Held()
    frozen.tick(HOUR - left)
    assert held.read_and_settle() == held.first  # refreshed in the background; this read not kept
    assert held.read().access_key == KEY + "0001"


@pytest.mark.parametrize("left", [ADVISORY - 60, MANDATORY - 1], ids=["advisory", "mandatory"])
def test_window_refresh_fails_the_held_set_is_served_and_backoff_applied(endpoint, frozen, caplog, left):
    held = Held()
    frozen.tick(HOUR - left)
    endpoint.fail = 500
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        assert held.read_and_settle() == held.first
        attempted = len(endpoint.requests)  # one attempt (botocore's provider retries inside it)
        frozen.tick(0.5)  # inside the backoff
        for _ in range(10):
            assert held.read_and_settle() == held.first
    assert len(endpoint.requests) == attempted  # none while backing off
    assert [e.outcome for e in held.events] == ["refreshed", "failed", "serving-held"]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_expired_refresh_succeeds_the_new_set_is_returned(endpoint, frozen):
    held = Held()
    frozen.tick(HOUR + 1)
    assert held.read().access_key == KEY + "0001"


def test_expired_refresh_fails_raises_credential_refresh_error_by_default(endpoint, frozen):
    held = Held()
    frozen.tick(HOUR + 1)
    endpoint.fail = 500
    with pytest.raises(CredentialRefreshError):  # documented deviation: not the expired set
        held.read()


def test_expired_refresh_fails_serve_expired_serves_the_expired_set(endpoint, frozen):
    held = Held(serve_expired=True)
    frozen.tick(HOUR + 1)
    endpoint.fail = 500
    assert held.read() == held.first
    attempted = len(endpoint.requests)
    assert held.read() == held.first  # during the backoff, without a call
    assert len(endpoint.requests) == attempted
    endpoint.fail = None
    frozen.tick(2)  # past the first backoff step
    assert held.read().access_key == KEY + "0001"


def test_nothing_held_fetch_fails_then_succeeds_after_the_backoff(endpoint, frozen):
    endpoint.fail = 500
    credentials = rolesession.from_environment(cache=None).get_credentials()
    with pytest.raises(CredentialRefreshError):
        credentials.get_frozen_credentials()
    attempted = len(endpoint.requests)
    endpoint.fail = None
    with pytest.raises(CredentialRefreshError):  # inside the backoff: the last error, no call
        credentials.get_frozen_credentials()
    assert len(endpoint.requests) == attempted
    frozen.tick(2)
    assert credentials.get_frozen_credentials().access_key == KEY + "0000"


def test_stale_response_is_a_failed_refresh(endpoint, frozen):
    held = Held()
    frozen.tick(HOUR - ADVISORY + 1)
    endpoint.lifetime = -1  # the endpoint answers with credentials already expired
    assert held.read_and_settle() == held.first
    assert held.read_and_settle() == held.first  # not adopted
    assert "failed" in [e.outcome for e in held.events]


@pytest.mark.parametrize(("lifetime", "advisory"), [(600, 300), (1230, 900), (21600, 3600)])
def test_lifetime_sets_the_advisory_window(endpoint, frozen, lifetime, advisory):
    endpoint.lifetime = lifetime
    held = Held()
    frozen.tick(lifetime - advisory - 1)
    held.read_and_settle()
    assert len(endpoint.issued) == 1
    frozen.tick(2)
    held.read_and_settle()
    assert len(endpoint.issued) == 2


def test_configured_advisory_window_overrides_the_table(endpoint, frozen):
    held = Held(advisory=1800)
    frozen.tick(HOUR - 1800 - 1)
    held.read_and_settle()
    assert len(endpoint.issued) == 1
    frozen.tick(2)
    held.read_and_settle()
    assert len(endpoint.issued) == 2


def test_rejected_key_matching_the_held_set_the_next_read_refreshes(endpoint):
    held = Held()
    client = held.session.client("sts", region_name="us-east-1")
    seen = reject_signed_with(client, {held.first.access_key})
    client.get_caller_identity()  # rejected, refreshed, retried with the new set
    assert seen[0] == held.first.access_key and seen[1] == KEY + "0001"
    assert held.read().access_key == KEY + "0001"


def test_rejected_key_matching_refresh_fails_the_held_set_is_still_served(endpoint):
    held = Held()
    client = held.session.client("sts", region_name="us-east-1")
    reject_signed_with(client, {held.first.access_key})
    endpoint.fail = 500
    with pytest.raises(ClientError, match="ExpiredToken"):
        client.get_caller_identity()
    assert held.read() == held.first  # still valid: still served


def test_rejected_key_not_held_is_a_no_op(endpoint):
    held = Held()
    held.session.refresh()
    current = held.read()
    assert current != held.first
    assert held.credentials.reject(held.first.access_key) is False
    assert held.read() == current
