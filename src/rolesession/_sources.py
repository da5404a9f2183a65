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
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, NamedTuple

from ._errors import TokenError
from ._keys import CallerIdentity, caller_of_secret, config_key, digest
from ._limits import (
    ASSERTION_LENGTH,
    DEFAULT_DURATION,
    DEFAULT_DURATIONS,
    DURATIONS,
    MAX_DURATION,
    TOKEN_LENGTH,
)
from ._validation import is_mfa_code

if TYPE_CHECKING:  # this module loads without botocore (the CLI's fast path)
    import botocore.config

__all__ = [
    "AssumeRoleSource",
    "ByIdentity",
    "HopParameter",
    "RootSource",
    "SamlSource",
    "ScopedSource",
    "SessionTokenSource",
    "Source",
    "Spend",
    "WebIdentitySource",
    "by_identity",
    "hop_parameters",
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


# -- the parameter table ----------------------------------------------------------------------

#: Hop rules: which hops of a `chain` (or of a profile chain) a keyword given
#: for the whole chain reaches.
EVERY_HOP = "every"
FIRST_HOP = "first"
LAST_HOP = "last"


class Flag(NamedTuple):
    """The command-line option that sets a parameter (read by `hop_parameters`, and by
    ``cli/options.py``, which builds its options from these)."""

    #: The option, e.g. ``--external-id``.
    flag: str
    #: Its ``--help`` line (empty: another parameter's entry for the same flag says it).
    help: str = ""
    #: What ``--help`` calls its value.
    metavar: str | None = None
    #: Which hop of the command line's ``ROLE_ARN`` chain it applies to (not the library's
    #: chain-wide hop rule: the CLI gives the last hop what shapes one role's session).
    applies_to: str = EVERY_HOP
    #: Whether it changes who the credentials are (``whoami`` takes only those).
    identity: bool = True


class Param(NamedTuple):
    """Everything about one `Source` field, said once (the field's ``metadata["param"]``).

    The request (`Source.params`), the cache key (`Source.key_material`), the
    secrets hidden from ``describe()`` and pickles' warnings, the keyword sets
    of `chain` and `fan_out` (`hop_keywords`), the profile keys and the CLI
    flags are all read from these declarations. Named tuples, like `Flag`:
    there are dozens, made once at import, where a dataclass's generated
    methods cost import time the command line's start-up pays.
    """

    #: STS's name for it (``RoleSessionName``); ``None``: not sent as is.
    wire: str | None = None
    #: The wire form of a value (default: the value itself); empty values are never sent.
    to_wire: Callable[[Any], Any] | None = None
    #: What the secret is called in messages ("MFA code"); ``None``: not a secret. A
    #: secret is never in the request dict, the cache key, ``describe()`` or a repr
    #: (`Source.secret_params` sends it).
    secret: str | None = None
    #: Part of the cache key (secrets never are: the caller's identity covers them).
    keyed: bool = False
    #: The key material's form of a value (default: the value itself).
    to_key: Callable[[Any], Any] | None = None
    #: Which hops of a chain a chain-wide keyword reaches (``None``: not a hop keyword).
    hop: str | None = None
    #: The shared-config key a role profile sets it with (``None``: none).
    profile_key: str | None = None
    #: The CLI option that sets it (``None``: none).
    cli: Flag | None = None
    #: The name of the `_validation` function that checks it.
    check: str | None = None

    @property
    def cli_flag(self) -> str | None:
        return None if self.cli is None else self.cli.flag


def param(
    default: Any = dataclasses.MISSING, *, shown: bool = True, compare: bool = True, **spec: Any
) -> Any:
    """A `Source` field declared with its `Param` (``spec``); ``shown=False`` keeps it out of ``repr``."""
    meta = {"param": Param(**spec)}
    if default is dataclasses.MISSING:
        return field(repr=shown, compare=compare, metadata=meta)
    return field(default=default, repr=shown, compare=compare, metadata=meta)


#: The session name, declared alike by every operation that sends one.
_SESSION_NAME: Final[Mapping[str, Any]] = {
    "wire": "RoleSessionName", "keyed": True, "hop": EVERY_HOP, "profile_key": "role_session_name",
    "cli": Flag("--session-name", "RoleSessionName (default: AWS_ROLE_SESSION_NAME or user@host)", "NAME"),
    "check": "check_session_name",
}  # fmt: skip


_MFA_SERIAL_FLAG: Final = Flag("--mfa-serial", "MFA device serial number or ARN", "ARN", FIRST_HOP)
_MFA_COMMAND_FLAG: Final = Flag(
    "--mfa-command", "command printing the MFA code (run without a shell; the last 6-digit number it prints)",
    "CMD", FIRST_HOP,
)  # fmt: skip


def spec_of(f: dataclasses.Field[Any]) -> Param | None:
    """The `Param` a field declares, if any."""
    spec = f.metadata.get("param")
    return spec if isinstance(spec, Param) else None


def _sorted(value: Any) -> list[Any]:
    return sorted(value)


def _tag_pairs(value: Any) -> list[list[str]]:
    return [list(t) for t in value]


def _tags_wire(value: Any) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in value]


