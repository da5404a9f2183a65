"""Tests of examples/testing/audit.py using only rolesession's pytest plugin (no conftest)."""

from __future__ import annotations

import pytest
from audit import audit

import rolesession

GOOD = "arn:aws:iam::111111111111:role/Auditor"
BAD = "arn:aws:iam::222222222222:role/Auditor"


def test_one_sts_call_per_account_and_access_denied_survived(rolesession_sts):
    rolesession_sts.refuse("AccessDenied", roles=[BAD])
    assert audit([GOOD, BAD]) == {GOOD: "111111111111", BAD: "AccessDenied"}
    assert rolesession_sts.count("AssumeRole") == 2
    audit([GOOD])  # the same role again: served by the warm session
    assert rolesession_sts.count("AssumeRole") == 2


def test_an_outage_for_one_role(rolesession_sts):
    rolesession_sts.outage(roles=[BAD])
    assert audit([GOOD, BAD])[BAD] == "EndpointConnectionError"


def test_credentials_refresh_and_an_outage_is_ridden_out(rolesession_sts, rolesession_clock):
    session = rolesession.assume_role(GOOD, duration=3600)
    first = session.get_credentials().get_frozen_credentials()
    rolesession_clock.to_refresh(session)  # into the refresh window: renewed in the background
    assert session.get_credentials().get_frozen_credentials() != first

    rolesession_sts.outage()  # STS goes down: valid credentials keep serving ...
    held = session.get_credentials().get_frozen_credentials()
    rolesession_clock.tick(600)
    assert session.get_credentials().get_frozen_credentials() == held
    rolesession_clock.to_expiry(session)  # ... until they expire
    with pytest.raises(rolesession.AssumeRoleError):
        session.get_credentials().get_frozen_credentials()
