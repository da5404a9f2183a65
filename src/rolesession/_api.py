"""The entry points: ``assume_role``, its web identity and SAML siblings, ``chain``, ``role_arn``.

Each checks its keywords into a recipe (``_requests``; `InvalidParameterError`
before any STS call) and returns the session for it (``_session``): a lazily
fetching `RoleSession` -- the same object again when the same role is asked
for with the same parameters and source while its credentials are cached.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import botocore.config

from ._cache import DEFAULT_CACHE, CacheArg
from ._recipe import Recipe
from ._refresh import RefreshPolicy
from ._requests import (
    assume_role_recipe,
    assume_root_recipe,
    chain_recipes,
    check_assume_role_keywords,
    check_source,
    mfa_session_recipe,
    saml_recipe,
    scope_down_recipe,
    web_identity_recipe,
)
from ._session import RoleSession, session_for
from ._validation import ROLE_ARN_RE, check_str, fail

if TYPE_CHECKING:
    import boto3
    from typing_extensions import Unpack

    from ._keywords import Duration, HopKeywords, PolicyLike

__all__ = [
    "assume_role",
    "assume_role_chain",
    "assume_role_with_saml",
    "assume_role_with_web_identity",
    "assume_root",
    "build_role_arn",
    "chain",
    "from_profile",
    "mfa_session",
    "role_arn",
    "scope_down",
    "session_from_recipe",
]


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
    cache: CacheArg = DEFAULT_CACHE,
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
            source's, else the environment's. With none configured the
            session's ``region_name`` is ``None`` (as boto3's would be) and
            STS is called in the partition's default region. A name outside
            the role's partition is refused; one botocore does not know gets
            one WARNING naming the nearest known region.
        sts_endpoint_url: e.g. a VPC endpoint or a local STS.
        sts_config: a ``botocore.config.Config`` merged over the library's STS
            defaults (standard retries, 3 attempts, short timeouts).
        cache: a `MemoryCache`, `FileCache`, any `CredentialCache` or ``None``;
            default: a hop from a `RoleSession` uses its parent's cache, any
            other session the process-wide `default_cache()`.
        refresh: a `RefreshPolicy`; ``None`` for the defaults.

    Returns:
        The session; the same object again for the same request while its
        credentials are cached.

    Raises:
        InvalidParameterError: a parameter is invalid (before any STS call).

    Example:
        ```python
        session = rolesession.assume_role("arn:aws:iam::123456789012:role/Auditor", duration=3600)
        session.client("s3").list_buckets()
        ```
    """
    checked = check_assume_role_keywords(
        source=check_source(source),
        session_name=session_name,
        duration=duration,
        policy=policy,
        policy_arns=policy_arns,
        tags=tags,
        transitive_tag_keys=transitive_tag_keys,
        external_id=external_id,
        source_identity=source_identity,
        mfa_serial=mfa_serial,
        mfa_token=mfa_token,
        region=region,
        sts_endpoint_url=sts_endpoint_url,
        sts_config=sts_config,
        cache=cache,
        refresh=refresh,
    )
    return session_for(assume_role_recipe(role_arn, checked))


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
    cache: CacheArg = DEFAULT_CACHE,
    refresh: RefreshPolicy | None = None,
) -> RoleSession:
    """Assume a role with an OIDC token (``AssumeRoleWithWebIdentity``).

    The call needs no source credentials. ``token`` is a string or a
    zero-argument callable returning a fresh token; ``token_file`` is re-read
    at every STS call (tokens rotate on disk). With neither, the file named
    by ``AWS_WEB_IDENTITY_TOKEN_FILE`` is used, and ``role_arn=None`` falls
    back to ``AWS_ROLE_ARN`` (EKS IRSA and similar).

    Args:
        role_arn: the role; default ``AWS_ROLE_ARN``.
        token: the token (4-20000 characters), or a callable returning a
            fresh one at each STS call.
        token_file: a file holding the token, re-read at every STS call
            (surrounding whitespace stripped); must exist now.
        provider_id: the ``ProviderId`` for OAuth 2.0 providers (Amazon,
            Facebook, Google); not for OIDC providers.
        session_name: ``RoleSessionName``; default as for `assume_role`.
        duration: seconds or ``timedelta``, 900-43200.
        policy: a session policy (``Policy``, ``dict`` or JSON ``str``).
        policy_arns: up to 10 managed policy ARNs used as session policies.
        region: region of the STS endpoint and of the session; default
            ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's; with none,
            the session has no region and STS is called in the partition's
            default region.
        sts_endpoint_url: e.g. a VPC endpoint or a local STS.
        sts_config: a ``botocore.config.Config`` merged over the library's
            STS defaults.
        cache: as for `assume_role`. Credentials got with a callable token go
            only to in-process caches (unless the callable names its caller
            with a ``cache_identity`` string).
        refresh: a `RefreshPolicy`.

    Returns:
        The session.

    Raises:
        InvalidParameterError: a parameter is invalid, or the token file does
            not exist (before any STS call).

    Example:
        ```python
        session = rolesession.assume_role_with_web_identity(
            "arn:aws:iam::123456789012:role/Deploy",
            token_file="/var/run/secrets/eks.amazonaws.com/serviceaccount/token",
        )
        ```
    """
    recipe = web_identity_recipe(
        role_arn,
        token=token,
        token_file=token_file,
        provider_id=provider_id,
        session_name=session_name,
        duration=duration,
        policy=policy,
        policy_arns=policy_arns,
        region=region,
        sts_endpoint_url=sts_endpoint_url,
        sts_config=sts_config,
        cache=cache,
        refresh=refresh,
    )
    return session_for(recipe)


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
    cache: CacheArg = DEFAULT_CACHE,
    refresh: RefreshPolicy | None = None,
) -> RoleSession:
    """Assume a role with a SAML assertion (``AssumeRoleWithSAML``).

    A static assertion is sent once: the session serves what it got until
    expiry, then raises `rolesession.TokenError`; pass a callable to refresh.

    Args:
        role_arn: the role the assertion names.
        principal_arn: the IAM SAML provider's ARN
            (``arn:<partition>:iam::<account>:saml-provider/<name>``).
        assertion: the base64 SAML response (4-100000 characters), or a
            callable returning a fresh one at each STS call.
        duration: seconds or ``timedelta``, 900-43200.
        policy: a session policy (``Policy``, ``dict`` or JSON ``str``).
        policy_arns: up to 10 managed policy ARNs used as session policies.
        region: as for `assume_role_with_web_identity`.
        sts_endpoint_url: e.g. a VPC endpoint or a local STS.
        sts_config: a ``botocore.config.Config`` merged over the library's
            STS defaults.
        cache: as for `assume_role_with_web_identity`.
        refresh: a `RefreshPolicy`.

    Returns:
        The session.

    Raises:
        InvalidParameterError: a parameter is invalid (before any STS call).

    Example:
        ```python
        session = rolesession.assume_role_with_saml(
            "arn:aws:iam::123456789012:role/Analyst",
            "arn:aws:iam::123456789012:saml-provider/Corp",
            assertion=fetch_saml_response,  # called at each STS call
        )
        ```
    """
    recipe = saml_recipe(
        role_arn,
        principal_arn,
        assertion=assertion,
        duration=duration,
        policy=policy,
        policy_arns=policy_arns,
        region=region,
        sts_endpoint_url=sts_endpoint_url,
        sts_config=sts_config,
        cache=cache,
        refresh=refresh,
    )
    return session_for(recipe)


