"""Credential sources: one class per way of getting credentials from STS.

A source is a frozen, hashable description of one STS request -- which
operation, which role, which parameters -- and it knows everything specific
to its operation: the request parameters, the secrets it sends and how to
get them (a static string, a callable, a token file), which secrets are
spent after one use, who the caller is for the cache key, which STS error
codes are worth retrying with fresh secrets, and which hint explains a
refusal. The generic machinery (cache, STS client, one-shot bookkeeping,
retries) lives in ``_fetcher.py`` and never asks which operation it runs.

This is botocore's Fetcher vocabulary (``AssumeRoleCredentialFetcher``,
``AssumeRoleWithWebIdentityCredentialFetcher``) with each operation's
knowledge kept in one class.

Equal sources from the same parent share a session (warm re-assume);
provider callables compare by identity (`ByIdentity`) and ``sts_config`` by
value. Secrets never appear in ``repr``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import botocore.config

from ._environment import partition_region
from ._errors import TokenError
from ._keys import CallerIdentity, caller_of_secret, digest
from ._limits import ASSERTION_LENGTH, DEFAULT_DURATION, SESSION_TOKEN_DEFAULT_DURATION, TOKEN_LENGTH
from ._sts import config_key
from ._validation import is_mfa_code

__all__ = [
    "AssumeRoleSource",
    "ByIdentity",
    "SamlSource",
    "SessionTokenSource",
    "Source",
    "Spend",
    "WebIdentitySource",
    "by_identity",
    "unwrap",
]

SecretProvider = str | Callable[[], str]
#: Called with what a static secret is ("MFA code") before it is sent: raises
#: `TokenError` if it was sent before (one-shot secrets are never resent).
Spend = Callable[[str], None]


class ByIdentity:
    """A provider callable that compares and hashes by identity.

    Sources are compared and hashed (warm re-assume, cache keys); a callable
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

    def __reduce__(self) -> tuple[Any, ...]:
        return (ByIdentity, (self.fn,))

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


# -- hints -------------------------------------------------------------------------------

_HINTS = {
    "AccessDenied": (
        "check that the role's trust policy allows this caller, that any ExternalId or "
        "MFA condition is met, and that no SCP or permissions boundary denies "
        "sts:AssumeRole"
    ),
    "RegionDisabledException": (
        "STS is not activated in this region: activate it in the IAM console "
        "(Account settings) or pass another region"
    ),
    "ExpiredToken": "the source credentials have expired; refresh them and try again",
    "ExpiredTokenException": "the token has expired; supply a fresh one",
    "MalformedPolicyDocument": "the session policy is not a valid IAM policy",
    "PackedPolicyTooLarge": "the session policy or session tags are too large once packed",
}
_IDP_CODES = frozenset({"AccessDenied", "InvalidIdentityToken", "IDPRejectedClaim", "IDPCommunicationError"})


