"""Scoped-down credentials (GetScopedCredentials) and root sessions (AssumeRoot), against the STS fake."""

from __future__ import annotations

import datetime as dt
import json
import logging
import pickle
from collections.abc import Iterator
from typing import Any

import pytest

import rolesession
from helpers import OTHER_ACCOUNT, ROLE, RecordingCache, access_key
from rolesession import RefreshPolicy
from rolesession._keys import cache_key
from sts_fake import StsFake

AUDIT = "IAMAuditRootUserCredentials"


@pytest.fixture
def fake() -> Iterator[StsFake]:
    with StsFake(root_access=True) as server:
        yield server


@pytest.fixture
def refusing_fake() -> Iterator[StsFake]:
    with StsFake(root_access=False) as server:
        yield server


def role_on(fake: StsFake, **kwargs: Any) -> rolesession.RoleSession:
    return rolesession.assume_role(ROLE, sts_endpoint_url=fake.url, region="us-east-1", **kwargs)


READ = rolesession.Policy.allow("s3:GetObject", "arn:aws:s3:::data/*")


# -- scope_down -------------------------------------------------------------------------------


def test_scope_down_sends_policy_duration_description_signed_by_the_source(fake: StsFake) -> None:
    role = role_on(fake)
    scoped = rolesession.scope_down(
        READ, source=role, duration=dt.timedelta(minutes=20), description="nightly export",
        sts_endpoint_url=fake.url,
    )  # fmt: skip
    key = access_key(scoped)
    assert key.startswith("ASIA") and key != access_key(role)
    sent = fake.requests[-1]
    assert sent["Action"] == "GetScopedCredentials"
    assert json.loads(sent["Policy"]) == READ.to_dict()
    assert sent["DurationSeconds"] == "1200"
    assert sent["ScopedSessionDescription"] == "nightly export"
    assert fake.calls["GetScopedCredentials"] == 1
    assert scoped.role_arn is None
    assert scoped.identity()["Arn"] == role.identity()["Arn"]  # still the caller
    assert "GetScopedCredentials" in repr(scoped)