def assume_role_chain(
    steps: Iterable[str | Mapping[str, Any]],
    *,
    source: boto3.Session | None = None,
    **common: Unpack[HopKeywords],
) -> RoleSession:
    """Assume a chain of roles, each hop from the previous one's credentials
    (``chain`` is the same function under its older name; ``session.chain``
    is the tuple of what a session was assumed through).

    Each step is a role ARN or a dict of `assume_role` keywords with
    ``role_arn``. ``common`` keywords apply to every hop, except
    ``mfa_serial``/``mfa_token`` (first hop only) and ``policy``,
    ``policy_arns``, ``tags``, ``transitive_tag_keys`` (last hop only); a
    step's own keywords override them for that hop. Every hop is checked
    before any session exists; nothing calls STS until the last hop is used.

    Args:
        steps: role ARNs, or dicts of `assume_role` keywords with ``role_arn``.
        source: the session the first hop is assumed from (``None``: the
            default credential chain).
        **common: keywords of `assume_role` for every hop (as above).

    Returns:
        The last hop's session (``.parent`` leads back through the chain).

    Raises:
        InvalidParameterError: with ``parameter`` like ``steps[1].duration``
            for a bad keyword in a step.

    Example:
        ```python
        target = rolesession.assume_role_chain(
            ["arn:aws:iam::111111111111:role/Hub", {"role_arn": "arn:aws:iam::222222222222:role/Target",
                                                     "external_id": "partner-42"}],
            duration=3600,
        )
        ```
    """
    parent: Any = source
    session: RoleSession | None = None
    for hop, cache, refresh in chain_recipes(steps, source, common):
        session = session_for(Recipe(hop, parent, cache, refresh))
        parent = session
    assert session is not None
    return session


