"""fan_out(..., task_policy=...): a root session (AssumeRoot) per account, against the STS fake."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

import rolesession
from helpers import ACCOUNT, OTHER_ACCOUNT, ROLE, THIRD_ACCOUNT, access_key
from rolesession import Account, AssumeRoleError, InvalidParameterError, RoleSession, fan_out
from sts_fake import StsFake

AUDIT = "IAMAuditRootUserCredentials"
REGIONS = ["eu-west-1", "us-east-2"]
ORG = [
    Account(ACCOUNT, "audit", "a@example.com", "ACTIVE", ("Root", "Security")),
    Account(OTHER_ACCOUNT, "web", "w@example.com", "ACTIVE", ("Root", "Prod", "EU")),
]


@pytest.fixture
def fake() -> Iterator[StsFake]:
    with StsFake(root_access=True, root_refused={THIRD_ACCOUNT}) as server:
        yield server


def _who(session: RoleSession) -> tuple[str, str | None, str]:
    """What a root audit's fn sees: the account's root principal, its region, its credentials."""
    return session.identity()["Arn"], session.region_name, access_key(session)


def _targets(fake: StsFake) -> Counter[str]:
    return Counter(r["TargetPrincipal"] for r in fake.requests if r["Action"] == "AssumeRoot")


def test_one_assume_root_per_account_whatever_the_regions(fake: StsFake) -> None:
    results = fan_out(
        [*ORG, THIRD_ACCOUNT.replace("1111", "4444")], _who, task_policy=AUDIT, regions=REGIONS,
        sts_endpoint_url=fake.url,
    )  # fmt: skip
    fourth = THIRD_ACCOUNT.replace("1111", "4444")
    accounts = [ACCOUNT, OTHER_ACCOUNT, fourth]
    assert all(r.ok for r in results), [r.error for r in results]
    assert [(r.account, r.region) for r in results] == [(a, g) for a in accounts for g in REGIONS]
    assert [r.role_arn for r in results] == [f"arn:aws:iam::{a}:root" for a in accounts for _ in REGIONS]
    assert [(r.account_name, r.ou_path) for r in results[::2]] == [
        ("audit", ("Root", "Security")), ("web", ("Root", "Prod", "EU")), (None, ()),
    ]  # fmt: skip
    assert [r.value[:2] for r in results if r.value] == [
        (f"arn:aws:iam::{a}:root", g) for a in accounts for g in REGIONS
    ]
    # Both regions of an account share its one root session: one AssumeRoot each.
    assert _targets(fake) == {a: 1 for a in accounts}
    keys = [r.value[2] for r in results if r.value]
    assert keys[0] == keys[1] and keys[2] == keys[3] and len(set(keys)) == 3
    sent = next(r for r in fake.requests if r["Action"] == "AssumeRoot")
    assert sent["TaskPolicyArn"] == {"arn": f"arn:aws:iam::aws:policy/root-task/{AUDIT}"}
    assert sent["DurationSeconds"] == "900"  # assume_root's default
    assert results[0].to_dict()["account"] == ACCOUNT


def test_each_entry_fails_on_its_own_with_the_hint(fake: StsFake) -> None:
    results = fan_out(
        [ACCOUNT, THIRD_ACCOUNT, "12345", ROLE, OTHER_ACCOUNT], _who, task_policy=AUDIT,
        sts_endpoint_url=fake.url, duration=300,
    )  # fmt: skip
    ok, refused, short, arn, other = results
    assert ok.ok and other.ok
    assert isinstance(refused.error, AssumeRoleError) and refused.error.code == "AccessDenied"
    assert "centralized root access" in str(refused.error) and THIRD_ACCOUNT in str(refused.error)
    assert refused.role_arn == f"arn:aws:iam::{THIRD_ACCOUNT}:root" and refused.account == THIRD_ACCOUNT
    assert isinstance(short.error, InvalidParameterError) and short.error.parameter == "account"
    assert short.role_arn == "12345" and short.account is None
    assert isinstance(arn.error, InvalidParameterError) and arn.error.parameter == "account"
    assert "AssumeRoot" in str(arn.error)
    assert _targets(fake) == {ACCOUNT: 1, THIRD_ACCOUNT: 1, OTHER_ACCOUNT: 1}
    assert {r["DurationSeconds"] for r in fake.requests if r["Action"] == "AssumeRoot"} == {"300"}


def test_a_management_source_signs_every_assume_root(fake: StsFake) -> None:
    management = rolesession.assume_role(ROLE, sts_endpoint_url=fake.url)
    results = fan_out(
        [ACCOUNT, OTHER_ACCOUNT], _who, task_policy="arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy",
        source=management, sts_endpoint_url=fake.url, cache=None,
    )  # fmt: skip
    assert all(r.ok for r in results)
    assert fake.calls["AssumeRole"] == 1  # the source's, once for both accounts
    assert _targets(fake) == {ACCOUNT: 1, OTHER_ACCOUNT: 1}


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"task_policy": "IAMDoAnything"}, "task_policy"),
        ({"task_policy": AUDIT, "role_name": "Auditor"}, "role_name"),
        ({"task_policy": AUDIT, "session_name": "audit"}, "session_name"),
        ({"task_policy": AUDIT, "policy": {"Statement": []}}, "policy"),
        ({"task_policy": AUDIT, "external_id": "x" * 10}, "external_id"),
        ({"task_policy": AUDIT, "duration": 901}, "duration"),
        ({"task_policy": AUDIT, "region": "nowhere"}, "region"),
        ({"task_policy": AUDIT, "sts_endpoint_url": "https://sts.amazonaws.com"}, "sts_endpoint_url"),
        ({"task_policy": AUDIT, "regions": ["eu-west-1", "eu-west-1"]}, "regions"),
        ({"task_policy": AUDIT, "sts_config": "fast"}, "sts_config"),
    ],
)
def test_bad_input_is_refused_before_any_call(
    fake: StsFake, kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        fan_out([ACCOUNT, OTHER_ACCOUNT], _who, **kwargs)
    assert caught.value.parameter == parameter
    assert fake.calls["AssumeRoot"] == 0


def test_a_configured_global_endpoint_is_refused_before_any_call(
    fake: StsFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "https://sts.amazonaws.com")
    with pytest.raises(InvalidParameterError) as caught:
        fan_out([ACCOUNT], _who, task_policy=AUDIT)
    assert caught.value.parameter == "sts_endpoint_url"
    assert "AWS_ENDPOINT_URL_STS" in str(caught.value)
    # An explicit regional URL wins over the configured one.
    assert fan_out([ACCOUNT], _who, task_policy=AUDIT, sts_endpoint_url=fake.url)[0].ok


def test_a_process_pool_runs_root_entries_as_plain_data(fake: StsFake) -> None:
    with ProcessPoolExecutor(2) as pool:
        results = fan_out(
            [*ORG, THIRD_ACCOUNT], _who, task_policy=AUDIT, regions=REGIONS, executor=pool,
            sts_endpoint_url=fake.url, cache=None,
        )  # fmt: skip
    assert [(r.account, r.region, r.ok) for r in results] == [
        (a, g, a != THIRD_ACCOUNT) for a in (ACCOUNT, OTHER_ACCOUNT, THIRD_ACCOUNT) for g in REGIONS
    ]
    assert results[0].account_name == "audit" and results[2].ou_path == ("Root", "Prod", "EU")
    assert "centralized root access" in str(results[-1].error)
    assert _targets(fake) == {ACCOUNT: 1, OTHER_ACCOUNT: 1, THIRD_ACCOUNT: 1}


def test_an_account_given_twice_shares_one_root_session(fake: StsFake) -> None:
    results = fan_out(
        [OTHER_ACCOUNT, int(OTHER_ACCOUNT), Account(OTHER_ACCOUNT, "web")], _who, task_policy=AUDIT,
        sts_endpoint_url=fake.url, cache=None,
    )  # fmt: skip
    assert [r.role_arn for r in results] == [f"arn:aws:iam::{OTHER_ACCOUNT}:root"] * 3
    assert len({r.value for r in results}) == 1
    assert _targets(fake) == {OTHER_ACCOUNT: 1}
