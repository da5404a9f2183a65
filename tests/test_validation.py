"""Every AssumeRole limit: a bad value raises InvalidParameterError naming the
parameter before any STS call; the edge-good value is accepted."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from botocore.config import Config

import rolesession
from helpers import ROLE
from rolesession import InvalidParameterError, Policy

MFA = {"mfa_serial": "arn:aws:iam::123456789012:mfa/alice"}
POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def _policy_of_size(size: int) -> dict:
    base = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": ""}]}
    pad = size - len(json.dumps(base, separators=(",", ":")))
    base["Statement"][0]["Resource"] = "x" * pad
    return base


BAD = [
    ({"role_arn": "arn:aws:iam::12345678901:role/x"}, "role_arn"),
    ({"role_arn": "arn:aws:iam::123456789012:user/x"}, "role_arn"),
    ({"role_arn": "arn:aws:iam::123456789012:role/"}, "role_arn"),
    ({"role_arn": "arn:aws:iam::123456789012:role/" + "x" * 65}, "role_arn"),
    ({"role_arn": "arn:aws:iam::123456789012:role/" + "p/" * 1010 + "x"}, "role_arn"),
    ({"role_arn": "arn:aws:s3:::bucket"}, "role_arn"),
    ({"role_arn": 123456789012}, "role_arn"),
    ({"role_arn": None}, "role_arn"),
    ({"session_name": "a"}, "session_name"),
    ({"session_name": "x" * 65}, "session_name"),
    ({"session_name": "has space"}, "session_name"),
    ({"session_name": "naïve"}, "session_name"),
    ({"session_name": 42}, "session_name"),
    ({"source_identity": "aws:me"}, "source_identity"),
    ({"source_identity": "AWS:me"}, "source_identity"),
    ({"source_identity": "x"}, "source_identity"),
    ({"source_identity": "x" * 65}, "source_identity"),
    ({"external_id": "a"}, "external_id"),
    ({"external_id": "x" * 1225}, "external_id"),
    ({"external_id": "no spaces"}, "external_id"),
    ({"external_id": ["list"]}, "external_id"),
    ({"mfa_serial": "12345678", "mfa_token": "123456"}, "mfa_serial"),
    ({"mfa_serial": "x" * 257, "mfa_token": "123456"}, "mfa_serial"),
    ({"mfa_serial": "arn:aws:iam::1:mfa/a b", "mfa_token": "123456"}, "mfa_serial"),
    ({**MFA, "mfa_token": "12345"}, "mfa_token"),
    ({**MFA, "mfa_token": "1234567"}, "mfa_token"),
    ({**MFA, "mfa_token": "12345a"}, "mfa_token"),
    ({**MFA, "mfa_token": "١٢٣٤٥٦"}, "mfa_token"),  # non-ASCII digits
    ({**MFA, "mfa_token": 123456}, "mfa_token"),
    ({**MFA}, "mfa_token"),
    ({"mfa_token": "123456"}, "mfa_serial"),
    ({"duration": 899}, "duration"),
    ({"duration": 43201}, "duration"),
    ({"duration": True}, "duration"),
    ({"duration": 900.0}, "duration"),
    ({"duration": "900"}, "duration"),
    ({"duration": dt.timedelta(seconds=899)}, "duration"),
    ({"duration": dt.timedelta(seconds=900.5)}, "duration"),
    ({"policy": "{"}, "policy"),
    ({"policy": "[]"}, "policy"),
    ({"policy": 42}, "policy"),
    ({"policy": {"Statement": "Ā"}}, "policy"),  # U+0100 is outside U+0020-U+00FF
    ({"policy": _policy_of_size(2049)}, "policy"),
    ({"policy": _policy_of_size(2048 - len(POLICY_ARN) + 1), "policy_arns": [POLICY_ARN]}, "policy"),
    ({"policy_arns": [POLICY_ARN] * 11}, "policy_arns"),
    ({"policy_arns": ["arn:aws:iam::123456789012:role/x"]}, "policy_arns"),
    ({"policy_arns": POLICY_ARN}, "policy_arns"),
    ({"policy_arns": [42]}, "policy_arns"),
    ({"tags": {f"k{i}": "v" for i in range(51)}}, "tags"),
    ({"tags": {"": "v"}}, "tags"),
    ({"tags": {"k" * 129: "v"}}, "tags"),
    ({"tags": {"k": "v" * 257}}, "tags"),
    ({"tags": {"bad!": "v"}}, "tags"),
    ({"tags": {"k": "bad#"}}, "tags"),
    ({"tags": {"Team": "a", "team": "b"}}, "tags"),
    ({"tags": {"k": 1}}, "tags"),
    ({"tags": [("k", "v")]}, "tags"),
    ({"tags": {"a": "1"}, "transitive_tag_keys": ["b"]}, "transitive_tag_keys"),
    ({"tags": {"a": "1"}, "transitive_tag_keys": "a"}, "transitive_tag_keys"),
    ({"transitive_tag_keys": ["a"]}, "transitive_tag_keys"),
    ({"region": "US-EAST-1"}, "region"),
    ({"region": "nowhere"}, "region"),
    ({"region": 5}, "region"),
    ({"sts_endpoint_url": "localhost:5000"}, "sts_endpoint_url"),
    ({"sts_endpoint_url": 5}, "sts_endpoint_url"),
    ({"sts_config": {"retries": {}}}, "sts_config"),
    ({"source": "default"}, "source"),
    ({"cache": "memory"}, "cache"),
    ({"refresh": {"advisory": 600}}, "refresh"),
]


@pytest.mark.parametrize(("kwargs", "parameter"), BAD, ids=[f"{p}-{i}" for i, (_, p) in enumerate(BAD)])
def test_bad_values_are_rejected_before_any_sts_call(sts_mock, sts_calls, kwargs, parameter):
    kwargs = {"role_arn": ROLE, **kwargs}
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(**kwargs)
    assert info.value.parameter == parameter
    assert str(info.value).startswith(parameter)
    assert isinstance(info.value, ValueError)
    assert sts_calls.count() == 0


GOOD = [
    {"role_arn": "arn:aws:iam::123456789012:role/a"},
    {"role_arn": "arn:aws:iam::123456789012:role/" + "x" * 64},
    {"role_arn": "arn:aws:iam::123456789012:role/path/to/x+=,.@-_"},
    {"role_arn": "arn:aws-cn:iam::123456789012:role/x"},
    {"session_name": "ab"},
    {"session_name": "x" * 64},
    {"session_name": "a+=,.@-_Z9"},
    {"source_identity": "ab"},
    {"source_identity": "awsome"},
    {"external_id": "ab"},
    {"external_id": "x" * 1224},
    {"external_id": "a:b/c=d,e.f@g-h+i_j"},
    {"mfa_serial": "123456789", "mfa_token": "000000"},
    {"mfa_serial": "x" * 256, "mfa_token": "999999"},
    {**MFA, "mfa_token": lambda: "123456"},
    {"duration": 900},
    {"duration": 43200},
    {"duration": dt.timedelta(hours=12)},
    {"policy": Policy.allow("s3:GetObject", "arn:aws:s3:::b/é/*")},
    {"policy": {"Version": "2012-10-17", "Statement": []}},
    {"policy": '{"Version": "2012-10-17",\n\t"Statement": []}'},
    {"policy": _policy_of_size(2048)},
    {"policy": _policy_of_size(2048 - len(POLICY_ARN)), "policy_arns": [POLICY_ARN]},
    {"policy_arns": [f"arn:aws:iam::123456789012:policy/p{i}" for i in range(10)]},
    {"policy_arns": ["arn:aws-us-gov:iam::aws:policy/path/ReadOnly"]},
    {"tags": {f"k{i}": "v" for i in range(50)}},
    {"tags": {"k" * 128: "v" * 256, "empty": ""}},
    {"tags": {"équipe données": "Zürich 2", "a_.:/=+-@": "_.:/=+-@"}},
    {"tags": {"a": "1", "b": "2"}, "transitive_tag_keys": ["a"]},
    {"region": "eu-west-1"},
    {"region": "us-gov-west-1"},
    {"sts_endpoint_url": "http://127.0.0.1:5000"},
    {"sts_config": Config(read_timeout=1)},
    {"cache": None},
    {"cache": rolesession.MemoryCache(maxsize=1)},
    {"refresh": rolesession.RefreshPolicy(advisory=120, mandatory=30)},
]


@pytest.mark.parametrize("kwargs", GOOD)
def test_edge_good_values_are_accepted(sts_mock, sts_calls, kwargs):
    kwargs = {"role_arn": ROLE, **kwargs}
    session = rolesession.assume_role(**kwargs)
    assert session.role_arn == kwargs["role_arn"]
    assert sts_calls.count() == 0


def test_good_values_reach_sts_as_given(sts_mock, sts_calls):
    rolesession.assume_role(
        ROLE,
        session_name="edge",
        duration=dt.timedelta(minutes=20),
        policy=Policy.allow("s3:ListBucket"),
        policy_arns=[POLICY_ARN],
        tags={"b": "2", "a": "1"},
        transitive_tag_keys=["a"],
        external_id="ext-id",
        source_identity="alice",
        cache=None,
    ).identity()
    params = sts_calls.params()
    assert params["RoleSessionName"] == "edge"
    assert params["DurationSeconds"] == 1200
    assert json.loads(params["Policy"])["Statement"][0]["Action"] == "s3:ListBucket"
    assert " " not in params["Policy"]
    assert params["PolicyArns"] == [{"arn": POLICY_ARN}]
    assert params["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert params["TransitiveTagKeys"] == ["a"]
    assert (params["ExternalId"], params["SourceIdentity"]) == ("ext-id", "alice")


def test_packed_size_error_gives_both_numbers():
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, policy=_policy_of_size(2100))
    assert "2100" in str(info.value) and "2048" in str(info.value)


def test_a_bad_mfa_token_is_not_echoed():
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, **MFA, mfa_token="98765x")
    assert "98765" not in str(info.value)


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (("123456789012", "Admin"), {}, "arn:aws:iam::123456789012:role/Admin"),
        (("123456789012", "Admin"), {"path": "/ops/"}, "arn:aws:iam::123456789012:role/ops/Admin"),
        (("123456789012", "R"), {"partition": "aws-cn"}, "arn:aws-cn:iam::123456789012:role/R"),
        ((12345678901, "R"), {}, "arn:aws:iam::012345678901:role/R"),
    ],
)
def test_role_arn_builds_valid_arns(args, kwargs, expected):
    assert rolesession.role_arn(*args, **kwargs) == expected


@pytest.mark.parametrize(
    ("args", "kwargs", "parameter"),
    [
        (("1234", "Admin"), {}, "account_id"),
        (("123456789012", "bad name"), {}, "role_name"),
        (("123456789012", "Admin"), {"path": "ops"}, "path"),
        (("123456789012", "Admin"), {"partition": "gcp"}, "partition"),
        ((True, "Admin"), {}, "account_id"),
    ],
)
def test_role_arn_rejects_bad_parts(args, kwargs, parameter):
    with pytest.raises(InvalidParameterError) as info:
        rolesession.role_arn(*args, **kwargs)
    assert info.value.parameter == parameter