def mfa_session(
    mfa_serial: str,
    mfa_token: str | Callable[[], str],
    *,
    duration: Duration = 43200,
    source: boto3.Session | None = None,
    region: str | None = None,
    sts_endpoint_url: str | None = None,
    sts_config: botocore.config.Config | None = None,
    cache: CacheArg = DEFAULT_CACHE,
    refresh: RefreshPolicy | None = None,
) -> RoleSession:
    """An MFA session (``GetSessionToken``): one code, then any number of roles without codes.

    The source must hold an IAM user's long-term keys. The returned session
    refreshes itself -- a new session asks ``mfa_token`` again, once per
    ``duration`` -- and its `RoleSession.assume_role` children need no
    codes: roles whose trust policy requires ``aws:MultiFactorAuthPresent``
    accept them. Its ``role_arn`` is ``None``.

    Args:
        mfa_serial: the MFA device's serial number or ARN.
        mfa_token: a 6-digit code (used once: the session cannot renew
            itself) or a callable returning one (asked once per session, and
            never from a background thread if it has ``interactive = True``).
        duration: seconds or ``timedelta``, 900-129600 (36 hours); default 12 hours.
        source: the session holding the long-term keys; default the credential chain.
        region: as for `assume_role`.
        sts_endpoint_url: e.g. a VPC endpoint or a local STS.
        sts_config: a ``botocore.config.Config`` merged over the library's STS defaults.
        cache: as for `assume_role`; with a `FileCache` every process of the
            user shares the MFA session (one code per ``duration``).
        refresh: a `RefreshPolicy`.

    Returns:
        The MFA session.

    Raises:
        InvalidParameterError: a parameter is invalid (before any STS call).

    Example:
        ```python
        mfa = rolesession.mfa_session("arn:aws:iam::123456789012:mfa/alice", lambda: input("MFA code: "))
        prod = mfa.assume_role("arn:aws:iam::210987654321:role/Admin")  # no second code
        ```
    """
    recipe = mfa_session_recipe(
        mfa_serial,
        mfa_token,
        source=source,
        duration=duration,
        region=region,
        sts_endpoint_url=sts_endpoint_url,
        sts_config=sts_config,
        cache=cache,
        refresh=refresh,
    )
    return session_for(recipe)


def scope_down(
    policy: PolicyLike | None = None,
    *,
    source: boto3.Session | None = None,
    duration: Duration | None = None,
    description: str | None = None,
    region: str | None = None,
    sts_endpoint_url: str | None = None,
    sts_config: botocore.config.Config | None = None,
    cache: CacheArg = DEFAULT_CACHE,
    refresh: RefreshPolicy | None = None,
) -> RoleSession:
    """Scoped-down credentials (``GetScopedCredentials``): ``source``'s temporary credentials
    narrowed by a policy and/or a shorter life, with the same caller identity.

    No role and no trust-policy change: any temporary credentials (a role, IMDS,
    Pod Identity, an SSO session) can be narrowed. The session refreshes when
    its source does (a new scoped session from the source's new credentials),
    and can itself be scoped down further. Its ``role_arn`` is ``None``;
    ``identity()`` names the caller. Served by regional STS endpoints only.

    Args:
        policy: a session policy (``dict``, JSON string or `Policy`), at most 2,048
            characters once compacted.
        source: the session whose credentials are narrowed; default the credential chain.
        duration: seconds or ``timedelta``, 1-129,600; capped (one WARNING) to what the
            source's credentials have left when they are fetched.
        description: 2-256 characters recorded with the scoped session.
        region: as for `assume_role`.
        sts_endpoint_url: a regional or VPC endpoint (the global one is refused).
        sts_config: a ``botocore.config.Config`` merged over the library's STS defaults.
        cache: as for `assume_role` (default: the source session's cache).
        refresh: a `RefreshPolicy`.

    Returns:
        The scoped-down session.

    Raises:
        InvalidParameterError: neither ``policy`` nor ``duration``, or a parameter is
            invalid (before any STS call).

    Example:
        ```python
        role = rolesession.assume_role("arn:aws:iam::123456789012:role/Pipeline")
        read_only = rolesession.scope_down(rolesession.Policy.allow("s3:GetObject", "*"), source=role)
        ```
    """
    recipe = scope_down_recipe(
        policy,
        source=source,
        duration=duration,
        description=description,
        region=region,
        sts_endpoint_url=sts_endpoint_url,
        sts_config=sts_config,
        cache=cache,
        refresh=refresh,
    )
    return session_for(recipe)


