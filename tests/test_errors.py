"""Failures from AWS become the library's own errors, with the role, the code and a hint;
what botocore retries and what it does not.
"""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
from typing import Any

import boto3
import botocore.retries.standard
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError
from botocore.parsers import ResponseParserError

import rolesession
from helpers import ROLE, ROLE_B, LocalSts
from rolesession import (
    AssumeRoleError,
    CredentialRefreshError,
    InvalidParameterError,
    RoleSessionError,
    SourceCredentialsError,
    TokenError,
)
from rolesession.testing import StsRecorder, sts_clients


def _read(session):
    return session.get_credentials().get_frozen_credentials()


def test_access_denied_names_role_code_and_hint(sts_mock, sts_calls):
    sts_calls.refuse("AccessDenied", "User: x is not authorized to perform: sts:AssumeRole")
    with pytest.raises(AssumeRoleError) as info:
        _read(rolesession.assume_role(ROLE))
    err = info.value
    assert err.role_arn == ROLE and err.code == "AccessDenied"
    assert ROLE in str(err) and "AccessDenied" in str(err)
    assert "trust policy" in str(err) and "external" in str(err).lower() and "SCP" in str(err)
    assert isinstance(err.__cause__, ClientError)
    assert isinstance(err, CredentialRefreshError) and isinstance(err, RoleSessionError)


def test_region_disabled_hint(sts_mock, sts_calls):
    sts_calls.refuse("RegionDisabledException", "STS is not activated in this region")
    with pytest.raises(AssumeRoleError) as info:
        _read(rolesession.assume_role(ROLE, region="ap-east-1"))
    assert info.value.code == "RegionDisabledException"
    assert "activate" in str(info.value) and "region" in str(info.value)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_):
        yield self._body


def test_a_refusal_parsed_by_botocore_keeps_its_code(sts_mock):
    """The real botocore path: an HTTP 403 error document, parsed and retried by botocore."""


    session = rolesession.assume_role(ROLE, cache=None)
    _read(session)  # make the shared client exist
    [client] = sts_clients()
    sent = []

    def refuse(request, **kwargs):
        sent.append(request)
        body = (
            b"<ErrorResponse><Error><Type>Sender</Type><Code>RegionDisabledException</Code>"
            b"<Message>STS is not activated in this region</Message></Error>"
            b"<RequestId>1</RequestId></ErrorResponse>"
        )
        return AWSResponse(request.url, 403, {}, _Raw(body))

    client.meta.events.register_first("before-send.sts.AssumeRole", refuse)
    try:
        with pytest.raises(AssumeRoleError) as info:
            session.refresh()
    finally:
        client.meta.events.unregister("before-send.sts.AssumeRole", refuse)
    assert info.value.code == "RegionDisabledException"
    assert "activate" in str(info.value)
    assert len(sent) == 1  # a refusal is not retried


def test_unreachable_sts_is_an_assume_role_error_named_after_the_botocore_class():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave the block
    session = rolesession.assume_role(
        ROLE,
        sts_endpoint_url=f"http://127.0.0.1:{port}",
        sts_config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        cache=None,
    )
    with pytest.raises(AssumeRoleError) as info:
        _read(session)
    assert info.value.code == "EndpointConnectionError"
    assert "could not be reached" in str(info.value)


def test_no_source_credentials(sts_mock, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(SourceCredentialsError) as info:
        _read(rolesession.assume_role(ROLE))
    assert info.value.role_arn == ROLE and "source" in str(info.value)
    # an explicit source without credentials too (moto's own env vars removed)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(SourceCredentialsError):
        _read(rolesession.assume_role(ROLE, source=boto3.Session(), cache=None))


def test_no_source_credentials_names_the_profile_and_where_botocore_looked(sts_mock, monkeypatch, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[profile dev]\nregion = eu-west-1\n")
    credentials.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_PROFILE", "dev")
    with pytest.raises(SourceCredentialsError) as info:
        _read(rolesession.assume_role(ROLE, cache=None))
    message = str(info.value)
    assert "profile 'dev'" in message
    assert str(config) in message and str(credentials) in message
    assert "env" in message and "shared-credentials-file" in message and "iam-role" in message


def test_a_hop_whose_parent_fails_raises_the_parents_error(sts_mock, sts_calls):
    parent = rolesession.assume_role(ROLE)
    hop = parent.assume_role(ROLE_B)
    sts_calls.refuse("AccessDenied")
    with pytest.raises(AssumeRoleError) as info:
        _read(hop)
    assert info.value.role_arn == ROLE  # the parent's role, not the hop's
    assert sts_calls.count() == 1


def test_an_answer_without_credentials_is_never_a_bare_key_error(sts_mock, sts_calls):
    sts_calls.edit_answer = lambda answer: answer.pop("Credentials")
    with pytest.raises(AssumeRoleError) as info:
        _read(rolesession.assume_role(ROLE, cache=None))
    assert info.value.code == "InvalidResponse"


@pytest.mark.parametrize(
    "error",
    [
        RoleSessionError("base"),
        InvalidParameterError("duration: bad", parameter="duration"),
        CredentialRefreshError("no creds", role_arn=ROLE),
        AssumeRoleError("denied", role_arn=ROLE, code="AccessDenied"),
        TokenError("spent", role_arn=ROLE),
        SourceCredentialsError("none", role_arn=ROLE),
    ],
)
def test_errors_are_picklable_with_their_attributes(error):
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error) and str(clone) == str(error)
    for attr in ("parameter", "role_arn", "code"):
        assert getattr(clone, attr, None) == getattr(error, attr, None)


def test_invalid_parameter_error_is_a_value_error():
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, RoleSessionError)
    for cls in (AssumeRoleError, TokenError, SourceCredentialsError):
        assert issubclass(cls, CredentialRefreshError)


