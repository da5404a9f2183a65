"""Chained hops: AWS caps them at one hour; the library caps, warns once, never fails."""

from __future__ import annotations

import logging

import boto3
from botocore.exceptions import ClientError

import rolesession
from helpers import ROLE, ROLE_B

CHAINING_MESSAGE = (
    "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
)


def _cap_warnings(caplog):
    return [r for r in caplog.records if r.levelno == logging.WARNING and "chained" in r.getMessage()]


def test_a_hop_from_a_role_session_is_capped_with_one_warning(sts_mock, sts_calls, caplog):
    caplog.set_level(logging.WARNING, logger="rolesession")
    hop = rolesession.assume_role(ROLE).assume_role(ROLE_B, duration=7200)
    assert len(_cap_warnings(caplog)) == 1
    hop.identity()
    hop.refresh()
    hop.refresh()
    assert [p.get("DurationSeconds") for _, p in sts_calls.calls[1:]] == [3600, 3600, 3600]
    assert len(_cap_warnings(caplog)) == 1


def test_a_chained_hop_within_the_cap_does_not_warn(sts_mock, sts_calls, caplog):
    caplog.set_level(logging.WARNING, logger="rolesession")
    rolesession.assume_role(ROLE).assume_role(ROLE_B, duration=3600).identity()
    rolesession.assume_role(ROLE).assume_role(ROLE_B).identity()
    assert _cap_warnings(caplog) == []
    # no duration means STS's default of one hour: the same cache entry serves both
    assert [p.get("DurationSeconds") for _, p in sts_calls.calls] == [None, 3600]


def test_sts_telling_us_the_source_holds_role_credentials(sts_mock, sts_calls, caplog):
    """A plain source holding role credentials (say a Lambda execution role)."""
    caplog.set_level(logging.WARNING, logger="rolesession")
    sts_calls.fail_once(
        ClientError({"Error": {"Code": "ValidationError", "Message": CHAINING_MESSAGE}}, "AssumeRole")
    )
    session = rolesession.assume_role(ROLE, source=boto3.Session(), duration=7200)
    identity = session.identity()  # no failure
    assert identity["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/Reader/")
    assert [p["DurationSeconds"] for _, p in sts_calls.calls] == [7200, 3600]
    assert len(_cap_warnings(caplog)) == 1
    session.refresh()  # remembered: straight to 3600
    assert sts_calls.params()["DurationSeconds"] == 3600
    assert len(_cap_warnings(caplog)) == 1


def test_other_validation_errors_are_not_retried(sts_mock, sts_calls):
    sts_calls.fail_once(
        ClientError({"Error": {"Code": "ValidationError", "Message": "something else"}}, "AssumeRole")
    )
    session = rolesession.assume_role(ROLE, duration=7200, cache=None)
    try:
        session.identity()
    except rolesession.AssumeRoleError as exc:
        assert exc.code == "ValidationError"
    else:  # pragma: no cover
        raise AssertionError("expected AssumeRoleError")
    assert sts_calls.count() == 1


def test_the_cap_changes_the_cache_key_duration(sts_mock, sts_calls):
    parent = rolesession.assume_role(ROLE)
    rolesession.assume_role(ROLE_B, source=parent, duration=7200).identity()
    # asking for 3600 s directly is the same effective request: served from the cache
    rolesession.assume_role(ROLE_B, source=parent, duration=3600).identity()
    assert sts_calls.count() == 2