def assume_root(
    account: str | int,
    task_policy: str,
    *,
    source: boto3.Session | None = None,
    duration: Duration = 900,
    region: str | None = None,
    sts_endpoint_url: str | None = None,
    sts_config: botocore.config.Config | None = None,
    cache: CacheArg = DEFAULT_CACHE,
    refresh: RefreshPolicy | None = None,
) -> RoleSession:
    """A root session on a member account (``AssumeRoot``) for one privileged root task.

    Signed by the management (or delegated administrator) account's
    credentials, which must have centralized root access enabled; refreshes
    from them. Its ``role_arn`` is ``None``; ``identity()["Arn"]`` is the
    member account's root (``arn:aws:iam::<account>:root``). Served by regional
    STS endpoints only.

    Args:
        account: the member account's 12-digit id.
        task_policy: ``IAMAuditRootUserCredentials``, ``IAMCreateRootUserPassword``,
            ``IAMDeleteRootUserCredentials``, ``S3UnlockBucketPolicy``,
            ``SQSUnlockQueuePolicy``, or its ``arn:<partition>:iam::aws:policy/root-task/...`` ARN.
        source: the management account's session; default the credential chain.
        duration: seconds or ``timedelta``, at most 900 (the default).
        region: as for `assume_role`.
        sts_endpoint_url: a regional or VPC endpoint (the global one is refused).
        sts_config: a ``botocore.config.Config`` merged over the library's STS defaults.
        cache: as for `assume_role` (default: the source session's cache).
        refresh: a `RefreshPolicy`.

    Returns:
        The root session.

    Raises:
        InvalidParameterError: a parameter is invalid (before any STS call).

    Example:
        ```python
        root = rolesession.assume_root("210987654321", "IAMAuditRootUserCredentials")
        root.client("iam").get_account_summary()
        ```
    """
    recipe = assume_root_recipe(
        account,
        task_policy,
        source=source,
        duration=duration,
        region=region,
        sts_endpoint_url=sts_endpoint_url,
        sts_config=sts_config,
        cache=cache,
        refresh=refresh,
    )
    return session_for(recipe)


def from_profile(
    profile: str | None = None,
    *,
    mfa_token: str | Callable[[], str] | None = None,
    region: str | None = None,
    sts_endpoint_url: str | None = None,
    sts_config: botocore.config.Config | None = None,
    cache: CacheArg = DEFAULT_CACHE,
    refresh: RefreshPolicy | None = None,
) -> RoleSession:
    """The role a profile of the shared AWS config describes, with rolesession's engine.

    Reads ``~/.aws/config`` and ``~/.aws/credentials`` (``AWS_CONFIG_FILE``,
    ``AWS_SHARED_CREDENTIALS_FILE``) and builds the chain the profile
    describes: ``role_arn`` with ``source_profile`` (chains of any depth),
    ``credential_source`` (``Environment``, ``Ec2InstanceMetadata``,
    ``EcsContainer``) or ``web_identity_token_file``; ``role_session_name``,
    ``external_id``, ``mfa_serial``, ``duration_seconds``, ``region`` and the
    STS endpoint settings botocore reads; and what aws-vault users write:
    ``source_identity``, ``session_tags`` (``k=v,k2=v2``),
    ``transitive_session_tags`` and ``mfa_process``. As in botocore, the
    first source profile without ``role_arn`` or with static keys of its own
    is the source, resolved by botocore's profile providers (static keys,
    ``credential_process``, SSO ...), and the named profile configures every
    client made (the hops' STS clients and the returned session's): its
    endpoint settings, ``ca_bundle`` and retries, under the environment's.
    Where it differs from botocore on purpose: docs/profiles.md.

    A profile with ``mfa_serial`` whose source holds long-term keys goes
    through an MFA session (`mfa_session`): one code per ``duration`` for any
    number of roles. The code comes from ``mfa_token``, else the profile's
    ``mfa_process`` (the last standalone 6-digit number it prints), else a
    prompt on the terminal -- never from a background thread.

    Args:
        profile: the profile; default ``AWS_DEFAULT_PROFILE``, else ``AWS_PROFILE``, else
            ``default`` (botocore's order).
        mfa_token: a 6-digit code or a callable returning one.
        region: overrides the profile's ``region``.
        sts_endpoint_url: overrides the profile's STS endpoint.
        sts_config: a ``botocore.config.Config`` merged over the library's STS defaults.
        cache: as for `assume_role`.
        refresh: a `RefreshPolicy`.

    Returns:
        The session of the profile's role (its ``parent`` leads through the chain).

    Raises:
        InvalidParameterError: the profile has no ``role_arn`` (use
            ``boto3.Session(profile_name=...)``), is unknown, loops, or has an
            invalid or conflicting key -- naming the profile and the key,
            before any STS call.

    Example:
        ```python
        session = rolesession.from_profile("prod-admin")
        session.client("s3").list_buckets()
        ```
    """
    from ._profiles import resolve_profile

    return resolve_profile(
        profile,
        mfa_token=mfa_token,
        region=region,
        sts_endpoint_url=sts_endpoint_url,
        sts_config=sts_config,
        cache=cache,
        refresh=refresh,
    )


