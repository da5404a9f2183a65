"""A session shows what it is -- never a secret -- and fan-out results export for reports."""

from __future__ import annotations

import json

import pytest

import rolesession
from rolesession import AssumeRoleError, FanOutResult, Policy

HUB = "arn:aws:iam::111111111111:role/Hub"
TARGET = "arn:aws:iam::222222222222:role/Target"
POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def test_a_session_shows_its_name_duration_policies_and_chain():
    policy = Policy.allow(["s3:GetObject", "s3:ListBucket"], "*").deny("s3:DeleteObject")
    session = rolesession.chain(
        [HUB, TARGET], session_name="audit", duration=1800, policy=policy, policy_arns=[POLICY_ARN]
    )
    assert session.operation == "AssumeRole" and session.session_name == "audit"
    assert session.duration == 1800
    assert session.policy == policy.to_dict() and session.policy_arns == (POLICY_ARN,)
    assert session.chain == (HUB, TARGET) and session.parent.chain == (HUB,)
    text = repr(session)
    for shown in ("'audit'", "duration=1800", "2 statements (s3:GetObject, s3:ListBucket, s3:DeleteObject)",
                  "1 managed policy", f"{HUB} -> {TARGET}", "region_name='us-east-1'"):  # fmt: skip
        assert shown in text, text
    assert str(session) == text


def test_the_duration_shown_is_the_one_asked_of_sts():
    assert rolesession.assume_role(HUB).duration == 3600  # STS's default
    capped = rolesession.assume_role(HUB).assume_role(TARGET, duration=7200)
    assert capped.duration == 3600  # a chained hop: AWS's one-hour cap
    mfa = rolesession.mfa_session("arn:aws:iam::123456789012:mfa/alice", lambda: "123456")
    assert mfa.duration == 43200 and mfa.chain == ("GetSessionToken",)
    assert "operation='GetSessionToken'" in repr(mfa) and mfa.session_name is None


def test_no_secret_in_what_a_session_shows(sts_mock):
    session = rolesession.assume_role(
        HUB, mfa_serial="arn:aws:iam::123456789012:mfa/alice", mfa_token=lambda: "246802"
    )
    held = session.get_credentials().get_frozen_credentials()
    shown = repr(session) + repr(session.describe()) + repr(session.chain)
    for secret in (held.secret_key, held.token, "246802"):
        assert secret not in shown


def test_a_fan_out_result_exports_to_a_json_line():
    ok = FanOutResult(HUB, {"buckets": 3}, None, 0.25)
    assert ok.account == "111111111111"
    assert json.loads(ok.to_json()) == {
        "role_arn": HUB, "account": "111111111111", "account_name": None, "ou_path": [], "region": None,
        "ok": True, "value": {"buckets": 3}, "error": None,
        "seconds": 0.25,
    }  # fmt: skip
    denied = AssumeRoleError("AssumeRole failed: AccessDenied", code="AccessDenied")
    refused = FanOutResult(TARGET, None, denied, 1)
    record = refused.to_dict()
    assert record["ok"] is False and record["error"] == {
        "type": "AssumeRoleError", "message": "AssumeRole failed: AccessDenied", "code": "AccessDenied",
    }  # fmt: skip
    odd = FanOutResult("not-an-arn", object(), None, 0.0).to_dict()
    assert odd["account"] is None and odd["value"].startswith("<object object")
    assert "\n" not in refused.to_json()


def test_fan_out_results_make_a_report(sts_mock, sts_calls):
    sts_calls.refuse("AccessDenied", roles=[TARGET])
    results = rolesession.fan_out([HUB, TARGET], lambda s: s.identity()["Account"])
    lines = [json.loads(r.to_json()) for r in results]
    assert [line["ok"] for line in lines] == [True, False]
    assert lines[0]["value"] == "111111111111" and lines[1]["error"]["code"] == "AccessDenied"


@pytest.mark.parametrize("bad", [None, 3])
def test_a_result_of_anything_exports(bad):
    assert FanOutResult(str(bad), bad, None, 0.0).to_dict()["value"] == bad