def _arns_wire(value: Any) -> list[dict[str, str]]:
    return [{"arn": arn} for arn in value]


def _arn_wire(value: Any) -> dict[str, str]:
    return {"arn": value}


#: The cache key format: these names are in every key, with this value when
#: a source has no such field (keys are persistent -- `FileCache`, the CLI's
#: cache -- so an operation added later must not change an existing key: its
#: new parameters join only its own keys).
KEY_FORMAT: Final[Mapping[str, Any]] = MappingProxyType({
    "role_arn": None, "session_name": None, "policy": None, "policy_arns": (), "tags": (),
    "transitive_tag_keys": (), "external_id": None, "source_identity": None, "mfa_serial": None,
    "provider_id": None, "principal_arn": None, "sts_endpoint_url": None, "partition": None,
})  # fmt: skip


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


#: Per `Source` class: the names of its fields compared (and hashed) and shown in ``repr``.
_FIELD_NAMES: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _field_names(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        fields = dataclasses.fields(cls)
        names = _FIELD_NAMES[cls] = (
            tuple(f.name for f in fields if f.compare),
            tuple(f.name for f in fields if f.repr),
        )
    return names


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
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
    #: Whether the credentials come from an STS call (a wrapped botocore provider's do not).
    from_sts: ClassVar[bool] = True
    #: What STS issues when no ``DurationSeconds`` is sent.
    default_duration: ClassVar[int] = DEFAULT_DURATION
    #: The longest ``DurationSeconds`` the operation takes (`_limits.DURATIONS`).
    max_duration: ClassVar[int] = MAX_DURATION
    #: Whether STS caps the session at one hour when the signing credentials
    #: are a role's (role chaining): then a longer duration is retried capped.
    chains: ClassVar[bool] = False

    # Each field declares its request parameter, cache key part, hop rule,
    # profile key and CLI option once (`Param`); see `params`, `key_material`.
    role_arn: str | None = param(wire="RoleArn", keyed=True, check="check_role_arn")
    #: The region the user configured (argument, source, environment, profile),
    #: or ``None``: no region is invented for the session's own clients.
    region: str | None = param(
        hop=EVERY_HOP, check="check_region",
        cli=Flag("--region", "region of the STS endpoint and of the credentials", "REGION"),
    )  # fmt: skip
    partition: str = param(keyed=True)
    # Sent and keyed as the effective duration (`params`, `key_material`).
    duration: int | None = param(
        None, wire="DurationSeconds", hop=EVERY_HOP, profile_key="duration_seconds",
        check="check_duration",
        cli=Flag("--duration", "900-43200 s; also 45m, 2h, 1h30m", "SECONDS", LAST_HOP, identity=False),
    )  # fmt: skip
    policy: str | None = param(  # compact JSON, sorted keys
        None, wire="Policy", keyed=True, hop=LAST_HOP, check="check_policy",
        cli=Flag("--policy", "session policy document", "JSON|@FILE", LAST_HOP, identity=False),
    )  # fmt: skip
    policy_arns: tuple[str, ...] = param(
        (), wire="PolicyArns", to_wire=_arns_wire, keyed=True, to_key=_sorted, hop=LAST_HOP,
        check="check_policy_arns",
        cli=Flag(
            "--policy-arn", "managed policy used as a session policy (repeatable, up to 10)", "ARN",
            LAST_HOP, identity=False,
        ),
    )  # fmt: skip
    sts_endpoint_url: str | None = param(
        None, keyed=True, hop=EVERY_HOP, check="check_endpoint_url",
        cli=Flag("--sts-endpoint-url", "STS endpoint (VPC endpoint, local STS)", "URL"),
    )  # fmt: skip
    #: The shared-config profile whose client settings the STS clients and the
    #: session's own clients take (`from_profile`); ``None``: botocore's default.
    profile: str | None = None
    # Compared by value (botocore's Config has no __eq__): see ``_config``.
    sts_config: botocore.config.Config | None = param(  # noqa: RUF009 (a dataclasses.field)
        None, compare=False, hop=EVERY_HOP
    )
    _config: Hashable = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_config", config_key(self.sts_config))

    @property
    def sts_region(self) -> str:
        """Where STS is called: the configured region, else the partition's default."""
        if self.region:
            return self.region
        from ._environment import partition_region  # botocore: only when a client is made

        return partition_region(self.partition)

    @property
    def label(self) -> str:
        """How messages name what is assumed."""
        return self.role_arn or self.operation

    @property
    def principal(self) -> str | None:
        """The principal the credentials act as when STS's answer names none (``AssumeRoot``)."""
        return None

    def fit_duration(self, duration: int | None, signer: Any) -> int | None:
        """The duration to ask for, given the credentials that sign (default: as configured)."""
        return duration

    # -- the table ---------------------------------------------------------------------

    @classmethod
    def table(cls) -> tuple[tuple[str, Param], ...]:
        """Each declared field's name and `Param`, in field order."""
        table = cls.__dict__.get("_table")
        if table is None:  # once per class (the dataclass's fields exist only after decoration)
            table = tuple((f.name, spec) for f in dataclasses.fields(cls) if (spec := spec_of(f)) is not None)
            cls._table = table  # type: ignore[attr-defined]
        return table

    @classmethod
    def secret_fields(cls) -> frozenset[str]:
        """The fields holding secrets (never in a repr, ``describe()``, the request dict or a key)."""
        return frozenset(name for name, spec in cls.table() if spec.secret is not None)

    @classmethod
    def hop_rules(cls) -> dict[str, str]:
        """The fields a chain-wide keyword may set, and which hops each reaches."""
        return {name: spec.hop for name, spec in cls.table() if spec.hop is not None}

    @classmethod
    def profile_keys(cls) -> dict[str, str]:
        """The role profile's keys for this operation's fields: shared-config key -> field."""
        return {spec.profile_key: name for name, spec in cls.table() if spec.profile_key is not None}

    def static_secret(self) -> str | None:
        """What static secret this source holds ("MFA code"), if any: a pickle would carry it."""
        for name, spec in self.table():
            if spec.secret is not None and isinstance(getattr(self, name), str):
                return spec.secret
        return None

    def describe(self) -> dict[str, Any]:
        """Every field but the secrets (a token, an assertion or an MFA code provider)."""
        hidden = {"sts_config", "_config", *self.secret_fields()}
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in hidden}
        return {"operation": self.operation, **fields}

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes`` (e.g. other session policies for ``scoped()``)."""
        return dataclasses.replace(self, **changes)

    # -- the request ----------------------------------------------------------------

    def params(self, duration: int | None) -> dict[str, Any]:
        """The STS call's parameters, secrets excluded (see `secret_params`); ``duration``
        is the effective one (a chained hop's is capped). Unset values are not sent."""
        p: dict[str, Any] = {}
        for name, spec in self.table():
            if spec.wire is None or spec.secret is not None:
                continue
            value = duration if name == "duration" else getattr(self, name)
            if value is None or value == ():
                continue
            p[spec.wire] = value if spec.to_wire is None else spec.to_wire(value)
        return p

    def secret_params(self, spend: Spend) -> tuple[dict[str, str], tuple[str, ...]]:
        """The secret parameters of one call, and the secrets to scrub from anything STS says."""
        return {}, ()

    def key_material(self, duration: int | None) -> dict[str, Any]:
        """What the cache key covers, apart from the caller's identity: the operation, the
        effective duration, every keyed field (`KEY_FORMAT`'s empty value where it has none)."""
        material: dict[str, Any] = {
            "operation": self.operation,
            **KEY_FORMAT,
            "duration": duration if duration is not None else self.default_duration,
        }
        for name, spec in self.table():
            if spec.keyed:
                value = getattr(self, name)
                material[name] = value if spec.to_key is None else spec.to_key(value)
        return material

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

    # One equality, hash and repr for every source, as ``@dataclass`` would write them
    # (fields compared in order, ``repr=False`` fields left out): generating them per
    # class cost a third of this module's import time.
    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in _field_names(type(self))[0])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Source) or other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in _field_names(type(self))[1])
        return f"{type(self).__qualname__}({shown})"


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class AssumeRoleSource(Source):
    """``AssumeRole``: signed by the source credentials; tags, external id, MFA."""

    operation: ClassVar[str] = "AssumeRole"
    method: ClassVar[str] = "assume_role"
    max_duration: ClassVar[int] = DURATIONS["AssumeRole"][1]
    chains: ClassVar[bool] = True

    session_name: str = param(**_SESSION_NAME)
    tags: tuple[tuple[str, str], ...] = param(
        (), wire="Tags", to_wire=_tags_wire, keyed=True, to_key=_tag_pairs, hop=LAST_HOP,
        profile_key="session_tags", check="check_tags",
        cli=Flag("--tag", "session tag (repeatable)", "KEY=VALUE", LAST_HOP, identity=False),
    )  # fmt: skip
    transitive_tag_keys: tuple[str, ...] = param(
        (), wire="TransitiveTagKeys", to_wire=list, keyed=True, to_key=_sorted, hop=LAST_HOP,
        profile_key="transitive_session_tags", check="check_transitive_tag_keys",
        cli=Flag("--tag", applies_to=LAST_HOP, identity=False),  # --tag's KEY=VALUE gives both
    )  # fmt: skip
    external_id: str | None = param(
        None, wire="ExternalId", keyed=True, hop=EVERY_HOP, profile_key="external_id",
        check="check_external_id",
        cli=Flag("--external-id", "ExternalId the role's trust policy asks for", "ID", LAST_HOP),
    )  # fmt: skip
    source_identity: str | None = param(
        None, wire="SourceIdentity", keyed=True, hop=EVERY_HOP, profile_key="source_identity",
        check="check_source_identity",
        cli=Flag("--source-identity", "SourceIdentity to set", "NAME", LAST_HOP, identity=False),
    )  # fmt: skip
    mfa_serial: str | None = param(
        None, wire="SerialNumber", keyed=True, hop=FIRST_HOP, profile_key="mfa_serial",
        cli=_MFA_SERIAL_FLAG, check="check_mfa_serial",
    )  # fmt: skip
    mfa_token: SecretProvider | None = param(  # noqa: RUF009 (a dataclasses.field)
        None, shown=False, wire="TokenCode", secret="MFA code", hop=FIRST_HOP, cli=_MFA_COMMAND_FLAG,
        check="check_mfa_token",
    )  # fmt: skip

    def secret_params(self, spend: Spend) -> tuple[dict[str, str], tuple[str, ...]]:
        if self.mfa_serial is None or self.mfa_token is None:
            return {}, ()
        code = mfa_code(self.mfa_token, spend, self)
        return {"TokenCode": code}, (code,)

    def one_shot(self) -> str | None:
        return "MFA code" if self.mfa_serial is not None and isinstance(self.mfa_token, str) else None

    def interactive(self) -> bool:
        return self.mfa_serial is not None and _is_interactive(self.mfa_token)


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class WebIdentitySource(Source):
    """``AssumeRoleWithWebIdentity``: an OIDC token (string, callable or file), unsigned."""

    operation: ClassVar[str] = "AssumeRoleWithWebIdentity"
    method: ClassVar[str] = "assume_role_with_web_identity"
    signed: ClassVar[bool] = False
    # Often transient (an IdP's key rotation, a token read mid-rewrite).
    retry_codes: ClassVar[frozenset[str]] = frozenset({"InvalidIdentityToken", "IDPCommunicationError"})
    attempts: ClassVar[int] = 3

    session_name: str = param(**_SESSION_NAME)
    token: SecretProvider | None = param(  # noqa: RUF009 (a dataclasses.field)
        None, shown=False, wire="WebIdentityToken", secret="web identity token", check="check_secret_provider"
    )
    # Not keyed: the token it holds is the caller (`caller`).
    token_file: str | None = param(
        None, profile_key="web_identity_token_file", check="check_optional_path",
        cli=Flag(
            "--web-identity-token-file",
            "assume the first role with this OIDC token (AssumeRoleWithWebIdentity; re-read at each call)",
            "PATH", FIRST_HOP,
        ),
    )  # fmt: skip
    provider_id: str | None = param(None, wire="ProviderId", keyed=True)

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


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class SamlSource(Source):
    """``AssumeRoleWithSAML``: a base64 SAML response (string or callable), unsigned."""

    operation: ClassVar[str] = "AssumeRoleWithSAML"
    method: ClassVar[str] = "assume_role_with_saml"
    signed: ClassVar[bool] = False

    principal_arn: str = param(
        wire="PrincipalArn", keyed=True, check="check_principal_arn",
        cli=Flag("--principal-arn", "the IAM SAML provider's ARN", "ARN", FIRST_HOP),
    )  # fmt: skip
    assertion: SecretProvider = param(  # noqa: RUF009 (a dataclasses.field)
        shown=False, wire="SAMLAssertion", secret="SAML assertion", check="check_secret_provider",
        cli=Flag(
            "--saml-assertion-command",
            "command printing a base64 SAML response (AssumeRoleWithSAML; needs --principal-arn)",
            "CMD", FIRST_HOP,
        ),
    )  # fmt: skip

    def secret_params(self, spend: Spend) -> tuple[dict[str, str], tuple[str, ...]]:
        if isinstance(self.assertion, str):
            spend("SAML assertion")
            assertion = self.assertion
        else:
            assertion = from_provider(self.assertion, "SAML assertion", self)
        _check_length(assertion, "SAML assertion", ASSERTION_LENGTH, self)
        return {"SAMLAssertion": assertion}, (assertion,)

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


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class SessionTokenSource(Source):
    """``GetSessionToken``: an MFA session from long-term keys, one code per session.

    Its credentials are not a role's: hops assumed from it are not chained
    (no one-hour cap) and need no further codes, even for roles that require
    ``aws:MultiFactorAuthPresent``.
    """

    operation: ClassVar[str] = "GetSessionToken"
    method: ClassVar[str] = "get_session_token"
    default_duration: ClassVar[int] = DEFAULT_DURATIONS["GetSessionToken"]
    max_duration: ClassVar[int] = DURATIONS["GetSessionToken"][1]

    mfa_serial: str = param(
        wire="SerialNumber", keyed=True, profile_key="mfa_serial", cli=_MFA_SERIAL_FLAG,
        check="check_mfa_serial",
    )  # fmt: skip
    mfa_token: SecretProvider | None = param(  # noqa: RUF009 (a dataclasses.field)
        None, shown=False, wire="TokenCode", secret="MFA code", cli=_MFA_COMMAND_FLAG,
        check="check_mfa_token",
    )  # fmt: skip


    @property
    def label(self) -> str:
        return f"the MFA session of {self.mfa_serial}"

    def secret_params(self, spend: Spend) -> tuple[dict[str, str], tuple[str, ...]]:
        if self.mfa_token is None:
            raise TokenError(
                f"{self.label} needs an MFA code: pass mfa_token= (a callable is asked once per "
                "session), set mfa_process in the profile, or run where a terminal can ask for it",
                role_arn=None,
            )
        code = mfa_code(self.mfa_token, spend, self)
        return {"TokenCode": code}, (code,)

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


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class ScopedSource(Source):
    """``GetScopedCredentials``: the signing (temporary) credentials narrowed by a policy
    and/or a shorter life; same caller, no role, no trust policy.

    Its duration is capped to what the signing credentials have left (`fit_duration`):
    STS refuses a scoped session that would outlive its source.
    """

    operation: ClassVar[str] = "GetScopedCredentials"
    method: ClassVar[str] = "get_scoped_credentials"
    max_duration: ClassVar[int] = DURATIONS["GetScopedCredentials"][1]

    description: str | None = param(
        None, wire="ScopedSessionDescription", keyed=True, check="check_description"
    )

    @property
    def label(self) -> str:
        return "the scoped-down credentials"

    def fit_duration(self, duration: int | None, signer: Any) -> int | None:
        left = _seconds_left(signer)
        if left is None or (duration is not None and duration <= left):
            return duration
        if duration is None and left >= self.default_duration:
            return None
        return max(DURATIONS["GetScopedCredentials"][0], left)

    def hint(self, code: str) -> str | None:
        if code in ("InvalidSubjectCredentials", "AccessDenied"):
            return (
                "GetScopedCredentials narrows temporary credentials (a role, IMDS, Pod Identity, "
                "SSO session): the source must not be an IAM user's long-term keys, and its "
                "policies must allow sts:GetScopedCredentials"
            )
        return super().hint(code)


