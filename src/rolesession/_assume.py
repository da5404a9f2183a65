"""The entry points: ``assume_role``, its web identity and SAML siblings, ``chain``.

Each validates every parameter (raising ``InvalidParameterError`` before any
STS call), builds an `AssumeRequest`, and returns a lazily-fetching
`RoleSession` -- the same object again when the same role is asked
for with the same parameters and source while its credentials are cached.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import boto3
import botocore.config

if TYPE_CHECKING:
    import cachetools

from . import _sts as sts
from ._cache import check_cache, default_cache
from ._environment import default_session_name, environment_fingerprint, resolve_region
from ._errors import InvalidParameterError
from ._policy import Policy
from ._provider import OneShot, RoleProvider
from ._refresh import RefreshPolicy
from ._request import AssumeRequest, by_identity
from ._session import RoleSession
from ._validation import (
    ROLE_ARN_RE,
    check_duration,
    check_endpoint_url,
    check_external_id,
    check_instance,
    check_mfa_serial,
    check_mfa_token,
    check_optional_path,
    check_packed_size,
    check_policy,
    check_policy_arns,
    check_principal_arn,
    check_region,
    check_role_arn,
    check_secret_provider,
    check_session_name,
    check_source_identity,
    check_str,
    check_tags,
    check_transitive_tag_keys,
    fail,
    partition_of,
)

__all__ = [
    "assume_role",
    "assume_role_with_saml",
    "assume_role_with_web_identity",
    "chain",
    "role_arn",
]


class _Default:
    def __repr__(self) -> str:
        return "<process default>"


DEFAULT: Any = _Default()

Duration = int | _dt.timedelta
PolicyLike = Policy | Mapping[str, Any] | str


# -- warm re-assume -------------------------------------------------------------

_sessions_lock = threading.Lock()
_sessions_by_key: cachetools.LRUCache[Hashable, RoleSession] | None = None


def _sessions() -> cachetools.LRUCache[Hashable, RoleSession]:
    """The warm-session registry (made on first use: cachetools loads lazily)."""
    global _sessions_by_key
    if _sessions_by_key is None:
        import cachetools

        _sessions_by_key = cachetools.LRUCache(maxsize=4096)
    return _sessions_by_key


def _source_key(source: Any) -> Hashable:
    # A session keeps its source alive, so the source's id cannot be reused
    # while the entry stands. The default chain is keyed by the environment
    # that decides who it is.
    return id(source) if source is not None else ("default", environment_fingerprint())


def _session_for(
    request: AssumeRequest,
    source: Any,
    cache: Any,
    refresh: RefreshPolicy | None,
    *,
    chained: bool | None = None,
    one_shot: OneShot | None = None,
) -> RoleSession:
    """The session for this request: the registered one while it can serve, else a new one.

    Get-or-create is atomic, so concurrent identical requests share one
    object -- and with it one first fetch (single-flight in its engine).
    """
    if chained is None:
        chained = isinstance(source, RoleSession)

    def new() -> RoleSession:
        provider = RoleProvider(request, source=source, chained=chained, cache=cache, one_shot=one_shot)
        return RoleSession(provider, refresh)

    if cache is None:
        return new()
    key = (id(cache), _source_key(source), request, refresh)
    with _sessions_lock:
        registry = _sessions()
        session = registry.get(key)
        if session is None or not _can_serve(session):
            session = registry[key] = new()
    return session


def _can_serve(session: RoleSession) -> bool:
    # Untouched (or fetching for the first time): share it. Holding valid
    # credentials its cache still has: a warm re-assume. Anything else
    # (expired, failed, evicted from the cache): a new session.
    engine = session._credentials
    if engine.untouched():
        return True
    return engine.holds_valid() and session._provider.is_cached()


def scoped_session(parent: RoleSession, policy: str | None, policy_arns: tuple[str, ...]) -> RoleSession:
    """``parent.scoped()``: the same request from the same source with exactly these policies."""
    provider = parent._provider
    return _session_for(
        provider.request.replace(policy=policy, policy_arns=policy_arns),
        provider.source,
        provider.cache,
        parent._refresh_policy,
        chained=provider.chained,
        one_shot=provider.one_shot,
    )


def _reset_after_fork() -> None:
    global _sessions_lock
    _sessions_lock = threading.Lock()
    _sessions().clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


# -- shared checks ----------------------------------------------------------------


def _common(
    *,
    role_arn: str,
    operation: str,
    source: Any,
    duration: Any,
    policy: Any,
    policy_arns: Any,
    region: Any,
    sts_endpoint_url: Any,
    sts_config: Any,
    cache: Any,
    refresh: Any,
) -> tuple[dict[str, Any], Any, RefreshPolicy | None]:
    """Check the keywords every entry point takes; return request fields."""
    partition = partition_of(role_arn)
    compact = check_policy(policy, "policy")
    arns = check_policy_arns(policy_arns, "policy_arns")
    check_packed_size(compact, arns, "policy")
    explicit_region = check_region(region, "region")
    fields = {
        "operation": operation,
        "role_arn": role_arn,
        "partition": partition,
        "duration": check_duration(duration, "duration"),
        "policy": compact,
        "policy_arns": arns,
        "sts_endpoint_url": check_endpoint_url(sts_endpoint_url, "sts_endpoint_url"),
        "sts_config": check_instance(
            sts_config, "sts_config", botocore.config.Config, "a botocore.config.Config"
        ),
    }
    cache = default_cache() if cache is DEFAULT else check_cache(cache, "cache")
    refresh = check_instance(refresh, "refresh", RefreshPolicy, "a RefreshPolicy")
    fields["region"] = resolve_region(explicit_region, source, partition)
    return fields, cache, refresh


def _check_source(source: Any) -> Any:
    return check_instance(source, "source", boto3.Session, "a boto3.Session")


# -- entry points -----------------------------------------------------------------


def assume_role(
    role_arn: str,
    *,
    source: boto3.Session | None = None,
    session_name: str | None = None,
    duration: Duration | None = None,
    policy: PolicyLike | None = None,
    policy_arns: Iterable[str] | None = None,
    tags: Mapping[str, str] | None = None,
    transitive_tag_keys: Iterable[str] | None = None,
    external_id: str | None = None,
    source_identity: str | None = None,
    mfa_serial: str | None = None,
    mfa_token: str | Callable[[], str] | None = None,
    region: str | None = None,
    sts_endpoint_url: str | None = None,
    sts_config: botocore.config.Config | None = None,
    cache: Any = DEFAULT,
    refresh: RefreshPolicy | None = None,
) -> RoleSession:
    """Assume ``role_arn`` and return a self-refreshing `RoleSession`.

    No STS call is made here: credentials are fetched on first use (or taken
    from the cache). ``source`` is the session whose credentials call STS
    (``None``: the default credential chain); it is never modified.

    Args:
        role_arn: ``arn:<partition>:iam::<account>:role/[<path>/]<name>``.
        source: a ``boto3.Session`` (a ``RoleSession`` chains a hop).
        session_name: ``RoleSessionName``; default ``AWS_ROLE_SESSION_NAME``, the
            Lambda function name, or ``user@host``.
        duration: seconds (``int``) or ``timedelta``, 900-43200; chained hops
            are capped to 3600 with a warning.
        policy: a session policy (``Policy``, ``dict`` or JSON ``str``).
        policy_arns: up to 10 managed policy ARNs used as session policies.
        tags: session tags; ``transitive_tag_keys`` must be among them.
        external_id: the ``ExternalId`` the role's trust policy asks for.
        source_identity: the ``SourceIdentity`` to set.
        mfa_serial: MFA device serial or ARN; goes with ``mfa_token``.
        mfa_token: a 6-digit code (used once) or a callable returning one
            (called only when STS is really called).
        region: region of the STS endpoint and of the session; default the
            source's, else the environment's, else the partition's.
        sts_endpoint_url: e.g. a VPC endpoint or a local STS.
        sts_config: a ``botocore.config.Config`` merged over the library's STS
            defaults (standard retries, 3 attempts, short timeouts).
        cache: a ``MemoryCache``, ``FileCache``, compatible object or ``None``;
            default the process-wide ``default_cache()``.
        refresh: a ``RefreshPolicy``; ``None`` for the defaults.

    Raises:
        InvalidParameterError: a parameter is invalid (before any STS call).
    """
    arn = check_role_arn(role_arn, "role_arn")
    source = _check_source(source)
    if (mfa_serial is None) != (mfa_token is None):
        missing = "mfa_token" if mfa_token is None else "mfa_serial"
        raise fail(missing, "mfa_serial and mfa_token go together; pass both or neither")
    fields, cache, refresh = _common(
        role_arn=arn,
        operation=sts.ASSUME_ROLE,
        source=source,
        duration=duration,
        policy=policy,
        policy_arns=policy_arns,
        region=region,
        sts_endpoint_url=sts_endpoint_url,
        sts_config=sts_config,
        cache=cache,
        refresh=refresh,
    )
    checked_tags = check_tags(tags, "tags")
    request = AssumeRequest(
        **fields,
        session_name=_session_name(session_name),
        tags=checked_tags,
        transitive_tag_keys=check_transitive_tag_keys(
            transitive_tag_keys, checked_tags, "transitive_tag_keys"
        ),
        external_id=None if external_id is None else check_external_id(external_id),
        source_identity=None if source_identity is None else check_source_identity(source_identity),
        mfa_serial=None if mfa_serial is None else check_mfa_serial(mfa_serial),
        mfa_token=None if mfa_token is None else by_identity(check_mfa_token(mfa_token)),
    )
    return _session_for(request, source, cache, refresh)


def assume_role_with_web_identity(
    role_arn: str | None = None,
    *,
    token: str | Callable[[], str] | None = None,
    token_file: str | os.PathLike[str] | None = None,
    provider_id: str | None = None,
    session_name: str | None = None,
    duration: Duration | None = None,
    policy: PolicyLike | None = None,
    policy_arns: Iterable[str] | None = None,
    region: str | None = None,
    sts_endpoint_url: str | None = None,
    sts_config: botocore.config.Config | None = None,
    cache: Any = DEFAULT,
    refresh: RefreshPolicy | None = None,
) -> RoleSession:
    """Assume a role with an OIDC token (``AssumeRoleWithWebIdentity``).

    The call needs no source credentials. ``token`` is a string or a
    zero-argument callable returning a fresh token; ``token_file`` is re-read
    at every STS call (tokens rotate on disk). With neither, the file named
    by ``AWS_WEB_IDENTITY_TOKEN_FILE`` is used, and ``role_arn=None`` falls
    back to ``AWS_ROLE_ARN`` (EKS IRSA and similar).

    Raises:
        InvalidParameterError: a parameter is invalid, or the token file does
            not exist (before any STS call).
    """
    if role_arn is None:
        role_arn = os.environ.get("AWS_ROLE_ARN") or None
        if role_arn is None:
            raise fail("role_arn", "not given and AWS_ROLE_ARN is not set")
    arn = check_role_arn(role_arn, "role_arn")
    if token is not None and token_file is not None:
        raise fail("token_file", "pass token or token_file, not both")
    path = check_optional_path(token_file, "token_file")
    if token is None and path is None:
        path = os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE") or None
        if path is None:
            raise fail("token", "pass token or token_file, or set AWS_WEB_IDENTITY_TOKEN_FILE")
    if path is not None and not os.path.isfile(path):
        raise fail("token_file", f"{path} does not exist or is not a file")
    if path is not None:
        path = os.path.abspath(path)  # re-read for years: a later chdir must not lose it
    checked_token = (
        None
        if token is None
        else check_secret_provider(token, "token", 4, 20_000, "a web identity token")
    )
    if provider_id is not None:
        provider_id = check_str(provider_id, "provider_id")
        if not 4 <= len(provider_id) <= 2048:
            raise fail("provider_id", "must be 4-2048 characters")
    fields, cache, refresh = _common(
        role_arn=arn,
        operation=sts.WEB_IDENTITY,
        source=None,
        duration=duration,
        policy=policy,
        policy_arns=policy_arns,
        region=region,
        sts_endpoint_url=sts_endpoint_url,
        sts_config=sts_config,
        cache=cache,
        refresh=refresh,
    )
    request = AssumeRequest(
        **fields,
        session_name=_session_name(session_name),
        token=by_identity(checked_token),
        token_file=path,
        provider_id=provider_id,
    )
    return _session_for(request, None, cache, refresh)


def assume_role_with_saml(
    role_arn: str,
    principal_arn: str,
    *,
    assertion: str | Callable[[], str],
    duration: Duration | None = None,
    policy: PolicyLike | None = None,
    policy_arns: Iterable[str] | None = None,
    region: str | None = None,
    sts_endpoint_url: str | None = None,
    sts_config: botocore.config.Config | None = None,
    cache: Any = DEFAULT,
    refresh: RefreshPolicy | None = None,
) -> RoleSession:
    """Assume a role with a SAML assertion (``AssumeRoleWithSAML``).

    ``principal_arn`` is the IAM SAML provider's ARN. ``assertion`` is the
    base64 SAML response, or a callable returning a fresh one. A static
    assertion is sent once: the session serves what it got until expiry,
    then raises `rolesession.TokenError`; pass a callable to refresh.
    """
    arn = check_role_arn(role_arn, "role_arn")
    principal = check_principal_arn(principal_arn, "principal_arn")
    if partition_of(principal) != partition_of(arn):
        raise fail("principal_arn", "must be in the same partition as role_arn")
    checked = check_secret_provider(assertion, "assertion", 4, 100_000, "a SAML assertion")
    fields, cache, refresh = _common(
        role_arn=arn,
        operation=sts.SAML,
        source=None,
        duration=duration,
        policy=policy,
        policy_arns=policy_arns,
        region=region,
        sts_endpoint_url=sts_endpoint_url,
        sts_config=sts_config,
        cache=cache,
        refresh=refresh,
    )
    request = AssumeRequest(**fields, principal_arn=principal, assertion=by_identity(checked))
    return _session_for(request, None, cache, refresh)


def _session_name(value: object) -> str:
    return default_session_name() if value is None else check_session_name(value, "session_name")


# -- chains -----------------------------------------------------------------------

_FIRST_HOP_ONLY = ("mfa_serial", "mfa_token")
_LAST_HOP_ONLY = ("policy", "policy_arns", "tags", "transitive_tag_keys")
#: The keywords of assume_role() that configure a hop (chain() and fan_out()
#: set the source themselves).
HOP_KEYWORDS = frozenset(assume_role.__kwdefaults__ or {}) - {"source"}


def chain(
    steps: Iterable[str | Mapping[str, Any]], *, source: boto3.Session | None = None, **common: Any
) -> RoleSession:
    """Assume a chain of roles, each hop from the previous one's credentials.

    Each step is a role ARN or a dict of `assume_role` keywords with
    ``role_arn``. ``common`` keywords apply to every hop, except
    ``mfa_serial``/``mfa_token`` (first hop only) and ``policy``,
    ``policy_arns``, ``tags``, ``transitive_tag_keys`` (last hop only); a
    step's own keywords override them for that hop. Returns the last hop.

    Raises:
        InvalidParameterError: with ``parameter`` like ``steps[1].duration``
            for a bad keyword in a step.
    """
    if isinstance(steps, (str, Mapping)) or not isinstance(steps, Iterable):
        raise fail("steps", "expected a list of role ARNs or dicts")
    hops = list(steps)
    if not hops:
        raise fail("steps", "needs at least one role")
    unknown = set(common) - HOP_KEYWORDS
    if unknown:
        raise fail(sorted(unknown)[0], "is not a keyword of chain()")
    plans: list[tuple[dict[str, Any], set[str]]] = []
    for i, step in enumerate(hops):
        if isinstance(step, str):
            own: dict[str, Any] = {"role_arn": step}
        elif isinstance(step, Mapping):
            own = dict(step)
        else:
            raise fail(f"steps[{i}]", "expected a role ARN or a dict with role_arn")
        if "role_arn" not in own:
            raise fail(f"steps[{i}].role_arn", "is missing")
        bad = set(own) - HOP_KEYWORDS - {"role_arn"}
        if bad:
            raise fail(f"steps[{i}].{sorted(bad)[0]}", "is not a keyword of assume_role()")
        kwargs = {
            k: v
            for k, v in common.items()
            if not (k in _FIRST_HOP_ONLY and i > 0) and not (k in _LAST_HOP_ONLY and i < len(hops) - 1)
        }
        kwargs.update(own)
        plans.append((kwargs, set(own)))
    # Every hop is checked before any session exists; the sessions are lazy,
    # so nothing calls STS until the last hop is used.
    session: RoleSession | None = None
    current: boto3.Session | None = _check_source(source)
    for i, (kwargs, own_keys) in enumerate(plans):
        role = kwargs.pop("role_arn")
        try:
            session = assume_role(role, source=current, **kwargs)
        except InvalidParameterError as exc:
            name = exc.parameter.split(".")[0].split("[")[0]
            if name in own_keys or name == "role_arn":
                raise InvalidParameterError(
                    str(exc).replace(f"{exc.parameter}:", f"steps[{i}].{exc.parameter}:", 1),
                    parameter=f"steps[{i}].{exc.parameter}",
                ) from None
            raise
        current = session
    assert session is not None
    return session


# -- ARNs -------------------------------------------------------------------------


def role_arn(
    account_id: str | int, role_name: str, *, path: str = "/", partition: str = "aws"
) -> str:
    """Build and check a role ARN: ``role_arn("123456789012", "Admin")``."""
    if isinstance(account_id, bool) or not isinstance(account_id, (str, int)):
        raise fail("account_id", "expected a 12-digit string")
    account = f"{account_id:012d}" if isinstance(account_id, int) else account_id
    if not (len(account) == 12 and account.isdigit() and account.isascii()):
        raise fail("account_id", f"{account!r} is not a 12-digit AWS account id")
    check_str(role_name, "role_name")
    check_str(path, "path")
    check_str(partition, "partition")
    if not (path.startswith("/") and path.endswith("/")):
        raise fail("path", "must start and end with '/'")
    if not re.fullmatch(r"aws(?:-[a-z]+)*", partition):
        raise fail("partition", f"{partition!r} is not an AWS partition (aws, aws-cn, ...)")
    if path != "/" and not re.fullmatch(r"/[\x21-\x7e]+/", path):
        raise fail("path", "must be '/' or '/<printable ASCII>/'")
    arn = f"arn:{partition}:iam::{account}:role{path}{role_name}"
    if not ROLE_ARN_RE.fullmatch(arn) or len(arn) > 2048:
        raise fail("role_name", f"{role_name[:100]!r} is not a valid role name")
    return arn
