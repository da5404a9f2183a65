"""The scripts in examples/ run as a user runs them, offline, and do what their docstrings say.

Each script runs in a child process, unchanged, with ``AWS_ENDPOINT_URL``
pointing every AWS client it makes (STS, IAM, S3) at a real moto server on
loopback -- through a `FaultProxy`, which counts the requests, tells who
signed each one, and makes STS refuse a chosen role with ``AccessDenied``.
moto runs in this process, so the tests also read what STS was asked (the
session policy an AssumeRole carried) from its state.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.sts.models import sts_backends

import rolesession
from helpers import ACCOUNT, OTHER_ACCOUNT, SOURCE_KEY, THIRD_ACCOUNT
from reliability.faultproxy import FaultProxy

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
#: Every script in examples/ and the test that runs it.
SCRIPTS = {
    "lambda_chain.py": "test_lambda_chain_makes_sts_calls_on_the_first_invocation_only",
    "cross_account_audit.py": "test_cross_account_audit_reports_every_account_and_survives_access_denied",
    "tenant_scoped.py": "test_tenant_scoped_sessions_carry_the_tenant_prefix_policy_and_stay_warm",
}
HUB = "arn:aws:iam::111111111111:role/Hub"
REPORTING = f"arn:aws:iam::{OTHER_ACCOUNT}:role/Reporting"


@pytest.fixture
def aws(moto_server: str) -> Iterator[FaultProxy]:
    """The local AWS the examples talk to: the moto server behind a fresh proxy."""
    with FaultProxy(moto_server) as proxy:
        yield proxy


def run_example(
    script: str, *args: str, endpoint: str, home: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,  # the test's clean AWS environment: fake source keys, no config files
        "AWS_ENDPOINT_URL": endpoint,
        "HOME": str(home),
        # The rolesession under test, wherever this test imported it from.
        "PYTHONPATH": str(Path(rolesession.__file__).resolve().parents[1]),
    }
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=home,
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def assumed_role_by_key(account: str, access_key: str) -> Any:
    """moto's record of the AssumeRole that issued ``access_key``."""
    for role in sts_backends[account]["aws"].assumed_roles:
        if role.access_key_id == access_key:
            return role
    raise AssertionError(f"no AssumeRole in {account} issued {access_key}")


# -- every example ------------------------------------------------------------------


def test_every_example_says_what_it_shows_and_is_run_here() -> None:
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert scripts == sorted(SCRIPTS)
    for name, test in SCRIPTS.items():
        docstring = ast.get_docstring(ast.parse((EXAMPLES / name).read_text(encoding="utf-8")))
        assert docstring and "What it shows:" in docstring, name
        assert callable(globals()[test]), test


# -- lambda_chain.py ----------------------------------------------------------------


def test_lambda_chain_makes_sts_calls_on_the_first_invocation_only(aws: FaultProxy, tmp_path: Path) -> None:
    done = run_example("lambda_chain.py", "--invocations", "50", endpoint=aws.url, home=tmp_path)

    invocations = json_lines(done.stdout)
    assert [i["invocation"] for i in invocations] == list(range(1, 51))
    assert [i["sts_calls"] for i in invocations] == [2] + [0] * 49
    assert {i["account"] for i in invocations} == {OTHER_ACCOUNT}
    target_arn = f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Reporting/"
    assert all(i["arn"].startswith(target_arn) for i in invocations)
    assert done.stdout.splitlines()[-1] == "2 STS calls in 50 invocations"
    # What STS saw: the hub assumed with the source ("execution role") keys,
    # the target with the hub's -- and nothing else in 50 invocations.
    hub_call, target_call = (r for r in aws.records if r.service == "sts")
    assert (hub_call.action, hub_call.role, hub_call.access_key) == ("AssumeRole", HUB, SOURCE_KEY)
    assert (target_call.action, target_call.role) == ("AssumeRole", REPORTING)
    assert assumed_role_by_key("111111111111", target_call.access_key).role_arn == HUB


# -- cross_account_audit.py ---------------------------------------------------------


