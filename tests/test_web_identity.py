"""``assume_role_with_web_identity``: OIDC tokens, token files, IRSA environment.

Tokens are real-looking JWTs (``tokens.make_jwt``); STS is moto, in-process
unless a test says otherwise. ``sts_calls`` records what the library really
sends, including the ``WebIdentityToken`` of every attempt.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest

import rolesession
from helpers import ACCOUNT, OTHER_ACCOUNT, ROLE, ROLE_B, RecordingCache
from rolesession.testing import StsRecorder, forget_sessions
from tokens import jwt_claims, make_jwt

POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}
WEB = "AssumeRoleWithWebIdentity"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"


class TokenSource:
    """A zero-argument token provider that mints a new JWT per call and remembers them."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    def __call__(self) -> str:
        self.issued.append(make_jwt())
        return self.issued[-1]


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(make_jwt())
    return path


@pytest.fixture
def no_source_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    # Nothing else in the default chain can supply credentials either.
    assert botocore.session.Session().get_credentials() is None


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the library's retry backoff instead of sleeping it."""
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    return sleeps


def _tokens_sent(spy: StsRecorder) -> list[str]:
    return [params["WebIdentityToken"] for op, params in spy.calls if op == "AssumeRoleWithWebIdentity"]


# -- the call itself ------------------------------------------------------------------


def test_static_token_without_any_source_credentials(
    sts_mock: None, sts_calls: StsRecorder, no_source_credentials: None
) -> None:
    token = make_jwt()
    session = rolesession.assume_role_with_web_identity(ROLE, token=token, session_name="app-1")
    assert sts_calls.count() == 0  # lazy
    arn = session.client("sts").get_caller_identity()["Arn"]
    assert arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/app-1"
    assert session.identity() == {
        "Arn": arn,
        "Account": ACCOUNT,
        "UserId": session.identity()["UserId"],
    }
    assert session.identity()["UserId"].endswith(":app-1")
    params = sts_calls.params()
    assert sts_calls.calls[0][0] == "AssumeRoleWithWebIdentity"
    assert params["RoleArn"] == ROLE
    assert params["RoleSessionName"] == "app-1"
    assert params["WebIdentityToken"] == token
    assert session.parent is None
    assert session.role_arn == ROLE


def test_parameters_reach_sts(sts_mock: None, sts_calls: StsRecorder) -> None:
    provider_id = "accounts.google.com"
    session = rolesession.assume_role_with_web_identity(
        ROLE,
        token=make_jwt(),
        provider_id=provider_id,
        duration=dt.timedelta(hours=2),
        policy=POLICY,
        policy_arns=[READ_ONLY],
        region="eu-west-1",
    )
    session.identity()
    params = sts_calls.params()
    assert params["DurationSeconds"] == 7200
    assert params["ProviderId"] == provider_id
    assert params["Policy"] == rolesession.Policy.from_json(POLICY).to_json()
    assert params["PolicyArns"] == [{"arn": READ_ONLY}]
    assert session.region_name == "eu-west-1"
    lifetime = session.expiration - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(hours=1, minutes=59) < lifetime <= dt.timedelta(hours=2)


