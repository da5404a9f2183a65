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


# -- the stable format ---------------------------------------------------------------------------------

STORED = os.path.join(os.path.dirname(__file__), "data", "recipe-v1.pickle")


def globals_named(data: bytes) -> set[str]:
    """Every ``module.name`` a pickle refers to (what unpickling imports)."""
    import pickletools

    names: set[str] = set()
    strings: list[str] = []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("GLOBAL", "INST"):
            names.add(str(arg).replace(" ", "."))
        elif isinstance(arg, str):
            strings.append(arg)
        if op.name == "STACK_GLOBAL":
            names.add(f"{strings[-2]}.{strings[-1]}")
    return names


def test_a_session_pickles_as_versioned_plain_data(sts_mock):
    session = rolesession.chain([HUB, TARGET], duration=900)
    rebuild, (data,) = session.__reduce__()
    assert rebuild is rolesession.session_from_recipe
    assert data["format"] == "rolesession.recipe" and data["version"] == 1
    assert data["root"] == {"kind": "default"}
    assert [hop["parameters"]["role_arn"] for hop in data["hops"]] == [HUB, TARGET]
    assert rolesession.session_from_recipe(data) is session  # identical recipe: the same session


def test_session_from_recipe_refuses_what_it_cannot_read():
    with pytest.raises(InvalidParameterError) as info:
        rolesession.session_from_recipe(
            {"format": "rolesession.recipe", "version": 99, "root": {}, "hops": []}
        )
    assert info.value.parameter == "data" and "version 99" in str(info.value)
    with pytest.raises(InvalidParameterError):
        rolesession.session_from_recipe({"format": "something else"})


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda tmp: rolesession.chain([HUB, TARGET], duration=900), id="chain"),
        pytest.param(
            lambda tmp: rolesession.assume_role_with_web_identity(
                ROLE, token=token_from_disk, cache=FileCache(tmp)
            ),
            id="web-identity",
        ),
        pytest.param(
            lambda tmp: rolesession.assume_role(
                ROLE, refresh=rolesession.RefreshPolicy(advisory=600, mandatory=60)
            ),
            id="refresh-policy",
        ),
        pytest.param(lambda tmp: rolesession.Policy.allow("s3:GetObject", "arn:aws:s3:::b/*"), id="policy"),
        pytest.param(lambda tmp: rolesession.RefreshPolicy(mandatory=60), id="refresh"),
        pytest.param(lambda tmp: FileCache(tmp), id="file-cache"),
        pytest.param(
            lambda tmp: rolesession.AssumeRoleError("no", role_arn=ROLE, code="AccessDenied"), id="error"
        ),
        pytest.param(lambda tmp: rolesession.InvalidParameterError.of("duration", "too long"), id="invalid"),
        pytest.param(lambda tmp: rolesession.TokenError("no token", role_arn=ROLE), id="token-error"),
    ],
)
def test_no_pickle_names_a_private_module(sts_mock, tmp_path, make):
    names = globals_named(pickle.dumps(make(tmp_path)))
    assert names and not [name for name in names if name.startswith("rolesession._")], names


def test_a_profile_session_pickle_names_no_private_module(sts_mock, tmp_path, monkeypatch):
    (tmp_path / "config").write_text(f"[profile hub]\nrole_arn = {HUB}\nsource_profile = base\n")
    (tmp_path / "credentials").write_text("[base]\naws_access_key_id = AKIABASE\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    session = rolesession.from_profile("hub", mfa_token=fresh_code)
    assert session.recipe.profile == "hub"
    data = pickle.dumps(session)
    assert not [name for name in globals_named(data) if name.startswith("rolesession._")]
    assert session.__reduce__()[1][0]["root"]["profile"] == "hub"


def test_a_pickle_stored_by_an_earlier_release_unpickles_into_a_working_lazy_session(sts_mock, sts_calls):
    # tests/data/make_recipe_pickle.py made it; never regenerate it: later releases must read these bytes.
    with open(STORED, "rb") as stored:
        session = pickle.loads(stored.read())
    assert isinstance(session, rolesession.RoleSession)
    assert sts_calls.count() == 0  # lazy
    assert session.chain == (HUB, TARGET) and session.session_name == "stored" and session.duration == 900
    assert session.describe()["external_id"] == "partner-42"
    assert session.policy_arns == ("arn:aws:iam::aws:policy/ReadOnlyAccess",)
    assert session.identity()["Account"] == "111122223333"
    assert sts_calls.count() == 2
    assert session.cache is rolesession.default_cache()  # the receiver's default cache


# -- the recipe a session keeps ------------------------------------------------------------------------


def test_every_session_keeps_its_recipe(sts_mock):
    hub = rolesession.assume_role(HUB, duration=900)
    target = hub.assume_role(TARGET)
    assert isinstance(target.recipe, rolesession.Recipe)
    assert target.recipe.operation == "AssumeRole" and target.recipe.source.role_arn == TARGET
    assert target.recipe.parent is hub and target.recipe.parent_recipe is hub.recipe
    assert [hop.source.role_arn for hop in target.recipe.hops()] == [HUB, TARGET]
    assert hub.recipe.parent is None and hub.recipe.origin is None
    assert target.recipe.cache is target.cache and target.recipe.refresh is None
    assert "secret" not in repr(target.recipe).lower()


def test_scoped_is_the_recipe_with_other_policies(sts_mock):
    session = rolesession.assume_role(ROLE)
    narrow = session.scoped(policy_arns=["arn:aws:iam::aws:policy/ReadOnlyAccess"])
    assert narrow.recipe == session.recipe.replace(source=narrow.recipe.source)
    assert narrow.recipe.source.policy_arns == ("arn:aws:iam::aws:policy/ReadOnlyAccess",)
    assert session.scoped(policy_arns=["arn:aws:iam::aws:policy/ReadOnlyAccess"]) is narrow  # warm


# -- clearer names, old ones kept --------------------------------------------------------------------


def test_the_clearer_names_and_their_older_aliases_are_the_same_objects(sts_mock):
    assert rolesession.build_role_arn("123456789012", "Reader") == ROLE
    assert rolesession.role_arn is rolesession.build_role_arn
    assert rolesession.chain is rolesession.assume_role_chain
    assert rolesession.assume_role_chain([HUB, TARGET]).chain == (HUB, TARGET)
    assert rolesession.StsError is rolesession.AssumeRoleError
    with pytest.raises(rolesession.AssumeRoleError):
        raise rolesession.StsError("refused", role_arn=ROLE, code="AccessDenied")
