"""Credentials already in the file cache, read without boto3 or botocore (`cached_credentials`).

The command line's cached path (SPEC "CLI", fast path): a ``credential_process``
is started once per consumer process, and importing boto3 costs ~25x the
answer. Only an answer the full path would certainly give is returned: the
same `AssumeRoleSource` the full path builds, the same key (`_keys.cache_key`
over ``key_material`` and the signing access key id), the same file format
(`FileCache.get`). Anything uncertain returns ``None`` and the caller takes
the full path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from ._credentials import RoleCredentials
from ._file_cache import FileCache
from ._keys import cache_key
from ._limits import CHAINED_MAX_DURATION
from ._session_names import default_session_name
from ._sources import AssumeRoleSource
from ._validation import check_duration, check_endpoint_url, check_role_arn, check_session_name, partition_of

__all__ = ["cached_chain", "cached_credentials"]

#: Variables that could make botocore's default chain (or the request) other
#: than the environment's keys: a named profile, a web identity.
_OTHER_SOURCES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN")


def cached_credentials(
    role_arns: Sequence[str],
    *,
    session_name: str | None = None,
    duration: int | None = None,
    sts_endpoint_url: str | None = None,
    minimum: float = 15 * 60,
    cache: FileCache | None = None,
) -> RoleCredentials | None:
    """The last hop's credentials of a chain from the environment's keys, if the file cache holds them.

    ``role_arns`` are assumed in turn from ``AWS_ACCESS_KEY_ID`` (the first
    hop's caller) with `assume_role`'s defaults for everything not given.
    Returns ``None`` -- the caller then takes the full path -- unless the
    environment's keys are certainly the source (both variables set, no
    profile or web identity named), every hop's entry is in ``cache``
    (default: a `FileCache` in the default directory) under the key the full
    path computes, and every hop's credentials are outside the default
    refresh windows and have at least ``minimum`` seconds left. Loads neither
    boto3 nor botocore; bad input returns ``None`` (the full path reports it).
    What the command line's ``assume`` answers from when it can (its fast path).

    Args:
        role_arns: the roles assumed in turn, the first from the environment's keys.
        session_name: every hop's ``RoleSessionName`` (default: `assume_role`'s).
        duration: the last hop's ``DurationSeconds`` (default: STS's); above one
            hour (capped for chained hops) returns ``None``.
        sts_endpoint_url: the STS endpoint every hop was assumed through.
        minimum: seconds the credentials must have left (the CLI's 15-minute hand-out rule).
        cache: the `FileCache` to read (default: one in the default directory).

    Raises:
        Nothing: anything uncertain or invalid returns ``None``.

    Example:
        ```python
        creds = rolesession.cached_credentials([arn])
        if creds is None:  # not cached (or not certain): take the full path
            creds = rolesession.assume_role(arn).credentials()
        ```
    """
    hops = cached_chain(
        role_arns, session_name=session_name, duration=duration, sts_endpoint_url=sts_endpoint_url,
        minimum=minimum, cache=cache,
    )  # fmt: skip
    return None if hops is None else hops[-1][1]


def cached_chain(
    role_arns: Sequence[str],
    *,
    session_name: str | None = None,
    duration: int | None = None,
    sts_endpoint_url: str | None = None,
    minimum: float = 15 * 60,
    cache: FileCache | None = None,
) -> list[tuple[str, RoleCredentials, float]] | None:
    """Every hop of `cached_credentials`'s chain: its cache key, its credentials, and until when they
    are handed out as they are.

    The same rules and ``None`` as `cached_credentials` (whose last hop is
    this list's last credentials). For each hop: the `FileCache` key its
    entry is under (the key the full path computes, signed by the previous
    hop's access key), the credentials held there, and the time (epoch
    seconds, this host's clock) until which they have at least ``minimum``
    seconds left and are outside the default refresh windows. Lets a caller
    remember where a chain's entries are (the command line does, to answer
    its next identical run without computing the keys again).

    Args:
        role_arns: the roles assumed in turn, the first from the environment's keys.
        session_name: every hop's ``RoleSessionName`` (default: `assume_role`'s).
        duration: the last hop's ``DurationSeconds`` (default: STS's).
        sts_endpoint_url: the STS endpoint every hop was assumed through.
        minimum: seconds the credentials must have left.
        cache: the `FileCache` to read (default: one in the default directory).

    Raises:
        Nothing: anything uncertain or invalid returns ``None``.

    Example:
        ```python
        hops = rolesession.cached_chain([hub_arn, target_arn])
        if hops is not None:
            key, creds, until = hops[-1]  # the target's entry: cache.get(key)
        ```
    """
    caller = os.environ.get("AWS_ACCESS_KEY_ID")
    if not caller or not os.environ.get("AWS_SECRET_ACCESS_KEY") or not role_arns:
        return None
    if any(os.environ.get(name) for name in _OTHER_SOURCES):
        return None
    try:
        sources = [_source(arn, session_name, duration, sts_endpoint_url) for arn in role_arns]
    except Exception:  # InvalidParameterError: the full path says it, naming the parameter
        return None
    if duration is not None and duration > CHAINED_MAX_DURATION:
        return None  # a chained hop's duration is capped by a retry: its key is the full path's to find
    store = FileCache() if cache is None else cache
    now = time.time()
    hops: list[tuple[str, RoleCredentials, float]] = []
    for source in sources:
        key = cache_key(source.key_material(source.duration), caller)
        entry = store.get(key)
        creds = None if entry is None else RoleCredentials.from_entry(entry)
        if creds is None:
            return None
        until = creds.hand_out_until(minimum)
        if now > until:
            return None
        hops.append((key, creds, until))
        caller = creds.access_key  # the next hop is signed with this one's keys
    return hops


def _source(
    arn: str, session_name: str | None, duration: int | None, endpoint: str | None
) -> AssumeRoleSource:
    """The `AssumeRoleSource` `assume_role` builds for these keywords (region is not in the key)."""
    checked = check_role_arn(arn, "role_arn")
    return AssumeRoleSource(
        role_arn=checked,
        partition=partition_of(checked),
        region=None,
        duration=check_duration(duration, "duration"),
        sts_endpoint_url=check_endpoint_url(endpoint, "sts_endpoint_url"),
        session_name=default_session_name() if session_name is None else check_session_name(session_name),
    )