def test_region_comes_from_environment_without_a_source(
    sts_mock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    session = rolesession.assume_role_with_web_identity(ROLE, token=make_jwt())
    assert session.region_name == "ap-southeast-2"
    env = session.environ()
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "ap-southeast-2"
    frozen = session.get_credentials().get_frozen_credentials()
    assert env["AWS_ACCESS_KEY_ID"] == frozen.access_key
    assert env["AWS_SECRET_ACCESS_KEY"] == frozen.secret_key
    assert env["AWS_SESSION_TOKEN"] == frozen.token
    assert env["AWS_CREDENTIAL_EXPIRATION"] == session.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- token files ---------------------------------------------------------------------


def test_token_file_is_read_at_every_sts_call(
    sts_mock: None, sts_calls: StsRecorder, frozen: Any, token_file: Path
) -> None:
    first = token_file.read_text()
    session = rolesession.assume_role_with_web_identity(ROLE, token_file=token_file)
    key_before = session.get_credentials().get_frozen_credentials().access_key
    assert _tokens_sent(sts_calls) == [first]

    rotated = make_jwt()
    token_file.write_text(f"\n  {rotated}\n")  # the kubelet rotates the projected token
    frozen.tick(3600 - 30)  # mandatory window: refreshed behind the (still valid) held ones
    session.get_credentials().get_frozen_credentials()
    session.get_credentials().wait_for_background()
    key_after = session.get_credentials().get_frozen_credentials().access_key

    assert _tokens_sent(sts_calls) == [first, rotated]  # surrounding whitespace stripped
    assert key_after != key_before


def test_token_file_rotation_reaches_a_background_refresh(
    sts_mock: None, sts_calls: StsRecorder, frozen: Any, token_file: Path
) -> None:
    session = rolesession.assume_role_with_web_identity(ROLE, token_file=str(token_file))
    credentials = session.get_credentials()
    old = credentials.get_frozen_credentials()
    rotated = make_jwt()
    token_file.write_text(rotated)
    frozen.tick(3200)  # in the advisory window (900 s before expiry), past its jittered start
    assert credentials.get_frozen_credentials() is old  # the reader does not wait
    credentials.wait_for_background()
    assert sts_calls.params()["WebIdentityToken"] == rotated
    assert credentials.get_frozen_credentials().access_key != old.access_key


def test_token_file_missing_at_creation(sts_calls: StsRecorder, tmp_path: Path) -> None:
    with pytest.raises(rolesession.InvalidParameterError) as info:
        rolesession.assume_role_with_web_identity(ROLE, token_file=tmp_path / "absent")
    assert info.value.parameter == "token_file"
    with pytest.raises(rolesession.InvalidParameterError) as info:
        rolesession.assume_role_with_web_identity(ROLE, token_file=tmp_path)  # a directory
    assert info.value.parameter == "token_file"
    assert sts_calls.count() == 0


def test_token_file_unreadable_later_is_a_token_error(
    sts_mock: None, sts_calls: StsRecorder, frozen: Any, token_file: Path
) -> None:
    session = rolesession.assume_role_with_web_identity(ROLE, token_file=token_file)
    session.identity()
    token_file.unlink()
    with pytest.raises(rolesession.TokenError) as info:
        session.refresh()
    assert str(token_file) in str(info.value)
    assert info.value.role_arn == ROLE
    # The held credentials are still served until they expire ...
    assert session.get_credentials().get_frozen_credentials().access_key
    # ... and after expiry a read says why none can be had.
    frozen.tick(3601)
    with pytest.raises(rolesession.TokenError):
        session.get_credentials().get_frozen_credentials()
    assert sts_calls.count() == 1


def test_token_file_that_is_not_utf8_is_a_token_error(
    sts_mock: None, sts_calls: StsRecorder, token_file: Path
) -> None:
    session = rolesession.assume_role_with_web_identity(ROLE, token_file=token_file)
    token_file.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(rolesession.TokenError, match="UnicodeDecodeError"):
        session.identity()
    assert sts_calls.count() == 0


@pytest.mark.parametrize("content", ["", "abc", "x" * 20_001])
def test_token_file_with_unusable_length_is_a_token_error(
    sts_mock: None, sts_calls: StsRecorder, token_file: Path, content: str
) -> None:
    session = rolesession.assume_role_with_web_identity(ROLE, token_file=token_file)
    token_file.write_text(content)
    with pytest.raises(rolesession.TokenError, match="4-20000"):
        session.identity()
    assert sts_calls.count() == 0


# -- environment (EKS IRSA) ---------------------------------------------------------------


def test_environment_supplies_role_token_file_and_session_name(
    sts_mock: None, sts_calls: StsRecorder, token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "irsa-pod")
    session = rolesession.assume_role_with_web_identity()
    assert session.role_arn == ROLE
    assert session.identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/irsa-pod"
    params = sts_calls.params()
    assert (params["RoleArn"], params["RoleSessionName"]) == (ROLE, "irsa-pod")
    assert params["WebIdentityToken"] == token_file.read_text()


def test_environment_without_session_name_uses_the_default(
    sts_mock: None, sts_calls: StsRecorder, token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    rolesession.assume_role_with_web_identity().identity()
    default = rolesession.assume_role(ROLE).describe()["session_name"]  # every entry point's default
    assert sts_calls.params()["RoleSessionName"] == default


def test_explicit_arguments_win_over_the_environment(
    sts_mock: None, sts_calls: StsRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "env-token"
    env_file.write_text(make_jwt())
    own_file = tmp_path / "own-token"
    own_file.write_text(make_jwt())
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(env_file))
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "from-env")
    rolesession.assume_role_with_web_identity(ROLE_B, token_file=own_file, session_name="mine").identity()
    params = sts_calls.params()
    assert params["RoleArn"] == ROLE_B
    assert params["RoleSessionName"] == "mine"
    assert params["WebIdentityToken"] == own_file.read_text()
    token = make_jwt()
    rolesession.assume_role_with_web_identity(token=token).identity()  # role from the env
    assert (sts_calls.params()["RoleArn"], sts_calls.params()["WebIdentityToken"]) == (ROLE, token)


def test_environment_token_file_missing_at_creation(
    sts_calls: StsRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(tmp_path / "absent"))
    with pytest.raises(rolesession.InvalidParameterError) as info:
        rolesession.assume_role_with_web_identity(ROLE)
    assert info.value.parameter == "token_file"
    assert sts_calls.count() == 0


def test_nothing_given_and_nothing_in_the_environment(sts_calls: StsRecorder) -> None:
    with pytest.raises(rolesession.InvalidParameterError) as info:
        rolesession.assume_role_with_web_identity(token=make_jwt())
    assert info.value.parameter == "role_arn"
    assert "AWS_ROLE_ARN" in str(info.value)
    with pytest.raises(rolesession.InvalidParameterError) as info:
        rolesession.assume_role_with_web_identity(ROLE)
    assert info.value.parameter == "token"
    assert "AWS_WEB_IDENTITY_TOKEN_FILE" in str(info.value)
    assert sts_calls.count() == 0


# -- callable tokens ---------------------------------------------------------------------


def test_callable_token_is_called_once_per_sts_call(sts_mock: None, sts_calls: StsRecorder) -> None:
    source = TokenSource()
    session = rolesession.assume_role_with_web_identity(ROLE, token=source)
    assert source.issued == []  # creating a session calls nothing
    for _ in range(3):
        session.get_credentials().get_frozen_credentials()
        session.client("sts")
    assert len(source.issued) == 1
    session.refresh()
    session.refresh()
    assert len(source.issued) == sts_calls.count() == 3
    assert _tokens_sent(sts_calls) == source.issued


def test_callable_token_is_stripped(sts_mock: None, sts_calls: StsRecorder) -> None:
    token = make_jwt()
    rolesession.assume_role_with_web_identity(ROLE, token=lambda: f"  {token}\n").identity()
    assert sts_calls.params()["WebIdentityToken"] == token


def _raises() -> str:
    raise RuntimeError("the CI runner's OIDC endpoint is unreachable")


@pytest.mark.parametrize(
    ("provider_fn", "match"),
    [
        (_raises, "raised RuntimeError"),
        (lambda: None, "returned NoneType, not a string"),
        (lambda: b"eyJhbGciOi.bytes.token", "returned bytes, not a string"),
        (lambda: "abc", "4-20000"),
        (lambda: "   ", "4-20000"),
        (lambda: "x" * 20_001, "4-20000"),
    ],
    ids=["raises", "none", "bytes", "too-short", "blank", "too-long"],
)
def test_token_provider_failures_are_token_errors(
    sts_mock: None, sts_calls: StsRecorder, provider_fn: Any, match: str
) -> None:
    session = rolesession.assume_role_with_web_identity(ROLE, token=provider_fn)
    with pytest.raises(rolesession.TokenError, match=match) as info:
        session.get_credentials().get_frozen_credentials()
    assert info.value.role_arn == ROLE
    assert isinstance(info.value, rolesession.CredentialRefreshError)
    assert "unreachable" not in str(info.value)  # the provider's own message may hold anything
    assert sts_calls.count() == 0


def test_token_of_exactly_the_limits_is_accepted(sts_mock: None, sts_calls: StsRecorder) -> None:
    for token in ("abcd", "t" * 20_000):
        rolesession.assume_role_with_web_identity(ROLE, token=token, cache=None).identity()
        assert sts_calls.params()["WebIdentityToken"] == token


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"token": "abc"}, "token"),
        ({"token": "x" * 20_001}, "token"),
        ({"token": 12345}, "token"),
        ({"token": b"eyJhbGciOiJSUzI1NiJ9"}, "token"),
        ({"token": "eyJhbGciOiJSUzI1NiJ9", "token_file": "/var/run/token"}, "token_file"),
        ({"token_file": 42}, "token_file"),
        ({"role_arn": "arn:aws:iam::123:role/Short"}, "role_arn"),
        ({"role_arn": "arn:aws:iam::123456789012:user/Alice"}, "role_arn"),
        ({"role_arn": 123456789012}, "role_arn"),
        ({"provider_id": "abc"}, "provider_id"),
        ({"provider_id": 7}, "provider_id"),
        ({"session_name": "a"}, "session_name"),
        ({"session_name": "has space"}, "session_name"),
        ({"duration": 899}, "duration"),
        ({"duration": 43_201}, "duration"),
        ({"duration": True}, "duration"),
        ({"duration": 3600.0}, "duration"),
        ({"policy": "{not json"}, "policy"),
        ({"policy": {"Statement": ["x" * 2100]}}, "policy"),
        ({"policy_arns": ["not-an-arn"]}, "policy_arns"),
        ({"policy_arns": [READ_ONLY] * 11}, "policy_arns"),
        ({"region": 5}, "region"),
        ({"sts_config": {"retries": 3}}, "sts_config"),
        ({"cache": object()}, "cache"),
        ({"refresh": 60}, "refresh"),
    ],
)
def test_invalid_parameters_fail_before_any_sts_call(
    sts_mock: None, sts_calls: StsRecorder, kwargs: dict[str, Any], parameter: str
) -> None:
    arguments = {"role_arn": ROLE, "token": make_jwt(), **kwargs}
    if "token_file" in kwargs and "token" not in kwargs:
        del arguments["token"]
    with pytest.raises(rolesession.InvalidParameterError) as info:
        rolesession.assume_role_with_web_identity(**arguments)
    assert info.value.parameter == parameter
    assert isinstance(info.value, ValueError)
    token = kwargs.get("token")
    if isinstance(token, str):
        assert token not in str(info.value)
    assert sts_calls.count() == 0