# -- the sources ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Source:
    """What every STS credential request has; subclasses add their operation's own."""

    operation: ClassVar[str]
    #: The boto3 STS client method.
    method: ClassVar[str]
    #: Whether the call is signed with source credentials (web identity and SAML are not).
    signed: ClassVar[bool] = True
    #: Error codes worth another attempt with freshly read secrets (botocore
    #: resends the same body, so its own retries cannot help).
    retry_codes: ClassVar[frozenset[str]] = frozenset()
    attempts: ClassVar[int] = 1
    #: What STS issues when no ``DurationSeconds`` is sent.
    default_duration: ClassVar[int] = DEFAULT_DURATION

    role_arn: str | None
    #: The region the user configured (argument, source, environment, profile),
    #: or ``None``: no region is invented for the session's own clients.
    region: str | None
    partition: str
    duration: int | None = None
    policy: str | None = None  # compact JSON, sorted keys
    policy_arns: tuple[str, ...] = ()
    sts_endpoint_url: str | None = None
    #: The shared-config profile whose client settings the STS clients and the
    #: session's own clients take (`from_profile`); ``None``: botocore's default.
    profile: str | None = None
    # Compared by value (botocore's Config has no __eq__): see ``_config``.
    sts_config: botocore.config.Config | None = field(default=None, compare=False)
    _config: Hashable = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_config", config_key(self.sts_config))

    @property
    def sts_region(self) -> str:
        """Where STS is called: the configured region, else the partition's default."""
        return self.region or partition_region(self.partition)

    @property
    def label(self) -> str:
        """How messages name what is assumed."""
        return self.role_arn or self.operation

    def describe(self) -> dict[str, Any]:
        """Every field but the secrets (a token, an assertion or an MFA code provider)."""
        hidden = {"sts_config", "_config", "mfa_token", "token", "assertion"}
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in hidden}
        return {"operation": self.operation, **fields}

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes`` (e.g. other session policies for ``scoped()``)."""
        return dataclasses.replace(self, **changes)

    # -- the request ----------------------------------------------------------------

    def params(self, duration: int | None) -> dict[str, Any]:
        """The STS call's parameters, secrets excluded (see `secret_params`)."""
        p: dict[str, Any] = {"RoleArn": self.role_arn}
        if duration is not None:
            p["DurationSeconds"] = duration
        if self.policy is not None:
            p["Policy"] = self.policy
        if self.policy_arns:
            p["PolicyArns"] = [{"arn": arn} for arn in self.policy_arns]
        return p

    def secret_params(self, spend: Spend) -> tuple[dict[str, str], tuple[str, ...]]:
        """The secret parameters of one call, and the secrets to scrub from anything STS says."""
        return {}, ()

    def key_material(self, duration: int | None) -> dict[str, Any]:
        """What the cache key covers, apart from the caller's identity."""
        return {
            "operation": self.operation,
            "role_arn": self.role_arn,
            "session_name": None,
            "duration": duration if duration is not None else self.default_duration,
            "policy": self.policy,
            "policy_arns": sorted(self.policy_arns),
            "tags": [],
            "transitive_tag_keys": [],
            "external_id": None,
            "source_identity": None,
            "mfa_serial": None,
            "provider_id": None,
            "principal_arn": None,
            "sts_endpoint_url": self.sts_endpoint_url,
            "partition": self.partition,
        }

    def caller(self, signer_key: str | None) -> CallerIdentity:
        """Who is asking, for the cache key: by default whoever signs the call."""
        assert signer_key is not None
        return signer_key

    # -- its secrets ------------------------------------------------------------------

    def one_shot(self) -> str | None:
        """What static secret is sent only once ("MFA code", "SAML assertion"), if any."""
        return None

    def interactive(self) -> bool:
        """Whether getting a secret may ask a person (never from a background thread)."""
        return False

    def hint(self, code: str) -> str | None:
        """What to check when STS answers ``code``."""
        return _HINTS.get(code)


@dataclass(frozen=True, kw_only=True)
class AssumeRoleSource(Source):
    """``AssumeRole``: signed by the source credentials; tags, external id, MFA."""

    operation: ClassVar[str] = "AssumeRole"
    method: ClassVar[str] = "assume_role"

    session_name: str
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    external_id: str | None = None
    source_identity: str | None = None
    mfa_serial: str | None = None
    mfa_token: SecretProvider | None = field(default=None, repr=False)

    def params(self, duration: int | None) -> dict[str, Any]:
        p = super().params(duration)
        p["RoleSessionName"] = self.session_name
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
        return p

    def secret_params(self, spend: Spend) -> tuple[dict[str, str], tuple[str, ...]]:
        if self.mfa_serial is None or self.mfa_token is None:
            return {}, ()
        code = mfa_code(self.mfa_token, spend, self)
        return {"TokenCode": code}, (code,)

    def key_material(self, duration: int | None) -> dict[str, Any]:
        material = super().key_material(duration)
        material.update(
            session_name=self.session_name,
            tags=[list(t) for t in self.tags],
            transitive_tag_keys=sorted(self.transitive_tag_keys),
            external_id=self.external_id,
            source_identity=self.source_identity,
            mfa_serial=self.mfa_serial,
        )
        return material

    def one_shot(self) -> str | None:
        return "MFA code" if self.mfa_serial is not None and isinstance(self.mfa_token, str) else None

    def interactive(self) -> bool:
        return self.mfa_serial is not None and _is_interactive(self.mfa_token)