@dataclass(frozen=True, kw_only=True, repr=False, eq=False)
class RootSource(Source):
    """``AssumeRoot``: a short privileged root session on a member account, for one root task,
    signed by the management (or delegated administrator) account's credentials."""

    operation: ClassVar[str] = "AssumeRoot"
    method: ClassVar[str] = "assume_root"
    default_duration: ClassVar[int] = DEFAULT_DURATIONS["AssumeRoot"]
    max_duration: ClassVar[int] = DURATIONS["AssumeRoot"][1]

    account: str = param(wire="TargetPrincipal", keyed=True, check="check_account_id")
    task_policy_arn: str = param(
        wire="TaskPolicyArn", to_wire=_arn_wire, keyed=True, check="check_task_policy"
    )

    @property
    def label(self) -> str:
        return f"the root session of {self.account} ({self.task_policy_arn.rsplit('/', 1)[-1]})"

    @property
    def principal(self) -> str | None:
        return f"arn:{self.partition}:iam::{self.account}:root"

    def hint(self, code: str) -> str | None:
        if code == "AccessDenied":
            return (
                "AssumeRoot needs centralized root access (IAM > Root access management: "
                "iam:EnableOrganizationsRootSessions) enabled in the organization, a caller in the "
                "management or delegated administrator account allowed sts:AssumeRoot, and a member "
                "account as the target"
            )
        return super().hint(code)


