"""Session policies: the Policy builder and its limits, and scoped() -- the same role with exactly
the given policies.
"""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rolesession
from helpers import ACCOUNT, MFA_SERIAL, ROLE, ROLE_B, SOURCE_KEY, access_key, concurrently
from rolesession import (
    InvalidParameterError,
    MemoryCache,
    Policy,
    RoleSession,
    TokenError,
)
from tokens import make_jwt, make_saml_response

BUCKET = "arn:aws:s3:::data"


POLICY_ARN = "arn:aws:iam::123456789012:policy/TenantReadOnly"


def _sent(sts_calls: Any, policy: Any = None, **kwargs: Any) -> dict[str, Any]:
    """The parameters STS receives for a session made with these policy arguments."""
    session = rolesession.assume_role(ROLE, policy=policy, cache=None, **kwargs)
    session.get_credentials().get_frozen_credentials()
    return sts_calls.params()  # type: ignore[no-any-return]


# Statements as IAM has them: names from a small alphabet, values that are
# strings, lists of strings, or nested condition blocks.
_names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz:*/-", min_size=1, max_size=12)


# Explicit alphabets: no Unicode tables to build on a fresh checkout.
_text = st.text(alphabet=string.ascii_letters + string.digits + ' "\\/*?$:{}-_éü€\u2028\n', max_size=20)


_values = st.one_of(_text, st.lists(_text, max_size=3))


_conditions = st.dictionaries(_names, st.dictionaries(_names, _values, min_size=1, max_size=2), max_size=2)


_lists = st.lists(_names, min_size=1, max_size=4)


_statement = st.tuples(st.sampled_from(["allow", "deny"]), _lists, _lists, st.none() | _conditions)


def _policy_of_size(size: int) -> dict[str, Any]:
    """A policy whose compact JSON is exactly ``size`` characters."""
    base = Policy.allow("s3:GetObject", "x").to_json()
    document = Policy.allow("s3:GetObject", "x" * (size - len(base) + 1)).to_dict()
    assert len(json.dumps(document, separators=(",", ":"))) == size
    return document


TENANT_BUCKET = "arn:aws:s3:::tenant-data"


PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:saml-provider/Corp"


READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


AUDIT = f"arn:aws:iam::{ACCOUNT}:policy/Audit"


def tenant_policy(tenant: str) -> Policy:
    return Policy.allow(["s3:GetObject", "s3:PutObject"], f"{TENANT_BUCKET}/{tenant}/*").allow(
        "s3:ListBucket", TENANT_BUCKET, conditions={"StringLike": {"s3:prefix": f"{tenant}/*"}}
    )




# -- Policy: the session-policy builder and its limits ---------------------------------------------


def test_allow_with_one_action_and_the_default_resource() -> None:
    assert Policy.allow("s3:ListAllMyBuckets").to_dict() == {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
    }


def test_allow_with_lists_and_conditions() -> None:
    conditions = {"StringLike": {"s3:prefix": ["tenant-42/*"]}}
    policy = Policy.allow(
        ["s3:GetObject", "s3:PutObject"], [f"{BUCKET}/a/*", f"{BUCKET}/b/*"], conditions=conditions
    )
    assert policy.to_dict()["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": [f"{BUCKET}/a/*", f"{BUCKET}/b/*"],
            "Condition": {"StringLike": {"s3:prefix": ["tenant-42/*"]}},
        }
    ]


def test_a_list_of_one_becomes_a_string_and_tuples_work() -> None:
    policy = Policy.deny(("s3:DeleteObject",), [BUCKET])
    assert policy.to_dict()["Statement"] == [
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": BUCKET}
    ]


def test_chaining_adds_statements_in_order_and_leaves_the_original_alone() -> None:
    start = Policy.allow("s3:GetObject", f"{BUCKET}/*")
    longer = start.deny("s3:GetObject", f"{BUCKET}/secret/*").allow("s3:ListBucket", BUCKET)
    assert [(s["Effect"], s["Action"]) for s in longer.to_dict()["Statement"]] == [
        ("Allow", "s3:GetObject"),
        ("Deny", "s3:GetObject"),
        ("Allow", "s3:ListBucket"),
    ]
    assert len(start) == 1 and len(longer) == 3


