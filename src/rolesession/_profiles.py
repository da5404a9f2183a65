"""Role profiles of the shared AWS config, built into rolesession sessions (`from_profile`).

The walk starts at the named profile and follows ``source_profile`` while
profiles define ``role_arn``; it ends at ``credential_source``,
``web_identity_token_file``, or the first profile without ``role_arn`` (the
source, which botocore resolves: static keys, ``credential_process``,
SSO ...). Each role profile becomes one hop built by the same entry points a
program calls (`assume_role`, `assume_role_with_web_identity`,
`mfa_session`), so every value is checked as theirs are; an invalid value
is reported as ``[profile <name>] <key>``.

What botocore does with the same file -- and what it does not: no
``source_identity``, ``session_tags``, ``transitive_session_tags`` or
``mfa_process`` (aws-vault's keys), no refresh of MFA-protected roles
(``RefreshWithMFAUnsupportedError``), fixed 15/10-minute windows and no
cache across processes.
"""

from __future__ import annotations

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
from ._refresh import RefreshPolicy
from ._secret_commands import CommandError, CommandMfaCode, PromptMfaCode
from ._session import RoleSession
from ._validation import check_endpoint_url, check_instance, check_mfa_token, check_region, check_str, fail

__all__ = ["resolve_profile"]

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
    "sts_endpoint_url": "endpoint_url",
    "source": "region",
}


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
    config = botocore.session.Session().full_config
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
    outermost = profiles[name]
    common = {
        "region": region or _value(outermost, name, "region"),
        "sts_endpoint_url": sts_endpoint_url or _endpoint(config, outermost),
        "sts_config": _endpoint_config(outermost, sts_config),
        "cache": cache,
        "refresh": refresh,
    }
    session: Any = None if root[0] == "web_identity" else _source_session(profiles, root)
    for index, hop in enumerate(reversed(hops)):
        values = profiles[hop]
        innermost = index == 0
        try:
            session = _hop(
                hop, values, session, root, innermost=innermost, mfa_token=mfa_token, common=common,
                long_term=_long_term_keys(profiles, root),
            )
        except InvalidParameterError as exc:
            # The caller's own keywords were checked above: anything else came from the profile.
            if exc.parameter in _KEY_OF:
                key = _KEY_OF[exc.parameter]
                raise InvalidParameterError.of(f"[profile {hop}] {key}", exc.reason) from None
            raise
    assert isinstance(session, RoleSession)
    # Pickled, the session travels as this: a worker resolves the profile itself.
    session._profile_recipe = (
        name,
        {"mfa_token": mfa_token, "region": region, "sts_endpoint_url": sts_endpoint_url,
         "sts_config": sts_config, "cache": cache, "refresh": refresh},
    )  # fmt: skip
    return session


# -- the walk ------------------------------------------------------------------------------------------

Root = tuple[str, str, str]  # (kind, value, profile)


def _walk(profiles: Mapping[str, Mapping[str, Any]], name: str) -> tuple[list[str], Root]:
    """The role profiles from ``name`` inwards, and where the chain starts."""
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
        if key == "web_identity_token_file":
            return hops, ("web_identity", value, current)
        if value == current:
            # botocore: a role profile may be its own source when it holds keys.
            if "aws_access_key_id" in values:
                return hops, ("own_keys", current, current)
            raise fail(f"[profile {current}] source_profile", "names the profile itself, which holds no keys")
        if value not in profiles:
            raise fail(
                f"[profile {current}] source_profile", f"names the profile {value!r}, which is not configured"
            )
        current = value


def _source_session(profiles: Mapping[str, Mapping[str, Any]], root: Root) -> boto3.Session:
    """The session whose credentials sign the innermost hop; shared per profile and environment."""
    from ._environment import environment_fingerprint

    kind, value, profile = root
    key = (kind, value, profile, environment_fingerprint())
    state = _state.state
    with state.lock:
        cached = state.profile_sources.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    if kind == "profile":
        session = boto3.Session(profile_name=value)
    elif kind == "own_keys":
        values = profiles[profile]
        session = boto3.Session(
            aws_access_key_id=values.get("aws_access_key_id"),
            aws_secret_access_key=values.get("aws_secret_access_key"),
            aws_session_token=values.get("aws_session_token"),
            region_name=values.get("region"),
        )
    else:
        session = boto3.Session(botocore_session=_credential_source(value))
    with state.lock:
        state.profile_sources[key] = session
    return session


def _credential_source(value: str) -> botocore.session.Session:
    """A botocore session whose credentials come from one named source, as botocore resolves it."""
    from . import _botocore

    session = _botocore.new_session()
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
) -> RoleSession:
    from ._api import assume_role, assume_role_with_web_identity, mfa_session

    role = values["role_arn"]
    session_name = values.get("role_session_name")
    duration = _int(values, profile, "duration_seconds")
    if innermost and root[0] == "web_identity":
        for key in ("mfa_serial", "external_id", "session_tags", "source_identity"):
            if key in values:
                raise fail(f"[profile {profile}] {key}", "does not apply with web_identity_token_file")
        return assume_role_with_web_identity(
            role, token_file=root[1], session_name=session_name, duration=duration, **common
        )
    serial = values.get("mfa_serial")
    code = _code_provider(profile, values, serial, mfa_token) if serial is not None else None
    if serial is not None and innermost and long_term:
        # One code per MFA session, for any number of roles: GetSessionToken first.
        assert code is not None
        parent = mfa_session(serial, code, source=parent, **common)
        serial = code = None
    return assume_role(
        role,
        source=parent,
        session_name=session_name,
        duration=duration,
        external_id=values.get("external_id"),
        source_identity=values.get("source_identity"),
        tags=_tags(values, profile),
        transitive_tag_keys=_list(values.get("transitive_session_tags")),
        mfa_serial=serial,
        mfa_token=code,
        **common,
    )


def _code_provider(profile: str, values: Mapping[str, Any], serial: str, given: Any) -> Any:
    """Where the MFA code comes from: ``mfa_token``, else ``mfa_process``, else the terminal."""
    if given is not None:
        return given
    process = values.get("mfa_process")
    if process is not None:
        try:
            return CommandMfaCode(str(process), option=f"[profile {profile}] mfa_process")
        except CommandError as exc:
            raise fail(f"[profile {profile}] mfa_process", str(exc)) from None
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
    return os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"


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


def _tags(values: Mapping[str, Any], profile: str) -> dict[str, str] | None:
    """aws-vault's ``session_tags = key1=value1,key2=value2``."""
    text = _value(values, profile, "session_tags")
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


def _endpoint(config: Mapping[str, Any], values: Mapping[str, Any]) -> str | None:
    """The STS endpoint a profile names: its ``services`` section's ``sts``, else its ``endpoint_url``."""
    services = values.get("services")
    if isinstance(services, str):
        section = config.get("services", {}).get(services, {})
        sts = section.get("sts") if isinstance(section, Mapping) else None
        if isinstance(sts, Mapping) and isinstance(sts.get("endpoint_url"), str):
            return str(sts["endpoint_url"])
    url = values.get("endpoint_url")
    return url if isinstance(url, str) else None


def _endpoint_config(values: Mapping[str, Any], user: Any) -> Any:
    """The profile's FIPS and dual-stack settings, under the user's own ``sts_config``."""
    flags: dict[str, Any] = {}
    for key in ("use_fips_endpoint", "use_dualstack_endpoint"):
        text = values.get(key)
        if isinstance(text, str):
            flags[key] = text.strip().lower() == "true"
    if not flags:
        return user
    config = botocore.config.Config(**flags)
    return config if user is None else config.merge(user)

