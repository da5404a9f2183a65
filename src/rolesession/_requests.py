"""Building requests: an entry point's keywords checked and turned into a `Recipe`.

One path for everything: `assume_role` and its web identity and SAML
siblings, every hop of `chain`, every entry of `fan_out` and `scoped()`
check their keywords with the functions here, so a keyword is checked the
same way -- same order, same error -- wherever it is given. Pure: no session
is made and STS is never called; the first bad keyword raises
`InvalidParameterError` naming it.

Checking is split in two so that `fan_out` checks its keywords once, before
any work, and then only each entry's role ARN: `check_assume_role_keywords`
(everything but the ARN) and `assume_role_recipe` (the ARN, its partition,
and the region that follows from them).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import boto3
import botocore.config

from ._cache import DEFAULT_CACHE, check_cache, default_cache
from ._environment import check_region_of_partition, configured_region, default_session_name
from ._errors import InvalidParameterError
from ._limits import ASSERTION_LENGTH, DURATIONS, TOKEN_LENGTH
from ._recipe import Recipe
from ._refresh import RefreshPolicy
from ._sources import (
    EVERY_HOP,
    FIRST_HOP,
    LAST_HOP,
    AssumeRoleSource,
    RootSource,
    SamlSource,
    ScopedSource,
    SessionTokenSource,
    Source,
    WebIdentitySource,
    by_identity,
)
from ._validation import (
    check_account_id,
    check_description,
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
    check_task_policy,
    check_transitive_tag_keys,
    fail,
    partition_of,
)

__all__ = [
    "HOP_KEYWORDS",
    "Recipe",
    "assume_role_recipe",
    "assume_root_recipe",
    "chain_recipes",
    "check_assume_role_keywords",
    "check_assume_root_keywords",
    "root_recipe",
    "saml_recipe",
    "scope_down_recipe",
    "scoped_source",
    "web_identity_recipe",
]


#: How each keyword of ``assume_role()`` that configures a hop reaches a chain's hops
#: (``chain`` and ``fan_out`` set the source themselves): the `AssumeRoleSource`
#: fields' declared hop rules, and the recipe's own cache and refresh policy.
_HOP_RULES = {**AssumeRoleSource.hop_rules(), "cache": EVERY_HOP, "refresh": EVERY_HOP}
HOP_KEYWORDS = frozenset(_HOP_RULES)
_FIRST_HOP_ONLY = frozenset(k for k, rule in _HOP_RULES.items() if rule == FIRST_HOP)
_LAST_HOP_ONLY = frozenset(k for k, rule in _HOP_RULES.items() if rule == LAST_HOP)


# -- what every entry point takes ---------------------------------------------------------


def _common(
    *,
    duration: Any,
    policy: Any,
    policy_arns: Any,
    region: Any,
    sts_endpoint_url: Any,
    sts_config: Any,
    cache: Any,
    refresh: Any,
) -> dict[str, Any]:
    compact = check_policy(policy, "policy")
    arns = check_policy_arns(policy_arns, "policy_arns")
    check_packed_size(compact, arns, "policy")
    return {
        "duration": check_duration(duration, "duration"),
        "policy": compact,
        "policy_arns": arns,
        "region": check_region(region, "region"),
        "sts_endpoint_url": check_endpoint_url(sts_endpoint_url, "sts_endpoint_url"),
        "sts_config": check_instance(
            sts_config, "sts_config", botocore.config.Config, "a botocore.config.Config"
        ),
        "cache": default_cache() if cache is DEFAULT_CACHE else check_cache(cache, "cache"),
        "refresh": check_instance(refresh, "refresh", RefreshPolicy, "a RefreshPolicy"),
    }


def _source_fields(
    common: Mapping[str, Any], role_arn: str, region: str | None, *, given: bool
) -> dict[str, Any]:
    """The `Source` fields every operation has, for ``role_arn`` in the configured ``region``
    (``given``: by the caller, rather than found on the source or in the environment)."""
    partition = partition_of(role_arn)
    return {
        "role_arn": role_arn,
        "partition": partition,
        "region": check_region_of_partition(
            region, partition, origin="" if given else "configured for the source or the environment"
        ),
        "duration": common["duration"],
        "policy": common["policy"],
        "policy_arns": common["policy_arns"],
        "sts_endpoint_url": common["sts_endpoint_url"],
        "sts_config": common["sts_config"],
    }


def _session_name(value: object) -> str:
    return default_session_name() if value is None else check_session_name(value, "session_name")


def parent_cache(source: object) -> Any:
    """The cache a hop from ``source`` uses when given none: a `RoleSession`'s own, else the default."""
    # A RoleSession's ``cache`` property; a plain boto3.Session has none.
    return getattr(source, "cache", DEFAULT_CACHE) if isinstance(source, boto3.Session) else DEFAULT_CACHE


