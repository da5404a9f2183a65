"""The hand-out rule and whoami as public API: `RoleSession.credentials` and `rolesession.caller_identity`."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

import rolesession
from helpers import ACCOUNT, ROLE
from rolesession.testing import StsRecorder


def test_credentials_refreshes_first_when_less_than_min_left_is_left(
    sts_mock: None, frozen: Any, sts_calls: StsRecorder
) -> None:
    session = rolesession.assume_role(ROLE, duration=3600, cache=None)
    first = session.credentials(min_left=900)
    frozen.tick(3000)  # 600 s left: the refresh windows (advisory) are not reached yet
    assert session.credentials(min_left=0) is first  # enough left for this consumer
    again = session.credentials(min_left=900)  # less than 15 minutes: a longer-lasting set first
    assert again.access_key != first.access_key
    assert again.expiry - first.expiry == pytest.approx(3000)
    assert sts_calls.count("AssumeRole") == 2


def test_credentials_hands_out_what_is_held_when_the_duration_allows_no_more(
    sts_mock: None, frozen: Any, sts_calls: StsRecorder
) -> None:
    session = rolesession.assume_role(ROLE, duration=900, cache=None)
    first = session.credentials()
    frozen.tick(100)
    assert session.credentials(min_left=900) is first  # a fresh set would not last longer
    assert sts_calls.count("AssumeRole") == 1


def test_credentials_hands_out_valid_held_credentials_while_sts_fails(
    sts_mock: None, frozen: Any, sts_calls: StsRecorder
) -> None:
    session = rolesession.assume_role(ROLE, duration=3600, cache=None)
    first = session.credentials()
    frozen.tick(3000)
    sts_calls.outage()
    assert session.credentials(min_left=900) is first  # one attempt failed: the valid set
    calls = sts_calls.count("AssumeRole")
    assert session.credentials(min_left=900) is first  # backing off: no second attempt
    assert sts_calls.count("AssumeRole") == calls


def test_caller_identity_asks_sts_about_a_source_session(sts_mock: None) -> None:
    source = boto3.Session(aws_access_key_id="AKIAEXAMPLEEXAMPLE12", aws_secret_access_key="x" * 40)
    identity = rolesession.caller_identity(source, region="eu-west-1")
    assert identity["Account"] == ACCOUNT and set(identity) == {"UserId", "Account", "Arn"}


def test_caller_identity_checks_its_parameters_before_any_call() -> None:
    with pytest.raises(rolesession.InvalidParameterError) as info:
        rolesession.caller_identity("default")
    assert info.value.parameter == "source"
