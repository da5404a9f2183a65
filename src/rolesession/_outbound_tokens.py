"""Outbound web identity tokens: GetWebIdentityToken, cached and renewed like credentials.

A token is held by the library's own refresh engine (`SessionCredentials`):
the JWT rides in a `RoleCredentials` (its ``token``; no keys), so windows,
single-flight, background renewal and backoff are the credentials' own, and
the cache entry is an ordinary one -- a `FileCache` shares tokens between
processes, one GetWebIdentityToken per token lifetime, under the cache's
cross-process lock. One engine per session and request (`_engines`).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast

from . import _keys, _state
from ._credentials import RoleCredentials
from ._refresh import Fetched, RefreshPolicy, SessionCredentials
from ._validation import fail

if TYPE_CHECKING:
    from ._recipe import Recipe
    from ._refresh import Accept


class SessionLike(Protocol):
    """What a token needs of its session: a `RoleSession` (not imported: its module imports this one)."""

    @property
    def role_arn(self) -> str | None: ...
    @property
    def operation(self) -> str: ...
    @property
    def recipe(self) -> Recipe: ...
    @property
    def cache(self) -> Any: ...
    def identity(self) -> dict[str, str]: ...
    def get_credentials(self) -> SessionCredentials: ...

__all__ = ["TokenProvider", "TokenRequest", "token_request", "web_identity_token"]

logger = logging.getLogger("rolesession")

ALGORITHMS = ("RS256", "ES384")
SUBJECT_MODES = ("AWSIdentity", "OriginIdentity")
MIN_DURATION, MAX_DURATION = 60, 3600
MAX_AUDIENCES = 10
MAX_TAGS = 50
# From STS's model (webIdentityTokenScopeType): space-separated printable tokens without '"', ',' or '\'.
_SCOPE_RE = re.compile(r"[\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]+( [\x21\x23-\x2B\x2D-\x5B\x5D-\x7E]+)*")
_TAG_KEY_RE = re.compile(r"[\w+=,.@:/-]{1,128}")
_TAG_VALUE_RE = re.compile(r"[\w+=,.@:/ -]{0,256}")

_HINTS = {
    "OutboundWebIdentityFederationDisabledException": (
        "outbound identity federation is off for this account: enable it once with "
        "`aws iam enable-outbound-web-identity-federation` (or in the IAM console, Account settings)"
    ),
    "AccessDenied": (
        "the session's role needs sts:GetWebIdentityToken (and sts:TagGetWebIdentityToken for tags)"
    ),
    "JWTPayloadSizeExceededException": "fewer or shorter tags keep the token under its size limit",
    "SessionDurationEscalationException": "ask for a shorter duration",
}


@dataclass(frozen=True)
class TokenRequest:
    """One GetWebIdentityToken request, checked; hashable (it keys the engines and the cache)."""

    audience: tuple[str, ...]
    algorithm: str
    duration: int
    scope: str | None
    subject_mode: str | None
    tags: tuple[tuple[str, str], ...]

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "Audience": list(self.audience),
            "SigningAlgorithm": self.algorithm,
            "DurationSeconds": self.duration,
        }
        if self.scope is not None:
            params["Scope"] = self.scope
        if self.subject_mode is not None:
            params["SubjectMode"] = self.subject_mode
        if self.tags:
            params["Tags"] = [{"Key": k, "Value": v} for k, v in self.tags]
        return params

    def material(self) -> dict[str, Any]:
        return {"kind": "GetWebIdentityToken", **self.params()}


def token_request(
    audience: str | Iterable[str],
    *,
    algorithm: str = "RS256",
    duration: int = 300,
    scope: str | None = None,
    subject_mode: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> TokenRequest:
    """Check every parameter (raising `InvalidParameterError`) before any call."""
    audiences = (audience,) if isinstance(audience, str) else _strings(audience)
    if not 1 <= len(audiences) <= MAX_AUDIENCES:
        raise fail("audience", f"must be one string or a list of 1-{MAX_AUDIENCES}; got {len(audiences)}")
    for one in audiences:
        if not isinstance(one, str) or not one.strip():
            raise fail("audience", "every audience must be a non-empty string")
    if algorithm not in ALGORITHMS:
        raise fail("algorithm", f"must be one of {', '.join(ALGORITHMS)}; got {algorithm!r}")
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise fail("duration", f"must be whole seconds (an int); got {type(duration).__name__}")
    if not MIN_DURATION <= duration <= MAX_DURATION:
        raise fail("duration", f"must be {MIN_DURATION}-{MAX_DURATION:,} seconds; got {duration}")
    if scope is not None and (
        not isinstance(scope, str) or len(scope) > 256 or not _SCOPE_RE.fullmatch(scope)
    ):
        raise fail("scope", "must be 1-256 printable characters, space-separated, without '\"', ',' or '\\'")
    if subject_mode is not None and subject_mode not in SUBJECT_MODES:
        raise fail("subject_mode", f"must be one of {', '.join(SUBJECT_MODES)}; got {subject_mode!r}")
    pairs = _tags(tags)
    return TokenRequest(audiences, algorithm, duration, scope, subject_mode, pairs)


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise fail("audience", f"must be a string or a list of strings; got {type(value).__name__}")
    return tuple(value)


def _tags(tags: Mapping[str, str] | None) -> tuple[tuple[str, str], ...]:
    if tags is None:
        return ()
    if not isinstance(tags, Mapping):
        raise fail("tags", f"must be a mapping of tag keys to values; got {type(tags).__name__}")
    if len(tags) > MAX_TAGS:
        raise fail("tags", f"at most {MAX_TAGS} tags; got {len(tags)}")
    for key, value in tags.items():
        if not isinstance(key, str) or not _TAG_KEY_RE.fullmatch(key):
            raise fail("tags", f"tag key {key!r} must be 1-128 characters of letters, digits and +=,.@:/-_")
        if not isinstance(value, str) or not _TAG_VALUE_RE.fullmatch(value):
            raise fail(
                "tags", f"the value of tag {key!r} must be 0-256 characters of letters, digits and +=,.@:/-_ "
            )
    return tuple(sorted(tags.items()))


# -- engines ---------------------------------------------------------------------------------------

_engines: weakref.WeakKeyDictionary[Any, dict[TokenRequest, SessionCredentials]] = weakref.WeakKeyDictionary()
_engines_lock = threading.Lock()


#: A token is renewed once this share of its lifetime is left, due at ``TOKEN_DUE``
#: (kubelet's rule for projected service-account tokens: renew at 80 % of the TTL).
#: Its consumer exchanges it at once, so a tenth of its life is plenty, and one
#: GetWebIdentityToken serves ~80 % of a lifetime (the credentials' windows,
#: minutes wide, would renew a 60-300 s token four times a lifetime).
TOKEN_RENEW, TOKEN_DUE = 0.2, 0.1


def token_policy(session_policy: RefreshPolicy | None, duration: int) -> RefreshPolicy:
    """The session's refresh policy (hooks, backoff, jitter) with windows relative to the token's life."""
    base = session_policy or RefreshPolicy()
    return dataclasses.replace(base, advisory=duration * TOKEN_RENEW, mandatory=duration * TOKEN_DUE)


def engine_for(session: SessionLike, request: TokenRequest) -> SessionCredentials:
    """The refresh engine holding ``session``'s token for ``request`` (one per pair)."""
    with _engines_lock:
        per_session = _engines.setdefault(session, {})
        engine = per_session.get(request)
        if engine is None:
            engine = per_session[request] = SessionCredentials(
                _TokenFetcher(session, request), token_policy(session.recipe.refresh, request.duration)
            )
    return engine


