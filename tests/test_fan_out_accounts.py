"""fan_out() over account ids, Accounts and regions: one AssumeRole per account whatever the regions."""

from __future__ import annotations

import functools
import io
import json
import os
import sys
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import boto3
import pytest

from helpers import ACCOUNT, OTHER_ACCOUNT
from rolesession import Account, InvalidParameterError, RoleSession, fan_out
from rolesession.testing import StsRecorder

REGIONS = ["eu-west-1", "us-east-2", "ap-southeast-2"]


def _where(session: RoleSession) -> tuple[str, str | None, str]:
    client = session.client("sts")
    return client.get_caller_identity()["Account"], session.region_name, client.meta.region_name


def _assumed(sts_calls: StsRecorder) -> Counter[str]:
    return Counter(call.params["RoleArn"] for call in sts_calls.calls if call.operation == "AssumeRole")


@pytest.mark.parametrize("cache", ["default", None])
def test_one_assume_role_per_account_whatever_the_number_of_regions(
    sts_mock: None, sts_calls: StsRecorder, cache: Any
) -> None:
    kwargs: dict[str, Any] = {} if cache == "default" else {"cache": None}
    results = fan_out([ACCOUNT, OTHER_ACCOUNT], _where, role_name="Auditor", regions=REGIONS, **kwargs)
    assert [(r.account, r.region) for r in results] == [
        (a, g) for a in (ACCOUNT, OTHER_ACCOUNT) for g in REGIONS
    ]
    assert [r.value for r in results] == [(a, g, g) for a in (ACCOUNT, OTHER_ACCOUNT) for g in REGIONS]
    assert _assumed(sts_calls) == {
        f"arn:aws:iam::{ACCOUNT}:role/Auditor": 1,
        f"arn:aws:iam::{OTHER_ACCOUNT}:role/Auditor": 1,
    }


def test_a_region_view_signs_with_the_accounts_one_refreshing_credentials(sts_mock: None) -> None:
    seen: list[Any] = []

    def keep(session: RoleSession) -> str:
        seen.append(session)
        return str(session.client("s3").meta.region_name)

    results = fan_out([ACCOUNT], keep, role_name="Auditor", regions=["eu-west-1", "us-west-2"])
    assert [r.value for r in results] == ["eu-west-1", "us-west-2"]
    assert {s.region_name for s in seen} == {"eu-west-1", "us-west-2"}
    assert seen[0].get_credentials() is seen[1].get_credentials()  # one engine, one refresh for both
    assert seen[0].role_arn == seen[1].role_arn == f"arn:aws:iam::{ACCOUNT}:role/Auditor"


def test_accounts_carry_their_name_and_ou_path_into_results_and_reports(sts_mock: None) -> None:
    accounts = [
        Account(ACCOUNT, "audit", "a@example.com", "ACTIVE", ("Root", "Security")),
        Account(OTHER_ACCOUNT, "web", "w@example.com", "ACTIVE", ("Root", "Prod", "EU")),
    ]
    results = fan_out(accounts, _where, role_name="ops/Auditor", regions=["eu-west-1"])
    assert [r.role_arn for r in results] == [
        f"arn:aws:iam::{ACCOUNT}:role/ops/Auditor",
        f"arn:aws:iam::{OTHER_ACCOUNT}:role/ops/Auditor",
    ]
    record = json.loads(results[1].to_json())
    assert {k: record[k] for k in ("account", "account_name", "ou_path", "region", "ok")} == {
        "account": OTHER_ACCOUNT,
        "account_name": "web",
        "ou_path": ["Root", "Prod", "EU"],
        "region": "eu-west-1",
        "ok": True,
    }
    assert results[0].to_dict()["account_name"] == "audit"


def test_partition_follows_the_source(sts_mock: None) -> None:
    source = boto3.Session(region_name="cn-north-1")
    results = fan_out([ACCOUNT], lambda s: None, role_name="Auditor", source=source)
    assert results[0].role_arn == f"arn:aws-cn:iam::{ACCOUNT}:role/Auditor"