@dataclass(frozen=True, kw_only=True)
class WebIdentitySource(Source):
    """``AssumeRoleWithWebIdentity``: an OIDC token (string, callable or file), unsigned."""

    operation: ClassVar[str] = "AssumeRoleWithWebIdentity"
    method: ClassVar[str] = "assume_role_with_web_identity"
    signed: ClassVar[bool] = False
    # Often transient (an IdP's key rotation, a token read mid-rewrite).
    retry_codes: ClassVar[frozenset[str]] = frozenset({"InvalidIdentityToken", "IDPCommunicationError"})
    attempts: ClassVar[int] = 3

    session_name: str
    token: SecretProvider | None = field(default=None, repr=False)
    token_file: str | None = None
    provider_id: str | None = None

    def params(self, duration: int | None) -> dict[str, Any]:
        p = super().params(duration)
        p["RoleSessionName"] = self.session_name
        if self.provider_id is not None:
            p["ProviderId"] = self.provider_id
        return p

    def secret_params(self, spend: Spend) -> tuple[dict[str, str], tuple[str, ...]]:
        # A static token may be sent again: it is the caller's, valid until it expires.
        if isinstance(self.token, str):
            token = self.token
        elif self.token is not None:
            token = from_provider(self.token, "web identity token", self)
        else:
            token = self.read_token_file()
        _check_length(token, "web identity token", TOKEN_LENGTH, self)
        return {"WebIdentityToken": token}, (token,)

    def key_material(self, duration: int | None) -> dict[str, Any]:
        material = super().key_material(duration)
        material.update(session_name=self.session_name, provider_id=self.provider_id)
        return material

    def caller(self, signer_key: str | None) -> CallerIdentity:
        if self.token is None:
            return digest(self.read_token_file())
        return caller_of_secret(self.token)

    def interactive(self) -> bool:
        return _is_interactive(self.token)

    def hint(self, code: str) -> str | None:
        if code in _IDP_CODES:
            return (
                "check the IAM OIDC identity provider for this token's issuer: its audience "
                "(client ID) must match the token's 'aud', its thumbprint must match the issuer's "
                "certificate, and the role's trust policy must allow this subject"
            )
        return super().hint(code)

    def read_token_file(self) -> str:
        """The token file's content, surrounding whitespace stripped (re-read at every call)."""
        path = self.token_file
        assert path is not None
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read(TOKEN_LENGTH[1] + 1024).strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenError(
                f"cannot read the web identity token file {path} ({type(exc).__name__})",
                role_arn=self.role_arn,
            ) from exc


@dataclass(frozen=True, kw_only=True)
class SamlSource(Source):
    """``AssumeRoleWithSAML``: a base64 SAML response (string or callable), unsigned."""

    operation: ClassVar[str] = "AssumeRoleWithSAML"
    method: ClassVar[str] = "assume_role_with_saml"
    signed: ClassVar[bool] = False

    principal_arn: str
    assertion: SecretProvider = field(repr=False)

    def params(self, duration: int | None) -> dict[str, Any]:
        p = super().params(duration)
        p["PrincipalArn"] = self.principal_arn
        return p

    def secret_params(self, spend: Spend) -> tuple[dict[str, str], tuple[str, ...]]:
        if isinstance(self.assertion, str):
            spend("SAML assertion")
            assertion = self.assertion
        else:
            assertion = from_provider(self.assertion, "SAML assertion", self)
        _check_length(assertion, "SAML assertion", ASSERTION_LENGTH, self)
        return {"SAMLAssertion": assertion}, (assertion,)

    def key_material(self, duration: int | None) -> dict[str, Any]:
        material = super().key_material(duration)
        material.update(principal_arn=self.principal_arn)
        return material

    def caller(self, signer_key: str | None) -> CallerIdentity:
        return caller_of_secret(self.assertion)

    def one_shot(self) -> str | None:
        return "SAML assertion" if isinstance(self.assertion, str) else None

    def interactive(self) -> bool:
        return _is_interactive(self.assertion)

    def hint(self, code: str) -> str | None:
        if code in _IDP_CODES:
            return (
                "check that the assertion's https://aws.amazon.com/SAML/Attributes/Role attribute "
                "names this role and principal_arn (the IAM SAML provider), and that the provider's "
                "metadata matches the IdP"
            )
        return super().hint(code)


