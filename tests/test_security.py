"""No secret in any repr, log line or exception message, botocore's DEBUG records included."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import rolesession
from helpers import (
    ACCOUNT,
    ROLE,
    ROLE_B,
    to_iso,
)
from rolesession import (
    AssumeRoleError,
)
from tokens import make_jwt, make_saml_response

MFA_CODE = "246813"


def _secrets_of(session):
    frozen = session.get_credentials().get_frozen_credentials()
    return [frozen.secret_key, frozen.token]


def test_botocore_debug_records_carry_no_secret(sts_mock, caplog):
    caplog.set_level(logging.DEBUG)
    session = rolesession.assume_role(
        ROLE, mfa_serial="arn:aws:iam::123456789012:mfa/alice", mfa_token=MFA_CODE
    )
    hop = session.assume_role(ROLE_B)
    hop.client("sts").get_caller_identity()
    secrets = [*_secrets_of(session), *_secrets_of(hop), MFA_CODE]
    botocore_records = [r for r in caplog.records if r.name.startswith("botocore")]
    assert len(botocore_records) > 20  # botocore really logged requests and responses
    texts = [r.getMessage() for r in caplog.records]
    assert any("SecretAccessKey" in t for t in texts)  # the response body was logged ...
    assert any("***" in t for t in texts)  # ... and redacted
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_rolesession_logs_one_info_line_per_sts_call(sts_mock, caplog):
    caplog.set_level(logging.INFO, logger="rolesession")
    session = rolesession.assume_role(ROLE)
    session.identity()
    session.refresh()
    lines = [r for r in caplog.records if r.name == "rolesession" and r.levelno == logging.INFO]
    assert len(lines) == 2
    assert all("AssumeRole" in r.getMessage() and ROLE in r.getMessage() for r in lines)
    assert all(" ms)" in r.getMessage() for r in lines)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{'SecretAccessKey': 'abc/def+1', 'x': 1}", "{'SecretAccessKey': '***', 'x': 1}"),
        (
            '{"SessionToken": "tok==", "AccessKeyId": "ASIA1"}',
            '{"SessionToken": "***", "AccessKeyId": "ASIA1"}',
        ),
        ("headers={'X-Amz-Security-Token': b'FwoG+zz'}", "headers={'X-Amz-Security-Token': b'***'}"),
        ("<SecretAccessKey>s3cr3t</SecretAccessKey>", "<SecretAccessKey>***</SecretAccessKey>"),
        ("<SessionToken>t/o+k=</SessionToken>", "<SessionToken>***</SessionToken>"),
        ("host:sts\nx-amz-security-token:FQoG/abc=\n", "host:sts\nx-amz-security-token:***\n"),
        ("Action=AssumeRoleWithWebIdentity&WebIdentityToken=eyJ.a.b&Version=1",
         "Action=AssumeRoleWithWebIdentity&WebIdentityToken=***&Version=1"),
        (
            "{'SAMLAssertion': 'PHNhbWw+', 'TokenCode': '123456'}",
            "{'SAMLAssertion': '***', 'TokenCode': '***'}",
        ),
        ("nothing secret here: AccessKeyId ASIA", "nothing secret here: AccessKeyId ASIA"),
    ],
)
def test_redact_forms(sts_mock, caplog, text, expected):
    rolesession.assume_role(ROLE).identity()  # botocore logging has started: its loggers are protected
    caplog.set_level(logging.DEBUG, logger="botocore")
    logging.getLogger("botocore.endpoint").debug("%s", text)
    assert [r.getMessage() for r in caplog.records if r.name == "botocore.endpoint"][-1] == expected


def test_records_without_secrets_are_left_as_they_are():
    logger = logging.getLogger("botocore.endpoint")
    record = logger.makeRecord("botocore.endpoint", logging.DEBUG, __file__, 1, "x=%s", ("y",), None)
    for f in logger.filters:
        assert f.filter(record)
    assert (record.msg, record.args) == ("x=%s", ("y",))
    secret = logger.makeRecord(
        "botocore.endpoint", logging.DEBUG, __file__, 1, "body %r", ({"SessionToken": "zz"},), None
    )
    assert logger.filters, "the redacting filter is attached to botocore.endpoint"
    for f in logger.filters:
        f.filter(secret)
    assert "zz" not in secret.getMessage() and "SessionToken" in secret.getMessage()


def test_every_botocore_logger_is_protected(sts_mock):
    rolesession.assume_role(ROLE).identity()
    manager = logging.Logger.manager
    names = [n for n in manager.loggerDict if n.startswith("botocore")]
    assert "botocore.endpoint" in names and "botocore.auth" in names and "botocore.parsers" in names
    for name in names:
        logger = manager.loggerDict[name]
        if isinstance(logger, logging.Logger):
            assert logger.filters, name


def test_reprs_and_errors_hold_no_secret(sts_mock, sts_calls):
    session = rolesession.assume_role(
        ROLE, mfa_serial="arn:aws:iam::123456789012:mfa/alice", mfa_token=lambda: MFA_CODE
    )
    creds = session.get_credentials()
    held = creds.current()
    secrets = [held.secret_key, held.token, MFA_CODE]
    texts = [repr(session), str(session), repr(creds), repr(held), repr(session.describe())]
    sts_calls.refuse("AccessDenied", f"MultiFactorAuthentication failed with invalid code {MFA_CODE}")
    with pytest.raises(rolesession.AssumeRoleError) as info:
        session.refresh()
    texts.append(str(info.value))
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert "***" in str(info.value)


def test_frozen_credentials_are_botocores_type_but_print_no_secret(sts_mock):
    import pickle

    from botocore.credentials import ReadOnlyCredentials

    frozen = rolesession.assume_role(ROLE).get_credentials().get_frozen_credentials()
    assert isinstance(frozen, ReadOnlyCredentials)
    access_key, secret_key, token, account_id = frozen
    assert frozen == ReadOnlyCredentials(access_key, secret_key, token, account_id)
    for text in (repr(frozen), str(frozen), f"{frozen}", repr([frozen])):
        assert secret_key not in text and token not in text
        assert access_key in text
    assert pickle.loads(pickle.dumps(frozen)) == frozen


PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:saml-provider/Corp"


def read(session: boto3.Session) -> Any:
    return session.get_credentials().get_frozen_credentials()


@pytest.fixture
def late_logger() -> Iterator[str]:
    """The name of a botocore logger the test creates late; forgotten afterwards."""
    name = "botocore.rolesession_spec_created_late"
    assert name not in logging.Logger.manager.loggerDict
    yield name
    logging.Logger.manager.loggerDict.pop(name, None)


# -- botocore loggers made later, other loggers, the INFO line -------------------------------------


def test_a_botocore_logger_created_after_import_is_redacted(
    sts_mock: None, log_records: pytest.LogCaptureFixture, late_logger: str
) -> None:
    """SPEC: redaction "in every botocore logger's records" -- including one a botocore module makes
    later: the library covers new loggers at every STS call and every client it makes."""
    session = rolesession.assume_role(ROLE)
    held = read(session)  # the STS client exists before the logger does ...
    logger = logging.getLogger(late_logger)  # (as a lazily imported botocore module would make it)
    read(rolesession.assume_role(ROLE_B))  # ... and is reused after
    logger.debug(
        "Response body: %r", {"Credentials": {"SessionToken": held.token, "SecretAccessKey": held.secret_key}}
    )
    logger.debug("Sending request with headers %s", {"X-Amz-Security-Token": held.token, "Host": "sts"})
    messages = [r.getMessage() for r in log_records.records if r.name == late_logger]
    assert len(messages) == 2
    for message in messages:
        assert held.token not in message and held.secret_key not in message and "***" in message
    assert "'Host': 'sts'" in messages[1]  # and nothing else changed


def test_records_without_secrets_in_a_late_logger_are_untouched(
    log_records: pytest.LogCaptureFixture, late_logger: str
) -> None:
    args = ({"AccessKeyId": "ASIAEXAMPLE"},)
    logging.getLogger(late_logger).debug("params %r", *args)
    [record] = [r for r in log_records.records if r.name == late_logger]
    assert record.msg == "params %r" and record.args == args[0]


def test_other_loggers_are_never_rewritten(log_records: pytest.LogCaptureFixture) -> None:
    """The library redacts botocore's records; an application's own records are its business."""
    logging.getLogger("app.audit").info("rotated %s", "SessionToken=abc")
    [record] = [r for r in log_records.records if r.name == "app.audit"]
    assert record.getMessage() == "rotated SessionToken=abc"


def test_the_info_line_names_role_operation_expiry_and_call_duration(
    sts_mock: None, log_records: pytest.LogCaptureFixture
) -> None:
    session = rolesession.assume_role_with_saml(
        ROLE, PRINCIPAL, assertion=make_saml_response(ROLE, PRINCIPAL)
    )
    session.identity()
    [line] = [
        r.getMessage() for r in log_records.records if r.name == "rolesession" and r.levelno == logging.INFO
    ]
    assert "AssumeRoleWithSAML" in line and ROLE in line
    assert to_iso(session.expiration.timestamp()) in line
    assert re.search(r"\(\d+ ms\)$", line)


# -- secrets echoed by STS, reprs ------------------------------------------------------------------


def test_a_secret_echoed_by_sts_is_scrubbed_from_the_chained_error(sts_mock, sts_calls):
    token = make_jwt()
    sts_calls.fail_with(
        ClientError(
            {"Error": {"Code": "InvalidIdentityToken", "Message": f"token {token} is not valid"}},
            "AssumeRoleWithWebIdentity",
        )
    )
    session = rolesession.assume_role_with_web_identity(ROLE, token=token, cache=None)
    with pytest.raises(AssumeRoleError) as info:
        session.identity()
    printed = "".join(traceback.format_exception(info.value))
    assert "token *** is not valid" in printed
    assert token not in printed and token not in repr(info.value.__cause__.response)
    for part in token.split("."):
        assert part not in printed


def test_session_repr_has_no_secrets(sts_mock):
    session = rolesession.assume_role(ROLE, mfa_serial="arn:aws:iam::123456789012:mfa/al", mfa_token="654321")
    frozen = session.get_credentials().get_frozen_credentials()
    for text in (repr(session), str(session), repr(session.get_credentials())):
        assert frozen.secret_key not in text and frozen.token not in text and "654321" not in text
    assert ROLE in repr(session)