def web_identity_token(session: SessionLike, request: TokenRequest) -> str:
    """The current token for ``request``: held, cached, or fetched now (renewed ahead of expiry)."""
    return engine_for(session, request).current().token


class TokenProvider:
    """A zero-argument callable returning a session's current token for one request.

    Holds the session (not a token): every call is `web_identity_token`'s
    cached read. Its repr names the audience, never a token.
    """

    def __init__(self, session: SessionLike, request: TokenRequest) -> None:
        self._session = session
        self._request = request

    def __call__(self) -> str:
        return web_identity_token(self._session, self._request)

    def __repr__(self) -> str:
        return (
            f"TokenProvider(audience={list(self._request.audience)!r}, algorithm={self._request.algorithm!r})"
        )


class _TokenFetcher:
    """The engine's fetcher for tokens: the session's cache, else GetWebIdentityToken."""

    operation = "GetWebIdentityToken"

    def __init__(self, session: SessionLike, request: TokenRequest) -> None:
        # A proxy: the engine lives in a map keyed weakly by the session, and must not keep it alive.
        self._session: SessionLike = cast("SessionLike", weakref.proxy(session))
        self._request = request
        self._last_key: Hashable | None = None

    @property
    def role_arn(self) -> str | None:
        return self._session.role_arn

    def can_refresh(self) -> bool:
        return True

    def interactive(self) -> bool:
        return False

    def forget(self) -> None:
        cache = self._session.cache
        if cache is not None and self._last_key is not None:
            _quietly(cache.delete, self._last_key)

    def fetch(self, accept: Accept | None) -> Fetched:
        session = self._session
        cache = session.cache
        key = self._key(cache)
        if accept is not None and key is not None:
            found = self._lookup(cache, key, accept)
            if found is not None:
                return Fetched(found, True)
        with _lock_for(cache, key):
            if accept is not None and key is not None:
                found = self._lookup(cache, key, accept)  # another thread or process got one meanwhile
                if found is not None:
                    return Fetched(found, True)
            token = self._call()
            if key is not None:
                _quietly(cache.set, key, token.to_entry())
        return Fetched(token, False)

    def _key(self, cache: Any) -> Hashable | None:
        if cache is None:
            return None
        # Per identity: the role session's ARN names who the token's subject is.
        # A wrapped provider's credentials name no ARN: their access key stands for who they are.
        caller = self._session.identity()["Arn"] or _keys.digest(
            self._session.get_credentials().access_key or ""
        )
        persistent = bool(getattr(cache, "persistent", True))
        key = _keys.key_for(self._request.material(), caller, persistent=persistent)
        self._last_key = key
        return key

    @staticmethod
    def _lookup(cache: Any, key: Hashable, accept: Accept) -> RoleCredentials | None:
        entry = _quietly(cache.get, key)
        token = RoleCredentials.from_entry(entry) if entry is not None else None
        if token is None or time.time() >= token.expiry or not accept(token):
            return None
        return token

    def _call(self) -> RoleCredentials:
        from botocore.exceptions import BotoCoreError, ClientError

        from . import _sts
        from ._errors import AssumeRoleError

        session = self._session
        source = session.recipe.source
        label = session.role_arn or session.operation
        client = _sts.client_for(
            session.get_credentials(),
            source.sts_region,
            source.sts_endpoint_url,
            source.sts_config,
            source.profile,
        )
        method = _sts.method_of(
            client, "get_web_identity_token", self.operation, label, role_arn=session.role_arn
        )
        started = time.perf_counter()
        try:
            response = method(**self._request.params())
        except ClientError as exc:
            raise _sts.translate(
                exc, self.operation, label, hint=_HINTS.get, role_arn=session.role_arn
            ) from exc
        except BotoCoreError as exc:
            raise _sts.unreachable(exc, self.operation, label, role_arn=session.role_arn) from exc
        received = time.time()
        try:
            jwt = response["WebIdentityToken"]
            expiration = response["Expiration"].timestamp()
            if not isinstance(jwt, str) or not jwt or expiration <= received:
                raise ValueError("no usable token")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AssumeRoleError(
                f"GetWebIdentityToken for {label} returned no usable token",
                role_arn=session.role_arn,
                code="InvalidResponse",
            ) from exc
        identity = session.identity()
        logger.info(
            "GetWebIdentityToken %s: a token for %d audience(s) until %s (%.0f ms)",
            label,
            len(self._request.audience),
            response["Expiration"].isoformat(),
            (time.perf_counter() - started) * 1000,
        )
        return RoleCredentials(
            access_key="",
            secret_key="",
            token=jwt,
            expiration=expiration,
            received=received,
            arn=identity["Arn"],
            user_id=identity["UserId"],
        )


def _lock_for(cache: Any, key: Hashable | None) -> Any:
    """Single-flight for one entry: the fetcher's locks (process-local, then the cache's own)."""
    from ._fetcher import _Both, _NeverFailing

    if key is None:
        return nullcontext()
    local = _state.key_lock(cache, key)
    lock = getattr(cache, "lock", None)
    return local if not callable(lock) else _Both(local, _NeverFailing(lock, key))


def _quietly(method: Callable[..., Any], *args: Any) -> Any:
    try:
        return method(*args)
    except Exception:  # cache I/O never fails a token read
        logger.debug("token cache %s failed", getattr(method, "__name__", "call"), exc_info=True)
        return None
