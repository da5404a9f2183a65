"""Role chaining: hops from parents, chain(), the 1-hour cap and STS's "role chaining" answer."""

from __future__ import annotations

import logging

import boto3
import pytest
from botocore.exceptions import ClientError

import rolesession
import rolesession.testing
from helpers import ACCOUNT, OTHER_ACCOUNT, ROLE, ROLE_B, ROLE_C, THIRD_ACCOUNT
from rolesession import InvalidParameterError, Policy
from rolesession.testing import StsRecorder

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


def _arn(session):
    return session.client("sts").get_caller_identity()["Arn"]


READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


# -- hops and chain() ------------------------------------------------------------------------------


def test_three_hop_chain_identities_and_parents_unchanged(sts_mock, sts_calls):
    base = boto3.Session(region_name="eu-west-1")
    before = base.get_credentials().get_frozen_credentials()
    hop1 = rolesession.assume_role(ROLE, source=base)
    hop2 = hop1.assume_role(ROLE_B)
    hop3 = hop2.assume_role(ROLE_C)
    assert sts_calls.count() == 0
    assert _arn(hop3).startswith(f"arn:aws:sts::{THIRD_ACCOUNT}:assumed-role/Target/")
    assert _arn(hop2).startswith(f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Hub/")
    assert _arn(hop1).startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/")
    assert hop3.parent is hop2 and hop2.parent is hop1 and hop1.parent is base
    assert hop3.region_name == "eu-west-1"  # the source's region, hop after hop
    assert base.get_credentials().get_frozen_credentials() == before
    assert base.get_credentials().access_key == before.access_key
    assert [op for op, _ in sts_calls.calls] == ["AssumeRole"] * 3


def test_a_hop_re_assumes_from_its_parents_current_credentials(sts_mock, sts_calls):
    hop1 = rolesession.assume_role(ROLE)
    hop2 = hop1.assume_role(ROLE_B, cache=None)
    hop2.get_credentials().get_frozen_credentials()
    hop1.refresh()
    new_parent_key = hop1.get_credentials().get_frozen_credentials().access_key
    hop2.refresh()
    # the hop's own STS client signed with the parent's refreshed credentials
    identity = boto3.client(
        "sts",
        aws_access_key_id=new_parent_key,
        aws_secret_access_key=hop1.get_credentials().secret_key,
        aws_session_token=hop1.get_credentials().token,
    ).get_caller_identity()
    assert "assumed-role/Reader" in identity["Arn"]
    assert "assumed-role/Hub" in _arn(hop2)


def test_chain_helper_with_arns_and_dicts(sts_mock, sts_calls):
    session = rolesession.chain(
        [ROLE, {"role_arn": ROLE_B, "session_name": "hub-hop"}, ROLE_C],
        session_name="everywhere",
        tags={"team": "audit"},
        mfa_serial="arn:aws:iam::123456789012:mfa/alice",
        mfa_token="123456",
    )
    assert _arn(session).startswith(f"arn:aws:sts::{THIRD_ACCOUNT}:assumed-role/Target/everywhere")
    first, second, third = (params for _, params in sts_calls.calls)
    assert first["TokenCode"] == "123456" and "SerialNumber" in first
    assert "TokenCode" not in second and "TokenCode" not in third
    assert second["RoleSessionName"] == "hub-hop" and third["RoleSessionName"] == "everywhere"
    assert "Tags" not in first and "Tags" not in second
    assert third["Tags"] == [{"Key": "team", "Value": "audit"}]


def test_chain_names_the_bad_step_parameter(sts_mock, sts_calls):
    with pytest.raises(InvalidParameterError) as info:
        rolesession.chain([ROLE, {"role_arn": ROLE_B, "duration": 5}])
    assert info.value.parameter == "steps[1].duration"
    with pytest.raises(InvalidParameterError) as info:
        rolesession.chain([ROLE, "arn:aws:iam::1:role/x"])
    assert info.value.parameter == "steps[1].role_arn"
    with pytest.raises(InvalidParameterError) as info:
        rolesession.chain([ROLE, {"session_name": "x1"}])
    assert info.value.parameter == "steps[1].role_arn"
    with pytest.raises(InvalidParameterError) as info:
        rolesession.chain([ROLE], duration=5)
    assert info.value.parameter == "duration"
    with pytest.raises(InvalidParameterError) as info:
        rolesession.chain([])
    assert info.value.parameter == "steps"
    with pytest.raises(InvalidParameterError) as info:
        rolesession.chain([ROLE, {"role_arn": ROLE_B, "colour": "red"}])
    assert info.value.parameter == "steps[1].colour"
    assert sts_calls.count() == 0


def test_chain_gives_scoping_keywords_to_the_last_hop_only_and_steps_override(
    sts_mock: None, sts_calls: StsRecorder
) -> None:
    policy = Policy.allow("s3:GetObject")
    middle_policy = Policy.allow("sqs:SendMessage")
    rolesession.chain(
        [ROLE, {"role_arn": ROLE_B, "policy": middle_policy, "external_id": "hub-only"}, ROLE_C],
        policy=policy,
        policy_arns=[READ_ONLY],
        tags={"team": "audit", "env": "prod"},
        transitive_tag_keys=["team"],
        external_id="everywhere",
        duration=900,
        cache=None,
    ).identity()
    first, second, third = (params for _, params in sts_calls.calls)
    for hop in (first, second):
        assert not {"PolicyArns", "Tags", "TransitiveTagKeys"} & set(hop)
    assert "Policy" not in first
    assert second["Policy"] == middle_policy.to_json()  # the step's own keyword wins on its hop
    assert third["Policy"] == policy.to_json()
    assert third["PolicyArns"] == [{"arn": READ_ONLY}]
    assert third["Tags"] == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "audit"}]
    assert third["TransitiveTagKeys"] == ["team"]
    assert [h["ExternalId"] for h in (first, second, third)] == ["everywhere", "hub-only", "everywhere"]
    assert [h["DurationSeconds"] for h in (first, second, third)] == [900, 900, 900]


