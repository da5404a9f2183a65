"""Sessions that travel: a ``RoleSession`` pickles as its recipe and comes back lazy.

In this process (the same registry: identical recipes are one session), and
in worker processes (``ProcessPoolExecutor`` with the spawn start method)
against a moto server on loopback behind the reliability suite's fault
proxy, which shortens credentials so a worker can be seen refreshing.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import boto3
import botocore.config
import pytest

import rolesession
from helpers import refresh_inside
from rolesession import FileCache, InvalidParameterError, MemoryCache
from rolesession.testing import StsRecorder
from tokens import make_jwt, make_saml_response

ROLE = "arn:aws:iam::123456789012:role/Reader"
HUB = "arn:aws:iam::210987654321:role/Hub"
TARGET = "arn:aws:iam::111122223333:role/Target"
MFA = "arn:aws:iam::123456789012:mfa/alice"
PRINCIPAL = "arn:aws:iam::123456789012:saml-provider/Corp"
SAML = make_saml_response(ROLE, PRINCIPAL)


def fresh_code() -> str:
    """A module-level provider: pickles by reference."""
    return "123456"


def token_from_disk() -> str:
    return make_jwt()


# -- in this process --------------------------------------------------------------------------


def test_a_session_pickles_as_its_recipe_and_comes_back_as_the_same_session(sts_mock, sts_calls):
    session = rolesession.chain([HUB, TARGET], duration=900)
    held = session.get_credentials().get_frozen_credentials()
    data = pickle.dumps(session)
    for secret in (held.secret_key, held.token, held.access_key):
        assert secret.encode() not in data  # recipes only, never credentials
    again = pickle.loads(data)
    assert again is session  # identical recipe, same process: the same session
    assert sts_calls.count() == 2


def test_after_a_fresh_start_the_recipe_is_a_lazy_session(sts_mock, sts_calls):
    session = rolesession.chain([HUB, TARGET], session_name="travel", duration=900)
    data = pickle.dumps(session)
    rolesession.testing.reset()
    again = pickle.loads(data)
    assert again is not session and sts_calls.count() == 0
    assert again.role_arn == TARGET and again.parent.role_arn == HUB
    assert again.describe()["session_name"] == "travel"
    assert again.identity()["Account"] == "111122223333"
    assert [c.params["RoleArn"] for c in sts_calls.calls] == [HUB, TARGET]


def test_callable_providers_and_token_files_travel(sts_mock, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(make_jwt())
    for session in (
        rolesession.assume_role(ROLE, mfa_serial=MFA, mfa_token=fresh_code),
        rolesession.assume_role_with_web_identity(ROLE, token_file=token_file),
        rolesession.assume_role_with_web_identity(ROLE, token=token_from_disk),
        rolesession.mfa_session(MFA, fresh_code).assume_role(ROLE),
    ):
        assert pickle.loads(pickle.dumps(session)).identity()["Arn"]


class TotpCodes:
    """An MFA code provider seeded with a secret, as a TOTP generator is: the seed pickles with it."""

    def __init__(self, seed: str) -> None:
        self.seed = seed

    def __call__(self) -> str:
        return "123456"


def pickle_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "rolesession" and r.levelno == logging.WARNING
    ]


def test_pickling_a_callable_provider_warns_once_per_process(sts_mock, caplog):
    """Issue 17, 14: a TOTP-seeded MFA callable ships its seed with the pickle."""
    seeded = rolesession.assume_role(ROLE, mfa_serial=MFA, mfa_token=TotpCodes("JBSWY3DPEHPK3PXP"))
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        data = pickle.dumps(seeded)
        pickle.dumps(seeded)
        pickle.dumps(rolesession.assume_role_with_web_identity(ROLE, token=token_from_disk))
    assert b"JBSWY3DPEHPK3PXP" in data  # what the warning is about
    [warning] = pickle_warnings(caplog)
    assert "MFA code provider, TotpCodes" in warning and "JBSWY3DPEHPK3PXP" not in warning
    caplog.clear()
    rolesession.testing.reset()  # a new process warns again
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        pickle.dumps(rolesession.mfa_session(MFA, fresh_code).assume_role(ROLE))
    assert len(pickle_warnings(caplog)) == 1


def test_pickling_proxy_credentials_in_sts_config_warns_once(sts_mock, caplog):
    config = botocore.config.Config(proxies={"https": "http://alice:pr0xy-s3cret@127.0.0.1:3128"})
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        data = pickle.dumps(rolesession.assume_role(ROLE, sts_config=config))
        pickle.dumps(rolesession.assume_role(HUB, sts_config=config))
    assert b"pr0xy-s3cret" in data
    [warning] = pickle_warnings(caplog)
    assert "proxy" in warning and "pr0xy-s3cret" not in warning and "alice" not in warning


def test_pickling_a_recipe_without_carried_secrets_warns_nothing(sts_mock, tmp_path, caplog):
    token_file = tmp_path / "token"
    token_file.write_text(make_jwt())
    plain_proxy = botocore.config.Config(proxies={"https": "http://127.0.0.1:3128"})
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        pickle.dumps(rolesession.chain([HUB, TARGET], sts_config=plain_proxy))
        pickle.dumps(rolesession.assume_role_with_web_identity(ROLE, token_file=token_file))
    assert pickle_warnings(caplog) == []


def test_a_file_cache_travels_and_memory_caches_stay_home(sts_mock, tmp_path):
    data = pickle.dumps(rolesession.assume_role(ROLE, cache=FileCache(tmp_path / "cache")))
    rolesession.testing.reset()
    pickle.loads(data).identity()  # the rebuilt session writes to the same directory ...
    assert list((tmp_path / "cache").glob("*.json"))
    rolesession.testing.reset()
    with StsRecorder() as calls:  # ... where any session of this recipe finds its entry
        rolesession.assume_role(ROLE, cache=FileCache(tmp_path / "cache")).identity()
    assert calls.count() == 0
    rolesession.testing.reset()
    again = pickle.loads(pickle.dumps(rolesession.assume_role(ROLE, cache=MemoryCache())))
    again.identity()
    # the receiving side used its own default cache: a new session finds the entry there
    with StsRecorder() as calls:
        rolesession.assume_role(ROLE, source=boto3.Session()).identity()
    assert calls.count() == 0


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: rolesession.assume_role(ROLE, source=boto3.Session()), "explicit Session"),
        (lambda: rolesession.assume_role(ROLE, mfa_serial=MFA, mfa_token="123456"), "static MFA code"),
        (lambda: rolesession.assume_role_with_web_identity(ROLE, token=make_jwt()), "static web identity"),
        (lambda: rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=SAML), "static SAML assertion"),
        (lambda: rolesession.assume_role(ROLE, mfa_serial=MFA, mfa_token=lambda: "1"), "cannot be pickled"),
        (lambda: rolesession.mfa_session(MFA, "123456").assume_role(ROLE), "static MFA code"),
        (lambda: rolesession.assume_role(ROLE, source=boto3.Session()).assume_role(HUB), "explicit Session"),
    ],
)
def test_sessions_that_cannot_travel_say_why(sts_mock, make, words):
    with pytest.raises(InvalidParameterError) as info:
        pickle.dumps(make())
    assert words in str(info.value) and info.value.parameter == "session"


def test_a_profile_session_travels_as_its_profile(sts_mock, sts_calls, tmp_path, monkeypatch):
    (tmp_path / "config").write_text(f"[profile hub]\nrole_arn = {HUB}\nsource_profile = base\n")
    (tmp_path / "credentials").write_text("[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    session = rolesession.from_profile("hub").assume_role(TARGET)
    data = pickle.dumps(session)
    rolesession.testing.reset()
    again = pickle.loads(data)
    assert again.role_arn == TARGET and again.parent.role_arn == HUB
    assert again.identity()["Account"] == "111122223333"


# -- in worker processes ----------------------------------------------------------------------------


def worker_identity(session: rolesession.RoleSession) -> tuple[int, str, str]:
    """Run in a worker: (pid, the session's access key, its identity's ARN)."""
    key = session.get_credentials().get_frozen_credentials().access_key
    return os.getpid(), key, session.identity()["Arn"]


@pytest.fixture
def proxy(moto_server: str) -> Any:
    from reliability.faultproxy import FaultProxy

    fault_proxy = FaultProxy(moto_server).start()
    try:
        yield fault_proxy
    finally:
        fault_proxy.stop()


def _pool() -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


def test_a_pickled_session_in_a_worker_makes_one_sts_call_for_many_tasks(proxy):
    session = rolesession.assume_role(ROLE, sts_endpoint_url=proxy.url)
    with _pool() as pool:
        results = list(pool.map(worker_identity, [session] * 6))
    assert len({pid for pid, _, _ in results}) == 1
    assert len({key for _, key, _ in results}) == 1  # one session, one credential set, in the worker
    assert all("assumed-role/Reader" in arn for _, _, arn in results)
    assert proxy.count("AssumeRole") == 1  # ... and the caller made none


def test_a_pickled_session_refreshes_inside_its_worker(proxy):
    proxy.expire_in(8, action="AssumeRole")  # 8-second credentials: due for refresh within seconds
    session = rolesession.assume_role(ROLE, sts_endpoint_url=proxy.url)
    with _pool() as pool:
        _, first, renewed = pool.submit(refresh_inside, session).result(timeout=60)
    assert renewed != first
    assert proxy.count("AssumeRole") >= 2
