"""``assume_role_with_saml``: SAML assertions, static (one-shot) and callable.

Assertions are real base64 SAML 2.0 Responses (``tokens.make_saml_response``)
that moto parses. moto takes the role, session name and lifetime from the
assertion's attributes and ignores ``RoleArn``, ``DurationSeconds`` and
``Policy``, so those are checked on the outgoing request (``sts_calls``); it
also files SAML sessions under its default account, so identities come from
the STS response (``identity()``), never from GetCallerIdentity.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

import rolesession
from helpers import ACCOUNT, OTHER_ACCOUNT, ROLE, ROLE_B, ROLE_C, THIRD_ACCOUNT, RecordingCache
from rolesession.testing import StsRecorder, forget_sessions
from tokens import make_saml_response

SAML = "AssumeRoleWithSAML"
PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:saml-provider/ExampleIdP"
PRINCIPAL_B = f"arn:aws:iam::{OTHER_ACCOUNT}:saml-provider/ExampleIdP"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


class AssertionSource:
    """An IdP login: each call returns a fresh SAML Response, remembered."""

    def __init__(self, role_arn: str = ROLE, principal_arn: str = PRINCIPAL, **kwargs: Any) -> None:
        self.role_arn, self.principal_arn, self.kwargs = role_arn, principal_arn, kwargs
        self.issued: list[str] = []

    def __call__(self) -> str:
        self.issued.append(make_saml_response(self.role_arn, self.principal_arn, **self.kwargs))
        return self.issued[-1]


def _static() -> str:
    return make_saml_response(ROLE, PRINCIPAL)


def _assertions_sent(spy: StsRecorder) -> list[str]:
    return [params["SAMLAssertion"] for op, params in spy.calls if op == SAML]


def _warnings(records: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in records.records if r.name == "rolesession" and r.levelno == logging.WARNING
    ]


# -- the call itself -------------------------------------------------------------------


def test_static_assertion_assumes_the_role_it_names(
    sts_mock: None, sts_calls: StsRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")  # the call is unsigned
    assertion = make_saml_response(ROLE_B, PRINCIPAL_B, session_name="bob@example.com")
    session = rolesession.assume_role_with_saml(ROLE_B, PRINCIPAL_B, assertion=assertion)
    assert sts_calls.count() == 0  # lazy
    identity = session.identity()
    assert identity["Arn"] == f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Hub/bob@example.com"
    assert identity["Account"] == OTHER_ACCOUNT
    assert identity["UserId"].endswith(":bob@example.com")
    assert sts_calls.calls[0][0] == SAML
    assert sts_calls.params() == {"RoleArn": ROLE_B, "PrincipalArn": PRINCIPAL_B, "SAMLAssertion": assertion}
    assert session.role_arn == ROLE_B and session.parent is None


def test_parameters_reach_sts(sts_mock: None, sts_calls: StsRecorder) -> None:
    policy = rolesession.Policy.allow("s3:GetObject", "arn:aws:s3:::reports/*")
    session = rolesession.assume_role_with_saml(
        ROLE,
        PRINCIPAL,
        assertion=make_saml_response(ROLE, PRINCIPAL),
        duration=7200,
        policy=policy,
        policy_arns=[READ_ONLY],
        region="eu-central-1",
    )
    session.identity()
    params = sts_calls.params()
    assert params["DurationSeconds"] == 7200
    assert params["Policy"] == policy.to_json()
    assert params["PolicyArns"] == [{"arn": READ_ONLY}]
    assert "RoleSessionName" not in params  # the assertion names the session
    assert session.region_name == "eu-central-1"
    env = session.environ()
    assert env["AWS_REGION"] == "eu-central-1"
    assert env["AWS_ACCESS_KEY_ID"] == session.get_credentials().access_key
    document = session.credential_process()
    assert document["Version"] == 1 and document["SessionToken"] == env["AWS_SESSION_TOKEN"]


def test_lifetime_comes_from_the_sts_response(sts_mock: None, frozen: Any) -> None:
    session = rolesession.assume_role_with_saml(
        ROLE, PRINCIPAL, assertion=make_saml_response(ROLE, PRINCIPAL, duration=1800)
    )
    assert session.expiration.isoformat() == "2026-03-01T12:30:00+00:00"


# -- callable assertions refresh -----------------------------------------------------------


def test_callable_assertion_refreshes_across_expiry(
    sts_mock: None, sts_calls: StsRecorder, frozen: Any, log_records: pytest.LogCaptureFixture
) -> None:
    source = AssertionSource()
    session = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=source, duration=3600)
    credentials = session.get_credentials()
    first = credentials.get_frozen_credentials()
    assert len(source.issued) == 1

    frozen.tick(3200)  # advisory window: refreshed in the background, the reader does not wait
    assert credentials.get_frozen_credentials() is first
    credentials.wait_for_background()
    second = credentials.get_frozen_credentials()
    assert second.access_key != first.access_key

    frozen.tick(3700)  # past the second set's expiry: the reader waits for new ones
    third = credentials.get_frozen_credentials()
    assert third.access_key not in (first.access_key, second.access_key)
    assert session.expiration.isoformat() == "2026-03-01T14:55:00+00:00"

    assert len(source.issued) == sts_calls.count(SAML) == 3
    assert _assertions_sent(sts_calls) == source.issued
    for params in (sts_calls.params(i) for i in range(3)):
        assert (params["RoleArn"], params["PrincipalArn"], params["DurationSeconds"]) == (
            ROLE,
            PRINCIPAL,
            3600,
        )
    assert not [w for w in _warnings(log_records) if "cannot be refreshed" in w]


def test_explicit_refresh_with_a_callable(sts_mock: None, sts_calls: StsRecorder) -> None:
    source = AssertionSource()
    session = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=source)
    before = session.get_credentials().access_key
    session.refresh()
    assert session.get_credentials().access_key != before
    assert len(source.issued) == sts_calls.count() == 2


def _raises() -> str:
    raise ConnectionError("the IdP login page timed out")


@pytest.mark.parametrize(
    ("provider_fn", "match"),
    [
        (_raises, "raised ConnectionError"),
        (lambda: None, "returned NoneType, not a string"),
        (lambda: 42, "returned int, not a string"),
        (lambda: "PHN", "4-100000"),
        (lambda: "A" * 100_001, "4-100000"),
    ],
    ids=["raises", "none", "int", "too-short", "too-long"],
)
def test_assertion_provider_failures_are_token_errors(
    sts_mock: None, sts_calls: StsRecorder, provider_fn: Any, match: str
) -> None:
    session = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=provider_fn)
    with pytest.raises(rolesession.TokenError, match=match) as info:
        session.get_credentials().get_frozen_credentials()
    assert info.value.role_arn == ROLE
    assert "timed out" not in str(info.value)
    assert sts_calls.count() == 0


# -- static assertions are one-shot ------------------------------------------------------------


def test_static_assertion_is_never_resent(
    sts_mock: None, sts_calls: StsRecorder, frozen: Any, log_records: pytest.LogCaptureFixture
) -> None:
    session = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=_static())
    credentials = session.get_credentials()
    held = credentials.get_frozen_credentials()

    # Through the advisory and mandatory windows the held credentials are served ...
    elapsed = 0
    for second in (1800, 2900, 3200, 3300, 3500, 3545, 3590, 3599):
        frozen.tick(second - elapsed)
        elapsed = second
        assert credentials.get_frozen_credentials() is held
    # ... with exactly one warning that they cannot be refreshed.
    warnings = [w for w in _warnings(log_records) if "cannot be refreshed" in w]
    assert len(warnings) == 1
    assert "callable" in warnings[0] and ROLE in warnings[0]

    frozen.tick(2)  # expired
    with pytest.raises(rolesession.TokenError) as info:
        credentials.get_frozen_credentials()
    assert "callable" in str(info.value) and "never resent" in str(info.value)
    assert info.value.role_arn == ROLE
    frozen.tick(30)
    with pytest.raises(rolesession.TokenError):
        session.identity()
    with pytest.raises(rolesession.TokenError):
        session.refresh()
    assert sts_calls.count(SAML) == 1


def test_refresh_of_a_spent_static_assertion(sts_mock: None, sts_calls: StsRecorder) -> None:
    session = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=_static())
    held = session.identity()
    with pytest.raises(rolesession.TokenError, match="callable"):
        session.refresh()
    assert session.identity() == held  # what is held is still served
    session.invalidate()
    with pytest.raises(rolesession.TokenError):
        session.identity()
    assert sts_calls.count() == 1


def test_refused_static_assertion_is_not_resent(sts_mock: None, sts_calls: StsRecorder, frozen: Any) -> None:
    session = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=_static())
    sts_calls.refuse("InvalidIdentityToken", "Invalid SAML response", operation=SAML)
    with pytest.raises(rolesession.AssumeRoleError):
        session.identity()
    sts_calls.fail_with(None)
    frozen.tick(5)
    with pytest.raises(rolesession.TokenError):
        session.identity()
    assert sts_calls.count() == 1


def test_second_session_adopting_cached_credentials_does_not_resend(
    sts_mock: None, sts_calls: StsRecorder, frozen: Any
) -> None:
    assertion = make_saml_response(ROLE, PRINCIPAL)
    first = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=assertion)
    first.identity()
    # Another session for the same assertion (here: other refresh settings) is
    # served from the cache, but the assertion it holds is just as spent.
    second = rolesession.assume_role_with_saml(
        ROLE, PRINCIPAL, assertion=assertion, refresh=rolesession.RefreshPolicy(mandatory=30)
    )
    assert second is not first
    assert second.identity() == first.identity()
    frozen.tick(3300)  # the advisory window
    second.get_credentials().get_frozen_credentials()
    second.get_credentials().wait_for_background()
    frozen.tick(301)
    with pytest.raises(rolesession.TokenError):
        second.get_credentials().get_frozen_credentials()
    assert sts_calls.count(SAML) == 1


# -- scoped() ---------------------------------------------------------------------------------


def test_scoped_static_session_cannot_be_served(sts_mock: None, sts_calls: StsRecorder) -> None:
    session = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=_static())
    session.identity()
    narrow = session.scoped(policy=rolesession.Policy.allow("s3:ListBucket", "arn:aws:s3:::reports"))
    with pytest.raises(rolesession.TokenError, match="callable"):
        narrow.identity()
    assert session.identity()["Arn"].endswith("/alice@example.com")  # the original is unharmed
    assert sts_calls.count() == 1


def test_scoped_callable_session_fetches_a_fresh_assertion(sts_mock: None, sts_calls: StsRecorder) -> None:
    source = AssertionSource()
    session = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=source, policy_arns=[READ_ONLY])
    session.identity()
    policy = rolesession.Policy.allow("s3:ListBucket", "arn:aws:s3:::reports")
    narrow = session.scoped(policy=policy)
    narrow.identity()
    assert len(source.issued) == sts_calls.count() == 2
    params = sts_calls.params()
    assert params["SAMLAssertion"] == source.issued[1]
    assert params["Policy"] == policy.to_json()
    assert "PolicyArns" not in params  # replaced, not merged
    assert sts_calls.params(0)["PolicyArns"] == [{"arn": READ_ONLY}]
    assert narrow.get_credentials().access_key != session.get_credentials().access_key


# -- chaining ---------------------------------------------------------------------------------


def test_chaining_onward_from_a_saml_session(sts_mock: None, sts_calls: StsRecorder) -> None:
    saml = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=AssertionSource())
    hop = saml.assume_role(ROLE_C, session_name="target")
    assert hop.parent is saml
    assert hop.identity()["Arn"] == f"arn:aws:sts::{THIRD_ACCOUNT}:assumed-role/Target/target"
    assert hop.client("sts").get_caller_identity()["Account"] == THIRD_ACCOUNT
    assert [op for op, _ in sts_calls.calls] == [SAML, "AssumeRole"]


# -- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["AccessDenied", "InvalidIdentityToken", "IDPRejectedClaim"])
def test_refusals_carry_the_saml_hint(sts_mock: None, sts_calls: StsRecorder, code: str) -> None:
    sts_calls.refuse(code, "Not authorized to perform sts:AssumeRoleWithSAML", operation=SAML)
    session = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=AssertionSource())
    with pytest.raises(rolesession.AssumeRoleError) as info:
        session.identity()
    error = info.value
    assert error.code == code and error.role_arn == ROLE
    message = str(error)
    assert message.startswith(f"{SAML} for {ROLE} failed: {code}")
    assert "https://aws.amazon.com/SAML/Attributes/Role" in message
    assert "principal_arn" in message
    assert sts_calls.count() == 1  # SAML refusals are not retried


# -- secrets stay secret ----------------------------------------------------------------------


def test_assertion_never_appears_in_errors_reprs_or_logs(
    sts_mock: None, sts_calls: StsRecorder, log_records: pytest.LogCaptureFixture
) -> None:
    static = make_saml_response(ROLE, PRINCIPAL)
    source = AssertionSource(ROLE_B, PRINCIPAL_B)
    spent = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=static)
    fresh = rolesession.assume_role_with_saml(ROLE_B, PRINCIPAL_B, assertion=source)
    spent.identity()
    fresh.identity()
    errors: list[BaseException] = []
    with pytest.raises(rolesession.TokenError) as spent_info:
        spent.refresh()
    errors.append(spent_info.value)

    def echoed() -> str:
        # STS quoting the assertion back in its refusal must not leak it either.
        value = source()
        sts_calls.refuse("InvalidIdentityToken", f"bad assertion {value}", operation=SAML)
        return value

    refusing = rolesession.assume_role_with_saml(ROLE_B, PRINCIPAL_B, assertion=echoed)
    with pytest.raises(rolesession.AssumeRoleError) as refused:
        refusing.identity()
    errors.append(refused.value)
    assert "***" in str(refused.value)

    assert any("SAMLAssertion" in r.getMessage() for r in log_records.records)  # botocore's DEBUG
    texts = [text for e in errors for text in (str(e), repr(e))]
    for s in (spent, fresh, refusing):
        texts += [repr(s), str(s), repr(s.get_credentials()), repr(s.describe())]
    texts += [r.getMessage() for r in log_records.records]
    secrets = [static, *source.issued]
    assert len(secrets) == 3
    for text in texts:
        for secret in secrets:
            assert secret not in text


# -- caching ---------------------------------------------------------------------------------


def test_different_assertions_never_share_a_cache_entry(sts_mock: None, sts_calls: StsRecorder) -> None:
    cache = RecordingCache()
    alice = make_saml_response(ROLE, PRINCIPAL, session_name="alice")
    bob = make_saml_response(ROLE, PRINCIPAL, session_name="bob")
    a = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=alice, cache=cache)
    b = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=bob, cache=cache)
    assert a.identity()["Arn"].endswith("/alice")
    assert b.identity()["Arn"].endswith("/bob")
    assert sts_calls.count() == 2
    assert len(set(cache.sets)) == 2
    for key in cache.sets:
        assert isinstance(key, str) and len(key) == 64
        assert alice not in str(cache.data[key]) and bob not in str(cache.data[key])


def test_same_static_assertion_is_served_from_the_cache(sts_mock: None, sts_calls: StsRecorder) -> None:
    cache = RecordingCache()
    assertion = make_saml_response(ROLE, PRINCIPAL)
    first = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=assertion, cache=cache)
    first.identity()
    forget_sessions()  # as a new process would see it
    again = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=assertion, cache=cache)
    assert again is not first
    assert again.identity() == first.identity()
    assert sts_calls.count() == 1


def test_callable_assertion_entry_never_reaches_a_persistent_cache(
    sts_mock: None, sts_calls: StsRecorder
) -> None:
    persistent = RecordingCache()
    source = AssertionSource()
    session = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=source, cache=persistent)
    session.identity()
    session.refresh()
    assert persistent.sets == [] and persistent.data == {}
    memory = rolesession.MemoryCache()
    rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=source, cache=memory).identity()
    rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=AssertionSource(), cache=memory).identity()
    assert len(memory) == 2  # two callables, two callers
    assert sts_calls.count() == 4


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "parameter"),
    [
        ((ROLE, PRINCIPAL), {"assertion": "PHN"}, "assertion"),
        ((ROLE, PRINCIPAL), {"assertion": "A" * 100_001}, "assertion"),
        ((ROLE, PRINCIPAL), {"assertion": None}, "assertion"),
        ((ROLE, PRINCIPAL), {"assertion": b"PHNhbWxwOlJlc3BvbnNl"}, "assertion"),
        ((ROLE, ROLE), {}, "principal_arn"),
        ((ROLE, f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.example.com"), {}, "principal_arn"),
        ((ROLE, f"arn:aws:iam::{ACCOUNT}:saml-provider/"), {}, "principal_arn"),
        ((ROLE, f"arn:aws-cn:iam::{ACCOUNT}:saml-provider/ExampleIdP"), {}, "principal_arn"),
        ((ROLE, None), {}, "principal_arn"),
        ((PRINCIPAL, PRINCIPAL), {}, "role_arn"),
        (("arn:aws:iam::12345:role/Short", PRINCIPAL), {}, "role_arn"),
        ((ROLE, PRINCIPAL), {"duration": 600}, "duration"),
        ((ROLE, PRINCIPAL), {"duration": 50_000}, "duration"),
        ((ROLE, PRINCIPAL), {"policy": ["not", "an", "object"]}, "policy"),
        ((ROLE, PRINCIPAL), {"policy": {"Statement": "\u4e00" * 10}}, "policy"),
        ((ROLE, PRINCIPAL), {"policy_arns": "arn:aws:iam::aws:policy/ReadOnlyAccess"}, "policy_arns"),
        ((ROLE, PRINCIPAL), {"sts_endpoint_url": 8080}, "sts_endpoint_url"),
    ],
)
def test_invalid_parameters_fail_before_any_sts_call(
    sts_mock: None, sts_calls: StsRecorder, args: tuple[Any, ...], kwargs: dict[str, Any], parameter: str
) -> None:
    arguments = {"assertion": make_saml_response(ROLE, PRINCIPAL), **kwargs}
    with pytest.raises(rolesession.InvalidParameterError) as info:
        rolesession.assume_role_with_saml(*args, **arguments)
    assert info.value.parameter == parameter
    assertion = arguments["assertion"]
    if isinstance(assertion, str):
        assert assertion not in str(info.value)
    assert sts_calls.count() == 0


def test_assertion_of_exactly_the_limits_is_accepted(sts_calls: StsRecorder) -> None:
    for assertion in ("PHNh", "A" * 100_000):
        session = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=assertion)
        assert session.role_arn == ROLE
    assert sts_calls.count() == 0


# -- over HTTP -----------------------------------------------------------------------------


def test_over_http_against_a_local_sts(moto_server: str, sts_calls: StsRecorder) -> None:
    source = AssertionSource(session_name="carol@example.com")
    session = rolesession.assume_role_with_saml(
        ROLE, PRINCIPAL, assertion=source, sts_endpoint_url=moto_server
    )
    assert session.identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/carol@example.com"
    session.refresh()
    assert _assertions_sent(sts_calls) == source.issued and len(source.issued) == 2