# -- a hop's cache -----------------------------------------------------------------------------------


def test_a_hop_uses_its_parents_cache_unless_given_one(sts_mock, tmp_path):
    file_cache = rolesession.FileCache(tmp_path / "cache")
    parent = rolesession.assume_role(ROLE, cache=file_cache)
    assert parent.cache is file_cache
    assert parent.assume_role(ROLE_B).cache is file_cache
    assert rolesession.assume_role(ROLE_B, source=parent).cache is file_cache
    assert parent.scoped(policy=Policy.allow("s3:GetObject")).cache is file_cache
    other = rolesession.MemoryCache()
    assert parent.assume_role(ROLE_B, cache=other).cache is other
    assert parent.assume_role(ROLE_B, cache=None).cache is None
    # From a plain boto3 session, the process default as before.
    plain = rolesession.assume_role(ROLE, source=boto3.Session(region_name="eu-west-1"))
    assert plain.cache is rolesession.default_cache()


def test_a_hop_from_a_parent_with_caching_off_stays_off(sts_mock):
    parent = rolesession.assume_role(ROLE, cache=None)
    assert parent.assume_role(ROLE_B).cache is None


def test_chain_hops_inherit_hop_by_hop(sts_mock, tmp_path):
    file_cache = rolesession.FileCache(tmp_path / "cache")
    parent = rolesession.assume_role(ROLE, cache=file_cache)
    last = rolesession.chain([ROLE_B, ROLE_C], source=parent)
    assert last.cache is file_cache and last.parent.cache is file_cache
    own = rolesession.MemoryCache()
    last = rolesession.chain([{"role_arn": ROLE_B, "cache": own}, ROLE_C])
    assert last.parent.cache is own and last.cache is own  # the next hop takes its parent's
    assert rolesession.chain([ROLE_B, ROLE_C], cache=None).cache is None


def test_a_hops_entries_land_in_its_parents_file_cache(sts_mock, sts_calls, tmp_path):
    directory = tmp_path / "cache"
    parent = rolesession.assume_role(ROLE, cache=rolesession.FileCache(directory))
    parent.assume_role(ROLE_B).identity()
    assert len(list(directory.glob("*.json"))) == 2  # the hop's entry is beside its parent's
    rolesession.testing.reset()  # a new process: both served from the files
    calls = sts_calls.count()
    again = rolesession.assume_role(ROLE, cache=rolesession.FileCache(directory)).assume_role(ROLE_B)
    again.identity()
    assert sts_calls.count() == calls


def test_describe_shows_the_duration_sent_for_a_capped_hop(sts_mock):
    hop = rolesession.assume_role(ROLE).assume_role(ROLE_B, duration=7200)
    assert hop.describe()["duration"] == 3600 == hop.duration