def _seconds_left(signer: Any) -> int | None:
    """Whole seconds the signing credentials have left, if they say (a `RoleSession`'s do)."""
    current = getattr(signer, "current", None)
    if not callable(current):
        return None
    import time

    try:
        expiry = current().expiry
    except Exception:  # nothing held yet, or not ours: no cap
        return None
    return int(expiry - time.time()) if isinstance(expiry, (int, float)) else None


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


# -- the table, as public plain data ----------------------------------------------------------


@dataclass(frozen=True)
class HopParameter:
    """One parameter of a role hop that has a command-line option, as plain data.

    Read from the one parameter table (each STS parameter declared once, on
    its source class); the ``rolesession`` CLI builds its hop options from
    these, so a parameter added to the table gets its option.

    Attributes:
        name: the library's keyword (``external_id``, ``policy_arns``).
        operations: the STS operations that take it (``("AssumeRole",)``).
        flag: its command-line option (``--external-id``); several
            parameters may share one (``--tag KEY=VALUE`` gives ``tags`` and
            ``transitive_tag_keys``).
        help: the option's help line (empty for the second of two parameters
            sharing a flag).
        metavar: what the help calls the option's value.
        applies_to: ``"every"``, ``"first"`` or ``"last"``: which hop of a
            chain of role ARNs on the command line it applies to.
        repeatable: a sequence: the option may be given several times.
        secret: what the parameter holds is a secret (an MFA code, an
            assertion): the option gives a way to get it, never the value.
        client_setting: it configures the STS client (region, endpoint)
            rather than the request, so it means something without a role too.
        identity: it changes who the credentials are (``external_id``
            does; ``duration`` and session policies do not).

    Example:
        ```python
        for p in rolesession.hop_parameters():
            print(p.flag, p.name, p.applies_to)  # --external-id external_id last
        ```
    """

    name: str
    operations: tuple[str, ...]
    flag: str
    help: str
    metavar: str | None
    applies_to: str
    repeatable: bool
    secret: bool
    client_setting: bool
    identity: bool