def test_adding_two_policies_concatenates_their_statements() -> None:
    reads = Policy.allow("s3:GetObject", f"{BUCKET}/*")
    no_deletes = Policy.deny("s3:DeleteObject").deny("s3:DeleteBucket")
    combined = reads + no_deletes
    assert combined.to_dict()["Statement"] == (
        reads.to_dict()["Statement"] + no_deletes.to_dict()["Statement"]
    )
    assert (no_deletes + reads).to_dict()["Statement"][0]["Effect"] == "Deny"
    assert Policy() + reads == reads
    with pytest.raises(TypeError):
        reads + {"Statement": []}  # type: ignore[operator]


def test_to_json_is_compact_and_matches_to_dict() -> None:
    policy = Policy.allow(
        ["s3:GetObject"], f"{BUCKET}/*", conditions={"Bool": {"aws:SecureTransport": "true"}}
    )
    text = policy.to_json()
    assert " " not in text and "\n" not in text
    assert json.loads(text) == policy.to_dict()
    assert text == json.dumps(policy.to_dict(), separators=(",", ":"), sort_keys=True)


def test_policies_cannot_be_changed_from_outside() -> None:
    conditions: dict[str, Any] = {"StringEquals": {"aws:RequestedRegion": ["eu-west-1"]}}
    actions = ["s3:GetObject", "s3:PutObject"]
    policy = Policy.allow(actions, conditions=conditions)
    before = policy.to_json()
    conditions["StringEquals"]["aws:RequestedRegion"].append("us-east-1")
    actions.append("s3:DeleteObject")
    policy.to_dict()["Statement"][0]["Action"].append("iam:*")
    policy.to_dict()["Statement"].clear()
    assert policy.to_json() == before


def test_equal_content_means_equal_policies() -> None:
    a = Policy.allow("s3:GetObject", f"{BUCKET}/*")
    b = Policy.from_json(
        {"Statement": [{"Resource": f"{BUCKET}/*", "Action": "s3:GetObject", "Effect": "Allow"}]}
    )
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Policy.deny("s3:GetObject", f"{BUCKET}/*")
    assert a != a.to_dict()


