"""Entry points and the RoleSession API: sources, lazy fetching, identity, what child processes get,
regions and STS client settings, default session names, warm re-assume, thread safety.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import json
import logging
import re
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore.credentials
import botocore.exceptions
import botocore.session
import pytest
from botocore.config import Config

import rolesession
import rolesession.testing
from helpers import (
    ACCOUNT,
    ENV_NAMES,
    MFA_SERIAL,
    ROLE,
    ROLE_B,
    ROLE_C,
    LocalSts,
    access_key,
    concurrently,
)
from rolesession import (
    Policy,
    RoleSession,
)
from rolesession.testing import StsRecorder, sts_clients
from tokens import make_jwt, make_saml_response


def _arn(session):
    return session.client("sts").get_caller_identity()["Arn"]


def read(session: boto3.Session) -> Any:
    return session.get_credentials().get_frozen_credentials()


class _Recorder:
    """Wraps the mutating methods of an object; any call is recorded (and still made)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.calls: list[str] = []

    def watch(self, target: Any, label: str, names: tuple[str, ...]) -> None:
        for name in names:
            original = getattr(target, name)

            def recording(
                *args: Any, _name: str = name, _original: Callable[..., Any] = original, **kw: Any
            ) -> Any:
                self.calls.append(f"{label}.{_name}")
                return _original(*args, **kw)

            self.monkeypatch.setattr(target, name, recording)


PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:saml-provider/Corp"


def assert_expires_with(loaded: Any, session: RoleSession) -> None:
    """botocore's refreshable credentials expire when the session's do (to a second)."""
    left = (session.expiration - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert not loaded.refresh_needed(refresh_in=left - 2)
    assert loaded.refresh_needed(refresh_in=left + 2)


def sts_endpoints() -> list[str]:
    """The endpoint of every STS client the library has made so far."""
    return [c.meta.endpoint_url for c in sts_clients()]


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)


def _web(**kwargs: Any) -> RoleSession:
    return rolesession.assume_role_with_web_identity(kwargs.pop("role_arn", ROLE), token=make_jwt(), **kwargs)


def _saml(**kwargs: Any) -> RoleSession:
    role = kwargs.pop("role_arn", ROLE)
    principal = role.split(":role/")[0] + ":saml-provider/Corp"
    return rolesession.assume_role_with_saml(
        role, principal, assertion=make_saml_response(role, principal), **kwargs
    )


def _sts_client_config(sts_config: Config) -> Any:
    rolesession.testing.reset()  # no client but the one this session makes
    session = rolesession.assume_role(ROLE, sts_config=sts_config, cache=None)
    read(session)
    [client] = sts_clients()
    return client.meta.config



# -- entry points and sources ----------------------------------------------------------------------


def test_returns_a_real_boto3_session(sts_mock):
    session = rolesession.assume_role(ROLE)
    assert isinstance(session, boto3.Session) and isinstance(session, RoleSession)
    assert session.role_arn == ROLE and session.parent is None
    assert _arn(session).startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/")
    assert session.resource("s3").meta.client.meta.region_name == "us-east-1"


def test_the_sts_call_is_signed_with_the_sources_credentials() -> None:
    """Over HTTP: the AssumeRole request carries the source's access key, hop after hop."""
    with LocalSts() as local:
        source = boto3.Session(
            aws_access_key_id="AKIASOURCEOFTHECALL1", aws_secret_access_key="s" * 40, region_name="us-east-1"
        )
        hop1 = rolesession.assume_role(ROLE, source=source, sts_endpoint_url=local.url)
        hop2 = hop1.assume_role(ROLE_B, sts_endpoint_url=local.url)
        read(hop2)
        first, second = local.requests
        assert first["Action"] == "AssumeRole" and first["RoleArn"] == ROLE
        assert first["signer"] == "AKIASOURCEOFTHECALL1"
        assert second["RoleArn"] == ROLE_B
        assert second["signer"] == read(hop1).access_key  # the hop signs with its parent's role credentials


