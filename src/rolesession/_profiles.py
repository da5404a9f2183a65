"""Role profiles of the shared AWS config, built into rolesession sessions (`from_profile`).

The walk starts at the named profile and follows ``source_profile`` while
profiles define ``role_arn``; it ends, as botocore's does, at
``credential_source``, ``web_identity_token_file``, or the first source
profile without ``role_arn`` or with static keys of its own (the source,
which botocore's profile providers resolve: static keys,
``credential_process``, SSO ...). The named profile is the profile of every
client made on the way: the hops' STS clients and the returned session take
its settings (endpoints, ``ca_bundle``, retries ...), as
``boto3.Session(profile_name=...)``'s clients do. Each role profile becomes
one hop built by the same recipes a program's calls build (`assume_role`,
`assume_role_with_web_identity`, `mfa_session`), so every value is checked
as theirs are; an invalid value is reported as ``[profile <name>] <key>``.

Where it differs from botocore on purpose is the table in docs/profiles.md
(and ``tests/conformance`` measures it request by request).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import boto3
import botocore.config
import botocore.credentials
import botocore.session

from . import _state
from ._cache import DEFAULT_CACHE
from ._errors import InvalidParameterError, TokenError
from ._recipe import ProfileOrigin, Recipe
from ._refresh import RefreshPolicy
from ._secret_commands import CommandMfaCode, PromptMfaCode
from ._session import RoleSession, session_for
from ._sources import AssumeRoleSource
from ._validation import check_endpoint_url, check_instance, check_mfa_token, check_region, check_str, fail

__all__ = ["resolve_profile"]

logger = logging.getLogger("rolesession")

CREDENTIAL_SOURCES = ("Environment", "Ec2InstanceMetadata", "EcsContainer")
_SOURCE_KEYS = ("source_profile", "credential_source", "web_identity_token_file")
#: A library parameter -> the profile key that gave its value.
_KEY_OF = {
    "role_arn": "role_arn",
    "session_name": "role_session_name",
    "external_id": "external_id",
    "duration": "duration_seconds",
    "source_identity": "source_identity",
    "tags": "session_tags",
    "transitive_tag_keys": "transitive_session_tags",
    "mfa_serial": "mfa_serial",
    "token_file": "web_identity_token_file",
    "region": "region",
    "source": "region",
}
#: What botocore's profile providers resolve a source profile's credentials from (its SSO
#: provider applies to a profile with an account or a role name).
_CREDENTIAL_KEYS = (
    "aws_access_key_id", "aws_secret_access_key", "credential_process", "sso_account_id", "sso_role_name",
)  # fmt: skip
#: Keys of a web identity profile that botocore ignores (and so does rolesession, with a warning).
_NOT_FOR_WEB_IDENTITY = (
    "source_profile", "credential_source", "external_id", "mfa_serial", "mfa_process",
    "source_identity", "session_tags", "transitive_session_tags",
)  # fmt: skip


def resolve_profile(
    profile: str | None,
    *,
    mfa_token: Any,
    region: Any,
    sts_endpoint_url: Any,
    sts_config: Any,
    cache: Any = DEFAULT_CACHE,
    refresh: Any = None,
) -> RoleSession:
    """`from_profile`: the session of the role ``profile`` describes (see the module's doc)."""
    name = _profile_name(profile)
    region = check_region(region, "region")
    sts_endpoint_url = check_endpoint_url(sts_endpoint_url, "sts_endpoint_url")
    check_instance(sts_config, "sts_config", botocore.config.Config, "a botocore.config.Config")
    check_instance(refresh, "refresh", RefreshPolicy, "a RefreshPolicy")
    if mfa_token is not None:
        check_mfa_token(mfa_token, "mfa_token")
    from . import _botocore

    config = _botocore.new_session(name).full_config
    profiles: Mapping[str, Mapping[str, Any]] = config.get("profiles", {})
    if name not in profiles:
        raise fail("profile", f"the profile {name!r} is not configured (AWS_CONFIG_FILE, ~/.aws/config)")
    if "role_arn" not in profiles[name]:
        raise fail(
            "profile",
            f"the profile {name!r} defines no role_arn: for its own credentials use "
            f"boto3.Session(profile_name={name!r})",
        )
    hops, root = _walk(profiles, name)
    common = {
        "region": region or _region(profiles[name], name),
        # None: botocore resolves the endpoint from the profile and the environment.
        "sts_endpoint_url": sts_endpoint_url,
        "sts_config": sts_config,
        "cache": cache,
        "refresh": refresh,
    }
    # Pickled, the session travels as this: a worker resolves the profile itself.
    origin = ProfileOrigin(
        name,
        {"mfa_token": mfa_token, "region": region, "sts_endpoint_url": sts_endpoint_url,
         "sts_config": sts_config, "cache": cache, "refresh": refresh},
    )  # fmt: skip
    session: Any = None if root[0] == "web_identity" else _source_session(profiles, root, name)
    for index, hop in enumerate(reversed(hops)):
        values = profiles[hop]
        innermost = index == 0
        try:
            session = _hop(
                hop, values, session, root, innermost=innermost, mfa_token=mfa_token, common=common,
                long_term=_long_term_keys(profiles, root), named=name,
                origin=origin if index == len(hops) - 1 else None,
            )
        except InvalidParameterError as exc:
            # The caller's own keywords were checked above: anything else came from the profile.
            if exc.parameter in _KEY_OF:
                key = _KEY_OF[exc.parameter]
                raise InvalidParameterError.of(f"[profile {hop}] {key}", exc.reason) from None
            raise
    assert isinstance(session, RoleSession)
    return session


# -- the walk ------------------------------------------------------------------------------------------

Root = tuple[str, str, str]  # (kind, value, profile)


def _walk(profiles: Mapping[str, Mapping[str, Any]], name: str) -> tuple[list[str], Root]:
    """The role profiles from ``name`` inwards, and where the chain starts.

    botocore's rules (``AssumeRoleProvider``): a source profile with static
    keys is the source whatever else it defines, ``role_arn`` included; a
    profile with ``web_identity_token_file`` is a web identity role whatever
    source it also names; a source profile must have credentials of its own.
    """
    hops: list[str] = []
    current = name
    while True:
        values = profiles[current]
        if "role_arn" not in values:
            return hops, ("profile", current, current)
        if current in hops:
            path = " -> ".join([*hops[hops.index(current) :], current])
            raise fail(f"[profile {hops[-1]}] source_profile", f"the profiles loop: {path}")
        hops.append(current)
        if "web_identity_token_file" in values:
            return hops, ("web_identity", _value(values, current, "web_identity_token_file"), current)
        given = [key for key in _SOURCE_KEYS if key in values]
        if len(given) > 1:
            raise fail(f"[profile {current}] {given[1]}", f"cannot go with {given[0]}: give one source")
        if not given:
            raise fail(
                f"[profile {current}] role_arn",
                "needs a source: source_profile, credential_source or web_identity_token_file",
            )
        key = given[0]
        value = _value(values, current, key)
        if key == "credential_source":
            if value not in CREDENTIAL_SOURCES:
                raise fail(
                    f"[profile {current}] credential_source",
                    f"{value!r} is not one of {', '.join(CREDENTIAL_SOURCES)}",
                )
            return hops, ("credential_source", value, current)
        if value == current:
            # botocore: a role profile may be its own source when it holds keys.
            if _has_static_keys(values):
                return hops, ("own_keys", current, current)
            raise fail(f"[profile {current}] source_profile", "names the profile itself, which holds no keys")
        if value not in profiles:
            raise fail(
                f"[profile {current}] source_profile", f"names the profile {value!r}, which is not configured"
            )
        source = profiles[value]
        if _has_static_keys(source) or "role_arn" not in source:
            if not any(key in source for key in _CREDENTIAL_KEYS):
                raise fail(
                    f"[profile {current}] source_profile",
                    f"the source profile {value!r} must have credentials (aws_access_key_id and "
                    "aws_secret_access_key, credential_process or SSO settings) in "
                    f"{_files()}; like botocore, rolesession does not fall back to other credentials",
                )
            return hops, ("profile", value, value)
        current = value


def _has_static_keys(values: Mapping[str, Any]) -> bool:
    """botocore's test: either key of a key pair makes a profile a static-key source."""
    return "aws_access_key_id" in values or "aws_secret_access_key" in values


def _files() -> str:
    """Where botocore reads the shared files from, for messages."""
    config = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    credentials = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    return f"{config} or {credentials}"


def _source_session(profiles: Mapping[str, Mapping[str, Any]], root: Root, named: str) -> boto3.Session:
    """The session whose credentials sign the innermost hop; shared per profile and environment.

    A botocore session of the named profile (its settings, e.g. the instance
    metadata endpoint or the SSO client's) whose credentials come only from
    the root: a source profile's own providers, as botocore resolves a
    ``source_profile`` (no environment variables, no container or instance
    fall-back), or one named ``credential_source``.
    """
    from ._environment import environment_fingerprint

    kind, value, profile = root
    key = (kind, value, profile, named, environment_fingerprint())
    state = _state.state
    with state.lock:
        cached = state.profile_sources.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    if kind in ("profile", "own_keys"):
        session = boto3.Session(botocore_session=_profile_source(value, named))
    else:
        session = boto3.Session(botocore_session=_credential_source(value, named))
    with state.lock:
        state.profile_sources[key] = session
    return session


def _profile_source(profile: str, named: str) -> botocore.session.Session:
    """Credentials from ``profile`` alone, through botocore's profile providers."""
    from . import _botocore

    session = _botocore.new_session(named)
    providers = botocore.credentials.ProfileProviderBuilder(session).providers(
        profile_name=profile, disable_env_vars=True
    )
    # None found (the walk checked the keys that make a provider apply) is the fetch's
    # "no source credentials" error, which names the profile.
    session.register_component("credential_provider", botocore.credentials.CredentialResolver(providers))
    return session


def _credential_source(value: str, named: str) -> botocore.session.Session:
    """A botocore session of the named profile whose credentials come from one named source,
    as botocore resolves it."""
    from . import _botocore

    session = _botocore.new_session(named)
    provider: Any
    if value == "Environment":
        provider = botocore.credentials.EnvProvider()
    elif value == "EcsContainer":
        provider = botocore.credentials.ContainerProvider()
    else:
        # As botocore's own resolver builds it, from the session's settings
        # (endpoint, endpoint mode, IMDSv1 opt-out, timeouts).
        from botocore.utils import resolve_imds_endpoint_mode

        provider = botocore.credentials.InstanceMetadataProvider(
            iam_role_fetcher=botocore.credentials.InstanceMetadataFetcher(
                timeout=session.get_config_variable("metadata_service_timeout"),
                num_attempts=session.get_config_variable("metadata_service_num_attempts"),
                user_agent=session.user_agent(),
                config={
                    "ec2_metadata_service_endpoint": session.get_config_variable(
                        "ec2_metadata_service_endpoint"
                    ),
                    "ec2_metadata_service_endpoint_mode": resolve_imds_endpoint_mode(session),
                    "ec2_metadata_v1_disabled": session.get_config_variable("ec2_metadata_v1_disabled"),
                },
            )
        )
    session.register_component("credential_provider", botocore.credentials.CredentialResolver([provider]))
    return session


def _long_term_keys(profiles: Mapping[str, Mapping[str, Any]], root: Root) -> bool:
    """Whether the root holds an IAM user's long-term keys (GetSessionToken can use them)."""
    kind, value, profile = root
    if kind in ("profile", "own_keys"):
        values = profiles[value if kind == "profile" else profile]
        return "aws_access_key_id" in values and "aws_session_token" not in values
    if kind == "credential_source" and value == "Environment":
        return bool(os.environ.get("AWS_ACCESS_KEY_ID")) and not os.environ.get("AWS_SESSION_TOKEN")
    return False


# -- one hop ---------------------------------------------------------------------------------------------


def _hop(
    profile: str,
    values: Mapping[str, Any],
    parent: Any,
    root: Root,
    *,
    innermost: bool,
    mfa_token: Any,
    common: dict[str, Any],
    long_term: bool,
    named: str,
    origin: ProfileOrigin | None = None,
) -> RoleSession:
    """One role profile's session, built as `assume_role` (and siblings) build theirs,
    its clients configured by the named profile."""
    from ._requests import (
        assume_role_recipe,
        check_assume_role_keywords,
        mfa_session_recipe,
        web_identity_recipe,
    )

    # The profile keys of AssumeRole's parameters, as its fields declare them (field -> key).
    key = {name: k for k, name in AssumeRoleSource.profile_keys().items()}
    role = values["role_arn"]
    session_name = values.get(key["session_name"])
    duration = _int(values, profile, key["duration"])
    if innermost and root[0] == "web_identity":
        ignored = [key for key in _NOT_FOR_WEB_IDENTITY if key in values]
        if ignored:
            # botocore's web identity provider reads none of them: neither do we, but say so.
            logger.warning(
                "[profile %s] web_identity_token_file: %s ignored, as botocore ignores %s",
                profile,
                ", ".join(ignored),
                "it" if len(ignored) == 1 else "them",
            )
        recipe = web_identity_recipe(
            role, token=None, token_file=root[1], provider_id=None, session_name=session_name,
            duration=duration, policy=None, policy_arns=None, **common,
        )  # fmt: skip
        return _session(recipe, named, origin)
    serial = values.get(key["mfa_serial"])
    code = _code_provider(profile, values, serial, mfa_token) if serial is not None else None
    if serial is not None and innermost and long_term:
        # One code per MFA session, for any number of roles: GetSessionToken first.
        assert code is not None
        parent = _session(
            mfa_session_recipe(serial, code, source=parent, duration=43200, **common), named
        )
        serial = code = None
    checked = check_assume_role_keywords(
        source=parent,
        session_name=session_name,
        duration=duration,
        external_id=values.get(key["external_id"]),
        source_identity=values.get(key["source_identity"]),
        tags=_tags(values, profile, key["tags"]),
        transitive_tag_keys=_list(values.get(key["transitive_tag_keys"])),
        mfa_serial=serial,
        mfa_token=code,
        **common,
    )
    return _session(assume_role_recipe(role, checked), named, origin)


def _session(recipe: Recipe, named: str, origin: ProfileOrigin | None = None) -> RoleSession:
    """The session of ``recipe`` with the named profile's client settings (and ``origin``, the last hop)."""
    return session_for(recipe.replace(source=recipe.source.replace(profile=named), origin=origin))


def _code_provider(profile: str, values: Mapping[str, Any], serial: str, given: Any) -> Any:
    """Where the MFA code comes from: ``mfa_token``, else ``mfa_process``, else the terminal."""
    if given is not None:
        return given
    process = values.get("mfa_process")
    if process is not None:
        # A command line that cannot be split: InvalidParameterError naming the profile's key.
        return CommandMfaCode(str(process), option=f"[profile {profile}] mfa_process")
    if sys.stdin is not None and sys.stdin.isatty():
        return PromptMfaCode(serial)
    return NoCode(profile, serial)


class NoCode:
    """No way to get an MFA code: says how to provide one when a code is needed.

    ``interactive``: only a foreground read can end in this error; a
    background refresh that could only fail is not attempted.
    """

    interactive = True

    def __init__(
        self,
        profile: str,
        serial: str,
        advice: str = "pass mfa_token= (a callable is asked once per session), set mfa_process in "
        "the profile, or run in a terminal",
    ) -> None:
        self.profile = profile
        self.serial = serial
        self.advice = advice

    def __call__(self) -> str:
        raise TokenError(f"the profile {self.profile!r} needs an MFA code for {self.serial}: {self.advice}")


# -- values ----------------------------------------------------------------------------------------------


def _profile_name(profile: str | None) -> str:
    if profile is not None:
        return check_str(profile, "profile")
    # botocore's order: AWS_DEFAULT_PROFILE, then AWS_PROFILE.
    return os.environ.get("AWS_DEFAULT_PROFILE") or os.environ.get("AWS_PROFILE") or "default"


def _region(values: Mapping[str, Any], profile: str) -> str | None:
    """The session's region: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, then the named profile's.

    botocore reads ``AWS_DEFAULT_REGION`` over the profile; ``AWS_REGION``
    (which botocore does not read, and every other SDK does) comes first.
    """
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = os.environ.get(name)
        if value:
            return check_region(value, name, origin=f"the environment variable {name}")
    region: str | None = _value(values, profile, "region")
    return region


def _value(values: Mapping[str, Any], profile: str, key: str) -> Any:
    value = values.get(key)
    if value is not None and not isinstance(value, str):
        raise fail(f"[profile {profile}] {key}", "must be a single value")
    return value


def _int(values: Mapping[str, Any], profile: str, key: str) -> int | None:
    text = _value(values, profile, key)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise fail(f"[profile {profile}] {key}", f"{text[:40]!r} is not a number of seconds") from None


def _tags(values: Mapping[str, Any], profile: str, name: str) -> dict[str, str] | None:
    """aws-vault's ``session_tags = key1=value1,key2=value2`` (``name``: the key)."""
    text = _value(values, profile, name)
    if text is None:
        return None
    tags: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise fail(f"[profile {profile}] session_tags", f"{item[:60]!r} is not key=value")
        tags[key.strip()] = value.strip()
    return tags


def _list(text: Any) -> list[str] | None:
    if text is None:
        return None
    return [part.strip() for part in str(text).split(",") if part.strip()]