def test_repr_rebuilds_the_policy() -> None:
    policy = Policy.allow("s3:GetObject", f"{BUCKET}/*").deny(
        "s3:*", conditions={"Bool": {"aws:MultiFactorAuthPresent": "false"}}
    )
    assert eval(repr(policy), {"Policy": Policy}) == policy


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda: Policy.allow(5), "actions"),
        (lambda: Policy.allow([]), "actions"),
        (lambda: Policy.allow(""), "actions"),
        (lambda: Policy.allow(["s3:GetObject", 3]), "actions"),
        (lambda: Policy.allow(b"s3:GetObject"), "actions"),
        (lambda: Policy.allow({"s3:GetObject": 1}), "actions"),
        (lambda: Policy.deny("s3:GetObject", []), "resources"),
        (lambda: Policy.deny("s3:GetObject", None), "resources"),
        (lambda: Policy.allow("s3:GetObject", conditions=["Bool"]), "conditions"),
        (lambda: Policy.allow("s3:GetObject", conditions={"Bool": object()}), "conditions"),
        (
            lambda: Policy.allow("s3:GetObject", conditions={"NumericLessThan": {"n": float("nan")}}),
            "conditions",
        ),
        (lambda: Policy([{"Action": "s3:*"}]), "statements"),
        (lambda: Policy("not statements"), "statements"),
        (lambda: Policy([["Effect", "Allow"]]), "statements"),
    ],
)
def test_bad_builder_input_is_an_invalid_parameter_error(call: Any, parameter: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        call()
    assert info.value.parameter == parameter


def test_from_json_reads_text_and_dicts_and_a_single_statement_object() -> None:
    statement = {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}
    as_list = Policy.from_json(json.dumps({"Version": "2012-10-17", "Statement": [statement]}, indent=4))
    as_object = Policy.from_json({"Statement": statement})
    assert as_list == as_object == Policy.allow("sqs:SendMessage")


def test_from_json_always_uses_the_current_version() -> None:
    old = Policy.from_json(
        {"Version": "2008-10-17", "Id": "x", "Statement": [{"Effect": "Deny", "Action": "*"}]}
    )
    assert old.to_dict() == {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*"}]}


@pytest.mark.parametrize(
    "document",
    [
        "{not json",
        "[1, 2]",
        "42",
        ["Statement"],
        {},
        {"Version": "2012-10-17"},
        {"Statement": "Allow everything"},
        {"Statement": [{"Effect": "Allow"}, 3]},
        {"Statement": [{"Effect": "Permit", "Action": "*"}]},
        '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": NaN}]}',
    ],
)
def test_from_json_rejects_what_is_not_a_policy(document: Any) -> None:
    with pytest.raises(InvalidParameterError) as info:
        Policy.from_json(document)
    assert info.value.parameter == "document"


@given(st.lists(_statement, max_size=5))
def test_round_trip_through_json_and_dicts(statements: list[Any]) -> None:
    policy = Policy()
    for effect, actions, resources, conditions in statements:
        policy = getattr(policy, effect)(actions, resources, conditions=conditions)
    assert Policy.from_json(policy.to_json()) == policy
    assert Policy.from_json(policy.to_dict()) == policy
    assert json.loads(policy.to_json()) == policy.to_dict()
    assert len(policy) == len(statements)
    assert policy.to_dict()["Version"] == "2012-10-17"


@given(st.lists(_statement, max_size=3), st.lists(_statement, max_size=3))
def test_addition_is_statement_concatenation(left: list[Any], right: list[Any]) -> None:
    def build(statements: list[Any]) -> Policy:
        policy = Policy()
        for effect, actions, resources, conditions in statements:
            policy = getattr(policy, effect)(actions, resources, conditions=conditions)
        return policy

    a, b = build(left), build(right)
    assert (a + b).to_dict()["Statement"] == a.to_dict()["Statement"] + b.to_dict()["Statement"]
    assert (a + b) + a == a + (b + a)


def test_policy_dict_and_json_text_reach_sts_as_the_same_compact_json(sts_mock: Any, sts_calls: Any) -> None:
    policy = Policy.allow("s3:GetObject", f"{BUCKET}/tenant-42/*")
    pretty = json.dumps(policy.to_dict(), indent=2)
    sent = [_sent(sts_calls, form)["Policy"] for form in (policy, policy.to_dict(), pretty)]
    assert sent == [policy.to_json()] * 3


def test_policy_arns_reach_sts_as_policy_descriptors(sts_mock: Any, sts_calls: Any) -> None:
    managed = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    params = _sent(sts_calls, policy_arns=[POLICY_ARN, managed])
    assert sorted(d["arn"] for d in params["PolicyArns"]) == sorted([POLICY_ARN, managed])
    assert "Policy" not in params


def test_a_policy_of_exactly_2048_characters_is_accepted(sts_mock: Any, sts_calls: Any) -> None:
    document = _policy_of_size(2048)
    assert len(_sent(sts_calls, document)["Policy"]) == 2048


def test_an_oversize_policy_is_rejected_naming_both_sizes(sts_calls: Any) -> None:
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, policy=_policy_of_size(2049))
    assert info.value.parameter == "policy"
    assert "2049" in str(info.value) and "2048" in str(info.value)
    assert sts_calls.count() == 0


def test_policy_arns_count_towards_the_limit(sts_calls: Any) -> None:
    document = _policy_of_size(2049 - len(POLICY_ARN))
    rolesession.assume_role(ROLE, policy=_policy_of_size(2048 - len(POLICY_ARN)), policy_arns=[POLICY_ARN])
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, policy=document, policy_arns=[POLICY_ARN])
    assert "2049" in str(info.value) and "2048" in str(info.value)
    assert sts_calls.count() == 0


def test_policy_arns_alone_over_the_limit_name_policy_arns(sts_calls: Any) -> None:
    long_path = "/" + "p" * 200 + "/"
    arns = [f"arn:aws:iam::123456789012:policy{long_path}Policy{i}" for i in range(10)]
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, policy_arns=arns)
    assert info.value.parameter == "policy_arns"
    assert str(sum(map(len, arns))) in str(info.value)
    assert sts_calls.count() == 0


def test_size_is_measured_on_compact_json_not_the_text_given(sts_mock: Any, sts_calls: Any) -> None:
    document = _policy_of_size(2000)
    roomy = json.dumps(document, indent=8)
    assert len(roomy) > 2048
    assert len(_sent(sts_calls, roomy)["Policy"]) == 2000


def test_non_ascii_within_latin_1_is_allowed_and_sent_as_is(sts_mock: Any, sts_calls: Any) -> None:
    policy = Policy.allow("s3:GetObject", f"{BUCKET}/café/*")
    assert "café" in _sent(sts_calls, policy)["Policy"]