#: Every operation whose parameters the table declares, in the order options are listed.
_OPERATIONS: tuple[type[Source], ...] = (
    AssumeRoleSource, WebIdentitySource, SamlSource, SessionTokenSource, ScopedSource, RootSource,
)  # fmt: skip
_HOP_PARAMETERS: list[tuple[HopParameter, ...]] = []


def hop_parameters() -> tuple[HopParameter, ...]:
    """The parameters of a role hop that have a command-line option, in table order.

    One entry per parameter, with every operation that takes it. Plain data
    read from the parameter table, where each STS parameter is declared once
    (its wire name, check, secrecy, hop rule, profile key and CLI option);
    the ``rolesession`` command line builds its hop options from it. Loads
    without boto3 or botocore.

    Returns:
        The `HopParameter` entries, the same tuple at every call.

    Raises:
        Nothing: the table is fixed when the library is built.

    Example:
        ```python
        flags = {p.name: p.flag for p in rolesession.hop_parameters()}
        assert flags["source_identity"] == "--source-identity"
        ```
    """
    if not _HOP_PARAMETERS:
        _HOP_PARAMETERS.append(collect_hop_parameters(_OPERATIONS))
    return _HOP_PARAMETERS[0]


def collect_hop_parameters(operations: tuple[type[Source], ...]) -> tuple[HopParameter, ...]:
    """The `HopParameter` of every field of ``operations`` that declares a CLI option (`Flag`)."""
    found: dict[str, HopParameter] = {}
    for cls in operations:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name, spec in cls.table():
            if spec.cli is None:
                continue
            known = found.get(name)
            if known is not None:
                found[name] = dataclasses.replace(known, operations=(*known.operations, cls.operation))
                continue
            found[name] = HopParameter(
                name=name, operations=(cls.operation,), flag=spec.cli.flag, help=spec.cli.help,
                metavar=spec.cli.metavar, applies_to=spec.cli.applies_to,
                repeatable=isinstance(fields[name].default, tuple), secret=spec.secret is not None,
                client_setting=spec.wire is None and spec.hop == EVERY_HOP, identity=spec.cli.identity,
            )  # fmt: skip
    return tuple(found.values())


HopParameter.__module__ = "rolesession"
