"""assume_role(), RoleSession and chain(): the AssumeRole half of the public API."""

from __future__ import annotations

import datetime as dt
import socket

import boto3
import botocore.credentials
import pytest

import rolesession
from helpers import ACCOUNT, OTHER_ACCOUNT, ROLE, ROLE_B, ROLE_C, THIRD_ACCOUNT
from rolesession import InvalidParameterError, RoleSession
from rolesession.testing import sts_clients


def _arn(session):
    return session.client("sts").get_caller_identity()["Arn"]


def test_returns_a_real_boto3_session(sts_mock):
    session = rolesession.assume_role(ROLE)
    assert isinstance(session, boto3.Session) and isinstance(session, RoleSession)
    assert session.role_arn == ROLE and session.parent is None
    assert _arn(session).startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/")
    assert session.resource("s3").meta.client.meta.region_name == "us-east-1"


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


def test_warm_reassume_returns_the_same_session_while_cached(sts_mock, sts_calls):
    source = boto3.Session()
    first = rolesession.assume_role(ROLE, source=source, duration=1800)
    first.get_credentials().get_frozen_credentials()
    assert rolesession.assume_role(ROLE, source=source, duration=1800) is first
    assert rolesession.assume_role(ROLE, source=source, duration=dt.timedelta(minutes=30)) is first
    assert rolesession.assume_role(ROLE, source=source, duration=900) is not first
    assert rolesession.assume_role(ROLE, source=boto3.Session(), duration=1800) is not first
    assert rolesession.assume_role(ROLE, source=source, duration=1800, cache=None) is not first
    rolesession.default_cache().clear()  # no longer cached: a new session
    assert rolesession.assume_role(ROLE, source=source, duration=1800) is not first
    assert sts_calls.count() == 1


def test_callable_parameters_compare_by_identity(sts_mock):
    def code():
        return "123456"

    kwargs = {"mfa_serial": "arn:aws:iam::123456789012:mfa/alice"}
    first = rolesession.assume_role(ROLE, mfa_token=code, **kwargs)
    first.get_credentials().get_frozen_credentials()
    assert rolesession.assume_role(ROLE, mfa_token=code, **kwargs) is first
    assert rolesession.assume_role(ROLE, mfa_token=lambda: "123456", **kwargs) is not first


def test_environ_and_credential_process(sts_mock):
    session = rolesession.assume_role(ROLE, region="eu-central-1")
    env = session.environ()
    frozen = session.get_credentials().get_frozen_credentials()
    assert env["AWS_ACCESS_KEY_ID"] == frozen.access_key
    assert env["AWS_SECRET_ACCESS_KEY"] == frozen.secret_key
    assert env["AWS_SESSION_TOKEN"] == frozen.token
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-central-1"
    expiry = dt.datetime.fromisoformat(env["AWS_CREDENTIAL_EXPIRATION"].replace("Z", "+00:00"))
    assert abs((expiry - session.expiration).total_seconds()) < 1
    doc = session.credential_process()
    assert doc["Version"] == 1
    assert (doc["AccessKeyId"], doc["SecretAccessKey"], doc["SessionToken"]) == tuple(frozen[:3])
    assert doc["Expiration"] == env["AWS_CREDENTIAL_EXPIRATION"]


def test_identity_and_expiration_fetch_lazily(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE, duration=900)
    identity = session.identity()
    assert sts_calls.count() == 1
    assert identity["Account"] == ACCOUNT
    assert identity["Arn"] == _arn(session)
    assert identity["UserId"].endswith(":" + identity["Arn"].rsplit("/", 1)[1])
    assert session.expiration.tzinfo is not None
    left = (session.expiration - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert 850 < left <= 900
    assert sts_calls.count() == 1


def test_botocore_compatible_credentials(sts_mock):
    session = rolesession.assume_role(ROLE)
    creds = session.get_credentials()
    assert isinstance(creds, botocore.credentials.Credentials)
    frozen = creds.get_frozen_credentials()
    assert isinstance(frozen, botocore.credentials.ReadOnlyCredentials)
    assert frozen.account_id == ACCOUNT
    assert creds.get_deferred_property("account_id")() == ACCOUNT
    assert (creds.access_key, creds.secret_key, creds.token) == tuple(frozen[:3])
    # what every client signs with: the role's credentials, not the source's
    assert "assumed-role/Reader" in session.client("sts").get_caller_identity()["Arn"]


def test_region_defaults(sts_mock, monkeypatch, sts_calls):
    assert rolesession.assume_role(ROLE).region_name == "us-east-1"  # AWS_DEFAULT_REGION
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    assert rolesession.assume_role(ROLE).region_name == "ap-southeast-2"
    assert rolesession.assume_role(ROLE, source=boto3.Session(region_name="sa-east-1")).region_name == (
        "sa-east-1"
    )
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert rolesession.assume_role(ROLE).region_name == "us-east-1"
    china = rolesession.assume_role("arn:aws-cn:iam::123456789012:role/R")
    gov = rolesession.assume_role("arn:aws-us-gov:iam::123456789012:role/R")
    assert (china.region_name, gov.region_name) == ("cn-north-1", "us-gov-west-1")


def test_sts_is_called_on_the_regional_endpoint_with_standard_retries(sts_mock, monkeypatch):

    monkeypatch.setenv("AWS_STS_REGIONAL_ENDPOINTS", "legacy")
    session = rolesession.assume_role(ROLE, region="us-east-1")
    session.get_credentials().get_frozen_credentials()
    [client] = sts_clients()
    assert client.meta.endpoint_url == "https://sts.us-east-1.amazonaws.com"
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.config.retries["total_max_attempts"] == 3
    assert client.meta.config.connect_timeout <= 5 and client.meta.config.read_timeout <= 10


def test_sts_config_is_merged_over_the_defaults(sts_mock):
    from botocore.config import Config


    session = rolesession.assume_role(
        ROLE, region="eu-west-1", sts_config=Config(read_timeout=2, proxies={"https": "http://p:1"})
    )
    session.get_credentials().get_frozen_credentials()
    [client] = sts_clients()
    assert client.meta.config.read_timeout == 2
    assert client.meta.config.proxies == {"https": "http://p:1"}
    assert client.meta.config.retries["mode"] == "standard"
    assert client.meta.endpoint_url == "https://sts.eu-west-1.amazonaws.com"


def test_sts_endpoint_url_is_used(moto_server):
    session = rolesession.assume_role(ROLE, sts_endpoint_url=moto_server)
    assert session.identity()["Account"] == ACCOUNT


def test_default_session_name(monkeypatch, sts_mock, sts_calls):
    def default_session_name():
        return rolesession.assume_role(ROLE, cache=None).describe()["session_name"]

    rolesession.assume_role(ROLE, cache=None).identity()
    expected = default_session_name()
    assert sts_calls.params()["RoleSessionName"] == expected
    assert expected.split("@")[1].startswith(socket.gethostname()[:10].replace("_", "_"))
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "my-func")
    assert default_session_name() == "my-func"
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "from env!")
    assert default_session_name() == "from-env-"
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "x" * 100)
    assert default_session_name() == "x" * 64
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "é")
    assert default_session_name() == "--"
    assert default_session_name() == default_session_name()


def test_session_repr_has_no_secrets(sts_mock):
    session = rolesession.assume_role(ROLE, mfa_serial="arn:aws:iam::123456789012:mfa/al", mfa_token="654321")
    frozen = session.get_credentials().get_frozen_credentials()
    for text in (repr(session), str(session), repr(session.get_credentials())):
        assert frozen.secret_key not in text and frozen.token not in text and "654321" not in text
    assert ROLE in repr(session)