@dataclass(frozen=True, kw_only=True)
class SessionTokenSource(Source):
    """``GetSessionToken``: an MFA session from long-term keys, one code per session.

    Its credentials are not a role's: hops assumed from it are not chained
    (no one-hour cap) and need no further codes, even for roles that require
    ``aws:MultiFactorAuthPresent``.
    """

    operation: ClassVar[str] = "GetSessionToken"
    method: ClassVar[str] = "get_session_token"
    default_duration: ClassVar[int] = SESSION_TOKEN_DEFAULT_DURATION

    mfa_serial: str
    mfa_token: SecretProvider | None = field(default=None, repr=False)

    @property
    def sts_region(self) -> str:
        """Where STS is called: the configured region, else the partition's default."""
        return self.region or partition_region(self.partition)

    @property
    def label(self) -> str:
        return f"the MFA session of {self.mfa_serial}"

    def params(self, duration: int | None) -> dict[str, Any]:
        p: dict[str, Any] = {"SerialNumber": self.mfa_serial}
        if duration is not None:
            p["DurationSeconds"] = duration
        return p

    def secret_params(self, spend: Spend) -> tuple[dict[str, str], tuple[str, ...]]:
        if self.mfa_token is None:
            raise TokenError(
                f"{self.label} needs an MFA code: pass mfa_token= (a callable is asked once per "
                "session), set mfa_process in the profile, or run where a terminal can ask for it",
                role_arn=None,
            )
        code = mfa_code(self.mfa_token, spend, self)
        return {"TokenCode": code}, (code,)

    def key_material(self, duration: int | None) -> dict[str, Any]:
        material = super().key_material(duration)
        material.update(mfa_serial=self.mfa_serial)
        return material

    def one_shot(self) -> str | None:
        return "MFA code" if isinstance(self.mfa_token, str) else None

    def interactive(self) -> bool:
        return _is_interactive(self.mfa_token)

    def hint(self, code: str) -> str | None:
        if code == "AccessDenied":
            return (
                "GetSessionToken needs an IAM user's long-term keys (not role or session "
                "credentials), the MFA device's serial number or ARN, and a current code"
            )
        return super().hint(code)


# -- secrets from providers ----------------------------------------------------------------


def from_provider(provider: Callable[[], Any], what: str, source: Source) -> str:
    """Call a token, assertion or MFA provider; anything unusable is a `TokenError`."""
    try:
        value = provider()
    except TokenError:
        raise  # says itself what is missing
    except Exception as exc:
        raise TokenError(
            f"the {what} provider for {source.label} raised {type(exc).__name__}",
            role_arn=source.role_arn,
        ) from exc
    if not isinstance(value, str):
        raise TokenError(
            f"the {what} provider for {source.label} returned {type(value).__name__}, not a string",
            role_arn=source.role_arn,
        )
    return value.strip()


def mfa_code(token: SecretProvider, spend: Spend, source: Source) -> str:
    """A 6-digit code: a static one (spent once) or a fresh one from the provider."""
    if isinstance(token, str):
        spend("MFA code")
        return token
    code = from_provider(token, "MFA code", source)
    if not is_mfa_code(code):
        raise TokenError(
            f"the MFA code provider for {source.label} returned something that is not 6 digits",
            role_arn=source.role_arn,
        )
    return code


def _check_length(value: str, what: str, bounds: tuple[int, int], source: Source) -> None:
    low, high = bounds
    if not low <= len(value) <= high:
        raise TokenError(
            f"the {what} for {source.label} has {len(value)} characters; expected {low}-{high}",
            role_arn=source.role_arn,
        )


def _is_interactive(provider: object) -> bool:
    return bool(getattr(unwrap(provider), "interactive", False))