def build_role_arn(account_id: str | int, role_name: str, *, path: str = "/", partition: str = "aws") -> str:
    """Build and check a role ARN (``role_arn`` is the same function under its older name).

    Args:
        account_id: the 12-digit account (an ``int`` is zero-padded).
        role_name: the role's name.
        path: the role's path (``/`` or ``/<path>/``).
        partition: ``aws``, ``aws-cn``, ``aws-us-gov`` ...

    Returns:
        ``arn:<partition>:iam::<account>:role<path><name>``.

    Raises:
        InvalidParameterError: the account is not 12 digits, or the name,
            path or partition is not valid.

    Example:
        ```python
        rolesession.build_role_arn("123456789012", "Admin")  # 'arn:aws:iam::123456789012:role/Admin'
        ```
    """
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


role_arn = build_role_arn
"""The older name of `build_role_arn` (the same function), kept working."""
chain = assume_role_chain
"""The older name of `assume_role_chain` (the same function), kept working."""


def session_from_recipe(data: Mapping[str, Any]) -> RoleSession:
    """A lazy session from a recipe's plain data: how a pickled `RoleSession` is rebuilt.

    A `RoleSession` pickles as ``(session_from_recipe, (data,))``, where
    ``data`` is ``{"format": "rolesession.recipe", "version": 1, "root": ...,
    "hops": [...]}`` -- dicts, lists, strings, numbers, ``None`` and public
    classes only, never credentials. This release reads every version up to
    its own, so a session pickled by an older release unpickles in a newer one.
    The root is this process's default credential chain, or the profile a
    `from_profile` session was resolved from (resolved here); the cache is this
    process's default cache unless the data carries a persistent one;
    identical recipes share one session. Nothing calls STS until first use.

    Args:
        data: the recipe's plain data (the second item of ``session.__reduce__()``).

    Returns:
        The session, lazy.

    Raises:
        InvalidParameterError: ``data`` is not a recipe, or of a later version.

    Example:
        ```python
        import pickle
        session = rolesession.assume_role("arn:aws:iam::123456789012:role/Auditor")
        same = pickle.loads(pickle.dumps(session))   # rolesession.session_from_recipe(data) inside
        assert same.role_arn == session.role_arn
        ```
    """
    from ._travel import travelling  # only for sessions that travel: not on import's bill

    received = travelling(data)
    parent: Any = None
    if received.profile is not None:
        from ._profiles import resolve_profile

        name, keywords = received.profile
        parent = resolve_profile(name, **keywords)
    session: Any = parent
    for source, cache, refresh in received.hops:
        session = session_for(Recipe(source, parent, cache, refresh))
        parent = session
    return session  # type: ignore[no-any-return]


# Pickles name the public module (``rolesession.X``), never this private one, which a later
# release may move (the stable pickle format, docs/architecture.md).
for _public in (session_from_recipe,):
    _public.__module__ = "rolesession"
del _public
