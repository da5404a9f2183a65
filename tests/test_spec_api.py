"""SPEC "Public API" statements that no other test file pins down.

Each test names the SPEC statement it guards. See ``notes/spec-coverage.md``
for the statement-by-statement map of the whole suite.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import json
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
import botocore.session
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import rolesession
import rolesession.testing
from helpers import ACCOUNT, ENV_NAMES, ROLE, ROLE_B, ROLE_C
from rolesession import InvalidParameterError, MemoryCache, Policy, RefreshPolicy, RoleSession
from rolesession.testing import StsRecorder, sts_clients
from test_spec_behaviour import LocalSts
from tokens import make_jwt, make_saml_response

PRINCIPAL = f"arn:aws:iam::{ACCOUNT}:saml-provider/Corp"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
AUDIT = f"arn:aws:iam::{ACCOUNT}:policy/Audit"


def read(session: boto3.Session) -> Any:
    return session.get_credentials().get_frozen_credentials()


def sts_endpoints() -> list[str]:
    """The endpoint of every STS client the library has made so far."""
    return [c.meta.endpoint_url for c in sts_clients()]


# -- source: "whose credentials call STS ... The source is never mutated." --------------


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


# -- region -------------------------------------------------------------------------


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
def test_without_any_region_the_partitions_default_is_used(
    make: Callable[..., RoleSession], no_region: None
) -> None:
    assert make().region_name == "us-east-1"
    assert make(role_arn=f"arn:aws-cn:iam::{ACCOUNT}:role/R").region_name == "cn-north-1"
    assert make(role_arn=f"arn:aws-us-gov:iam::{ACCOUNT}:role/R").region_name == "us-gov-west-1"


def test_the_sources_region_is_the_default_and_its_sts_endpoint(sts_mock: None) -> None:
    session = rolesession.assume_role(ROLE, source=boto3.Session(region_name="ap-northeast-2"))
    session.identity()
    assert session.region_name == "ap-northeast-2"
    assert sts_endpoints() == ["https://sts.ap-northeast-2.amazonaws.com"]


# -- sts_config: "merged over the library's STS defaults" ------------------------------------


def _sts_client_config(sts_config: Config) -> Any:
    rolesession.testing.reset()  # no client but the one this session makes
    session = rolesession.assume_role(ROLE, sts_config=sts_config, cache=None)
    read(session)
    [client] = sts_clients()
    return client.meta.config


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


# -- RoleSession -------------------------------------------------------------------------


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


def assert_expires_with(loaded: Any, session: RoleSession) -> None:
    """botocore's refreshable credentials expire when the session's do (to a second)."""
    left = (session.expiration - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert not loaded.refresh_needed(refresh_in=left - 2)
    assert loaded.refresh_needed(refresh_in=left + 2)


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


# -- default session name ----------------------------------------------------------------------


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


# -- chain(): which keywords reach which hop -------------------------------------------------


def test_chain_gives_scoping_keywords_to_the_last_hop_only_and_steps_override(
    sts_mock: None, sts_calls: StsRecorder
) -> None:
    policy = Policy.allow("s3:GetObject")
    middle_policy = Policy.allow("sqs:SendMessage")
    rolesession.chain(
        [ROLE, {"role_arn": ROLE_B, "policy": middle_policy, "external_id": "hub-only"}, ROLE_C],
        policy=policy,
        policy_arns=[READ_ONLY],
        tags={"team": "audit", "env": "prod"},
        transitive_tag_keys=["team"],
        external_id="everywhere",
        duration=900,
        cache=None,
    ).identity()
    first, second, third = (params for _, params in sts_calls.calls)
    for hop in (first, second):
        assert not {"PolicyArns", "Tags", "TransitiveTagKeys"} & set(hop)
    assert "Policy" not in first
    assert second["Policy"] == middle_policy.to_json()  # the step's own keyword wins on its hop
    assert third["Policy"] == policy.to_json()
    assert third["PolicyArns"] == [{"arn": READ_ONLY}]
    assert third["Tags"] == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "audit"}]
    assert third["TransitiveTagKeys"] == ["team"]
    assert [h["ExternalId"] for h in (first, second, third)] == ["everywhere", "hub-only", "everywhere"]
    assert [h["DurationSeconds"] for h in (first, second, third)] == [900, 900, 900]


# -- other public names ----------------------------------------------------------------------


def test_memory_cache_holds_1024_entries_by_default() -> None:
    cache = MemoryCache()
    assert cache.maxsize == 1024
    for i in range(1025):
        cache.set(f"k{i}", {"i": i})
    assert len(cache) == 1024 and cache.get("k0") is None and cache.get("k1024") == {"i": 1024}


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"mandatory": float("nan")}, "mandatory"),
        ({"max_backoff": float("nan")}, "max_backoff"),
        ({"advisory": float("nan")}, "advisory"),
    ],
)
def test_refresh_policy_rejects_nan(kwargs: dict[str, float], parameter: str) -> None:
    """SPEC: "mandatory > 0 ... or InvalidParameterError" -- NaN is not > 0."""
    with pytest.raises(InvalidParameterError) as info:
        RefreshPolicy(**kwargs)
    assert info.value.parameter == parameter


def test_fan_out_seconds_is_the_wall_time_each_entry_took(sts_mock: None, frozen: Any) -> None:
    def work(session: RoleSession) -> str:
        frozen.tick(7 if session.role_arn == ROLE else 2)
        if session.role_arn == ROLE_C:
            raise RuntimeError("failed after two seconds")
        return session.role_arn

    results = rolesession.fan_out([ROLE, ROLE_B, ROLE_C, "not-an-arn"], work, max_workers=1)
    assert [r.seconds for r in results[:3]] == pytest.approx([7.0, 2.0, 2.0])
    assert results[2].error is not None and results[3].seconds == pytest.approx(0.0)


def test_transitive_tag_keys_are_at_most_50() -> None:
    with pytest.raises(InvalidParameterError) as info:
        rolesession.assume_role(ROLE, tags={"a": "1"}, transitive_tag_keys=["a"] * 51)
    assert info.value.parameter == "transitive_tag_keys"


# -- "Wrong types are an InvalidParameterError too, never an AttributeError or TypeError" ------

_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.binary(max_size=8),
    st.text(max_size=12),
    st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=4)), max_size=3),
    st.dictionaries(
        st.one_of(st.integers(), st.text(max_size=3)), st.one_of(st.none(), st.integers()), max_size=2
    ),
    st.sampled_from(
        [object(), dt.timedelta(days=-1), dt.timedelta(seconds=1.5), {1, 2}, bytearray(b"x"), type]
    ),
)
_ASSUME_KEYWORDS = (
    "source",
    "session_name",
    "duration",
    "policy",
    "policy_arns",
    "tags",
    "transitive_tag_keys",
    "external_id",
    "source_identity",
    "mfa_serial",
    "region",
    "sts_endpoint_url",
    "sts_config",
    "cache",
    "refresh",
)


def _only_invalid_parameter_errors(call: Callable[[], Any]) -> None:
    with contextlib.suppress(InvalidParameterError):  # anything else fails the test
        call()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keyword=st.sampled_from(_ASSUME_KEYWORDS), value=_ODD_VALUES)
def test_any_value_of_any_keyword_is_accepted_or_an_invalid_parameter_error(keyword: str, value: Any) -> None:
    given: dict[str, Any] = {"cache": None, keyword: value}
    if keyword == "mfa_serial":
        given["mfa_token"] = "123456"
    _only_invalid_parameter_errors(lambda: rolesession.assume_role(ROLE, **given))
    _only_invalid_parameter_errors(lambda: rolesession.chain([{"role_arn": ROLE, **given}]))
    if keyword in (
        "duration",
        "policy",
        "policy_arns",
        "region",
        "sts_endpoint_url",
        "sts_config",
        "cache",
        "refresh",
    ):
        _only_invalid_parameter_errors(
            lambda: rolesession.assume_role_with_web_identity(ROLE, token="abcd", **given)
        )
        _only_invalid_parameter_errors(
            lambda: rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion="abcd", **given)
        )


@settings(max_examples=60, deadline=None)
@given(value=_ODD_VALUES)
def test_odd_values_of_positional_and_secret_parameters(value: Any) -> None:
    calls: list[Callable[[], Any]] = [
        lambda: rolesession.assume_role(value),
        lambda: rolesession.assume_role(ROLE, mfa_serial="arn:aws:iam::123456789012:mfa/al", mfa_token=value),
        lambda: rolesession.assume_role_with_web_identity(value, token="abcd"),
        lambda: rolesession.assume_role_with_web_identity(ROLE, token=value),
        lambda: rolesession.assume_role_with_web_identity(ROLE, token_file=value),
        lambda: rolesession.assume_role_with_web_identity(ROLE, token="abcd", provider_id=value),
        lambda: rolesession.assume_role_with_saml(value, PRINCIPAL, assertion="abcd"),
        lambda: rolesession.assume_role_with_saml(ROLE, value, assertion="abcd"),
        lambda: rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=value),
        lambda: rolesession.chain(value),
        lambda: rolesession.chain([value]),
        lambda: rolesession.role_arn(value, "Admin"),
        lambda: rolesession.role_arn("123456789012", value),
        lambda: rolesession.role_arn("123456789012", "Admin", path=value),
        lambda: rolesession.role_arn("123456789012", "Admin", partition=value),
        lambda: RefreshPolicy(advisory=value),
        lambda: RefreshPolicy(mandatory=value),
        lambda: RefreshPolicy(max_backoff=value),
        lambda: RefreshPolicy(jitter=value),
        lambda: MemoryCache(maxsize=value),
        lambda: rolesession.FileCache(lock_timeout=value),
        lambda: Policy.from_json(value),
        lambda: Policy.allow(value),
        lambda: Policy.allow("s3:GetObject", value),
        lambda: Policy.allow("s3:GetObject", conditions=value),
        lambda: rolesession.fan_out(value, lambda s: None),
        lambda: rolesession.fan_out([], lambda s: None, max_workers=value),
        lambda: rolesession.fan_out([], lambda s: None, executor=value),
        lambda: rolesession.fan_out([], lambda s: None, progress=value),
    ]
    for call in calls:
        _only_invalid_parameter_errors(call)
    session = rolesession.assume_role(ROLE, cache=None)
    _only_invalid_parameter_errors(lambda: session.scoped(policy=value))
    _only_invalid_parameter_errors(lambda: session.scoped(policy_arns=value))
    _only_invalid_parameter_errors(lambda: session.assume_role(value))