def test_parameters_botocore_rejects_are_not_reported_as_unreachable(sts_mock, sts_calls):
    sts_calls.fail_with(ParamValidationError(report="Invalid length for parameter RoleSessionName"))
    with pytest.raises(AssumeRoleError) as info:
        _read(rolesession.assume_role(ROLE, cache=None))
    assert info.value.code == "ParamValidationError"
    assert "could not be reached" not in str(info.value)


def test_a_missing_profile_is_a_source_error_on_use_not_a_crash_on_creation(tmp_path):
    # In a fresh process: nothing (a shared loader, a default source) was made before.
    script = (
        "import rolesession\n"
        f"session = rolesession.assume_role({ROLE!r}, cache=None)\n"
        "assert session.region_name == 'us-east-1', session.region_name\n"
        "try:\n"
        "    session.get_credentials().get_frozen_credentials()\n"
        "except rolesession.SourceCredentialsError as exc:\n"
        "    assert 'ProfileNotFound' in str(exc), exc\n"
        "    print('source error')\n"
    )
    env = {**os.environ, "AWS_PROFILE": "no-such-profile", "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "source error"


def read(session: boto3.Session) -> Any:
    return session.get_credentials().get_frozen_credentials()


@pytest.fixture
def instant_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard retries, without their sleep."""
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


# -- retries over HTTP -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        (400, "Throttling"),
        (400, "ThrottlingException"),
        (503, "ServiceUnavailable"),
        (500, "InternalFailure"),
        "drop",
    ],
    ids=["throttling", "throttling-exception", "503", "500", "dropped-connection"],
)
def test_throttling_and_transport_faults_are_retried_by_botocore(
    instant_backoff: None, sts_calls: StsRecorder, fault: Any
) -> None:
    with LocalSts() as local:
        local.faults = [fault]
        session = rolesession.assume_role(ROLE, sts_endpoint_url=local.url, cache=None)
        assert read(session).access_key.startswith("ASIALOCAL")
        assert len(local.requests) == 2
        assert local.requests[0] == local.requests[1]  # botocore resent the same request
    assert sts_calls.count() == 1  # one library call; the retry was botocore's


def test_persistent_throttling_gives_up_after_three_attempts(instant_backoff: None) -> None:
    with LocalSts() as local:
        local.faults = [(400, "Throttling")] * 5
        session = rolesession.assume_role(ROLE, sts_endpoint_url=local.url, cache=None)
        with pytest.raises(rolesession.AssumeRoleError) as info:
            read(session)
        assert len(local.requests) == 3
    assert info.value.code == "Throttling" and info.value.role_arn == ROLE


def test_a_refusal_is_not_retried_over_http(instant_backoff: None) -> None:
    with LocalSts() as local:
        local.faults = [(403, "AccessDenied")]
        session = rolesession.assume_role(
            ROLE, sts_endpoint_url=local.url, cache=None, sts_config=Config(connect_timeout=2)
        )
        with pytest.raises(rolesession.AssumeRoleError) as info:
            read(session)
        assert len(local.requests) == 1
    assert info.value.code == "AccessDenied" and "trust policy" in str(info.value)


# -- answers that are not STS's --------------------------------------------------------------------


def test_an_answer_that_is_not_stss_xml_is_an_assume_role_error(sts_mock, sts_calls):
    sts_calls.fail_with(ResponseParserError("Unable to parse response (not XML), invalid XML received"))
    with pytest.raises(AssumeRoleError) as info:
        rolesession.assume_role(ROLE, cache=None).identity()
    assert info.value.code == "ResponseParserError"
    assert "could not be parsed" in str(info.value) and ROLE in str(info.value)
