"""RoleSession.scoped(): the same role re-assumed with exactly the given session policies."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

import rolesession
from helpers import ACCOUNT, ROLE, ROLE_B, SOURCE_KEY
from rolesession import InvalidParameterError, MemoryCache, Policy, RoleSession, TokenError
from tokens import make_jwt, make_saml_response

BUCKET = "arn:aws:s3:::tenant-data"
MFA_SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:saml-provider/Corp"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
AUDIT = f"arn:aws:iam::{ACCOUNT}:policy/Audit"


def tenant_policy(tenant: str) -> Policy:
    return Policy.allow(["s3:GetObject", "s3:PutObject"], f"{BUCKET}/{tenant}/*").allow(
        "s3:ListBucket", BUCKET, conditions={"StringLike": {"s3:prefix": f"{tenant}/*"}}
    )


def access_key(session: boto3.Session) -> str:
    return session.get_credentials().get_frozen_credentials().access_key  # type: ignore[no-any-return]


def test_scoped_re_assumes_the_same_role_with_the_policy(sts_mock: Any, sts_calls: Any) -> None:
    parent = rolesession.assume_role(
        ROLE,
        session_name="billing-service",
        duration=1800,
        tags={"service": "billing"},
        external_id="ext-123",
        source_identity="alice",
    )
    parent_key = access_key(parent)
    scoped = parent.scoped(policy=tenant_policy("tenant-42"))
    assert isinstance(scoped, RoleSession) and scoped is not parent
    assert sts_calls.count() == 1  # lazy: nothing asked of STS yet

    scoped_key = access_key(scoped)
    assert sts_calls.count("AssumeRole") == 2
    first, second = (params for _, params in sts_calls.calls)
    assert second["Policy"] == tenant_policy("tenant-42").to_json()
    assert "Policy" not in first
    # everything but the session policy is the parent's
    assert {k: v for k, v in second.items() if k != "Policy"} == first
    assert scoped.role_arn == parent.role_arn == ROLE
    assert scoped.parent is parent.parent is None
    assert scoped.region_name == parent.region_name
    assert scoped.identity()["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/billing-service")
    assert scoped_key != parent_key
    assert access_key(parent) == parent_key  # the parent is unchanged
    assert sts_calls.count() == 2


def test_the_given_policies_replace_the_parents(sts_mock: Any, sts_calls: Any) -> None:
    parent = rolesession.assume_role(ROLE, policy=Policy.allow("s3:*"), policy_arns=[READ_ONLY], cache=None)
    access_key(parent)

    access_key(parent.scoped(policy=tenant_policy("t1")))
    params = sts_calls.params()
    assert params["Policy"] == tenant_policy("t1").to_json() and "PolicyArns" not in params

    access_key(parent.scoped(policy_arns=[AUDIT]))
    params = sts_calls.params()
    assert params["PolicyArns"] == [{"arn": AUDIT}] and "Policy" not in params

    access_key(parent.scoped())  # no session policies at all: the role's full permissions
    params = sts_calls.params()
    assert "Policy" not in params and "PolicyArns" not in params

    parent.refresh()  # and the parent still asks for its own
    params = sts_calls.params()
    assert params["Policy"] == Policy.allow("s3:*").to_json()
    assert params["PolicyArns"] == [{"arn": READ_ONLY}]


def test_a_scoped_session_can_be_scoped_again(sts_mock: Any, sts_calls: Any) -> None:
    narrower = (
        rolesession.assume_role(ROLE)
        .scoped(policy=tenant_policy("t1"))
        .scoped(policy=Policy.allow("s3:GetObject", f"{BUCKET}/t1/reports/*"))
    )
    access_key(narrower)
    assert sts_calls.count() == 1
    assert sts_calls.params()["Policy"] == Policy.allow("s3:GetObject", f"{BUCKET}/t1/reports/*").to_json()


@pytest.mark.parametrize("form", ["policy", "dict", "json"])
def test_scoped_takes_a_policy_a_dict_or_json_text(sts_mock: Any, sts_calls: Any, form: str) -> None:
    policy = tenant_policy("t9")
    given = {"policy": policy, "dict": policy.to_dict(), "json": policy.to_json()}[form]
    access_key(rolesession.assume_role(ROLE, cache=None).scoped(policy=given))
    assert sts_calls.params()["Policy"] == policy.to_json()


def test_a_chained_hop_is_scoped_from_the_same_parent(sts_mock: Any, sts_calls: Any) -> None:
    hub = rolesession.assume_role(ROLE)
    target = hub.assume_role(ROLE_B, session_name="hop")
    access_key(target)
    assert sts_calls.count() == 2
    scoped = target.scoped(policy=tenant_policy("t1"))
    assert scoped.parent is hub
    access_key(scoped)
    # one more call: the hop, signed with the hub's held credentials (not re-assumed)
    assert sts_calls.count() == 3
    assert sts_calls.params()["RoleArn"] == ROLE_B
    assert sts_calls.params()["RoleSessionName"] == "hop"
    assert "Policy" in sts_calls.params()
    assert "assumed-role/Hub/hop" in scoped.identity()["Arn"]


def test_scoped_sessions_are_cached_apart_from_the_parent(sts_mock: Any, sts_calls: Any) -> None:
    cache = MemoryCache()
    parent = rolesession.assume_role(ROLE, cache=cache)
    parent_key = access_key(parent)
    first = access_key(parent.scoped(policy=tenant_policy("t1")))
    assert len(cache) == 2 and sts_calls.count() == 2
    # a second scoped session with the same policy is served by the cache ...
    assert access_key(parent.scoped(policy=tenant_policy("t1"))) == first
    assert sts_calls.count() == 2
    # ... and another tenant is not
    assert access_key(parent.scoped(policy=tenant_policy("t2"))) not in (first, parent_key)
    assert sts_calls.count() == 3
    assert access_key(parent) == parent_key


def test_a_scoped_session_refreshes_on_its_own(sts_mock: Any, sts_calls: Any, frozen: Any) -> None:
    parent = rolesession.assume_role(ROLE, duration=900, cache=None)
    scoped = parent.scoped(policy=tenant_policy("t1"))
    parent_key, scoped_key = access_key(parent), access_key(scoped)
    assert sts_calls.count() == 2

    frozen.tick(900 - 30)  # both are in their mandatory window now
    assert access_key(scoped) == scoped_key  # valid: served while it refreshes behind
    scoped.get_credentials().wait_for_background()
    renewed = access_key(scoped)
    assert renewed != scoped_key
    # one call, the scoped session's own: the parent was not refreshed with it
    assert sts_calls.count() == 3 and sts_calls.params()["Policy"] == tenant_policy("t1").to_json()

    access_key(parent)  # the parent refreshes when it is read
    parent.get_credentials().wait_for_background()
    assert access_key(parent) != parent_key
    assert sts_calls.count() == 4 and "Policy" not in sts_calls.params()


def test_scoped_from_web_identity_re_reads_the_token_file(
    sts_mock: Any, sts_calls: Any, tmp_path: Any
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(make_jwt())
    parent = rolesession.assume_role_with_web_identity(ROLE, token_file=token_file)
    access_key(parent)
    token_file.write_text(make_jwt())  # rotated on disk meanwhile
    access_key(parent.scoped(policy=tenant_policy("t1")))
    assert [op for op, _ in sts_calls.calls] == ["AssumeRoleWithWebIdentity"] * 2
    assert sts_calls.params()["Policy"] == tenant_policy("t1").to_json()


# -- validation -------------------------------------------------------------------------


def test_an_oversize_policy_is_rejected_before_sts(sts_mock: Any, sts_calls: Any) -> None:
    parent = rolesession.assume_role(ROLE)
    access_key(parent)
    huge = Policy.allow("s3:GetObject", [f"{BUCKET}/tenant-{i:04d}/*" for i in range(80)])
    size = len(huge.to_json())
    assert size > 2048
    with pytest.raises(InvalidParameterError) as info:
        parent.scoped(policy=huge)
    assert info.value.parameter == "policy"
    assert str(size) in str(info.value) and "2048" in str(info.value)
    assert sts_calls.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"policy": "{not json"}, "policy"),
        ({"policy": ["s3:GetObject"]}, "policy"),
        ({"policy_arns": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, "policy_arns"),
        ({"policy_arns": [ROLE]}, "policy_arns"),
        ({"policy_arns": [READ_ONLY] * 11}, "policy_arns"),
    ],
)
def test_malformed_policies_are_rejected_before_sts(sts_calls: Any, kwargs: Any, parameter: str) -> None:
    parent = rolesession.assume_role(ROLE)
    with pytest.raises(InvalidParameterError) as info:
        parent.scoped(**kwargs)
    assert info.value.parameter == parameter
    assert sts_calls.count() == 0


# -- one-shot secrets ---------------------------------------------------------------------


def test_a_spent_static_mfa_code_cannot_serve_a_scoped_session(sts_mock: Any, sts_calls: Any) -> None:
    parent = rolesession.assume_role(ROLE, mfa_serial=MFA_SERIAL, mfa_token="987650")
    access_key(parent)
    scoped = parent.scoped(policy=tenant_policy("t1"))  # creating it is fine ...
    with pytest.raises(TokenError) as info:
        access_key(scoped)  # ... using it is not
    assert "callable" in str(info.value) and "987650" not in str(info.value)
    assert sts_calls.count() == 1  # the code was never resent
    assert access_key(parent)  # the parent keeps serving what it holds


def test_a_static_mfa_code_is_spent_by_whichever_session_uses_it_first(sts_mock: Any, sts_calls: Any) -> None:
    parent = rolesession.assume_role(ROLE, mfa_serial=MFA_SERIAL, mfa_token="654321", cache=None)
    scoped = parent.scoped(policy=tenant_policy("t1"))
    access_key(scoped)
    with pytest.raises(TokenError):
        access_key(parent)
    assert [p.get("TokenCode") for _, p in sts_calls.calls] == ["654321"]


def test_a_callable_mfa_code_serves_scoped_sessions(sts_mock: Any, sts_calls: Any) -> None:
    codes = iter(["111111", "222222"])
    parent = rolesession.assume_role(ROLE, mfa_serial=MFA_SERIAL, mfa_token=lambda: next(codes))
    access_key(parent)
    access_key(parent.scoped(policy=tenant_policy("t1")))
    assert [p["TokenCode"] for _, p in sts_calls.calls] == ["111111", "222222"]
    assert sts_calls.params()["Policy"] == tenant_policy("t1").to_json()


def test_a_spent_static_saml_assertion_cannot_serve_a_scoped_session(sts_mock: Any, sts_calls: Any) -> None:
    assertion = make_saml_response(ROLE, PRINCIPAL)
    parent = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=assertion)
    access_key(parent)
    with pytest.raises(TokenError) as info:
        access_key(parent.scoped(policy=tenant_policy("t1")))
    assert assertion not in str(info.value)
    assert sts_calls.count("AssumeRoleWithSAML") == 1


def test_a_callable_saml_assertion_serves_scoped_sessions(sts_mock: Any, sts_calls: Any) -> None:
    parent = rolesession.assume_role_with_saml(
        ROLE, PRINCIPAL, assertion=lambda: make_saml_response(ROLE, PRINCIPAL)
    )
    access_key(parent)
    access_key(parent.scoped(policy=tenant_policy("t1")))
    assert sts_calls.count("AssumeRoleWithSAML") == 2
    assert sts_calls.params()["Policy"] == tenant_policy("t1").to_json()


# -- the pattern from the scoping page ---------------------------------------------------------


def test_a_service_hands_each_task_credentials_for_one_tenant(sts_mock: Any, sts_calls: Any) -> None:
    service = rolesession.assume_role(ROLE, session_name="ingest")

    def credentials_for(tenant: str) -> dict[str, str]:
        return service.scoped(policy=tenant_policy(tenant)).environ()

    handed = {tenant: credentials_for(tenant) for tenant in ("acme", "globex", "acme")}
    sent = [params["Policy"] for _, params in sts_calls.calls if "Policy" in params]
    assert sent == [tenant_policy("acme").to_json(), tenant_policy("globex").to_json()]
    assert handed["acme"]["AWS_ACCESS_KEY_ID"] != handed["globex"]["AWS_ACCESS_KEY_ID"]
    assert SOURCE_KEY not in (env["AWS_ACCESS_KEY_ID"] for env in handed.values())
    assert sts_calls.count() == 2  # the service's own credentials were never needed: scoped() is a re-assume