# -- retrying transient IdP refusals ------------------------------------------------------


@pytest.mark.parametrize("code", ["InvalidIdentityToken", "IDPCommunicationError"])
def test_transient_refusal_is_retried_with_a_fresh_token(
    sts_mock: None, sts_calls: StsRecorder, no_sleep: list[float], code: str
) -> None:
    source = TokenSource()
    sts_calls.refuse(code, operation=WEB)

    def recovering() -> str:
        if len(source.issued) == 1:  # the IdP recovers before the second attempt
            sts_calls.fail_with(None)
        return source()

    session = rolesession.assume_role_with_web_identity(ROLE, token=recovering)
    assert session.identity()["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/")
    assert sts_calls.count() == 2
    assert _tokens_sent(sts_calls) == source.issued  # each attempt read a new token
    assert len(set(source.issued)) == 2
    assert len(no_sleep) == 1 and no_sleep[0] > 0


def test_retry_re_reads_a_token_file_rotated_meanwhile(
    sts_mock: None, sts_calls: StsRecorder, token_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = token_file.read_text()
    fresh = make_jwt()

    def rotate_while_waiting(seconds: float) -> None:
        token_file.write_text(fresh)
        sts_calls.fail_with(None)

    monkeypatch.setattr(time, "sleep", rotate_while_waiting)
    sts_calls.refuse("InvalidIdentityToken", "Incorrect token audience", operation=WEB)
    session = rolesession.assume_role_with_web_identity(ROLE, token_file=token_file)
    session.identity()
    assert _tokens_sent(sts_calls) == [stale, fresh]


def test_persistent_refusal_gives_up_after_a_few_attempts(
    sts_mock: None, sts_calls: StsRecorder, no_sleep: list[float]
) -> None:
    source = TokenSource()
    sts_calls.refuse("InvalidIdentityToken", "Incorrect token audience", operation=WEB)
    session = rolesession.assume_role_with_web_identity(ROLE, token=source)
    with pytest.raises(rolesession.AssumeRoleError) as info:
        session.identity()
    attempts = sts_calls.count()
    assert 2 <= attempts <= 5  # "a few"
    assert len(source.issued) == attempts
    assert len(no_sleep) == attempts - 1
    assert no_sleep == sorted(no_sleep)  # backing off, not hammering
    error = info.value
    assert error.code == "InvalidIdentityToken"
    assert error.role_arn == ROLE
    assert "AssumeRoleWithWebIdentity" in str(error) and ROLE in str(error)
    for word in ("audience", "thumbprint", "issuer"):
        assert word in str(error)


@pytest.mark.parametrize("code", ["AccessDenied", "ExpiredTokenException", "RegionDisabledException"])
def test_other_refusals_are_not_retried(
    sts_mock: None, sts_calls: StsRecorder, no_sleep: list[float], code: str
) -> None:
    sts_calls.refuse(code, operation=WEB)
    session = rolesession.assume_role_with_web_identity(ROLE, token=make_jwt())
    with pytest.raises(rolesession.AssumeRoleError) as info:
        session.identity()
    assert info.value.code == code
    assert sts_calls.count() == 1
    assert no_sleep == []
    assert "(hint: " in str(info.value)


def test_access_denied_hint_points_at_the_oidc_provider(sts_mock: None, sts_calls: StsRecorder) -> None:
    sts_calls.refuse("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    with pytest.raises(rolesession.AssumeRoleError) as info:
        rolesession.assume_role_with_web_identity(ROLE, token=make_jwt()).identity()
    message = str(info.value)
    assert "Not authorized to perform sts:AssumeRoleWithWebIdentity" in message
    assert "audience" in message and "trust policy" in message


# -- secrets stay secret --------------------------------------------------------------------


def test_token_never_appears_in_errors_reprs_or_logs(
    sts_mock: None,
    sts_calls: StsRecorder,
    no_sleep: list[float],
    log_records: pytest.LogCaptureFixture,
    token_file: Path,
) -> None:
    token = make_jwt()
    signature = token.rsplit(".", 1)[1]
    session = rolesession.assume_role_with_web_identity(ROLE, token=token)
    session.identity()
    session.refresh()
    file_session = rolesession.assume_role_with_web_identity(ROLE_B, token_file=token_file)
    file_token = token_file.read_text()
    file_session.identity()
    # STS echoing the token back in its refusal must not leak it either.
    sts_calls.refuse("InvalidIdentityToken", f"token {token} is invalid", operation=WEB)
    with pytest.raises(rolesession.AssumeRoleError) as info:
        session.refresh()
    sts_calls.refuse("InvalidIdentityToken", f"token {file_token} is invalid")
    with pytest.raises(rolesession.AssumeRoleError) as file_info:
        file_session.refresh()

    assert sts_calls.count() > 2  # the failing calls really happened
    assert any("WebIdentityToken" in r.getMessage() for r in log_records.records)  # botocore's DEBUG
    texts = [str(info.value), repr(info.value), str(file_info.value), repr(file_info.value)]
    for s in (session, file_session):
        texts += [repr(s), str(s), repr(s.get_credentials()), repr(s.describe())]
    texts += [r.getMessage() for r in log_records.records]
    for text in texts:
        for secret in (token, signature, file_token):
            assert secret not in text


# -- caching ---------------------------------------------------------------------------------


def test_different_tokens_never_share_a_cache_entry(sts_mock: None, sts_calls: StsRecorder) -> None:
    cache = RecordingCache()
    alice = make_jwt(sub="alice")
    bob = make_jwt(sub="bob")
    first = rolesession.assume_role_with_web_identity(ROLE, token=alice, session_name="s1", cache=cache)
    second = rolesession.assume_role_with_web_identity(ROLE, token=bob, session_name="s1", cache=cache)
    assert first.identity() and second.identity()
    assert sts_calls.count() == 2
    assert len(set(cache.sets)) == 2
    assert first.get_credentials().access_key != second.get_credentials().access_key
    for key in cache.sets:  # keyed by a digest, never the token itself
        assert isinstance(key, str) and len(key) == 64
        assert alice not in key and bob not in key
        assert alice not in str(cache.data[key]) and bob not in str(cache.data[key])


def test_same_claims_different_token_is_a_different_caller(sts_mock: None, sts_calls: StsRecorder) -> None:
    # Two tokens with the same sub/aud/iss: the key hashes the whole token, not a claim.
    one, two = make_jwt(sub="ci"), make_jwt(sub="ci")
    assert jwt_claims(one)["sub"] == jwt_claims(two)["sub"] and one != two
    cache = RecordingCache()
    rolesession.assume_role_with_web_identity(ROLE, token=one, cache=cache).identity()
    rolesession.assume_role_with_web_identity(ROLE, token=two, cache=cache).identity()
    assert sts_calls.count() == 2 and len(cache.data) == 2


def test_same_static_token_is_served_from_the_cache(sts_mock: None, sts_calls: StsRecorder) -> None:
    cache = RecordingCache()
    token = make_jwt()
    first = rolesession.assume_role_with_web_identity(ROLE, token=token, cache=cache)
    first.identity()
    forget_sessions()  # a new process, as far as sessions go
    second = rolesession.assume_role_with_web_identity(ROLE, token=token, cache=cache)
    assert second is not first
    assert second.identity() == first.identity()
    assert sts_calls.count() == 1


def test_token_file_is_keyed_by_its_content(sts_mock: None, sts_calls: StsRecorder, tmp_path: Path) -> None:
    cache = RecordingCache()
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text(make_jwt())
    b.write_text(make_jwt())
    rolesession.assume_role_with_web_identity(ROLE, token_file=a, cache=cache).identity()
    rolesession.assume_role_with_web_identity(ROLE, token_file=b, cache=cache).identity()
    assert sts_calls.count() == 2 and len(cache.data) == 2
    # Once b holds a's token, b is the same caller as a.
    b.write_text(a.read_text())
    forget_sessions()
    rolesession.assume_role_with_web_identity(ROLE, token_file=b, cache=cache).identity()
    assert sts_calls.count() == 2


def test_callable_token_entry_never_reaches_a_persistent_cache(
    sts_mock: None, sts_calls: StsRecorder
) -> None:
    persistent = RecordingCache()
    source = TokenSource()
    session = rolesession.assume_role_with_web_identity(ROLE, token=source, cache=persistent)
    session.identity()
    session.refresh()
    assert sts_calls.count() == 2
    assert persistent.sets == [] and persistent.data == {}

    memory = rolesession.MemoryCache()
    in_memory = rolesession.assume_role_with_web_identity(ROLE, token=source, cache=memory)
    in_memory.identity()
    assert len(memory) == 1
    # A different callable is a different caller, even returning the same kind of token.
    other = rolesession.assume_role_with_web_identity(ROLE, token=TokenSource(), cache=memory)
    assert other is not in_memory
    other.identity()
    assert len(memory) == 2
    assert sts_calls.count() == 4


def test_same_callable_and_parameters_return_the_warm_session(sts_mock: None, sts_calls: StsRecorder) -> None:
    source = TokenSource()
    first = rolesession.assume_role_with_web_identity(ROLE, token=source)
    first.identity()
    again = rolesession.assume_role_with_web_identity(ROLE, token=source)
    assert again is first
    assert rolesession.assume_role_with_web_identity(ROLE, token=source, cache=None) is not first
    assert sts_calls.count() == 1


# -- what a RoleSession can do -----------------------------------------------------------------


def test_chaining_onward_from_a_web_identity_session(
    sts_mock: None, sts_calls: StsRecorder, token_file: Path, no_source_credentials: None
) -> None:
    web = rolesession.assume_role_with_web_identity(ROLE, token_file=token_file, session_name="pod")
    hop = web.assume_role(ROLE_B, session_name="hub")
    assert hop.parent is web
    arn = hop.client("sts").get_caller_identity()["Arn"]
    assert arn == f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Hub/hub"
    assert [op for op, _ in sts_calls.calls] == ["AssumeRoleWithWebIdentity", "AssumeRole"]
    assert hop.identity()["Account"] == OTHER_ACCOUNT
    assert web.identity()["Account"] == ACCOUNT

    via_chain = rolesession.chain([ROLE_B], source=web, session_name="hub2")
    assert via_chain.identity()["Arn"].endswith(":assumed-role/Hub/hub2")


def test_chained_hop_picks_up_the_parents_refresh(
    sts_mock: None, sts_calls: StsRecorder, frozen: Any, token_file: Path
) -> None:
    web = rolesession.assume_role_with_web_identity(ROLE, token_file=token_file)
    hop = web.assume_role(ROLE_B)
    hop.identity()
    parent_key = web.get_credentials().get_frozen_credentials().access_key
    token_file.write_text(make_jwt())
    frozen.tick(3600 - 30)
    hop.get_credentials().get_frozen_credentials()  # the hop's refresh reads the parent's ...
    hop.get_credentials().wait_for_background()
    web.get_credentials().wait_for_background()  # ... which starts the parent's own refresh
    assert web.get_credentials().get_frozen_credentials().access_key != parent_key
    ops = [op for op, _ in sts_calls.calls]
    assert ops.count("AssumeRoleWithWebIdentity") == 2 and ops.count("AssumeRole") == 2


def test_scoped_re_assumes_with_a_fresh_token_and_only_the_given_policies(
    sts_mock: None, sts_calls: StsRecorder
) -> None:
    source = TokenSource()
    session = rolesession.assume_role_with_web_identity(ROLE, token=source, policy_arns=[READ_ONLY])
    session.identity()
    narrow = session.scoped(policy=rolesession.Policy.allow("s3:GetObject", "arn:aws:s3:::logs/*"))
    assert narrow is not session and narrow.role_arn == ROLE
    narrow.identity()
    params = sts_calls.params()
    assert "PolicyArns" not in params  # replaced, not merged
    assert "s3:GetObject" in params["Policy"]
    assert params["WebIdentityToken"] == source.issued[-1]
    assert len(source.issued) == 2
    assert narrow.get_credentials().access_key != session.get_credentials().access_key
    assert "Policy" not in sts_calls.params(0)


def test_over_http_against_a_local_sts(
    moto_server: str, sts_calls: StsRecorder, token_file: Path, no_source_credentials: None
) -> None:
    session = rolesession.assume_role_with_web_identity(
        ROLE, token_file=token_file, session_name="http", sts_endpoint_url=moto_server
    )
    identity = session.identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/http"
    client = session.client("sts", endpoint_url=moto_server)
    assert client.get_caller_identity()["Arn"] == identity["Arn"]
    assert sts_calls.params()["WebIdentityToken"] == token_file.read_text()
    rotated = make_jwt()
    token_file.write_text(rotated)
    session.refresh()
    assert sts_calls.params()["WebIdentityToken"] == rotated
    assert isinstance(session, boto3.Session)


def test_logs_one_info_line_per_sts_call(
    sts_mock: None, sts_calls: StsRecorder, log_records: pytest.LogCaptureFixture
) -> None:
    session = rolesession.assume_role_with_web_identity(ROLE, token=make_jwt())
    session.identity()
    session.identity()
    info = [
        r
        for r in log_records.records
        if r.name == "rolesession" and r.levelno == logging.INFO and WEB in r.getMessage()
    ]
    assert len(info) == sts_calls.count() == 1
    assert ROLE in info[0].getMessage()


def test_file_cache_holds_token_file_entries_but_never_callable_ones(
    sts_mock: None, sts_calls: StsRecorder, token_file: Path, tmp_path: Path
) -> None:
    directory = tmp_path / "cache"
    cache = rolesession.FileCache(directory)
    rolesession.assume_role_with_web_identity(ROLE, token_file=token_file, cache=cache).identity()
    files = sorted(directory.glob("*.json"))
    assert len(files) == 1
    assert token_file.read_text() not in files[0].read_text()

    source = TokenSource()
    session = rolesession.assume_role_with_web_identity(ROLE_B, token=source, cache=cache)
    session.identity()
    session.refresh()
    assert sorted(directory.glob("*.json")) == files  # nothing new on disk
    assert sts_calls.count() == 3


def test_a_relative_token_file_survives_a_change_of_directory(
    sts_mock: None, sts_calls: StsRecorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text(make_jwt())
    monkeypatch.chdir(tmp_path)
    session = rolesession.assume_role_with_web_identity(ROLE, token_file="token", cache=None)
    monkeypatch.chdir("/")
    assert session.identity()["Account"] == ACCOUNT
    assert _tokens_sent(sts_calls) == [(tmp_path / "token").read_text()]