@pytest.mark.parametrize(
    ("targets", "kwargs", "parameter"),
    [
        ([ACCOUNT], {}, "role_name"),
        ([Account(ACCOUNT, "a")], {}, "role_name"),
        ([ACCOUNT], {"role_name": "bad name!"}, "role_name"),
        ([ACCOUNT], {"role_name": "R", "regions": "eu-west-1"}, "regions"),
        ([ACCOUNT], {"role_name": "R", "regions": []}, "regions"),
        ([ACCOUNT], {"role_name": "R", "regions": ["eu west"]}, "regions"),
        ([ACCOUNT], {"role_name": "R", "regions": ["eu-west-1", "eu-west-1"]}, "regions"),
        (Account(ACCOUNT, "a"), {"role_name": "R"}, "targets"),
    ],
)
def test_invalid_targets_role_name_and_regions_raise_before_any_work(
    sts_calls: StsRecorder, targets: Any, kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        fan_out(targets, lambda s: None, **kwargs)
    assert info.value.parameter == parameter
    assert sts_calls.calls == []


def _over_http(endpoint: str, session: RoleSession) -> tuple[str, str | None, int]:
    client = session.client("sts", endpoint_url=endpoint)
    return client.get_caller_identity()["Account"], session.region_name, os.getpid()


def test_process_pool_runs_accounts_and_regions_as_plain_data(moto_server: str) -> None:
    accounts = [
        Account(ACCOUNT, "audit", ou_path=("Root",)),
        Account(OTHER_ACCOUNT, "web", ou_path=("Root", "P")),
    ]
    with ProcessPoolExecutor(2) as pool:
        results = fan_out(
            accounts,
            functools.partial(_over_http, moto_server),
            role_name="Auditor",
            regions=["eu-west-1", "us-east-2"],
            executor=pool,
            sts_endpoint_url=moto_server,
            region="us-east-1",
        )
    assert [(r.account_name, r.region, r.ou_path) for r in results] == [
        ("audit", "eu-west-1", ("Root",)),
        ("audit", "us-east-2", ("Root",)),
        ("web", "eu-west-1", ("Root", "P")),
        ("web", "us-east-2", ("Root", "P")),
    ]
    assert [r.value[:2] if r.value else r.error for r in results] == [
        (ACCOUNT, "eu-west-1"),
        (ACCOUNT, "us-east-2"),
        (OTHER_ACCOUNT, "eu-west-1"),
        (OTHER_ACCOUNT, "us-east-2"),
    ]
    assert all(r.value[2] != os.getpid() for r in results if r.value)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_richs_bar_with_done_failed_and_rate(
    sts_mock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("rich")
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    fan_out([ACCOUNT, OTHER_ACCOUNT, "bad"], _where, role_name="Auditor", progress=True)
    drawn = terminal.getvalue()
    assert "3/3" in drawn and "1 failed" in drawn and "/s" in drawn
    assert "\x1b[" in drawn  # drawn by rich, in place, not the plain line


def test_in_region_is_a_view_on_the_same_credentials(sts_mock: None, sts_calls: StsRecorder) -> None:
    import pickle

    import rolesession

    role = f"arn:aws:iam::{ACCOUNT}:role/Auditor"
    session = rolesession.assume_role(role, region="us-east-1")
    west = session.in_region("us-west-2")
    assert west.region_name == "us-west-2" and session.region_name == "us-east-1"
    assert west.get_credentials() is session.get_credentials()
    assert west.client("sts").get_caller_identity()["Account"] == ACCOUNT
    session.client("sts").get_caller_identity()
    assert _assumed(sts_calls) == {role: 1}
    assert session.in_region("us-east-1") is session
    # It travels as what it is: the role in that region (never silently the first region).
    assert pickle.loads(pickle.dumps(west)).region_name == "us-west-2"
    with pytest.raises(InvalidParameterError) as caught:
        session.in_region("not a region")
    assert caught.value.parameter == "region"
