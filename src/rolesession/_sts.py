"""The STS operations: clients, calls, and AWS errors turned into ours.

Clients are shared: one per (signing credentials, region, endpoint, config),
so a thousand sessions assumed from one source use one STS client.
"""

from __future__ import annotations

import email.utils
import logging
import os
import threading
import time
import weakref
from collections.abc import Hashable, Mapping
from typing import TYPE_CHECKING, Any

import botocore.config
from botocore import UNSIGNED
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)
from botocore.parsers import ResponseParserError

if TYPE_CHECKING:
    import cachetools

from . import _botocore
from ._credentials import RoleCredentials, to_iso
from ._errors import AssumeRoleError, SourceCredentialsError
from ._redaction import protect_botocore_loggers, scrubbing, secret_forms

logger = logging.getLogger("rolesession")

ASSUME_ROLE = "AssumeRole"
WEB_IDENTITY = "AssumeRoleWithWebIdentity"
SAML = "AssumeRoleWithSAML"
_METHODS = {
    ASSUME_ROLE: "assume_role",
    WEB_IDENTITY: "assume_role_with_web_identity",
    SAML: "assume_role_with_saml",
}

#: The library's STS client defaults: a dead STS must not block a reader for
#: a minute. A user's ``sts_config`` is merged over these.
_RETRIES: Any = {"mode": "standard", "total_max_attempts": 3}
STS_DEFAULTS = botocore.config.Config(
    retries=_RETRIES,
    connect_timeout=3,
    read_timeout=5,
    user_agent_extra="rolesession",
    # One client serves every session assumed from the same source: room for
    # fan_out's 16 threads (and more) without urllib3 discarding connections.
    max_pool_connections=64,
)

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
_WEB_IDENTITY_HINT = (
    "check the IAM OIDC identity provider for this token's issuer: its audience "
    "(client ID) must match the token's 'aud', its thumbprint must match the issuer's "
    "certificate, and the role's trust policy must allow this subject"
)
_SAML_HINT = (
    "check that the assertion's https://aws.amazon.com/SAML/Attributes/Role attribute "
    "names this role and principal_arn (the IAM SAML provider), and that the provider's "
    "metadata matches the IdP"
)
_IDP_CODES = {"AccessDenied", "InvalidIdentityToken", "IDPRejectedClaim", "IDPCommunicationError"}


def merged_config(user: botocore.config.Config | None, *, unsigned: bool = False) -> botocore.config.Config:
    config = STS_DEFAULTS if user is None else STS_DEFAULTS.merge(user)
    user_retries = getattr(user, "retries", None)
    if user_retries is not None:
        # Config.merge replaces the whole ``retries`` dict: keep standard mode
        # and 3 attempts unless the user's dict says otherwise.
        retries: Any = {**_RETRIES, **user_retries}
        if "max_attempts" in user_retries and "total_max_attempts" not in user_retries:
            del retries["total_max_attempts"]  # botocore would let ours win over the user's
        config = config.merge(botocore.config.Config(retries=retries))
    if unsigned:
        config = config.merge(botocore.config.Config(signature_version=UNSIGNED))
    return config


class _GivenCredentials:
    """A credential resolver handing botocore one existing credentials object."""

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def load_credentials(self) -> Any:
        return self._credentials


def config_key(config: botocore.config.Config | None) -> Hashable:
    """A hashable value standing for a ``Config``'s options: equal options, equal keys.

    botocore's ``Config`` compares by identity; a user passing an equal
    ``Config`` built per call must still get the warm session and the shared
    client back.
    """
    if config is None:
        return None
    names = sorted(botocore.config.Config.OPTION_DEFAULTS)
    return tuple((name, _freeze(getattr(config, name, None))) for name in names)


