"""STS error messages that echo a secret never leak it.

The proxy answers every STS call with an error whose ``<Message>`` quotes the
request's ``WebIdentityToken``, ``SAMLAssertion`` or ``TokenCode`` verbatim.
SPEC: no secret in any repr, log line or exception message, at any level,
botocore's DEBUG records included; "STS error messages that echo a secret are
scrubbed in the chained botocore error and in botocore's DEBUG response
bodies too". Every text a user or a log pipeline can see is searched: the
error's ``str``/``repr``, its full formatted traceback (which renders
``__cause__``, the botocore ``ClientError``), the cause's ``response`` dict,
and every log record of every logger at DEBUG (formatted, tracebacks included).
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import rolesession
from helpers import ACCOUNT, ROLE
from tokens import make_jwt, make_saml_response

from .faultproxy import FaultProxy
from .harness import STS_CONFIG, wait_until, warnings_from

PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:saml-provider/Corp"
MFA_SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
MFA_CODE = "731946"
_FORMATTER = logging.Formatter("%(name)s %(levelname)s %(message)s")


@dataclass
class Scenario:
    operation: str
    code: str  # the error code the proxy answers with
    secret: str
    make: Callable[[FaultProxy, str], rolesession.RoleSession]


def _web_identity(proxy: FaultProxy, token: str) -> rolesession.RoleSession:
    return rolesession.assume_role_with_web_identity(
        ROLE, token=token, sts_endpoint_url=proxy.url, sts_config=STS_CONFIG
    )


def _saml(proxy: FaultProxy, assertion: str) -> rolesession.RoleSession:
    return rolesession.assume_role_with_saml(
        ROLE, PRINCIPAL, assertion=assertion, sts_endpoint_url=proxy.url, sts_config=STS_CONFIG
    )


def _mfa(proxy: FaultProxy, code: str) -> rolesession.RoleSession:
    return rolesession.assume_role(
        ROLE, mfa_serial=MFA_SERIAL, mfa_token=code, sts_endpoint_url=proxy.url, sts_config=STS_CONFIG
    )


SCENARIOS = {
    # InvalidIdentityToken is retried by the library with the token read afresh: three echoes.
    "web-identity": lambda: Scenario(
        "AssumeRoleWithWebIdentity", "InvalidIdentityToken", make_jwt(), _web_identity
    ),
    "saml": lambda: Scenario(
        "AssumeRoleWithSAML", "AccessDenied", make_saml_response(ROLE, PRINCIPAL), _saml
    ),
    "mfa": lambda: Scenario("AssumeRole", "AccessDenied", MFA_CODE, _mfa),
}


def contains(secret: str, text: str) -> bool:
    """Whether ``text`` shows ``secret`` or a telling part of it."""
    if secret.isdigit():
        # A 6-digit code: only as a standalone number, not inside hex digests or dates.
        return re.search(rf"(?<![0-9A-Za-z]){secret}(?![0-9A-Za-z])", text) is not None
    # The whole value, or a 40-character piece of its middle or end (a truncated echo).
    half = len(secret) // 2
    return any(probe in text for probe in (secret, secret[half : half + 40], secret[-40:]))


def texts_of_error(error: BaseException) -> dict[str, str]:
    cause = error.__cause__
    texts = {
        "str(error)": str(error),
        "repr(error)": repr(error),
        "repr(error.args)": repr(error.args),
        "traceback": "".join(traceback.format_exception(error)),
    }
    if cause is not None:
        texts["str(cause)"] = str(cause)
        texts["repr(cause)"] = repr(cause)
        texts["cause.response"] = repr(getattr(cause, "response", None))
    return texts


def texts_of_logs(records: list[logging.LogRecord]) -> dict[str, str]:
    return {f"log[{i}] {r.name}": _FORMATTER.format(r) for i, r in enumerate(records)}


def leaks(secret: str, texts: dict[str, str]) -> list[str]:
    """The texts (error renderings, log records) in which the secret shows."""
    return [where for where, text in texts.items() if contains(secret, text)]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_an_echoed_secret_appears_in_no_error_text_and_no_log_record(
    fault_proxy: FaultProxy, debug_logs: pytest.LogCaptureFixture, name: str
) -> None:
    scenario = SCENARIOS[name]()
    fault_proxy.echo_secrets(scenario.code, action=scenario.operation)
    session = scenario.make(fault_proxy, scenario.secret)

    with pytest.raises(rolesession.CredentialRefreshError) as caught:
        session.get_credentials().get_frozen_credentials()

    error = caught.value
    assert isinstance(error, rolesession.AssumeRoleError) and error.code == scenario.code, repr(error)
    records = list(debug_logs.records)
    bodies = [r for r in records if r.name.startswith("botocore") and "Response body" in r.getMessage()]
    assert bodies, "botocore's DEBUG response bodies were not captured: the check would prove nothing"
    assert fault_proxy.count(scenario.operation, fault="echo_secrets") >= 1
    found = leaks(scenario.secret, {**texts_of_error(error), **texts_of_logs(records)})
    print(f"[secrets/{name}] {len(records)} log records, secrets found: {len(found)}")
    assert not found, f"the {name} secret leaked: {found}"


def test_an_echoed_secret_stays_out_of_background_refresh_logs(
    fault_proxy: FaultProxy, debug_logs: pytest.LogCaptureFixture, frozen: Any
) -> None:
    token = make_jwt()
    session = rolesession.assume_role_with_web_identity(
        ROLE, token=lambda: token, sts_endpoint_url=fault_proxy.url, sts_config=STS_CONFIG
    )
    held = session.get_credentials().get_frozen_credentials()
    fault_proxy.echo_secrets("AccessDenied", action="AssumeRoleWithWebIdentity")
    frozen.tick(53 * 60)  # advisory window: a background refresh fails, the held credentials are served

    assert session.get_credentials().get_frozen_credentials().access_key == held.access_key
    assert wait_until(lambda: warnings_from(debug_logs.records)), "no WARNING for the failed refresh"

    records = list(debug_logs.records)
    found = leaks(token, texts_of_logs(records))
    print(f"[secrets/background] {len(records)} log records, secrets found: {len(found)}")
    assert fault_proxy.count("AssumeRoleWithWebIdentity", fault="echo_secrets") >= 1
    assert not found, f"the web identity token leaked: {found}"
