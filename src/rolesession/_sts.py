"""STS: clients, the call, and AWS's answers turned into ours.

Clients are shared: one per (signing credentials, region, endpoint, config),
so a thousand sessions assumed from one source use one STS client (the pool
lives in ``_state``). What differs between operations -- parameters,
secrets, hints -- is the credential source's business (``_sources``); this
module makes the call, measures STS's clock, scrubs echoed secrets and
translates errors, for any operation.
"""

from __future__ import annotations

import email.utils
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import botocore
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

from . import _botocore, _state

if TYPE_CHECKING:
    from ._sources import Source

from ._credentials import RoleCredentials, to_iso
from ._environment import unknown_region_hint
from ._errors import AssumeRoleError, SourceCredentialsError
from ._keys import config_key
from ._redaction import protect_botocore_loggers, scrubbing, secret_forms

logger = logging.getLogger("rolesession")

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

#: Read timeout of a background refresh, which no reader waits on: an STS
#: answering in 6 s must still get through (the foreground's 5 s x 3 tries never
#: would). A user's ``sts_config`` read timeout wins over it, as over the default.
BACKGROUND_READ_TIMEOUT = 30


def background_config(user: botocore.config.Config | None) -> botocore.config.Config:
    """The ``sts_config`` for a refresh no reader waits on: a longer read timeout."""
    longer = botocore.config.Config(read_timeout=BACKGROUND_READ_TIMEOUT)
    return longer if user is None else longer.merge(user)


#: The same without retries: for a profile that configures its own (``max_attempts``, ``retry_mode``).
_STS_DEFAULTS_OWN_RETRIES = botocore.config.Config(
    connect_timeout=3, read_timeout=5, user_agent_extra="rolesession", max_pool_connections=64
)


def merged_config(
    user: botocore.config.Config | None, *, unsigned: bool = False, own_retries: bool = False
) -> botocore.config.Config:
    """The library's STS defaults under the user's ``Config``; ``own_retries``: the
    profile configures retries, so ours do not override them."""
    defaults = _STS_DEFAULTS_OWN_RETRIES if own_retries else STS_DEFAULTS
    config = defaults if user is None else defaults.merge(user)
    user_retries = getattr(user, "retries", None)
    if user_retries is not None:
        # Config.merge replaces the whole ``retries`` dict: keep standard mode
        # and 3 attempts unless the user's dict says otherwise.
        retries: Any = {**({} if own_retries else _RETRIES), **user_retries}
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




def client_for(
    credentials: Any,
    region: str | None,
    endpoint_url: str | None,
    config: botocore.config.Config | None,
    profile: str | None = None,
) -> Any:
    """A shared STS client signing with ``credentials`` (``None``: unsigned).

    ``profile``: the shared-config profile whose client settings apply (a
    `from_profile` session's); ``None``: botocore's default profile.
    Clients are thread-safe once built; building one is not, hence the lock.
    The pool keeps a bounded number per signer (``_state``).
    """
    key = (region, endpoint_url, config_key(config), profile)
    state = _state.state
    with state.lock:
        client = _state.client_table(credentials).get(key)
    if client is not None:
        return client
    with state.client_lock:
        with state.lock:
            client = _state.client_table(credentials).get(key)
        if client is None:
            client = _new_client(credentials, region, endpoint_url, config, profile)
            with state.lock:
                _state.client_table(credentials)[key] = client
    return client


#: Where botocore reads a profile's retry settings besides the profile itself.
_RETRY_VARIABLES = ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE")