def test_role_session_scope_down_and_scope_down_of_its_own_output(fake: StsFake) -> None:
    role = role_on(fake)
    once = role.scope_down(READ, sts_endpoint_url=fake.url)
    twice = once.scope_down(duration=600, sts_endpoint_url=fake.url)
    assert access_key(twice) != access_key(once)
    assert fake.calls["GetScopedCredentials"] == 2
    assert fake.requests[-1]["DurationSeconds"] == "600"
    assert twice.recipe.parent is once and once.recipe.parent is role


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({}, "policy"),
        ({"duration": 0}, "duration"),
        ({"duration": 129_601}, "duration"),
        ({"duration": 60, "description": "x"}, "description"),
        ({"duration": 60, "description": "x" * 257}, "description"),
        ({"duration": 60, "description": "no\x7fdelete"}, "description"),
        ({"policy": "{" + "x" * 40_000}, "policy"),
        ({"policy": {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "\u4e00"}]}}, "policy"),
        ({"duration": 60, "sts_endpoint_url": "https://sts.amazonaws.com"}, "sts_endpoint_url"),
        ({"duration": 60, "source": "not a session"}, "source"),
    ],
)
def test_scope_down_bad_input_is_refused_before_any_call(
    fake: StsFake, kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(rolesession.InvalidParameterError) as caught:
        rolesession.scope_down(**kwargs)
    assert caught.value.parameter == parameter
    assert fake.calls["GetScopedCredentials"] == 0


def test_duration_is_capped_to_what_the_source_has_left_with_one_warning(
    fake: StsFake, caplog: pytest.LogCaptureFixture
) -> None:
    role = role_on(fake, duration=900)
    scoped = role.scope_down(duration=7200, sts_endpoint_url=fake.url)
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        scoped.get_credentials().get_frozen_credentials()
    sent = int(fake.requests[-1]["DurationSeconds"])
    assert 800 <= sent <= 900
    warnings = [r for r in caplog.records if "what the source credentials have left" in r.getMessage()]
    assert len(warnings) == 1 and "7200" in warnings[0].getMessage()


def test_scope_down_refreshes_with_the_parents_new_credentials(fake: StsFake, frozen: Any) -> None:
    role = role_on(fake, duration=900)
    scoped = role.scope_down(READ, sts_endpoint_url=fake.url)
    first_parent, first = access_key(role), access_key(scoped)
    signed_by_first = fake.requests[-1]
    frozen.tick(900 + 1)  # both expired: the scoped session must be re-made from the new parent
    second = access_key(scoped)
    assert second != first
    assert access_key(role) != first_parent
    assert fake.calls["GetScopedCredentials"] == 2
    assert fake.requests[-1]["Policy"] == signed_by_first["Policy"]
    assert scoped.identity()["Arn"] == role.identity()["Arn"]


def test_scope_down_cache_key_caller_is_the_sources_access_key(fake: StsFake) -> None:
    cache = RecordingCache()
    role = role_on(fake)
    scoped = role.scope_down(READ, description="keyed", sts_endpoint_url=fake.url, cache=cache)
    access_key(scoped)
    material = scoped.recipe.source.key_material(None)
    assert material["description"] == "keyed" and material["operation"] == "GetScopedCredentials"
    assert cache.sets == [cache_key(material, access_key(role))]
    # A second session from the same source with the same recipe is served by the cache.
    again = rolesession.scope_down(
        READ,
        source=role,
        description="keyed",
        sts_endpoint_url=fake.url,
        cache=cache,
        refresh=RefreshPolicy(),
    )
    assert again is not scoped
    assert access_key(again) == access_key(scoped)
    assert fake.calls["GetScopedCredentials"] == 1


def test_scope_down_pickles_as_a_recipe(fake: StsFake) -> None:
    scoped = role_on(fake).scope_down(READ, duration=600, description="travels", sts_endpoint_url=fake.url)
    same = pickle.loads(pickle.dumps(scoped))
    assert same.recipe.source == scoped.recipe.source
    assert same.recipe.parent_recipe is not None and same.recipe.parent_recipe.source.role_arn == ROLE
    access_key(same)
    assert fake.requests[-1]["ScopedSessionDescription"] == "travels"


def test_scope_down_of_long_term_keys_explains_the_refusal(fake: StsFake) -> None:
    import boto3

    user = boto3.Session(
        aws_access_key_id="AKIAROLESESSIONTEST1", aws_secret_access_key="x" * 40, region_name="us-east-1"
    )
    scoped = rolesession.scope_down(READ, source=user, sts_endpoint_url=fake.url)
    with pytest.raises(rolesession.RoleSessionError) as caught:
        access_key(scoped)
    assert "long-term keys" in str(caught.value)


# -- assume_root ------------------------------------------------------------------------------


def test_assume_root_sends_target_and_task_policy_arn(fake: StsFake) -> None:
    root = rolesession.assume_root(OTHER_ACCOUNT, AUDIT, sts_endpoint_url=fake.url, region="us-east-1")
    assert access_key(root).startswith("ASIA")
    sent = fake.requests[-1]
    assert sent["Action"] == "AssumeRoot"
    assert sent["TargetPrincipal"] == OTHER_ACCOUNT
    assert sent["TaskPolicyArn"] == {"arn": f"arn:aws:iam::aws:policy/root-task/{AUDIT}"}
    assert sent["DurationSeconds"] == "900"
    assert root.role_arn is None
    assert root.identity()["Arn"] == f"arn:aws:iam::{OTHER_ACCOUNT}:root"
    assert root.identity()["Account"] == OTHER_ACCOUNT
    assert "AssumeRoot" in repr(root)


def test_assume_root_takes_the_full_arn_and_a_shorter_duration(fake: StsFake) -> None:
    arn = "arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy"
    root = rolesession.assume_root(int(OTHER_ACCOUNT), arn, duration=300, sts_endpoint_url=fake.url)
    access_key(root)
    assert fake.requests[-1]["TaskPolicyArn"] == {"arn": arn}
    assert fake.requests[-1]["DurationSeconds"] == "300"


def test_assume_root_refreshes_from_the_management_source(fake: StsFake, frozen: Any) -> None:
    management = role_on(fake)
    root = rolesession.assume_root(OTHER_ACCOUNT, AUDIT, source=management, sts_endpoint_url=fake.url)
    first = access_key(root)
    frozen.tick(901)
    assert access_key(root) != first
    assert fake.calls["AssumeRoot"] == 2


@pytest.mark.parametrize(
    ("args", "kwargs", "parameter"),
    [
        (("12345", AUDIT), {}, "account"),
        ((OTHER_ACCOUNT, "IAMDoAnything"), {}, "task_policy"),
        ((OTHER_ACCOUNT, "arn:aws:iam::aws:policy/AdministratorAccess"), {}, "task_policy"),
        ((OTHER_ACCOUNT, AUDIT), {"duration": 901}, "duration"),
        ((OTHER_ACCOUNT, AUDIT), {"sts_endpoint_url": "https://sts.amazonaws.com/"}, "sts_endpoint_url"),
    ],
)
def test_assume_root_bad_input_is_refused_before_any_call(
    fake: StsFake, args: tuple[Any, ...], kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(rolesession.InvalidParameterError) as caught:
        rolesession.assume_root(*args, **kwargs)
    assert caught.value.parameter == parameter
    assert fake.calls["AssumeRoot"] == 0


def test_assume_root_without_centralized_root_access_has_a_hint(refusing_fake: StsFake) -> None:
    root = rolesession.assume_root(OTHER_ACCOUNT, AUDIT, sts_endpoint_url=refusing_fake.url)
    with pytest.raises(rolesession.AssumeRoleError) as caught:
        access_key(root)
    assert caught.value.code == "AccessDenied"
    assert "centralized root access" in str(caught.value)
    assert OTHER_ACCOUNT in str(caught.value)


def test_assume_root_pickles_as_a_recipe(fake: StsFake) -> None:
    root = rolesession.assume_root(OTHER_ACCOUNT, AUDIT, sts_endpoint_url=fake.url, region="us-east-1")
    same = pickle.loads(pickle.dumps(root))
    assert same.recipe.source == root.recipe.source
    access_key(same)
    assert fake.requests[-1]["TargetPrincipal"] == OTHER_ACCOUNT


def test_an_operation_this_botocore_does_not_know_is_a_clear_error(
    fake: StsFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rolesession._sources import ScopedSource

    # An older botocore (aiobotocore pins one) has no get_scoped_credentials.
    monkeypatch.setattr(ScopedSource, "method", "get_scoped_credentials_from_the_future")
    scoped = role_on(fake).scope_down(READ, sts_endpoint_url=fake.url)
    with pytest.raises(rolesession.AssumeRoleError) as caught:
        access_key(scoped)
    assert caught.value.code == "UnsupportedOperation"
    assert "upgrade botocore" in str(caught.value)
