"""``from_environment``, ``install``, ``uninstall``: botocore's default chain on rolesession's engine.

`from_environment` walks botocore's own credential resolver (the providers
``create_credential_resolver`` builds, in its order, for the profile and
environment) and stops at the first that applies, as botocore does:

* long-term keys (environment, shared credentials and config files): passed
  through unchanged, nothing to refresh;
* a role profile (``role_arn`` with ``source_profile``/``credential_source``
  or ``web_identity_token_file``): `rolesession.from_profile`;
* environment web identity (``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``,
  EKS IRSA): `rolesession.assume_role_with_web_identity`;
* SSO, ``login``, ``credential_process``, the container endpoint (ECS, EKS
  Pod Identity) and instance metadata: botocore's provider for it, wrapped
  in a `ProviderSource` (``_provider_source``) so the engine serves it.

Which provider applies is decided from the configuration (profile keys,
variables) without fetching anything, except for long-term keys (local
reads); instance metadata, botocore's last resort, is taken unless
``AWS_EC2_METADATA_DISABLED`` is set, and its absence shows at the first
read. `install` makes a session boto3's default session.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import boto3

from ._cache import DEFAULT_CACHE, CacheArg, check_cache, default_cache
from ._environment import _user_at_host, region_of, where_botocore_looked
from ._errors import SourceCredentialsError
from ._keys import digest
from ._refresh import RefreshPolicy
from ._validation import check_instance, check_region, check_str, fail

if TYPE_CHECKING:
    import botocore.session

    from ._session import RoleSession

__all__ = ["from_environment", "install", "uninstall"]

#: Providers whose credentials are long-term keys read from local files or variables.
_LOCAL = frozenset({"env", "shared-credentials-file", "config-file", "ec2-credentials-file", "boto-config"})
_SSO_KEYS = ("sso_role_name", "sso_account_id")
_CONTAINER_HOST = "http://169.254.170.2"
_IMDS_ENDPOINT = "http://169.254.169.254/"


def from_environment(
    *,
    profile: str | None = None,
    region: str | None = None,
    cache: CacheArg = DEFAULT_CACHE,
    refresh: RefreshPolicy | None = None,
) -> RoleSession:
    """The session botocore's default credential chain would give, served by rolesession's engine.

    Finds credentials where ``boto3.Session()`` would, in botocore's order:
    environment keys, role profiles (through `from_profile`), environment
    web identity (``AWS_ROLE_ARN`` + ``AWS_WEB_IDENTITY_TOKEN_FILE``, through
    `assume_role_with_web_identity`), SSO, ``login``, ``credential_process``,
    the credentials and config files, the container endpoint (ECS, EKS Pod
    Identity; ``AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)``) and instance
    metadata (IMDSv2). Temporary credentials then get rolesession's refresh:
    windows relative to their lifetime, background refresh, static
    stability, one fetch for many threads, and the cache (a `FileCache`
    shares them between processes). Long-term keys pass through unchanged.
    No credentials are fetched here; ``describe()`` says which source was found.

    Args:
        profile: the profile; default ``AWS_PROFILE``, else ``default``. As in
            botocore, naming one skips the environment's keys and web identity.
        region: the session's region; default ``AWS_REGION``,
            ``AWS_DEFAULT_REGION``, then the profile's.
        cache: as for `assume_role`.
        refresh: a `RefreshPolicy`.

    Returns:
        The session (for a role profile, `from_profile`'s).

    Raises:
        InvalidParameterError: a parameter is invalid, or the profile is not configured.
        SourceCredentialsError: botocore's chain finds no credentials (the
            message names the profile, the files and the providers tried).

    Example:
        ```python
        session = rolesession.from_environment()
        session.describe()["operation"]  # 'AssumeRoleWithWebIdentity' on EKS IRSA, ...
        session.client("s3").list_buckets()
        ```
    """
    import botocore.session

    if profile is not None:
        check_str(profile, "profile")
    region = check_region(region, "region")
    check_instance(refresh, "refresh", RefreshPolicy, "a RefreshPolicy")
    cache = default_cache() if cache is DEFAULT_CACHE else check_cache(cache, "cache")
    core = botocore.session.Session(profile=profile)
    name = str(core.get_config_variable("profile") or "default")
    if name not in core.available_profiles and (profile is not None or name != "default"):
        # botocore would raise ProfileNotFound from deep inside; name where the profile came from.
        where = "profile" if profile is not None else _profile_variable(name)
        raise fail(where, f"the profile {name!r} is not configured (AWS_CONFIG_FILE, ~/.aws/config)")
    values: Mapping[str, Any] = core.full_config.get("profiles", {}).get(name, {})
    chain = _Chain(core, name, values, profile is not None, region, cache, refresh)
    for provider in core.get_component("credential_provider").providers:
        session = chain.session_for(provider)
        if session is not None:
            return session
    raise SourceCredentialsError(
        f"no credentials were found by botocore's default chain ({where_botocore_looked(core)})",
        role_arn=None,
    )


class _Chain:
    """What one `from_environment` call knows, and which session a provider gives."""

    def __init__(
        self,
        core: botocore.session.Session,
        name: str,
        values: Mapping[str, Any],
        named: bool,
        region: str | None,
        cache: Any,
        refresh: RefreshPolicy | None,
    ) -> None:
        self.core = core
        self.name = name
        self.values = values
        self.named = named  # a profile given explicitly: botocore then ignores the environment
        self.region = region
        self.cache = cache
        self.refresh = refresh

    def session_for(self, provider: Any) -> RoleSession | None:
        method = str(getattr(provider, "METHOD", ""))
        values, env = self.values, os.environ
        if method == "assume-role":
            if "role_arn" in values and "web_identity_token_file" not in values:
                return self._profile()
        elif method == "assume-role-with-web-identity":
            if "role_arn" in values and "web_identity_token_file" in values:
                return self._profile()
            if not self.named and env.get("AWS_ROLE_ARN") and env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
                return self._web_identity()
        elif method == "sso":
            if any(key in values for key in _SSO_KEYS):
                who = values.get("sso_session") or values.get("sso_start_url")
                identity = f"{who}|{values.get('sso_account_id')}|{values.get('sso_role_name')}"
                return self._wrapped(provider, method, f"profile {self.name!r}", identity)
        elif method == "login":
            if "login_session" in values:
                return self._wrapped(provider, method, f"profile {self.name!r}", str(values["login_session"]))
        elif method == "custom-process":
            if "credential_process" in values:
                command = str(values["credential_process"])
                return self._wrapped(provider, method, f"profile {self.name!r}", command)
        elif method == "container-role":
            uri = _container_uri()
            if uri is not None:
                token = _container_token_digest
                return self._wrapped(provider, method, uri, uri, identify=lambda: uri + token())
        elif method == "iam-role":
            if env.get("AWS_EC2_METADATA_DISABLED", "false").lower() != "true":
                configured = self.core.get_config_variable("ec2_metadata_service_endpoint")
                endpoint = str(configured or _IMDS_ENDPOINT)
                return self._wrapped(provider, method, endpoint, endpoint)
        else:
            return self._loaded(provider, method)
        return None

    # -- the sessions ----------------------------------------------------------------------------

    def _profile(self) -> RoleSession:
        from ._api import from_profile

        return from_profile(self.name, region=self.region, cache=self.cache, refresh=self.refresh)

    def _web_identity(self) -> RoleSession:
        from ._api import assume_role_with_web_identity

        return assume_role_with_web_identity(
            os.environ["AWS_ROLE_ARN"],
            token_file=os.environ["AWS_WEB_IDENTITY_TOKEN_FILE"],
            region=self.region,
            cache=self.cache,
            refresh=self.refresh,
        )

    def _loaded(self, provider: Any, method: str) -> RoleSession | None:
        """Long-term keys (or a provider this module does not know): asked now, as botocore would."""
        from botocore.credentials import RefreshableCredentials

        loaded = provider.load()
        if loaded is None:
            return None
        refreshable = isinstance(loaded, RefreshableCredentials)  # e.g. AWS_CREDENTIAL_EXPIRATION set
        found = "the environment" if method == "env" else f"profile {self.name!r}"
        identity = found if refreshable else digest(str(getattr(loaded, "access_key", "")))
        # Long-term keys are the caller's own: nothing to cache, nothing to refresh.
        return self._wrapped(provider, method, found, identity, cached=refreshable)

    def _wrapped(
        self,
        provider: Any,
        method: str,
        found: str,
        identity: str,
        *,
        cached: bool = True,
        identify: Any = None,
    ) -> RoleSession:
        from ._provider_source import ProviderSource
        from ._recipe import Recipe
        from ._session import session_for

        source = ProviderSource(
            role_arn=None,
            region=self._region(),
            partition="aws",
            provider_method=method,
            found=found,
            # The local user too: two users' helpers or token caches are two callers.
            identity=f"{_user_at_host()}|{identity}",
            provider=provider,
            identify=(lambda: f"{_user_at_host()}|{identify()}") if identify is not None else None,
        )
        return session_for(Recipe(source, None, self.cache if cached else None, self.refresh))

    def _region(self) -> str | None:
        if self.region:
            return self.region
        value = os.environ.get("AWS_REGION")
        if value:
            return check_region(value, "AWS_REGION", origin="the environment variable AWS_REGION")
        found = region_of(self.core)
        if found is not None:
            check_region(found, "region", origin=f"the region of profile {self.name!r}")
        return found


def _profile_variable(name: str) -> str:
    """The variable botocore took the profile from (``AWS_DEFAULT_PROFILE`` wins, as in botocore)."""
    return "AWS_DEFAULT_PROFILE" if os.environ.get("AWS_DEFAULT_PROFILE") == name else "AWS_PROFILE"


def _container_uri() -> str | None:
    env = os.environ
    relative = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    if relative:
        return _CONTAINER_HOST + relative
    return env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI") or None


def _container_token_digest() -> str:
    """A digest of the container authorization token as it is now (EKS Pod Identity rotates it)."""
    env = os.environ
    path = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    if path:
        try:
            with open(path, encoding="utf-8") as handle:
                token = handle.read()
        except OSError:
            token = None  # botocore's own read fails the fetch with its message
    return "|" + digest(token) if token else ""


# -- boto3's default session --------------------------------------------------------------------------

_lock = threading.Lock()
_replaced: list[Any] = []


def install(session: boto3.Session | None = None) -> RoleSession:
    """Make ``session`` boto3's default session, so ``boto3.client()`` and ``boto3.resource()`` use it.

    Libraries that call ``boto3.client(...)`` (or ``boto3.resource``) without
    a session of their own then sign with rolesession's credentials.
    `uninstall` puts back the session that was the default before.

    Args:
        session: a `RoleSession`; default `from_environment()`.

    Returns:
        The installed session.

    Raises:
        InvalidParameterError: ``session`` is not a `RoleSession`.
        SourceCredentialsError: with no ``session``, botocore's chain finds no credentials.

    Example:
        ```python
        rolesession.install()  # from_environment()
        boto3.client("sts").get_caller_identity()  # signed with the engine's credentials
        rolesession.uninstall()
        ```
    """
    from ._session import RoleSession

    if session is None:
        session = from_environment()
    if not isinstance(session, RoleSession):
        raise fail("session", f"expected a RoleSession, got {type(session).__name__}")
    with _lock:
        _replaced.append(boto3.DEFAULT_SESSION)
        boto3.DEFAULT_SESSION = session
    return session


def uninstall() -> None:
    """Put back boto3's default session as it was before the last `install` (nothing if none).

    Raises:
        Nothing: without an installed session this does nothing.

    Example:
        ```python
        rolesession.install(rolesession.from_environment())
        rolesession.uninstall()  # boto3.client() uses boto3's own default session again
        ```
    """
    with _lock:
        if _replaced:
            boto3.DEFAULT_SESSION = _replaced.pop()