@pytest.mark.parametrize(
    ("policy", "needle"),
    [
        ("{not json", "not valid JSON"),
        ('["s3:GetObject"]', "JSON object"),
        ("null", "JSON object"),
        (42, "JSON object"),
        (["Statement"], "JSON object"),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": object()}]}, "serialisable"),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": float("inf")}]}, "serialisable"),
        (Policy.allow("s3:GetObject", f"{BUCKET}/€/*"), "U+20AC"),
        ({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "\u2028"}]}, "U+2028"),
    ],
)
def test_malformed_policies_are_rejected_before_sts(sts_calls: Any, policy: Any, needle: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, policy=policy)
    assert info.value.parameter == "policy"
    assert needle in str(info.value)
    assert sts_calls.count() == 0


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:iam::123456789012:policy/Simple",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws-cn:iam::123456789012:policy/team/a/ChinaPolicy",
        "arn:aws-us-gov:iam::aws:policy/ReadOnlyAccess",
        "arn:aws-iso-b:iam::123456789012:policy/Name+=,.@-_",
    ],
)
def test_policy_arns_of_every_partition_are_accepted(arn: str) -> None:
    rolesession.assume_role(ROLE, policy_arns=[arn])


@pytest.mark.parametrize(
    "arns",
    [
        POLICY_ARN,  # a string, not a list
        {POLICY_ARN: 1},
        [ROLE],  # a role, not a policy
        ["arn:aws:iam::12345678901:policy/ShortAccount"],
        ["arn:aws:s3:::bucket"],
        ["arn:aws:iam::123456789012:policy/"],
        ["arn:aws:iam::123456789012:policy/Bad Name"],
        [42],
        [f"arn:aws:iam::123456789012:policy/P{i}" for i in range(11)],
    ],
)
def test_bad_policy_arns_are_rejected_before_sts(sts_calls: Any, arns: Any) -> None:
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, policy_arns=arns)
    assert info.value.parameter == "policy_arns"
    assert sts_calls.count() == 0


def test_ten_policy_arns_are_allowed(sts_mock: Any, sts_calls: Any) -> None:
    arns = [f"arn:aws:iam::123456789012:policy/P{i}" for i in range(10)]
    assert len(_sent(sts_calls, policy_arns=arns)["PolicyArns"]) == 10


def test_other_entry_points_and_chain_check_policies_too(sts_calls: Any, tmp_path: Any) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("header.payload.signature")
    big = _policy_of_size(3000)
    with pytest.raises(InvalidParameterError, match="3000"):
        rolesession.assume_role_with_web_identity(ROLE, token_file=token_file, policy=big)
    with pytest.raises(InvalidParameterError, match="3000"):
        rolesession.assume_role_with_saml(
            ROLE, "arn:aws:iam::123456789012:saml-provider/Corp", assertion="PHNhbWw+", policy=big
        )
    with pytest.raises(InvalidParameterError) as info:
        rolesession.chain([ROLE, {"role_arn": ROLE_B, "policy": "{nope"}])
    assert info.value.parameter == "steps[1].policy"
    assert sts_calls.count() == 0


# -- scoped(): the same role with exactly the given policies ---------------------------------------


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
        .scoped(policy=Policy.allow("s3:GetObject", f"{TENANT_BUCKET}/t1/reports/*"))
    )
    access_key(narrower)
    assert sts_calls.count() == 1
    expected = Policy.allow("s3:GetObject", f"{TENANT_BUCKET}/t1/reports/*").to_json()
    assert sts_calls.params()["Policy"] == expected


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


def test_an_oversize_policy_is_rejected_before_sts(sts_mock: Any, sts_calls: Any) -> None:
    parent = rolesession.assume_role(ROLE)
    access_key(parent)
    huge = Policy.allow("s3:GetObject", [f"{TENANT_BUCKET}/tenant-{i:04d}/*" for i in range(80)])
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
def test_scoped_rejects_malformed_policies_before_sts(sts_calls: Any, kwargs: Any, parameter: str) -> None:
    parent = rolesession.assume_role(ROLE)
    with pytest.raises(InvalidParameterError) as info:
        parent.scoped(**kwargs)
    assert info.value.parameter == parameter
    assert sts_calls.count() == 0


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


def test_concurrent_identical_scoped_sessions_share_one_session_and_call(sts_mock, sts_calls):
    parent = rolesession.assume_role(ROLE)
    parent.identity()
    sts_calls.delay = 0.2
    policy = rolesession.Policy.allow("s3:GetObject", "arn:aws:s3:::bucket/t1/*")

    def ask() -> Any:
        scoped = parent.scoped(policy=policy.to_dict())
        return scoped, access_key(scoped)

    results = concurrently(32, ask)
    assert len({id(s) for s, _ in results}) == 1
    assert sts_calls.count() == 2