def check_source(value: object) -> boto3.Session | None:
    return check_instance(value, "source", boto3.Session, "a boto3.Session")  # type: ignore[return-value]


# -- AssumeRole ---------------------------------------------------------------------------------


def check_assume_role_keywords(
    *,
    source: boto3.Session | None,
    session_name: Any = None,
    duration: Any = None,
    policy: Any = None,
    policy_arns: Any = None,
    tags: Any = None,
    transitive_tag_keys: Any = None,
    external_id: Any = None,
    source_identity: Any = None,
    mfa_serial: Any = None,
    mfa_token: Any = None,
    region: Any = None,
    sts_endpoint_url: Any = None,
    sts_config: Any = None,
    cache: Any = DEFAULT_CACHE,
    refresh: Any = None,
) -> dict[str, Any]:
    """Every keyword of ``assume_role`` but the role ARN, checked (iterables read once).

    A hop from a `RoleSession` given no ``cache`` uses its parent's.
    """
    if cache is DEFAULT_CACHE:
        cache = parent_cache(source)
    if (mfa_serial is None) != (mfa_token is None):
        missing = "mfa_token" if mfa_token is None else "mfa_serial"
        raise fail(missing, "mfa_serial and mfa_token go together; pass both or neither")
    checked = _common(
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
    checked.update(
        parent=source,
        # The region follows from the source (or the environment) unless given.
        region=configured_region(checked["region"], source),
        region_given=checked["region"] is not None,
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
    return checked


def assume_role_recipe(role_arn: object, checked: Mapping[str, Any]) -> Recipe:
    """The recipe for ``role_arn`` with keywords already checked by `check_assume_role_keywords`."""
    arn = check_role_arn(role_arn, "role_arn")
    source = AssumeRoleSource(
        **_source_fields(checked, arn, checked["region"], given=checked["region_given"]),
        session_name=checked["session_name"],
        tags=checked["tags"],
        transitive_tag_keys=checked["transitive_tag_keys"],
        external_id=checked["external_id"],
        source_identity=checked["source_identity"],
        mfa_serial=checked["mfa_serial"],
        mfa_token=checked["mfa_token"],
    )
    return Recipe(source, checked["parent"], checked["cache"], checked["refresh"])


# -- web identity and SAML ---------------------------------------------------------------------------


def web_identity_recipe(
    role_arn: Any,
    *,
    token: Any,
    token_file: Any,
    provider_id: Any,
    session_name: Any,
    **common: Any,
) -> Recipe:
    """``assume_role_with_web_identity``'s keywords checked (the environment's fallbacks applied)."""
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
    checked_token = None
    if token is not None:
        checked_token = check_secret_provider(token, "token", *TOKEN_LENGTH, "a web identity token")
    if provider_id is not None:
        provider_id = check_str(provider_id, "provider_id")
        if not 4 <= len(provider_id) <= 2048:
            raise fail("provider_id", "must be 4-2048 characters")
    checked = _common(**common)
    source = WebIdentitySource(
        **_source_fields(
            checked, arn, configured_region(checked["region"], None), given=checked["region"] is not None
        ),
        session_name=_session_name(session_name),
        token=by_identity(checked_token),
        token_file=path,
        provider_id=provider_id,
    )
    return Recipe(source, None, checked["cache"], checked["refresh"])


def saml_recipe(role_arn: Any, principal_arn: Any, *, assertion: Any, **common: Any) -> Recipe:
    """``assume_role_with_saml``'s keywords checked."""
    arn = check_role_arn(role_arn, "role_arn")
    principal = check_principal_arn(principal_arn, "principal_arn")
    if partition_of(principal) != partition_of(arn):
        raise fail("principal_arn", "must be in the same partition as role_arn")
    checked_assertion = check_secret_provider(assertion, "assertion", *ASSERTION_LENGTH, "a SAML assertion")
    checked = _common(**common)
    source = SamlSource(
        **_source_fields(
            checked, arn, configured_region(checked["region"], None), given=checked["region"] is not None
        ),
        principal_arn=principal,
        assertion=by_identity(checked_assertion),
    )
    return Recipe(source, None, checked["cache"], checked["refresh"])


# -- MFA sessions ---------------------------------------------------------------------------------------


def mfa_session_recipe(
    mfa_serial: Any,
    mfa_token: Any,
    *,
    source: Any,
    duration: Any,
    region: Any,
    sts_endpoint_url: Any,
    sts_config: Any,
    cache: Any,
    refresh: Any,
    required: bool = True,
) -> Recipe:
    """``mfa_session``'s keywords checked. ``required=False``: a missing code is
    reported when one is needed (a profile whose MFA session may be cached)."""
    serial = check_mfa_serial(mfa_serial, "mfa_serial")
    if mfa_token is None:
        if required:
            raise fail("mfa_token", "an MFA session needs a code: 6 digits, or a callable returning them")
        token = None
    else:
        token = by_identity(check_mfa_token(mfa_token, "mfa_token"))
    parent = check_source(source)
    checked = _common(
        duration=None,
        policy=None,
        policy_arns=None,
        region=region,
        sts_endpoint_url=sts_endpoint_url,
        sts_config=sts_config,
        cache=cache,
        refresh=refresh,
    )
    partition = partition_of(serial) if serial.startswith("arn:") else "aws"
    source_obj = SessionTokenSource(
        role_arn=None,
        partition=partition,
        region=check_region_of_partition(
            configured_region(checked["region"], parent),
            partition,
            origin="" if checked["region"] else "configured for the source or the environment",
        ),
        duration=check_duration(duration, "duration", SessionTokenSource.max_duration),
        sts_endpoint_url=checked["sts_endpoint_url"],
        sts_config=checked["sts_config"],
        mfa_serial=serial,
        mfa_token=token,
    )
    return Recipe(source_obj, parent, checked["cache"], checked["refresh"])


# -- scoped-down credentials and root sessions ------------------------------------------------------


#: Hosts of STS's global endpoint: the newer operations are served by regional endpoints only.
_GLOBAL_STS_HOSTS = frozenset({"sts.amazonaws.com"})


def _host(url: str) -> str:
    import urllib.parse

    return (urllib.parse.urlsplit(url).hostname or "").lower()


def _regional_only(operation: str, checked: Mapping[str, Any], sts_region: str) -> None:
    """Refuse, before any call, an operation STS serves regionally only when its client
    would call the global endpoint: given as ``sts_endpoint_url``, configured
    (``AWS_ENDPOINT_URL_STS``, ``AWS_ENDPOINT_URL``, a profile's ``endpoint_url``),
    or resolved by botocore for the region."""
    given = checked["sts_endpoint_url"]
    regional = "https://sts.<region>.amazonaws.com"
    if given is not None:  # botocore uses it verbatim, whatever is configured
        if _host(given) in _GLOBAL_STS_HOSTS:
            raise fail(
                "sts_endpoint_url",
                f"{given} is STS's global endpoint; {operation} is served by regional "
                f"endpoints only ({regional}): pass region= or a regional URL",
            )
        return
    from . import _botocore

    resolved = _botocore.sts_endpoint(sts_region, None, checked["sts_config"])
    if resolved is None or _host(resolved) not in _GLOBAL_STS_HOSTS:
        return
    # Is it the configured endpoint's doing, or the region's? botocore again, ignoring the former.
    option: Any = {"ignore_configured_endpoint_urls": True}  # botocore's stubs predate the option
    ignoring = botocore.config.Config(**option)
    config = checked["sts_config"]
    unconfigured = _botocore.sts_endpoint(
        sts_region, None, ignoring if config is None else config.merge(ignoring)
    )
    if unconfigured is not None and _host(unconfigured) not in _GLOBAL_STS_HOSTS:
        configured = _configured_endpoint()
        raise fail(
            "sts_endpoint_url",
            f"is not given, and {configured} points STS at its global endpoint ({resolved}); "
            f"{operation} is served by regional endpoints only: pass sts_endpoint_url= a regional URL "
            f"({regional}, which wins over the configured one) or change {configured}",
        )
    raise fail(
        "region",
        f"botocore resolves STS in {sts_region!r} to its global endpoint ({resolved}); {operation} is "
        f"served by regional endpoints only: pass region= a region or sts_endpoint_url= a regional URL",
    )


def _configured_endpoint() -> str:
    """Which configured setting gives STS its endpoint, for messages."""
    for name in ("AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return f"the environment variable {name}"
    profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
    return f"profile {profile!r} of the shared config file (its endpoint_url or services section)"


def _signed_by(
    operation: str, parent: boto3.Session | None, partition: str | None, checked: Mapping[str, Any]
) -> dict[str, Any]:
    """The common `Source` fields of an operation with no role, signed by ``parent``.

    Served by regional STS endpoints only: one that would reach the global
    endpoint is refused here (`_regional_only`)."""
    from ._environment import partition_region

    if checked["sts_endpoint_url"] is not None:  # the cheap check first, before any region lookup
        _regional_only(operation, checked, "")
    if partition is None:  # the parent's, when it is a RoleSession; else the commercial one
        parent_source = getattr(getattr(parent, "recipe", None), "source", None)
        partition = getattr(parent_source, "partition", None) or "aws"
    region = check_region_of_partition(
        configured_region(checked["region"], parent),
        partition,
        origin="" if checked["region"] else "configured for the source or the environment",
    )
    if checked["sts_endpoint_url"] is None:
        _regional_only(operation, checked, region or partition_region(partition))
    return {
        "role_arn": None,
        "partition": partition,
        "region": region,
        "sts_endpoint_url": checked["sts_endpoint_url"],
        "sts_config": checked["sts_config"],
    }


def scope_down_recipe(policy: Any, *, source: Any, duration: Any, description: Any, **common: Any) -> Recipe:
    """``scope_down``'s keywords checked: GetScopedCredentials on ``source``'s credentials."""
    parent = check_source(source)
    if common.get("cache", DEFAULT_CACHE) is DEFAULT_CACHE:
        common["cache"] = parent_cache(parent)
    if policy is None and duration is None:
        raise fail("policy", "scope_down needs a policy, a duration, or both")
    checked = _common(duration=None, policy=policy, policy_arns=None, **common)
    seconds = check_duration(duration, "duration", *reversed(DURATIONS["GetScopedCredentials"]))
    source_obj = ScopedSource(
        **_signed_by(ScopedSource.operation, parent, None, checked),
        duration=seconds,
        policy=checked["policy"],
        description=None if description is None else check_description(description),
    )
    return Recipe(source_obj, parent, checked["cache"], checked["refresh"])


def assume_root_recipe(
    account: Any, task_policy: Any, *, source: Any, duration: Any, **common: Any
) -> Recipe:
    """``assume_root``'s keywords checked: AssumeRoot on ``account`` for one root task."""
    account_id = check_account_id(account, "account")
    checked = check_assume_root_keywords(task_policy, source=source, duration=duration, **common)
    return root_recipe(account_id, checked)


#: The keywords ``assume_root`` takes besides the account and the task policy.
ROOT_KEYWORDS = frozenset({"duration", "region", "sts_endpoint_url", "sts_config", "cache", "refresh"})


def check_assume_root_keywords(
    task_policy: Any,
    *,
    source: Any,
    duration: Any = None,
    region: Any = None,
    sts_endpoint_url: Any = None,
    sts_config: Any = None,
    cache: Any = DEFAULT_CACHE,
    refresh: Any = None,
) -> dict[str, Any]:
    """Every keyword of ``assume_root`` but the account, checked: the `RootSource` fields
    all its accounts share (``fan_out`` checks them once for every account)."""
    task = check_task_policy(task_policy, "task_policy")
    parent = check_source(source)
    if cache is DEFAULT_CACHE:
        cache = parent_cache(parent)
    checked = _common(
        duration=None, policy=None, policy_arns=None, region=region, sts_endpoint_url=sts_endpoint_url,
        sts_config=sts_config, cache=cache, refresh=refresh,
    )  # fmt: skip
    seconds = check_duration(duration, "duration", *reversed(DURATIONS["AssumeRoot"]))
    partition = partition_of(task) if task.startswith("arn:") else None
    fields = _signed_by(RootSource.operation, parent, partition, checked)
    arn = task if task.startswith("arn:") else f"arn:{fields['partition']}:iam::aws:policy/root-task/{task}"
    return {
        "fields": {**fields, "duration": seconds, "task_policy_arn": arn},
        "parent": parent,
        "cache": checked["cache"],
        "refresh": checked["refresh"],
    }


def root_recipe(account: object, checked: Mapping[str, Any]) -> Recipe:
    """The AssumeRoot recipe for ``account`` with keywords checked by `check_assume_root_keywords`."""
    source_obj = RootSource(**checked["fields"], account=check_account_id(account, "account"))
    return Recipe(source_obj, checked["parent"], checked["cache"], checked["refresh"])


# -- chains and scoping --------------------------------------------------------------------------------


def chain_recipes(
    steps: object, source: object, common: Mapping[str, Any]
) -> list[tuple[Source, Any, RefreshPolicy | None]]:
    """Every hop of ``chain(steps, source=source, **common)`` checked, before any session exists.

    A bad keyword a step gives itself is reported as ``steps[i].<name>``;
    one from ``common`` under its own name. Returns each hop's source,
    cache and refresh policy; hop ``i + 1`` is signed by hop ``i``.
    """
    if isinstance(steps, (str, Mapping)) or not isinstance(steps, Iterable):
        raise fail("steps", "expected a list of role ARNs or dicts")
    hops = list(_bounded_steps(steps))
    if not hops:
        raise fail("steps", "needs at least one role")
    unknown = sorted(set(common) - HOP_KEYWORDS)
    if unknown:
        raise fail(unknown[0], "is not a keyword of chain()")
    parent = check_source(source)
    planned: list[tuple[Source, Any, RefreshPolicy | None]] = []
    for i, step in enumerate(hops):
        own = _step_keywords(i, step)
        kwargs = {
            k: v
            for k, v in common.items()
            if not (k in _FIRST_HOP_ONLY and i > 0) and not (k in _LAST_HOP_ONLY and i < len(hops) - 1)
        }
        kwargs.update(own)
        role = kwargs.pop("role_arn")
        try:
            if i > 0 and kwargs.get("region") is None:
                # A hop's region defaults to its parent's: the previous hop's.
                kwargs["region"] = planned[-1][0].region
            if i > 0 and "cache" not in kwargs:
                kwargs["cache"] = planned[-1][1]  # and so does its cache
            checked = check_assume_role_keywords(source=parent if i == 0 else None, **kwargs)
            recipe = assume_role_recipe(role, checked)
        except InvalidParameterError as exc:
            if exc.parameter in own:
                raise exc.within(f"steps[{i}]") from exc.__cause__
            raise
        planned.append((recipe.source, recipe.cache, recipe.refresh))
    return planned


def _bounded_steps(steps: Iterable[Any]) -> Iterable[Any]:
    from ._validation import bounded

    return bounded(steps, MAX_HOPS, "steps", "hops")


#: More hops than any real chain needs (each hop is an STS call when it refreshes).
MAX_HOPS = 64


def _step_keywords(i: int, step: object) -> dict[str, Any]:
    if isinstance(step, str):
        return {"role_arn": step}
    if not isinstance(step, Mapping):
        raise fail(f"steps[{i}]", "expected a role ARN or a dict with role_arn")
    own = dict(step)
    if "role_arn" not in own:
        raise fail(f"steps[{i}].role_arn", "is missing")
    bad = sorted(set(own) - HOP_KEYWORDS - {"role_arn"})
    if bad:
        raise fail(f"steps[{i}].{bad[0]}", "is not a keyword of assume_role()")
    return own


def scoped_source(source: Source, policy: Any, policy_arns: Any) -> Source:
    """``source`` with exactly these session policies (they replace its own)."""
    compact = check_policy(policy, "policy")
    arns = check_policy_arns(policy_arns, "policy_arns")
    check_packed_size(compact, arns, "policy")
    return source.replace(policy=compact, policy_arns=arns)  # type: ignore[no-any-return]
