"""``AssumeRequest``: everything one role assumption asks STS for, validated.

A frozen, hashable parameter bundle. Equal requests from the same source
share a session (warm re-assume); callables compare by identity. Secret
fields (MFA code, token, assertion) never appear in ``repr``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import botocore.config

from ._sts import ASSUME_ROLE, SAML, WEB_IDENTITY, config_key

SecretSource = str | Callable[[], str]


class ByIdentity:
    """A provider callable that compares and hashes by identity.

    Requests are compared and hashed (warm re-assume, cache keys); a callable
    may define ``__eq__`` without ``__hash__`` (a plain ``@dataclass`` with
    ``__call__``), and two equal-looking providers are still two callers.
    Attribute reads (``cache_identity``, ``interactive``) reach the callable.
    """

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn

    def __call__(self) -> Any:
        return self.fn()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ByIdentity) and other.fn is self.fn

    def __hash__(self) -> int:
        return id(self.fn)

    def __getattr__(self, name: str) -> Any:
        if name == "fn":  # not set yet (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.fn, name)

    def __repr__(self) -> str:
        return f"<provider {type(self.fn).__name__}>"


def by_identity(value: Any) -> Any:
    """Wrap a callable provider in `ByIdentity`; strings and ``None`` pass through."""
    if callable(value) and not isinstance(value, (str, ByIdentity)):
        return ByIdentity(value)
    return value


def unwrap(value: Any) -> Any:
    """The user's own callable behind a `ByIdentity` (anything else as it is)."""
    return value.fn if isinstance(value, ByIdentity) else value


@dataclass(frozen=True)
class AssumeRequest:
    operation: str
    role_arn: str
    region: str
    partition: str
    session_name: str | None = None
    duration: int | None = None
    policy: str | None = None  # compact JSON, sorted keys
    policy_arns: tuple[str, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    external_id: str | None = None
    source_identity: str | None = None
    mfa_serial: str | None = None
    mfa_token: SecretSource | None = field(default=None, repr=False)
    token: SecretSource | None = field(default=None, repr=False)
    token_file: str | None = None
    provider_id: str | None = None
    principal_arn: str | None = None
    assertion: SecretSource | None = field(default=None, repr=False)
    sts_endpoint_url: str | None = None
    # Compared by value (botocore's Config has no __eq__): see ``_config``.
    sts_config: botocore.config.Config | None = field(default=None, compare=False)
    _config: Hashable = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_config", config_key(self.sts_config))

    def replace(self, **changes: Any) -> AssumeRequest:
        return dataclasses.replace(self, **changes)

    def params(self, duration: int | None) -> dict[str, Any]:
        """The STS call's parameters, secrets excluded (the provider adds them)."""
        p: dict[str, Any] = {"RoleArn": self.role_arn}
        if self.operation == SAML:
            p["PrincipalArn"] = self.principal_arn
        else:
            p["RoleSessionName"] = self.session_name
        if duration is not None:
            p["DurationSeconds"] = duration
        if self.policy is not None:
            p["Policy"] = self.policy
        if self.policy_arns:
            p["PolicyArns"] = [{"arn": arn} for arn in self.policy_arns]
        if self.operation == ASSUME_ROLE:
            if self.tags:
                p["Tags"] = [{"Key": k, "Value": v} for k, v in self.tags]
            if self.transitive_tag_keys:
                p["TransitiveTagKeys"] = list(self.transitive_tag_keys)
            if self.external_id is not None:
                p["ExternalId"] = self.external_id
            if self.source_identity is not None:
                p["SourceIdentity"] = self.source_identity
            if self.mfa_serial is not None:
                p["SerialNumber"] = self.mfa_serial
        if self.operation == WEB_IDENTITY and self.provider_id is not None:
            p["ProviderId"] = self.provider_id
        return p

    def key_material(self, duration: int | None) -> dict[str, Any]:
        """What the cache key covers, apart from the caller's identity."""
        return {
            "operation": self.operation,
            "role_arn": self.role_arn,
            "session_name": self.session_name,
            "duration": duration if duration is not None else 3600,
            "policy": self.policy,
            "policy_arns": sorted(self.policy_arns),
            "tags": [list(t) for t in self.tags],
            "transitive_tag_keys": sorted(self.transitive_tag_keys),
            "external_id": self.external_id,
            "source_identity": self.source_identity,
            "mfa_serial": self.mfa_serial,
            "provider_id": self.provider_id,
            "principal_arn": self.principal_arn,
            "sts_endpoint_url": self.sts_endpoint_url,
            "partition": self.partition,
        }