def test_the_source_is_never_mutated(
    sts_mock: None, sts_calls: StsRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    inner = botocore.session.Session()
    source = boto3.Session(botocore_session=inner, region_name="eu-west-2")
    credentials = source.get_credentials()
    frozen = credentials.get_frozen_credentials()
    variables = ("region", "sts_regional_endpoints", "retry_mode", "max_attempts", "profile")
    config_before = {v: inner.get_config_variable(v) for v in variables}
    client_config_before = inner.get_default_client_config()

    recorder = _Recorder(monkeypatch)
    recorder.watch(
        inner,
        "session",
        (
            "set_config_variable",
            "set_credentials",
            "register_component",
            "lazy_register_component",
            "set_default_client_config",
            "set_file_logger",
            "set_stream_logger",
        ),
    )
    recorder.watch(
        inner.get_component("event_emitter"),
        "events",
        ("register", "register_first", "register_last", "unregister"),
    )
    recorder.watch(inner.get_component("credential_provider"), "resolver", ("insert_before", "insert_after"))

    # Everything the library does with a source: assume, refresh, chain, scope, fan out.
    session = rolesession.assume_role(ROLE, source=source, sts_config=Config(read_timeout=2))
    session.identity()
    session.refresh()
    session.assume_role(ROLE_B, duration=7200).identity()
    session.scoped(policy=Policy.allow("s3:GetObject")).identity()
    rolesession.chain([ROLE_B, ROLE_C], source=source, region="us-west-2").identity()
    rolesession.fan_out([ROLE_B, ROLE_C], lambda s: s.identity(), source=source)
    session.invalidate()
    session.environ()
    assert sts_calls.count() >= 8

    assert recorder.calls == []
    assert source.get_credentials() is credentials  # the same credentials object ...
    assert credentials.get_frozen_credentials() == frozen  # ... holding the same keys
    assert source.region_name == "eu-west-2"
    assert {v: inner.get_config_variable(v) for v in variables} == config_before
    assert inner.get_default_client_config() is client_config_before
    # The source's own clients still sign as the source, not as any assumed role.
    arn = source.client("sts").get_caller_identity()["Arn"]
    assert ":assumed-role/" not in arn


def test_assume_role_on_a_session_takes_no_source(sts_mock):
    session = rolesession.assume_role(ROLE)
    with pytest.raises(rolesession.InvalidParameterError) as info:
        session.assume_role(ROLE_B, source=boto3.Session())  # type: ignore[call-arg]
    assert info.value.parameter == "source"


# -- lazy fetching, identity and expiration --------------------------------------------------------


def test_creating_a_session_calls_no_sts(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE)
    session.client("s3")  # a client, too, is made without credentials
    assert sts_calls.count() == 0
    session.get_credentials().get_frozen_credentials()
    assert sts_calls.count() == 1


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


@pytest.mark.parametrize("kind", ["assume_role", "web_identity", "saml"])
def test_identity_comes_from_the_sts_response_without_get_caller_identity(
    sts_mock: None, sts_calls: StsRecorder, kind: str
) -> None:
    session = {
        "assume_role": lambda: rolesession.assume_role(ROLE, session_name="who"),
        "web_identity": lambda: rolesession.assume_role_with_web_identity(
            ROLE, token=make_jwt(), session_name="who"
        ),
        "saml": lambda: rolesession.assume_role_with_saml(
            ROLE, PRINCIPAL, assertion=make_saml_response(ROLE, PRINCIPAL, session_name="who")
        ),
    }[kind]()
    operations: list[str] = []  # any call by a client of the session itself
    session.events.register("before-call", lambda model, **kw: operations.append(model.name))
    identity = session.identity()
    assert set(identity) == {"Arn", "Account", "UserId"}
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/who"
    assert identity["Account"] == ACCOUNT and identity["UserId"].endswith(":who")
    session.identity()
    assert [call.operation for call in sts_calls.calls] == [sts_calls.calls[0].operation]
    assert sts_calls.calls[0].operation.startswith("AssumeRole") and operations == []


# -- botocore-compatible credentials, environ() and credential_process() ---------------------------


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


def test_environ_is_what_botocores_environment_provider_reads(sts_mock: None) -> None:
    session = rolesession.assume_role(ROLE, region="eu-central-1")
    env = session.environ()
    assert set(env) == ENV_NAMES
    loaded = botocore.credentials.EnvProvider(environ=env).load()
    assert loaded is not None
    frozen = loaded.get_frozen_credentials()
    assert tuple(frozen[:3]) == tuple(read(session)[:3])
    # botocore parsed the expiry: a child refreshes when the parent's credentials expire
    assert_expires_with(loaded, session)


def test_credential_process_is_what_botocores_process_provider_reads(sts_mock: None) -> None:
    session = rolesession.assume_role(ROLE)
    document = session.credential_process()
    command = shlex.join([sys.executable, "-c", f"print({json.dumps(document)!r})"])
    provider = botocore.credentials.ProcessProvider(
        profile_name="p", load_config=lambda: {"profiles": {"p": {"credential_process": command}}}
    )
    loaded = provider.load()
    assert loaded is not None
    assert tuple(loaded.get_frozen_credentials()[:3]) == tuple(read(session)[:3])
    assert_expires_with(loaded, session)


# -- regions, the STS endpoint and STS client settings ---------------------------------------------


def test_region_defaults(sts_mock, monkeypatch, sts_calls):
    assert rolesession.assume_role(ROLE).region_name == "us-east-1"  # AWS_DEFAULT_REGION
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-2")
    assert rolesession.assume_role(ROLE).region_name == "ap-southeast-2"
    assert rolesession.assume_role(ROLE, source=boto3.Session(region_name="sa-east-1")).region_name == (
        "sa-east-1"
    )
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    # Nothing configured: no region is invented for the session, as boto3 invents none...
    assert boto3.Session().region_name is None
    assert rolesession.assume_role(ROLE).region_name is None
    china = rolesession.assume_role("arn:aws-cn:iam::123456789012:role/R")
    gov = rolesession.assume_role("arn:aws-us-gov:iam::123456789012:role/R")
    assert (china.region_name, gov.region_name) == (None, None)
    # ... while STS itself is still called in the partition's default region.
    assert (china.describe()["sts_region"], gov.describe()["sts_region"]) == ("cn-north-1", "us-gov-west-1")


def test_with_no_region_configured_sts_is_called_in_the_partitions_default(sts_mock, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    session = rolesession.assume_role(ROLE)
    session.get_credentials().get_frozen_credentials()
    [client] = sts_clients()
    assert client.meta.region_name == "us-east-1"
    assert session.region_name is None
    with pytest.raises(botocore.exceptions.NoRegionError):
        session.client("sqs")  # what a plain boto3 session with no region does too
    env = session.environ()
    assert "AWS_REGION" not in env and "AWS_DEFAULT_REGION" not in env
    assert session.assume_role(ROLE_B).region_name is None


def test_a_misspelt_region_warns_once_naming_the_nearest_and_the_hint_names_it(sts_mock, caplog):
    with caplog.at_level(logging.WARNING, logger="rolesession"):
        first = rolesession.assume_role(ROLE, region="eu-wst-1")
        rolesession.assume_role(ROLE_B, region="eu-wst-1")
    warnings = [r.getMessage() for r in caplog.records if "eu-wst-1" in r.getMessage()]
    assert len(warnings) == 1 and "'eu-west-1'" in warnings[0]
    assert first.region_name == "eu-wst-1"  # used as given: it may be newer than botocore
    with pytest.raises(rolesession.AssumeRoleError) as info:
        # Not reachable (no such endpoint): the error's hint names the nearest known region.
        rolesession.assume_role(
            ROLE_C, region="eu-wst-1", sts_config=Config(connect_timeout=0.5,
            retries={"total_max_attempts": 1}), sts_endpoint_url="http://127.0.0.1:9",
        ).get_credentials().get_frozen_credentials()
    assert "did you mean 'eu-west-1'" in str(info.value)


@pytest.mark.parametrize(
    "role, region",
    [(ROLE, "cn-north-1"), ("arn:aws-cn:iam::123456789012:role/R", "eu-west-1"), (ROLE, "us-gov-west-1")],
)
def test_a_region_outside_the_roles_partition_is_refused_before_sts(sts_mock, sts_calls, role, region):
    with pytest.raises(rolesession.InvalidParameterError) as info:
        rolesession.assume_role(role, region=region)
    assert info.value.parameter == "region" and "partition" in str(info.value)
    assert sts_calls.calls == []


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


@pytest.mark.parametrize("make", [_web, _saml], ids=["web-identity", "saml"])
def test_region_without_a_source_follows_aws_region_then_aws_default_region_then_the_profile(
    make: Callable[..., RoleSession], no_region: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """SPEC: "for web identity and SAML (no source), the usual environment and config
    (AWS_REGION, AWS_DEFAULT_REGION, profile)"."""
    config = tmp_path / "config"
    config.write_text("[profile tenant]\nregion = ap-south-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "tenant")
    assert make().region_name == "ap-south-1"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    assert make().region_name == "ca-central-1"
    monkeypatch.setenv("AWS_REGION", "eu-north-1")  # Lambda, ECS and the newer SDKs set this one
    assert make().region_name == "eu-north-1"
    assert make(region="sa-east-1").region_name == "sa-east-1"  # an explicit region wins


@pytest.mark.parametrize("make", [_web, _saml], ids=["web-identity", "saml"])
def test_aws_region_alone_is_the_sts_endpoint_and_the_session_region(
    make: Callable[..., RoleSession], no_region: None, monkeypatch: pytest.MonkeyPatch, sts_mock: None
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-north-1")
    session = make()
    session.identity()
    assert session.region_name == "eu-north-1"
    assert session.environ()["AWS_REGION"] == "eu-north-1"
    assert sts_endpoints() == ["https://sts.eu-north-1.amazonaws.com"]


@pytest.mark.parametrize("make", [_web, _saml], ids=["web-identity", "saml"])
def test_without_any_region_sts_uses_the_partitions_default_and_the_session_has_none(
    make: Callable[..., RoleSession], no_region: None
) -> None:
    made = [make(), make(role_arn=f"arn:aws-cn:iam::{ACCOUNT}:role/R"),
            make(role_arn=f"arn:aws-us-gov:iam::{ACCOUNT}:role/R")]  # fmt: skip
    assert [s.region_name for s in made] == [None, None, None]
    assert [s.describe()["sts_region"] for s in made] == ["us-east-1", "cn-north-1", "us-gov-west-1"]


def test_the_sources_region_is_the_default_and_its_sts_endpoint(sts_mock: None) -> None:
    session = rolesession.assume_role(ROLE, source=boto3.Session(region_name="ap-northeast-2"))
    session.identity()
    assert session.region_name == "ap-northeast-2"
    assert sts_endpoints() == ["https://sts.ap-northeast-2.amazonaws.com"]


def test_an_unrelated_sts_config_keeps_every_default(sts_mock: None) -> None:
    config = _sts_client_config(Config(proxies={"https": "http://proxy:3128"}, user_agent_extra="mine"))
    assert config.proxies == {"https": "http://proxy:3128"}
    assert config.retries["mode"] == "standard" and config.retries["total_max_attempts"] == 3
    assert config.connect_timeout <= 5 and config.read_timeout <= 10  # "a few seconds"


def test_an_sts_config_tuning_attempts_keeps_standard_retries(sts_mock: None) -> None:
    """A user asking for more attempts must not silently fall back to botocore's legacy mode."""
    config = _sts_client_config(Config(retries={"max_attempts": 6}))
    assert config.retries["mode"] == "standard"
    assert config.retries["total_max_attempts"] == 7  # botocore: max_attempts retries + the first try
    config = _sts_client_config(Config(retries={"total_max_attempts": 5}))
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    config = _sts_client_config(Config(retries={"mode": "adaptive"}))
    assert config.retries["mode"] == "adaptive" and config.retries["total_max_attempts"] == 3


def test_the_sts_client_pool_is_bounded_per_signer(sts_mock, sts_calls):
    source = boto3.Session()
    for timeout in range(1, 41):
        rolesession.assume_role(
            ROLE, source=source, sts_config=Config(connect_timeout=timeout), cache=None
        ).identity()
    assert 0 < len(sts_clients()) <= 16  # one signer: at most 16 clients kept


# -- default session names -------------------------------------------------------------------------


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


def test_default_session_name_is_the_same_for_every_call_in_a_process(
    sts_mock: None, sts_calls: StsRecorder, frozen: Any
) -> None:
    names: list[str] = []
    rolesession.assume_role(ROLE, cache=None).identity()
    frozen.tick(86_400)  # a day later
    worker = threading.Thread(target=lambda: rolesession.assume_role(ROLE_B, cache=None).identity())
    worker.start()
    worker.join(30)
    rolesession.chain([ROLE_C], cache=None).identity()
    rolesession.assume_role_with_web_identity(ROLE, token=make_jwt(), cache=None).identity()
    names = [params["RoleSessionName"] for _, params in sts_calls.calls]
    assert len(names) == 4 and len(set(names)) == 1
    user_at_host = re.sub(r"[^\w+=,.@-]", "-", f"{getpass.getuser()}@{socket.gethostname()}", flags=re.ASCII)
    assert names[0] == user_at_host[:64]


def test_default_user_at_host_is_sanitised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "CORP\\alice smith")
    monkeypatch.setattr(socket, "gethostname", lambda: "build box #7." + "x" * 80)
    rolesession.testing.reset()  # as a new process on that host, for that user
    name = rolesession.assume_role(ROLE).describe()["session_name"]
    assert name.startswith("CORP-alice-smith@build-box--7.")
    assert len(name) == 64
    assert rolesession.assume_role(ROLE_B).describe()["session_name"] == name


def test_a_lambda_function_name_is_the_default_session_name_of_every_entry_point(
    sts_mock: None, sts_calls: StsRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "invoice-handler")
    rolesession.assume_role(ROLE, cache=None).identity()
    rolesession.assume_role_with_web_identity(ROLE, token=make_jwt(), cache=None).identity()
    assert [p["RoleSessionName"] for _, p in sts_calls.calls] == ["invoice-handler"] * 2
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "explicit-name")  # wins over the function name
    rolesession.assume_role(ROLE, cache=None).identity()
    assert sts_calls.params()["RoleSessionName"] == "explicit-name"


# -- warm re-assume: one session per request -------------------------------------------------------


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


def test_32_concurrent_first_requests_make_one_session_and_one_sts_call(sts_mock, sts_calls):
    sts_calls.delay = 0.2

    def ask() -> Any:
        session = rolesession.assume_role(ROLE)
        return session, access_key(session)

    results = concurrently(32, ask)
    assert len({id(s) for s, _ in results}) == 1
    assert len({k for _, k in results}) == 1
    assert sts_calls.count() == 1


def test_equal_sts_configs_count_as_the_same_request(sts_mock, sts_calls):
    a = rolesession.assume_role(ROLE, sts_config=Config(connect_timeout=2, retries={"mode": "standard"}))
    a.identity()
    b = rolesession.assume_role(ROLE, sts_config=Config(connect_timeout=2, retries={"mode": "standard"}))
    assert b is a and sts_calls.count() == 1
    c = rolesession.assume_role(ROLE, sts_config=Config(connect_timeout=3))
    assert c is not a


def test_unhashable_callable_providers_work_and_compare_by_identity(sts_mock, sts_calls):
    @dataclasses.dataclass
    class Token:  # a plain dataclass: __eq__ by value, no __hash__
        value: str

        def __call__(self) -> str:
            return self.value

    token = Token(make_jwt())
    session = rolesession.assume_role_with_web_identity(ROLE, token=token)
    assert session.identity()["Arn"]
    assert rolesession.assume_role_with_web_identity(ROLE, token=token) is session
    other = rolesession.assume_role_with_web_identity(ROLE, token=Token(token.value))
    assert other is not session

    @dataclasses.dataclass
    class Code:
        def __call__(self) -> str:
            return "123456"

    mfa = rolesession.assume_role(ROLE, mfa_serial=MFA_SERIAL, mfa_token=Code())
    assert mfa.identity()["Arn"]


# -- thread safety ---------------------------------------------------------------------------------


def test_many_threads_share_one_session_and_its_clients(sts_mock, sts_calls):
    session = rolesession.assume_role(ROLE)
    errors = []

    def work():
        try:
            arn = session.client("sts").get_caller_identity()["Arn"]
            assert "assumed-role/Reader" in arn
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sts_calls.count("AssumeRole") == 1


def test_client_and_resource_are_never_built_concurrently_on_one_session(
    sts_mock: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """boto3's client() and resource() are not thread-safe; a RoleSession serialises them."""
    session = rolesession.assume_role(ROLE)
    depth: dict[int, int] = {}  # thread -> nesting (resource() calls client() itself)
    most = 0
    lock = threading.Lock()

    def exclusive(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal most
            me = threading.get_ident()
            with lock:
                depth[me] = depth.get(me, 0) + 1
                most = max(most, sum(1 for d in depth.values() if d))
            try:
                time.sleep(0.02)  # widen the window a race needs
                return real(self, *args, **kwargs)
            finally:
                with lock:
                    depth[me] -= 1

        return wrapper

    monkeypatch.setattr(boto3.Session, "client", exclusive(boto3.Session.client))
    monkeypatch.setattr(boto3.Session, "resource", exclusive(boto3.Session.resource))
    start = threading.Barrier(8)
    made: list[Any] = []
    errors: list[BaseException] = []

    def build(kind: str) -> None:
        start.wait()
        try:
            made.append(session.client("s3") if kind == "client" else session.resource("s3"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build, args=(k,)) for k in ["client", "resource"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == [] and len(made) == 8
    assert most == 1


def test_the_typed_hop_keywords_are_exactly_assume_roles():
    # RoleSession.assume_role, chain and fan_out type their **kwargs with this
    # TypedDict (tests/typing/ proves a misspelt keyword fails mypy); it must
    # name every keyword of assume_role but the ARN and the source, and no other.
    import inspect

    from rolesession._keywords import HopKeywords

    expected = set(inspect.signature(rolesession.assume_role).parameters) - {"role_arn", "source"}
    assert set(HopKeywords.__annotations__) == expected
