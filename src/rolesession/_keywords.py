"""The keywords of `assume_role` as types, so a misspelt keyword fails type checking.

`RoleSession.assume_role`, `chain` and `fan_out` take ``**kwargs`` that they
pass on to `assume_role`; typed ``Unpack[HopKeywords]``, mypy and pyright
check those keywords as if they were written out (`tests/typing/` proves
it). `HopKeywords` matters only to type checkers; the aliases annotate the
entry points.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypedDict

import botocore.config

from ._cache import CacheArg
from ._policy import Policy
from ._refresh import RefreshPolicy

Duration = int | _dt.timedelta
PolicyLike = Policy | Mapping[str, Any] | str


class RequestKeywords(TypedDict, total=False):
    """Where STS is called and what the session keeps: every entry point takes these."""

    region: str | None
    sts_endpoint_url: str | None
    sts_config: botocore.config.Config | None
    cache: CacheArg
    refresh: RefreshPolicy | None


class PolicyKeywords(RequestKeywords, total=False):
    """`RequestKeywords` and the role session's duration and session policies."""

    duration: Duration | None
    policy: PolicyLike | None
    policy_arns: Iterable[str] | None


class CommonHopKeywords(PolicyKeywords, total=False):
    """The hop keywords the sync and async entry points share (all but ``mfa_token``)."""

    session_name: str | None
    tags: Mapping[str, str] | None
    transitive_tag_keys: Iterable[str] | None
    external_id: str | None
    source_identity: str | None
    mfa_serial: str | None


class HopKeywords(CommonHopKeywords, total=False):
    """`assume_role`'s keywords but ``role_arn`` and ``source`` (`_requests.HOP_KEYWORDS`)."""

    mfa_token: str | Callable[[], str] | None


class TokenKeywords(TypedDict, total=False):
    """The keywords of `RoleSession.web_identity_token` and `token_provider` but ``audience``."""

    algorithm: str
    duration: int
    scope: str | None
    subject_mode: str | None
    tags: dict[str, str] | None
