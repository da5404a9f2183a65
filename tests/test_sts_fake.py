"""The loopback STS fake (tests/sts_fake.py) itself: what the issue-20 tests rely on."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from sts_fake import StsFake

ROOT_TASK = "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials"


@pytest.fixture
def fake() -> Iterator[StsFake]:
    with StsFake() as server:
        yield server


def role_client(fake: StsFake, **config: object) -> object:
    sts = fake.client()
    creds = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/R", RoleSessionName="ss")["Credentials"]
    return fake.client(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        config=Config(**config),  # type: ignore[arg-type]
    )


def test_assume_root_needs_centralized_root_access(fake: StsFake) -> None:
    client = fake.client()
    with pytest.raises(ClientError) as raised:
        client.assume_root(TargetPrincipal="210987654321", TaskPolicyArn={"arn": ROOT_TASK})
    assert raised.value.response["Error"]["Code"] == "AccessDenied"
    fake.root_access = True
    answer = client.assume_root(
        TargetPrincipal="210987654321", TaskPolicyArn={"arn": ROOT_TASK}, DurationSeconds=900
    )
    assert answer["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert fake.calls["AssumeRoot"] == 2


def test_model_limits_are_enforced_server_side(fake: StsFake) -> None:
    fake.root_access = True
    client = fake.client(config=Config(parameter_validation=False))
    with pytest.raises(ClientError) as raised:
        client.assume_root(
            TargetPrincipal="210987654321", TaskPolicyArn={"arn": ROOT_TASK}, DurationSeconds=901
        )
    assert raised.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(ClientError) as raised:
        client.assume_root(TaskPolicyArn={"arn": ROOT_TASK})
    assert "TargetPrincipal is required" in raised.value.response["Error"]["Message"]


def test_scoped_credentials_keep_the_callers_identity(fake: StsFake) -> None:
    client = role_client(fake)
    answer = client.get_scoped_credentials(DurationSeconds=600, ScopedSessionDescription="narrow")  # type: ignore[attr-defined]
    assert answer["SessionInfo"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/R/ss"
    user = fake.client()  # long-term keys: refused
    with pytest.raises(ClientError) as raised:
        user.get_scoped_credentials(DurationSeconds=600)
    assert raised.value.response["Error"]["Code"] == "InvalidSubjectCredentials"


def test_jwks_verifies_tokens(fake: StsFake) -> None:
    fake.outbound_federation = True
    token = role_client(fake).get_web_identity_token(Audience=["a"], SigningAlgorithm="ES384")[
        "WebIdentityToken"
    ]  # type: ignore[attr-defined]
    with urllib.request.urlopen(fake.jwks_url, timeout=10) as response:
        kids = {key["kid"] for key in json.load(response)["keys"]}
    header = json.loads(__import__("sts_fake").b64url_decode(token.split(".")[0]))
    assert header["kid"] in kids
    assert fake.keys.verify(token)["sub"] == "arn:aws:sts::123456789012:assumed-role/R/ss"


def test_requests_the_fake_parses_are_valid_for_the_model() -> None:
    """The shapes the fake answers are the model's own (Stubber validates both ways)."""
    import boto3

    client = boto3.client("sts", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "assume_root",
            {
                "Credentials": {
                    "AccessKeyId": "ASIAXXXXXXXXXXXXXXXX",
                    "SecretAccessKey": "s",
                    "SessionToken": "t",
                    "Expiration": __import__("datetime").datetime(2030, 1, 1),
                }
            },
            {"TargetPrincipal": "210987654321", "TaskPolicyArn": {"arn": ROOT_TASK}},
        )
        client.assume_root(TargetPrincipal="210987654321", TaskPolicyArn={"arn": ROOT_TASK})
