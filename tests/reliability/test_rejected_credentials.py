"""A service rejects the credentials a `RoleSession` handed out.

SPEC "Reliability additions": when a client of a `RoleSession` gets
``ExpiredToken``, ``ExpiredTokenException`` or ``InvalidClientTokenId`` for
credentials the session handed out, the session fetches once, and the
request is retried once. If the new credentials are rejected too, the error
surfaces: no loop, one extra fetch. Rejection-driven fetches are at most one
per backoff step, with one WARNING per episode. ``RequestExpired`` (clock
skew) drops nothing.

The proxy rejects by the access key in the request's ``Authorization``
header, in each service's own error shape (query XML for STS, REST-XML for
S3, JSON for DynamoDB).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

import rolesession
from helpers import ROLE

from .faultproxy import FaultProxy

CALLS: dict[str, Callable[[Any], Any]] = {
    "sts": lambda c: c.get_caller_identity(),
    "s3": lambda c: c.list_buckets(),
    "dynamodb": lambda c: c.list_tables(),
}
CASES = [
    ("sts", "ExpiredToken"),
    ("sts", "InvalidClientTokenId"),
    ("s3", "ExpiredToken"),
    ("dynamodb", "ExpiredTokenException"),
]


def session_and_client(
    assume: Callable[..., rolesession.RoleSession], proxy: FaultProxy, service: str
) -> tuple[rolesession.RoleSession, Any, Any]:
    session = assume(ROLE)
    first = session.get_credentials().get_frozen_credentials()
    return session, session.client(service, endpoint_url=proxy.url), first


def requests_to(proxy: FaultProxy, service: str) -> list[Any]:
    return [r for r in proxy.records if r.service == service and r.action != "AssumeRole"]


@pytest.mark.parametrize(("service", "code"), CASES, ids=[f"{s}-{c}" for s, c in CASES])
def test_rejected_credentials_are_replaced_once_and_the_request_retried_once(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession], service: str, code: str
) -> None:
    session, client, first = session_and_client(assume, fault_proxy, service)
    fault_proxy.reject_keys({first.access_key}, code)

    result = CALLS[service](client)

    second = session.get_credentials().get_frozen_credentials()
    sent = requests_to(fault_proxy, service)
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert second.access_key != first.access_key, "the rejected credentials are still held"
    assert fault_proxy.count("AssumeRole") == 2, (
        f"{fault_proxy.count('AssumeRole')} AssumeRole (1 extra expected)"
    )
    assert [(r.access_key, r.fault) for r in sent] == [
        (first.access_key, "reject_keys"),
        (second.access_key, "forward"),
    ], "the request must be retried once, signed with the new credentials"


@pytest.mark.parametrize(("service", "code"), CASES, ids=[f"{s}-{c}" for s, c in CASES])
def test_when_the_new_credentials_are_rejected_too_the_error_surfaces(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession], service: str, code: str
) -> None:
    _, client, first = session_and_client(assume, fault_proxy, service)
    # Every temporary key is rejected; the source key (AKIA...) still gets AssumeRole through.
    fault_proxy.reject_keys(lambda key: key.startswith("ASIA"), code)

    with pytest.raises(ClientError) as caught:
        CALLS[service](client)

    assert caught.value.response["Error"]["Code"] == code
    sent = requests_to(fault_proxy, service)
    assert fault_proxy.count("AssumeRole") == 2, (
        f"{fault_proxy.count('AssumeRole')} AssumeRole: exactly one extra fetch expected"
    )
    assert len(sent) == 2, f"{len(sent)} {service} requests: the original and one retry expected"
    assert sent[0].access_key == first.access_key
    assert sent[1].access_key != first.access_key


def test_other_refusals_do_not_replace_the_credentials(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession]
) -> None:
    session, client, first = session_and_client(assume, fault_proxy, "sts")
    fault_proxy.reject_keys({first.access_key}, "AccessDenied")

    with pytest.raises(ClientError, match="AccessDenied"):
        client.get_caller_identity()

    assert fault_proxy.count("AssumeRole") == 1
    assert session.get_credentials().get_frozen_credentials().access_key == first.access_key


def test_request_expired_drops_nothing(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession]
) -> None:
    session, client, first = session_and_client(assume, fault_proxy, "sts")
    fault_proxy.reject_keys({first.access_key}, "RequestExpired")

    with pytest.raises(ClientError, match="RequestExpired"):
        client.get_caller_identity()  # a clock skew new credentials cannot fix: not retried

    assert fault_proxy.count("AssumeRole") == 1
    assert len(requests_to(fault_proxy, "sts")) == 1
    assert session.get_credentials().get_frozen_credentials().access_key == first.access_key


def test_fifty_rejected_requests_cost_one_fetch_per_backoff_step_and_one_warning(
    fault_proxy: FaultProxy,
    assume: Callable[..., rolesession.RoleSession],
    frozen: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, client, _ = session_and_client(assume, fault_proxy, "sts")
    fault_proxy.reject_keys(lambda key: key.startswith("ASIA"))  # a revoked role: every new set too

    with caplog.at_level(logging.WARNING, logger="rolesession"):
        for _ in range(50):
            with pytest.raises(ClientError, match="ExpiredToken"):
                client.get_caller_identity()
        fetches_in_one_step = fault_proxy.count("AssumeRole") - 1
        frozen.tick(2.1)  # past the first step (at most 2 s)
        for _ in range(50):
            with pytest.raises(ClientError, match="ExpiredToken"):
                client.get_caller_identity()

    fetches = fault_proxy.count("AssumeRole") - 1
    rejections = [r for r in caplog.records if "rejected" in r.getMessage()]
    print(f"[rejected x100] {fetches} rejection-driven AssumeRole, {len(rejections)} WARNINGs")
    assert fetches_in_one_step == 1
    assert fetches == 2
    assert len(rejections) == 1, [r.getMessage() for r in rejections]