def test_cross_account_audit_reports_every_account_and_survives_access_denied(
    aws: FaultProxy, tmp_path: Path
) -> None:
    denied_account = "222222222222"
    denied_role = rolesession.role_arn(denied_account, "OrganizationAccountAccessRole")
    # An STS error document with code AccessDenied for that role only (this
    # fault quotes any secret the request carried; an AssumeRole carries none).
    aws.echo_secrets(code="AccessDenied", action="AssumeRole", role=denied_role)
    accounts = [OTHER_ACCOUNT, denied_account, THIRD_ACCOUNT]
    report = tmp_path / "report.jsonl"

    done = run_example(
        "cross_account_audit.py", *accounts, "--output", str(report),
        endpoint=aws.url, home=tmp_path, check=False,
    )

    assert done.returncode == 1, done.stderr  # some account failed; the report has them all
    assert done.stderr.strip().splitlines()[-1] == "2 accounts audited, 1 failed"
    lines = json_lines(report.read_text(encoding="utf-8"))
    assert [line["account"] for line in lines] == accounts
    assert [line["ok"] for line in lines] == [True, False, True]
    for line in (lines[0], lines[2]):
        assert line["value"] == {"root_mfa": False, "users": 0}
        assert "error" not in line and line["seconds"] >= 0
    denied = lines[1]
    assert "value" not in denied
    assert denied["error"]["type"] == "AssumeRoleError"
    assert denied["error"]["code"] == "AccessDenied"
    assert denied_role in denied["error"]["message"]
    # Refusals are not retried; the audit ran in the two other accounts only.
    assert aws.count("AssumeRole", role=denied_role) == 1
    assert aws.count("AssumeRole") == 3
    assert aws.count("GetAccountSummary") == 2


def test_cross_account_audit_writes_to_stdout_and_refuses_a_bad_account_id(
    aws: FaultProxy, tmp_path: Path
) -> None:
    done = run_example("cross_account_audit.py", OTHER_ACCOUNT, endpoint=aws.url, home=tmp_path)
    (line,) = json_lines(done.stdout)
    assert (line["account"], line["ok"]) == (OTHER_ACCOUNT, True)

    bad = run_example("cross_account_audit.py", "12345", endpoint=aws.url, home=tmp_path, check=False)
    assert bad.returncode == 2 and "account" in bad.stderr and "Traceback" not in bad.stderr
    assert aws.count("AssumeRole") == 1  # the bad run called nothing


# -- tenant_scoped.py ---------------------------------------------------------------


def tenant_policy(bucket: str, tenant: str) -> dict[str, Any]:
    """What the docstring promises, written out independently of the example's code."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"arn:aws:s3:::{bucket}/{tenant}/*",
            },
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": f"{tenant}/*"}},
            },
        ],
    }


def test_tenant_scoped_sessions_carry_the_tenant_prefix_policy_and_stay_warm(
    aws: FaultProxy, moto_server: str, tmp_path: Path
) -> None:
    bucket = f"customer-data-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=bucket)
    role = f"arn:aws:iam::{ACCOUNT}:role/JobRunner"

    done = run_example(
        "tenant_scoped.py", "--role-arn", role, "--bucket", bucket, "acme", "globex",
        endpoint=aws.url, home=tmp_path,
    )

    lines = json_lines(done.stdout)
    assert [(line["round"], line["tenant"]) for line in lines] == [
        (1, "acme"), (1, "globex"), (2, "acme"), (2, "globex"),
    ]
    for line in lines:
        assert line["wrote"] == f"{line['tenant']}/hello.txt"
        assert line["listed"] == [line["wrote"]]
        # moto does not evaluate session policies; AWS answers "denied".
        assert line["other_tenant"] in ("allowed", "denied")
    assert [line["sts_calls"] for line in lines] == [1, 1, 0, 0]
    assert [line["same_session"] for line in lines] == [False, False, True, True]
    assert done.stdout.splitlines()[-1] == "2 STS calls for 2 tenants in 2 rounds"
    # Two AssumeRole calls of the role itself, from the source credentials (no hop) ...
    assumes = [r for r in aws.records if r.action == "AssumeRole"]
    assert [(r.role, r.access_key) for r in assumes] == [(role, SOURCE_KEY)] * 2
    # ... and each tenant's S3 requests were signed with credentials whose
    # session policy is exactly that tenant's prefix policy.
    s3_keys = {r.access_key for r in aws.records if r.service == "s3"}
    assert len(s3_keys) == 2
    policies = [json.loads(assumed_role_by_key(ACCOUNT, key).policy) for key in s3_keys]
    assert sorted(policies, key=json.dumps) == sorted(
        [tenant_policy(bucket, "acme"), tenant_policy(bucket, "globex")], key=json.dumps
    )
