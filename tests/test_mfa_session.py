"""``mfa_session``: GetSessionToken once, any number of roles without codes, refreshing."""

from __future__ import annotations

import threading

import boto3
import pytest

import rolesession
from rolesession import FileCache, InvalidParameterError, TokenError
from rolesession.testing import reset

MFA = "arn:aws:iam::123456789012:mfa/alice"
ROLE = "arn:aws:iam::123456789012:role/Admin"
OTHER = "arn:aws:iam::210987654321:role/Admin"


class Codes:
    """An MFA code provider counting how often it is asked, and from which thread."""

    def __init__(self) -> None:
        self.threads: list[str] = []

    def __call__(self) -> str:
        self.threads.append(threading.current_thread().name)
        return f"{len(self.threads):06d}"


def test_one_code_then_roles_without_codes(sts_mock, sts_calls):
    codes = Codes()
    mfa = rolesession.mfa_session(MFA, codes)
    assert mfa.role_arn is None and sts_calls.count() == 0
    admin, other = mfa.assume_role(ROLE, duration=7200), mfa.assume_role(OTHER)
    admin.identity(), other.identity()
    assert [c.operation for c in sts_calls.calls] == ["GetSessionToken", "AssumeRole", "AssumeRole"]
    token = sts_calls.calls[0].params
    assert token == {"SerialNumber": MFA, "DurationSeconds": 43200, "TokenCode": "000001"}
    roles = [c.params for c in sts_calls.calls[1:]]
    assert all("TokenCode" not in p and "SerialNumber" not in p for p in roles)
    assert roles[0]["DurationSeconds"] == 7200  # a user's session, not a role's: no one-hour cap
    assert len(codes.threads) == 1


def test_the_code_is_asked_once_per_session_and_the_session_refreshes(sts_mock, sts_calls, frozen):
    codes = Codes()
    mfa = rolesession.mfa_session(MFA, codes, duration=3600)
    admin = mfa.assume_role(ROLE, duration=900)
    for _ in range(4 * 12):  # four hours, every five minutes
        admin.get_credentials().get_frozen_credentials()
        admin.get_credentials().wait_for_background()
        mfa.get_credentials().wait_for_background()
        frozen.tick(300)
    assert 4 <= len(codes.threads) <= 5  # one per hour-long MFA session
    assert sts_calls.count("GetSessionToken") == len(codes.threads)


def test_an_interactive_code_provider_is_never_asked_from_a_background_thread(sts_mock, sts_calls, frozen):
    codes = Codes()
    codes.interactive = True  # type: ignore[attr-defined]
    mfa = rolesession.mfa_session(MFA, codes, duration=900)
    mfa.get_credentials().get_frozen_credentials()
    for _ in range(89):
        frozen.tick(10)
        mfa.get_credentials().get_frozen_credentials()
        mfa.get_credentials().wait_for_background()
    frozen.tick(20)  # expired: the next read asks, in the foreground
    mfa.get_credentials().get_frozen_credentials()
    assert codes.threads == [threading.current_thread().name] * 2


def test_a_static_code_serves_one_session_then_says_to_pass_a_callable(sts_mock, sts_calls, frozen):
    mfa = rolesession.mfa_session(MFA, "123456", duration=900)
    mfa.get_credentials().get_frozen_credentials()
    frozen.tick(901)
    with pytest.raises(TokenError, match="callable"):
        mfa.get_credentials().get_frozen_credentials()
    assert sts_calls.count() == 1


def test_a_file_cache_shares_the_mfa_session(sts_mock, sts_calls, tmp_path):
    cache = FileCache(tmp_path / "cache")
    codes = Codes()
    rolesession.mfa_session(MFA, codes, cache=cache).identity  # noqa: B018  (lazy: nothing yet)
    first = rolesession.mfa_session(MFA, codes, cache=cache)
    first.get_credentials().get_frozen_credentials()
    # Another process would build its own session from the same source keys:
    again = rolesession.mfa_session(MFA, Codes(), cache=cache, source=boto3.Session())
    assert again is not first
    assert (
        again.get_credentials().get_frozen_credentials() == first.get_credentials().get_frozen_credentials()
    )
    assert sts_calls.count("GetSessionToken") == 1 and len(codes.threads) == 1


@pytest.mark.parametrize("hours", [24, 36])
def test_an_mfa_session_longer_than_twelve_hours_is_file_cached(sts_mock, sts_calls, tmp_path, hours):
    cache = FileCache(tmp_path / "cache")
    codes = Codes()
    first = rolesession.mfa_session(MFA, codes, duration=hours * 3600, cache=cache)
    first.get_credentials().get_frozen_credentials()
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1  # written: STS issues up to 36 hours
    reset()  # what a new process sees: no sessions, nothing in memory
    again = rolesession.mfa_session(MFA, codes, duration=hours * 3600, cache=FileCache(tmp_path / "cache"))
    assert again is not first
    assert (
        again.get_credentials().get_frozen_credentials() == first.get_credentials().get_frozen_credentials()
    )
    assert sts_calls.count("GetSessionToken") == 1 and len(codes.threads) == 1  # no second code


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"mfa_serial": "x"}, "mfa_serial"),
        ({"mfa_token": None}, "mfa_token"),
        ({"mfa_token": "12345"}, "mfa_token"),
        ({"duration": 129601}, "duration"),
        ({"duration": 600}, "duration"),
        ({"source": "me"}, "source"),
        ({"region": "Mars"}, "region"),
        ({"cache": 3}, "cache"),
    ],
)
def test_bad_parameters_are_rejected_before_any_call(sts_mock, sts_calls, kwargs, parameter):
    arguments = {"mfa_serial": MFA, "mfa_token": "123456", **kwargs}
    with pytest.raises(InvalidParameterError) as info:
        rolesession.mfa_session(arguments.pop("mfa_serial"), arguments.pop("mfa_token"), **arguments)
    assert info.value.parameter == parameter
    assert sts_calls.count() == 0


def test_thirty_six_hours_is_the_longest_session(sts_mock):
    assert rolesession.mfa_session(MFA, "123456", duration=129600).describe()["duration"] == 129600


def test_no_secret_in_reprs(sts_mock):
    mfa = rolesession.mfa_session(MFA, "654321")
    texts = [repr(mfa), str(mfa), repr(mfa.describe()), repr(mfa.get_credentials())]
    assert all("654321" not in text for text in texts)


def test_a_hop_refreshing_in_the_background_never_makes_its_mfa_session_ask(sts_mock, sts_calls, frozen):
    prompt = Codes()
    prompt.interactive = True  # type: ignore[attr-defined]
    mfa = rolesession.mfa_session(MFA, prompt, duration=900)
    mfa.get_credentials().get_frozen_credentials()
    frozen.tick(300)
    role = mfa.assume_role(ROLE, duration=900)  # outlives its MFA session by 5 minutes
    credentials = role.get_credentials()
    credentials.get_frozen_credentials()
    for _ in range(100):  # past the MFA session's expiry, through the role's refresh window
        frozen.tick(10)
        credentials.get_frozen_credentials()
        credentials.wait_for_background()
    assert prompt.threads == [threading.current_thread().name] * len(prompt.threads)
    assert len(prompt.threads) == 2  # the first code, and one asked in the foreground once needed
