"""``from_environment``, ``install``: botocore's default chain served by rolesession's engine.

Every source kind speaks its real protocol on loopback (``default_chain_fakes``):
IMDSv2, the ECS / EKS Pod Identity container endpoint, the SSO portal, a
counting ``credential_process`` helper; moto for STS where roles are
involved. For each wrapped kind: which source is found, refresh inside the
window, a hanging source in the mandatory window (readers holding valid
credentials get them at once), an outage (held credentials served) and a
rejection.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

import rolesession
from default_chain_fakes import (
    SECRET,
    SSO_PROFILE,
    ContainerServer,
    MetadataServer,
    ProcessHelper,
    SsoPortal,
)
from helpers import ROLE, SOURCE_KEY, SOURCE_SECRET, concurrently
from rolesession import InvalidParameterError, SourceCredentialsError

HOUR = 3600


def key_of(session: Any) -> str:
    return str(session.get_credentials().get_frozen_credentials().access_key)


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str, credentials: str = "") -> None:
    (tmp_path / "config").write_text(config)
    (tmp_path / "credentials").write_text(credentials)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


@pytest.fixture
def no_env_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")


# -- one adapter per wrapped source kind --------------------------------------------------------------


class Kind:
    """A wrapped source set up in the environment: its fake, how to count, hang, fail and reject it."""

    method = ""
    prefix = ""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lifetime: float) -> None:
        self.fake: Any = None

    @property
    def issued(self) -> int:
        return len(self.fake.issued)

    def sync(self) -> None:
        """After the test moves its clock (the helper process reads it from a file)."""

    def hold(self) -> None:
        self.fake.hold()

    def release(self) -> None:
        self.fake.release()

    def fail(self, on: bool = True) -> None:
        self.fake.fail = 500 if on else None

    def reject(self) -> None:
        self.fake.fail = 403

    def close(self) -> None:
        self.fake.close()


class Container(Kind):
    method, prefix = "container-role", "ASIACONTAINERKEY"

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lifetime: float) -> None:
        self.fake = ContainerServer(lifetime=lifetime)
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{self.fake.url}/creds")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", self.fake.token)

    def reject(self) -> None:
        self.fake.token = "another-token"  # ours is refused


class Imds(Kind):
    method, prefix = "iam-role", "ASIAIMDSKEY"

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lifetime: float) -> None:
        self.fake = MetadataServer(lifetime=lifetime)
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", self.fake.url + "/")
        # botocore's 1 s default could expire while a test holds the service on a busy machine.
        monkeypatch.setenv("AWS_METADATA_SERVICE_TIMEOUT", "5")


class Process(Kind):
    method, prefix = "custom-process", "ASIAPROCESSKEY"

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lifetime: float) -> None:
        self.fake = ProcessHelper(tmp_path / "helper", lifetime=lifetime)
        write_config(tmp_path, monkeypatch, f"[default]\ncredential_process = {self.fake.command}\n")

    @property
    def issued(self) -> int:
        return int(self.fake.runs)

    def sync(self) -> None:
        self.fake.sync_clock()

    def fail(self, on: bool = True) -> None:
        self.fake.refuse(on)

    def reject(self) -> None:
        self.fake.refuse()

    def close(self) -> None:
        self.fake.release()


class Sso(Kind):
    method, prefix = "sso", "ASIASSOKEY"

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lifetime: float) -> None:
        self.fake = SsoPortal(lifetime=lifetime)
        self.fake.sign_in(tmp_path / "home", monkeypatch)
        write_config(tmp_path, monkeypatch, SSO_PROFILE)


KINDS = {"container": Container, "imds": Imds, "process": Process, "sso": Sso}


@pytest.fixture(params=sorted(KINDS))
def kind(request: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_env_keys: None) -> Iterator[Kind]:
    made = KINDS[request.param](tmp_path, monkeypatch, HOUR)
    try:
        yield made
    finally:
        made.close()


def tick(frozen: Any, kind: Kind, seconds: float) -> None:
    frozen.tick(seconds)
    kind.sync()


# -- each wrapped kind ------------------------------------------------------------------------------


def test_the_source_is_found_named_and_fetched_once(kind):
    session = rolesession.from_environment()
    described = session.describe()
    assert described["provider"] == kind.method
    assert kind.issued == 0  # nothing fetched until the first use
    assert [key_of(session) for _ in range(5)] == [kind.prefix + "0000"] * 5
    assert kind.issued == 1
    assert rolesession.from_environment() is session  # the same caller: one session, one engine
    assert SECRET not in repr(session) and SECRET not in repr(described)
    # No STS call is made for it: nothing about STS is claimed.
    assert "duration" not in described and "sts_region" not in described
    assert "duration=" not in repr(session)


def test_refreshed_in_the_background_inside_the_lifetime_relative_window(kind, frozen):
    session = rolesession.from_environment()
    kind.sync()
    assert key_of(session) == kind.prefix + "0000"
    tick(frozen, kind, HOUR - 16 * 60)  # 16 minutes left: before the 15-minute advisory window
    assert key_of(session) == kind.prefix + "0000"
    session.get_credentials().wait_for_background(30)
    assert kind.issued == 1
    tick(frozen, kind, 9 * 60)  # 7 minutes left: past the window's jittered start
    assert key_of(session) == kind.prefix + "0000"  # the reader keeps the held set
    session.get_credentials().wait_for_background(30)
    assert key_of(session) == kind.prefix + "0001"
    assert kind.issued == 2


def test_a_hanging_source_in_the_mandatory_window_holds_no_reader(kind, frozen):
    session = rolesession.from_environment()
    kind.sync()
    assert key_of(session) == kind.prefix + "0000"
    tick(frozen, kind, HOUR - 30)  # 30 s left: the mandatory window
    kind.hold()
    try:
        # The source is hanging: a reader that waited for it could not return before release().
        assert key_of(session) == kind.prefix + "0000"
        assert key_of(session) == kind.prefix + "0000"
    finally:
        kind.release()
    session.get_credentials().wait_for_background(30)
    assert key_of(session) == kind.prefix + "0001"


def test_an_outage_keeps_serving_the_valid_credentials_held(kind, frozen, caplog):
    caplog.set_level(logging.DEBUG)
    session = rolesession.from_environment()
    kind.sync()
    assert key_of(session) == kind.prefix + "0000"
    tick(frozen, kind, HOUR - 30)
    kind.fail()
    assert key_of(session) == kind.prefix + "0000"
    session.get_credentials().wait_for_background(60)
    assert key_of(session) == kind.prefix + "0000"  # static stability
    assert any(r.levelno == logging.WARNING and "credentials" in r.getMessage() for r in caplog.records)
    kind.fail(False)
    tick(frozen, kind, 20)  # past the backoff (at most half of the 30 s that were left)
    key_of(session)
    session.get_credentials().wait_for_background(60)
    assert key_of(session).startswith(kind.prefix)
    assert key_of(session) != kind.prefix + "0000"
    assert SECRET not in caplog.text


def test_a_rejection_raises_naming_the_source_and_no_secret(kind):
    kind.reject()
    session = rolesession.from_environment()
    with pytest.raises(SourceCredentialsError) as caught:
        key_of(session)
    message = str(caught.value)
    assert kind.method in message
    for secret in (SECRET, "container-authorization-token", SsoPortal.ACCESS_TOKEN, MetadataServer.TOKEN):
        assert secret not in message


def test_credentials_aws_rejects_are_replaced_by_the_provider(tmp_path, monkeypatch, no_env_keys):
    with ContainerServer() as server:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{server.url}/creds")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", str(server.token))
        session = rolesession.from_environment()
        assert key_of(session) == "ASIACONTAINERKEY0000"
        # What the session's clients do when AWS answers ExpiredToken or InvalidClientTokenId.
        assert session.get_credentials().reject("ASIACONTAINERKEY0000")
        assert key_of(session) == "ASIACONTAINERKEY0001"
        assert len(server.issued) == 2


def test_instance_metadata_extending_its_expiry_keeps_the_session_going(monkeypatch, no_env_keys, frozen):
    with MetadataServer() as imds:
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url + "/")
        session = rolesession.from_environment()
        assert key_of(session) == "ASIAIMDSKEY0000"
        imds.extend = 15 * 60  # EC2 cannot refresh: the same set, its expiry moved on
        frozen.tick(HOUR - 7 * 60)
        key_of(session)
        session.get_credentials().wait_for_background(30)
        frozen.tick(10 * 60)  # past the first expiry
        assert key_of(session) == "ASIAIMDSKEY0000"  # still valid: no error, no wait
        assert session.expiration.timestamp() > dt.datetime.now(dt.timezone.utc).timestamp()
        assert len(imds.issued) == 1


# -- which source botocore's order finds ------------------------------------------------------------


def test_long_term_keys_in_the_environment_pass_through_unchanged():
    session = rolesession.from_environment()
    assert session.describe()["provider"] == "env"
    frozen = session.get_credentials().get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (SOURCE_KEY, SOURCE_SECRET, "")
    assert session.cache is None  # the caller's own keys: nothing to cache
    assert session.region_name == "us-east-1"


def test_long_term_keys_from_the_credentials_file(tmp_path, monkeypatch, no_env_keys):
    write_config(tmp_path, monkeypatch, "", f"[default]\naws_access_key_id = AKIAFROMTHEFILE00001\n"
                 f"aws_secret_access_key = {SOURCE_SECRET}\n")  # fmt: skip
    session = rolesession.from_environment()
    assert session.describe()["provider"] == "shared-credentials-file"
    assert key_of(session) == "AKIAFROMTHEFILE00001"


def test_environment_keys_come_first_unless_a_profile_is_named(tmp_path, monkeypatch):
    helper = ProcessHelper(tmp_path / "helper")
    write_config(tmp_path, monkeypatch, f"[profile dev]\ncredential_process = {helper.command}\n")
    monkeypatch.setenv("AWS_PROFILE", "dev")
    assert rolesession.from_environment().describe()["provider"] == "env"  # as botocore: env keys win
    named = rolesession.from_environment(profile="dev")  # as botocore: a named profile skips them
    assert named.describe() | {"found": "profile 'dev'"} == named.describe()
    assert key_of(named) == "ASIAPROCESSKEY0000"


def test_a_credential_process_profile_comes_before_the_container_endpoint(tmp_path, monkeypatch, no_env_keys):
    with ContainerServer() as server:
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{server.url}/creds")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", str(server.token))
        with MetadataServer() as imds:
            monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
            monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url + "/")
            assert rolesession.from_environment().describe()["provider"] == "container-role"  # before IMDS
            helper = ProcessHelper(tmp_path / "helper")
            write_config(tmp_path, monkeypatch, f"[default]\ncredential_process = {helper.command}\n")
            assert rolesession.from_environment().describe()["provider"] == "custom-process"
            assert server.requests == [] and imds.requests == []  # decided from configuration alone
    # ECS's relative URI names the agent's link-local address: found without a request.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/task")
    found = rolesession.from_environment().describe()
    assert (found["provider"], found["found"]) == ("container-role", "http://169.254.170.2/v2/credentials/task")


def test_a_role_profile_goes_through_from_profile(tmp_path, monkeypatch, sts_mock, sts_calls):
    write_config(
        tmp_path, monkeypatch, f"[default]\nrole_arn = {ROLE}\nsource_profile = base\n",
        f"[base]\naws_access_key_id = AKIABASEPROFILEKEY01\naws_secret_access_key = {SOURCE_SECRET}\n",
    )  # fmt: skip
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    session = rolesession.from_environment(region="eu-west-1")
    assert (session.operation, session.role_arn, session.region_name) == ("AssumeRole", ROLE, "eu-west-1")
    session.identity()
    assert [c.operation for c in sts_calls.calls] == ["AssumeRole"]


def test_environment_web_identity_goes_through_assume_role_with_web_identity(
    tmp_path, monkeypatch, sts_mock, sts_calls, no_env_keys
):
    from tokens import make_jwt

    (tmp_path / "token").write_text(make_jwt())
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(tmp_path / "token"))
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "orders-api")
    session = rolesession.from_environment()
    assert (session.operation, session.role_arn) == ("AssumeRoleWithWebIdentity", ROLE)
    session.identity()
    assert [c.operation for c in sts_calls.calls] == ["AssumeRoleWithWebIdentity"]
    assert sts_calls.calls[0].params["RoleSessionName"] == "orders-api"
    write_config(tmp_path, monkeypatch, "[profile dev]\nregion = eu-west-1\n")
    with pytest.raises(SourceCredentialsError):  # as botocore: a named profile ignores the variables
        rolesession.from_environment(profile="dev")


def test_no_credentials_anywhere_says_where_botocore_looked(no_env_keys):
    with pytest.raises(SourceCredentialsError) as caught:
        rolesession.from_environment()
    message = str(caught.value)
    assert "profile 'default'" in message
    assert "env" in message and "container-role" in message and "iam-role" in message


def test_bad_arguments_are_named_before_anything_is_read(monkeypatch):
    with pytest.raises(InvalidParameterError) as caught:
        rolesession.from_environment(profile="nowhere")
    assert caught.value.parameter == "profile"
    monkeypatch.setenv("AWS_PROFILE", "nowhere")
    with pytest.raises(InvalidParameterError) as caught:
        rolesession.from_environment()
    assert caught.value.parameter == "AWS_PROFILE"
    monkeypatch.delenv("AWS_PROFILE")
    with pytest.raises(InvalidParameterError) as caught:
        rolesession.from_environment(region="not a region")
    assert caught.value.parameter == "region"
    with pytest.raises(InvalidParameterError) as caught:
        rolesession.from_environment(refresh=30)  # type: ignore[arg-type]
    assert caught.value.parameter == "refresh"


# -- what the engine adds -------------------------------------------------------------------------------


def test_thirty_two_threads_cold_run_the_helper_once(tmp_path, monkeypatch, no_env_keys):
    helper = ProcessHelper(tmp_path / "helper")
    write_config(tmp_path, monkeypatch, f"[default]\ncredential_process = {helper.command}\n")
    keys = concurrently(32, lambda: key_of(rolesession.from_environment()))
    assert set(keys) == {"ASIAPROCESSKEY0000"}
    assert helper.runs == 1


def test_fifteen_minute_credentials_read_every_three_seconds_run_the_helper_once(
    tmp_path, monkeypatch, no_env_keys, frozen
):
    frozen.tick(0.5)  # the helper prints whole seconds: its credentials have a little under 15 minutes
    helper = ProcessHelper(tmp_path / "helper", lifetime=900)
    write_config(tmp_path, monkeypatch, f"[default]\ncredential_process = {helper.command}\n")
    session = rolesession.from_environment()
    for _ in range(100):  # 5 minutes
        key_of(session)
        session.get_credentials().wait_for_background(30)
        frozen.tick(3)
        helper.sync_clock()
    assert helper.runs == 1  # botocore itself would run it again at once (its fixed 15-minute window)


def test_a_file_cache_shares_the_helper_credentials_between_processes(tmp_path, monkeypatch, no_env_keys):
    from rolesession.testing import reset

    helper = ProcessHelper(tmp_path / "helper")
    write_config(tmp_path, monkeypatch, f"[default]\ncredential_process = {helper.command}\n")
    cache = rolesession.FileCache(tmp_path / "cache")
    assert key_of(rolesession.from_environment(cache=cache)) == "ASIAPROCESSKEY0000"
    reset()  # as a new process would start
    assert key_of(rolesession.from_environment(cache=cache)) == "ASIAPROCESSKEY0000"
    assert helper.runs == 1
    stored = "".join(p.read_text() for p in (tmp_path / "cache").glob("*.json"))
    assert helper.command not in stored and "ASIAPROCESSKEY0000" in stored


def test_a_rotated_container_token_is_another_caller(tmp_path, monkeypatch, no_env_keys):
    with ContainerServer(token="pod-identity-token-1") as server:
        (tmp_path / "token").write_text("pod-identity-token-1")
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{server.url}/creds")
        monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", str(tmp_path / "token"))
        cache = rolesession.FileCache(tmp_path / "cache")
        assert key_of(rolesession.from_environment(cache=cache)) == "ASIACONTAINERKEY0000"
        assert server.requests[0][2]["Authorization"] == "pod-identity-token-1"
        first = {p.name for p in (tmp_path / "cache").glob("*.json")}
        server.token = "pod-identity-token-2"
        (tmp_path / "token").write_text("pod-identity-token-2")
        session = rolesession.from_environment(cache=cache)
        session.invalidate()
        assert key_of(session) == "ASIACONTAINERKEY0001"
        names = {p.name for p in (tmp_path / "cache").glob("*.json")}
        assert names - first  # a new key: the token is part of who the caller is (as a digest)
        stored = "".join(p.read_text() for p in (tmp_path / "cache").glob("*.json"))
        assert "pod-identity-token" not in stored and "pod-identity-token" not in "".join(names)


def test_a_session_from_the_environment_does_not_travel(tmp_path, monkeypatch, no_env_keys):
    helper = ProcessHelper(tmp_path / "helper")
    write_config(tmp_path, monkeypatch, f"[default]\ncredential_process = {helper.command}\n")
    with pytest.raises(InvalidParameterError) as caught:
        pickle.dumps(rolesession.from_environment())
    assert caught.value.parameter == "session" and "from_environment" in str(caught.value)


# -- install() ------------------------------------------------------------------------------------------


def test_install_makes_plain_boto3_clients_use_the_engine(
    tmp_path, monkeypatch, moto_server, no_env_keys
):
    write_config(
        tmp_path, monkeypatch, f"[default]\nrole_arn = {ROLE}\nsource_profile = base\nregion = us-east-1\n",
        f"[base]\naws_access_key_id = AKIABASEPROFILEKEY01\naws_secret_access_key = {SOURCE_SECRET}\n",
    )  # fmt: skip
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_server)
    before = boto3.DEFAULT_SESSION
    installed = rolesession.install()
    assert boto3.DEFAULT_SESSION is installed and installed.role_arn == ROLE
    identity = boto3.client("sts").get_caller_identity()
    assert identity["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/Reader/")
    assert boto3.client("sts").get_caller_identity()["Arn"] == identity["Arn"]
    rolesession.uninstall()
    assert boto3.DEFAULT_SESSION is before
    rolesession.uninstall()  # nothing installed: nothing changes
    assert boto3.DEFAULT_SESSION is before


def test_install_takes_only_a_role_session():
    with pytest.raises(InvalidParameterError) as caught:
        rolesession.install(boto3.Session())  # type: ignore[arg-type]
    assert caught.value.parameter == "session"


# -- many processes on one role profile ----------------------------------------------------------------


_ONE_PROCESS = """
import sys, rolesession
session = rolesession.from_environment(cache=rolesession.FileCache(sys.argv[1]))
print(session.get_credentials().get_frozen_credentials().access_key)
"""


def test_eight_processes_on_one_role_profile_with_a_file_cache_make_one_sts_call(tmp_path, monkeypatch):
    # The role profile is what the default chain finds (AWS_PROFILE); its STS is a loopback
    # endpoint that counts. Eight processes started together: one AssumeRole, one key for all.
    import subprocess
    import sys

    from helpers import LocalSts

    with LocalSts() as sts:
        write_config(
            tmp_path, monkeypatch,
            f"[profile deploy]\nrole_arn = {ROLE}\nsource_profile = base\nendpoint_url = {sts.url}\n",
            f"[base]\naws_access_key_id = {SOURCE_KEY}\naws_secret_access_key = {SOURCE_SECRET}\n",
        )  # fmt: skip
        monkeypatch.setenv("AWS_PROFILE", "deploy")
        monkeypatch.delenv("AWS_ACCESS_KEY_ID")
        monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
        cache = tmp_path / "cache"
        argv = [sys.executable, "-c", _ONE_PROCESS, str(cache)]
        processes = [subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) for _ in range(8)]
        keys = {process.communicate(timeout=120)[0].strip() for process in processes}
        assert all(process.returncode == 0 for process in processes)
    assert len(sts.requests) == 1 and sts.requests[0]["signer"] == SOURCE_KEY
    assert keys == {"ASIALOCAL00000000001"}