def _new_client(
    credentials: Any,
    region: str | None,
    endpoint_url: str | None,
    config: botocore.config.Config | None,
    profile: str | None = None,
) -> Any:
    # A profile's client is built as botocore builds a profile's (the AWS CLI's
    # ``--profile``): its endpoint settings, services section, FIPS and
    # dual-stack, ``sts_regional_endpoints``, ``ca_bundle`` and retries apply,
    # with the environment's variables over them. Only the credentials are ours.
    session = _botocore.new_session(profile)
    own_retries = False
    if profile is None:
        # Without a profile, STS is always called on the regional endpoint, whatever the environment.
        session.set_config_variable("sts_regional_endpoints", "regional")
    else:
        scoped = session.get_scoped_config()
        own_retries = any(scoped.get(k) for k in ("max_attempts", "retry_mode")) or any(
            os.environ.get(name) for name in _RETRY_VARIABLES
        )
    session.register_component("credential_provider", _GivenCredentials(credentials))
    client = session.create_client(
        "sts",
        region_name=region,
        endpoint_url=endpoint_url,
        config=merged_config(config, unsigned=credentials is None, own_retries=own_retries),
    )
    for event, handler in _state.sts_client_hooks:  # rolesession.testing's recorder
        client.meta.events.register(event, handler)
    protect_botocore_loggers()
    return client


def method_of(client: Any, method: str, operation: str, label: str, *, role_arn: str | None) -> Any:
    """``client``'s method for an STS operation, or an `AssumeRoleError` (``UnsupportedOperation``)
    naming it when the installed botocore's STS model predates it."""
    found = getattr(client, method, None)
    if found is None:
        raise AssumeRoleError(
            f"{operation} for {label} cannot be sent: botocore {botocore.__version__} does not "
            f"know this STS operation; upgrade botocore (and boto3) to a release whose STS model has it",
            role_arn=role_arn,
            code="UnsupportedOperation",
        )
    return found


def call(
    client: Any, source: Source, params: Mapping[str, Any], secrets: tuple[str, ...] = ()
) -> RoleCredentials:
    """Make ``source``'s STS call and parse its credentials.

    ``secrets`` are scrubbed from any AWS message that might echo them -- in
    our error, in the chained botocore error and in botocore's DEBUG records.
    """
    label = source.label
    protect_botocore_loggers()  # a botocore logger made since the last call is covered too
    operation = method_of(client, source.method, source.operation, label, role_arn=source.role_arn)
    started = time.perf_counter()
    sent = time.time()
    try:
        with scrubbing(secrets):
            response = operation(**params)
    except ClientError as exc:
        scrub_client_error(exc, secrets)
        raise translate(
            exc, source.operation, label, hint=source.hint, role_arn=source.role_arn, secrets=secrets
        ) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise SourceCredentialsError(
            f"cannot assume {label}: the source has no credentials to call STS with "
            "(configure the default credential chain or give a source session)",
            role_arn=source.role_arn,
        ) from exc
    except ParamValidationError as exc:
        raise AssumeRoleError(
            f"{source.operation} for {label} was not sent: botocore rejected its parameters "
            f"({_scrub(str(exc), secrets)})",
            role_arn=source.role_arn,
            code="ParamValidationError",
        ) from exc
    except (BotoCoreError, ResponseParserError) as exc:
        _scrub_args(exc, secrets)
        raise unreachable(
            exc, source.operation, label, role_arn=source.role_arn, secrets=secrets,
            hint=unknown_region_hint(source.sts_region, source.partition),
        ) from exc
    received = time.time()
    try:
        creds = RoleCredentials.from_response(response, received, measure_skew(response, sent, received))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise AssumeRoleError(
            f"{source.operation} for {label} returned a response without usable credentials",
            role_arn=source.role_arn,
            code="InvalidResponse",
        ) from exc
    logger.info(
        "%s %s: credentials until %s (%.0f ms)",
        source.operation,
        label,
        to_iso(creds.expiration),
        (time.perf_counter() - started) * 1000,
    )
    return creds


def unreachable(
    exc: BaseException,
    operation: str,
    label: str,
    *,
    role_arn: str | None = None,
    secrets: tuple[str, ...] = (),
    hint: str = "",
) -> AssumeRoleError:
    """Our error for a call that got no STS answer (or one that is not STS's XML).

    ``ResponseParserError`` is not a ``BotoCoreError``: whatever answered in
    STS's place sent a body that could not be parsed.
    """
    what = (
        "STS sent an answer that could not be parsed"
        if isinstance(exc, ResponseParserError)
        else "STS could not be reached"
    )
    detail = _scrub(_first_line(str(exc)), secrets)
    return AssumeRoleError(
        f"{operation} for {label} failed: {what} ({type(exc).__name__}: {detail})"
        + (f"; {hint}" if hint else ""),
        role_arn=role_arn,
        code=type(exc).__name__,
    )