def _freeze(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((str(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(_freeze(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(_freeze(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value  # type: ignore[no-any-return]


#: STS clients kept per signer (and for unsigned calls): a program passing a
#: new ``Config`` per call does not grow the pool without end.
CLIENTS_PER_SIGNER = 16
UNSIGNED_CLIENTS = 64

_client_lock = threading.Lock()
_signed_clients: weakref.WeakKeyDictionary[Any, cachetools.LRUCache[Hashable, Any]] = (
    weakref.WeakKeyDictionary()
)
_unsigned_clients: Any = {}  # an LRUCache once used (cachetools loads lazily)


def client_for(
    credentials: Any,
    region: str,
    endpoint_url: str | None,
    config: botocore.config.Config | None,
) -> Any:
    """A shared STS client signing with ``credentials`` (``None``: unsigned).

    Clients are thread-safe once built; building one is not, hence the lock.
    """
    key = (region, endpoint_url, config_key(config))
    with _client_lock:
        table = _table_for(credentials)
        client = table.get(key)
        if client is None:
            client = _new_client(credentials, region, endpoint_url, config)
            table[key] = client
    return client


def _table_for(credentials: Any) -> Any:
    import cachetools

    global _unsigned_clients
    if credentials is None:
        if not isinstance(_unsigned_clients, cachetools.LRUCache):
            _unsigned_clients = cachetools.LRUCache(UNSIGNED_CLIENTS)
        return _unsigned_clients
    table = _signed_clients.get(credentials)
    if table is None:
        table = _signed_clients[credentials] = cachetools.LRUCache(CLIENTS_PER_SIGNER)
    return table


def _new_client(
    credentials: Any, region: str, endpoint_url: str | None, config: botocore.config.Config | None
) -> Any:
    session = _botocore.new_session()
    # STS is always called on the regional endpoint, whatever the environment.
    session.set_config_variable("sts_regional_endpoints", "regional")
    session.register_component("credential_provider", _GivenCredentials(credentials))
    client = session.create_client(
        "sts",
        region_name=region,
        endpoint_url=endpoint_url,
        config=merged_config(config, unsigned=credentials is None),
    )
    protect_botocore_loggers()
    return client


def call(
    client: Any,
    operation: str,
    params: Mapping[str, Any],
    role_arn: str,
    *,
    secrets: tuple[str, ...] = (),
) -> RoleCredentials:
    """Call one ``AssumeRole*`` operation and parse its credentials.

    ``secrets`` are scrubbed from any AWS message that might echo them -- in
    our error, in the chained botocore error and in botocore's DEBUG records.
    """
    started = time.perf_counter()
    sent = time.time()
    try:
        with scrubbing(secrets):
            response = getattr(client, _METHODS[operation])(**params)
    except ClientError as exc:
        scrub_client_error(exc, secrets)
        raise translate(exc, operation, role_arn, secrets) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise SourceCredentialsError(
            f"cannot assume {role_arn}: the source has no credentials to call STS with "
            "(configure the default credential chain or pass source=)",
            role_arn=role_arn,
        ) from exc
    except ParamValidationError as exc:
        raise AssumeRoleError(
            f"{operation} for {role_arn} was not sent: botocore rejected its parameters "
            f"({_scrub(str(exc), secrets)})",
            role_arn=role_arn,
            code="ParamValidationError",
        ) from exc
    except (BotoCoreError, ResponseParserError) as exc:
        # ResponseParserError is not a BotoCoreError: STS (or whatever answered
        # in its place) sent a body that is not STS's XML.
        _scrub_args(exc, secrets)
        what = (
            "STS sent an answer that could not be parsed"
            if isinstance(exc, ResponseParserError)
            else "STS could not be reached"
        )
        raise AssumeRoleError(
            f"{operation} for {role_arn} failed: {what} "
            f"({type(exc).__name__}: {_scrub(_first_line(str(exc)), secrets)})",
            role_arn=role_arn,
            code=type(exc).__name__,
        ) from exc
    received = time.time()
    try:
        creds = RoleCredentials.from_response(
            response, received, measure_skew(response, sent, received)
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise AssumeRoleError(
            f"{operation} for {role_arn} returned a response without usable credentials",
            role_arn=role_arn,
            code="InvalidResponse",
        ) from exc
    logger.info(
        "%s %s: credentials until %s (%.0f ms)",
        operation,
        role_arn,
        to_iso(creds.expiration),
        (time.perf_counter() - started) * 1000,
    )
    return creds


#: Below this, a difference between STS's ``Date`` header (whole seconds) and
#: our clock is measurement noise, not skew.
SKEW_NOISE = 2.0
#: Above this, the skew is worth a WARNING (once per process).
SKEW_WARNING = 60.0
_skew_warned = False


def measure_skew(response: Mapping[str, Any], sent: float, received: float) -> float:
    """STS's clock minus ours, from the response's ``Date`` header (0 within noise)."""
    global _skew_warned
    try:
        header = response["ResponseMetadata"]["HTTPHeaders"]["date"]
        server = email.utils.parsedate_to_datetime(header).timestamp() + 0.5  # whole seconds
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        return 0.0
    skew = server - (sent + received) / 2
    if not abs(skew) >= SKEW_NOISE:  # NaN too
        return 0.0
    if abs(skew) > SKEW_WARNING and not _skew_warned:
        _skew_warned = True
        logger.warning(
            "this host's clock is %.0f s %s STS's; credential lifetimes are judged on STS's clock "
            "(synchronise the clock: other AWS calls may fail with RequestExpired)",
            abs(skew),
            "behind" if skew > 0 else "ahead of",
        )
    return skew


#: AWS's answers for credentials it no longer accepts.
REJECTION_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "RequestExpired"}
)


def is_rejection(exc: AssumeRoleError) -> bool:
    """STS refused the signing credentials themselves (expired or unknown)."""
    return exc.code in REJECTION_CODES


def scrub_client_error(exc: ClientError, secrets: tuple[str, ...]) -> None:
    """Remove echoed secrets from a botocore error that will be chained as ``__cause__``."""
    if not secrets:
        return
    error: Any = exc.response.get("Error")
    if isinstance(error, dict):
        for name, value in list(error.items()):
            if isinstance(value, str):
                error[name] = _scrub(value, secrets)
    _scrub_args(exc, secrets)


def _scrub_args(exc: BaseException, secrets: tuple[str, ...]) -> None:
    if secrets:
        exc.args = tuple(_scrub(a, secrets) if isinstance(a, str) else a for a in exc.args)
        for name in ("msg", "error_msg"):
            value = getattr(exc, name, None)
            if isinstance(value, str):
                setattr(exc, name, _scrub(value, secrets))
        kwargs = getattr(exc, "kwargs", None)
        if isinstance(kwargs, dict):
            for key, value in list(kwargs.items()):
                if isinstance(value, str):
                    kwargs[key] = _scrub(value, secrets)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:500] if text.strip() else ""


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "Unknown")


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message") or "")


def translate(
    exc: ClientError, operation: str, role_arn: str, secrets: tuple[str, ...] = ()
) -> AssumeRoleError:
    code = error_code(exc)
    message = _scrub(error_message(exc), secrets)
    hint = _HINTS.get(code)
    if operation == WEB_IDENTITY and code in _IDP_CODES:
        hint = _WEB_IDENTITY_HINT
    elif operation == SAML and code in _IDP_CODES:
        hint = _SAML_HINT
    text = f"{operation} for {role_arn} failed: {code}"
    if message:
        text += f": {message}"
    if hint:
        text += f" (hint: {hint})"
    return AssumeRoleError(text, role_arn=role_arn, code=code)


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secret_forms(secrets):
        text = text.replace(secret, "***")
    return text


def is_chaining_error(exc: BaseException) -> bool:
    """STS's answer to a duration over 1 h for a chained role session."""
    cause = exc.__cause__
    return (
        isinstance(cause, ClientError)
        and error_code(cause) == "ValidationError"
        and "role chaining" in error_message(cause).lower()
    )


def reset_after_fork() -> None:
    # Connection pools must not be shared with the parent process.
    global _client_lock
    _client_lock = threading.Lock()
    _signed_clients.clear()
    _unsigned_clients.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=reset_after_fork)