#: A ``Date`` header falling this far outside the interval in which the request was
#: sent and answered (on this host's clock) is skew; within it, noise (the header
#: has whole seconds).
SKEW_NOISE = 1.0
#: Above this, the skew is worth a WARNING (once per process).
SKEW_WARNING = 60.0
#: SigV4's tolerance: a request signed more than about 5 minutes off STS's clock
#: is refused, so a successful answer proves the clocks are closer than this. A
#: larger figure is an artefact (a frozen or jumping test clock, a clock
#: stepped during the call): it is ignored, never corrected for.
SKEW_TOLERANCE = 300.0


def measure_skew(response: Mapping[str, Any], sent: float, received: float) -> float:
    """STS's clock minus ours, from the response's ``Date`` header (0 when none can be told).

    NTP-style: STS wrote ``Date`` at some moment between ``sent`` and
    ``received`` (this host's clock), so only a ``Date`` outside that interval
    (± `SKEW_NOISE`) shows a skew, measured against its middle. A skew beyond
    SigV4's tolerance cannot belong to a successful answer and counts as 0.
    """
    try:
        header = response["ResponseMetadata"]["HTTPHeaders"]["date"]
        server = email.utils.parsedate_to_datetime(header).timestamp()  # whole seconds: [server, server + 1)
    except (KeyError, TypeError, ValueError, IndexError, OverflowError):
        return 0.0
    if sent - SKEW_NOISE <= server + 1 and server <= received + SKEW_NOISE:
        return 0.0  # written while the request was under way: no skew to tell
    skew = server + 0.5 - (sent + received) / 2
    if not abs(skew) <= SKEW_TOLERANCE:  # NaN too
        logger.debug("ignored an STS clock skew of %.0f s: beyond SigV4's tolerance, an artefact", skew)
        return 0.0
    if abs(skew) > SKEW_WARNING and not _state.state.skew_warned:
        _state.state.skew_warned = True
        logger.warning(
            "this host's clock is %.0f s %s STS's; credential lifetimes are judged on STS's clock "
            "(synchronise the clock: other AWS calls may fail with RequestExpired)",
            abs(skew),
            "behind" if skew > 0 else "ahead of",
        )
    return skew


#: AWS's answers for credentials it no longer accepts.
#: (``RequestExpired`` is not one: it says the request was signed at a time
#: too far from AWS's -- a clock skew new credentials cannot fix.)
REJECTION_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"})

#: STS refusals that asking again will not change (the standard's
#: "non-recoverable" errors): with nothing valid held, the error is kept and
#: raised again without a call for `NON_RECOVERABLE_HOLD` seconds.
NON_RECOVERABLE_CODES = frozenset(
    {
        "AccessDenied",
        "ValidationError",
        "MalformedPolicyDocument",
        "MalformedPolicyDocumentException",
        "PackedPolicyTooLarge",
        "PackedPolicyTooLargeException",
        "RegionDisabledException",
        "InvalidIdentityToken",
        "InvalidIdentityTokenException",
        "IDPRejectedClaim",
        "IDPRejectedClaimException",
        "InvalidAuthorizationMessageException",
        "ParamValidationError",
    }
)
NON_RECOVERABLE_HOLD = 5.0


def is_non_recoverable(exc: BaseException) -> bool:
    """An STS refusal that a new attempt within seconds would only repeat."""
    return isinstance(exc, AssumeRoleError) and exc.code in NON_RECOVERABLE_CODES


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
    exc: ClientError,
    operation: str,
    label: str,
    *,
    hint: Callable[[str], str | None] | None = None,
    role_arn: str | None = None,
    secrets: tuple[str, ...] = (),
) -> AssumeRoleError:
    """Our error for an STS refusal: the operation, what was asked, the code and a hint."""
    code = error_code(exc)
    message = _scrub(error_message(exc), secrets)
    text = f"{operation} for {label} failed: {code}"
    if message:
        text += f": {message}"
    advice = hint(code) if hint is not None else None
    if advice:
        text += f" (hint: {advice})"
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
