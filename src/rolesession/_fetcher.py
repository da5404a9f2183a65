"""``Fetcher``: how one session gets credentials -- from the cache, else from STS.

It holds a credential source (what to ask STS, ``_sources``), the parent
session whose credentials sign the call, the cache, and the state a session
accumulates: whether a one-shot secret was spent, whether the hop turned out
to be chained, the cache key last used. The refresh engine (``_refresh``)
decides *when* to ask it; it never asks which operation it runs.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from botocore.exceptions import BotoCoreError

from . import _keys, _state, _sts
from . import _workers as workers
from ._credentials import RoleCredentials, to_iso
from ._environment import default_source, where_botocore_looked
from ._errors import AssumeRoleError, RoleSessionError, SourceCredentialsError, TokenError
from ._limits import CHAINED_MAX_DURATION
from ._redaction import redact
from ._refresh import Accept, Fetched
from ._sources import Source

__all__ = ["Fetcher", "OneShot"]

logger = logging.getLogger("rolesession")


class OneShot:
    """Whether a static MFA code or SAML assertion has been sent (shared by scoped copies)."""

    def __init__(self) -> None:
        self.used = False
        self.lock = threading.Lock()


class Fetcher:
    """Gets credentials for one session; implements the engine's ``CredentialFetcher``."""

    def __init__(
        self,
        source: Source,
        *,
        parent: Any,
        cache: Any,
        chained: bool,
        one_shot: OneShot | None = None,
    ) -> None:
        self.source = source
        self.parent = parent  # boto3/botocore session whose credentials sign, or None: the default chain
        self.cache = cache
        self.one_shot = one_shot or OneShot()
        self.chained = chained
        self._warned_cap = False
        self._warned_left = False
        self._last_key: Hashable | None = None
        self._cache_warned = False
        if chained:
            self._warn_cap_once()

    # -- the engine's interface -------------------------------------------------------

    @property
    def role_arn(self) -> str | None:
        return self.source.role_arn

    @property
    def operation(self) -> str:
        return self.source.operation

    def fetch(self, accept: Accept | None) -> Fetched:
        try:
            return self._fetch(accept)
        except (_Rechain, _ParentRejected):
            return self._fetch(accept)  # once more: as a chained hop, or with the parent's new credentials

    def can_refresh(self) -> bool:
        return not (self.source.one_shot() is not None and self.one_shot.used)

    def interactive(self) -> bool:
        return self.source.interactive()

    def forget(self) -> None:
        if self.cache is not None and self._last_key is not None:
            self._cache_call("delete", self._last_key)

    # -- what sessions ask ------------------------------------------------------------------

    def is_cached(self) -> bool:
        """Whether the cache still holds the entry last written or read."""
        if self.cache is None or self._last_key is None:
            return False
        return self._cache_call("get", self._last_key) is not None

    def effective_duration(self) -> int | None:
        """The duration asked of STS: a chained hop is capped to AWS's one hour."""
        duration = self.source.duration
        if self.chained and duration is not None and duration > CHAINED_MAX_DURATION:
            return CHAINED_MAX_DURATION
        return duration

    # -- cache, else STS -----------------------------------------------------------------------

    def _fetch(self, accept: Accept | None) -> Fetched:
        source = self.source
        duration = self.effective_duration()
        signer = self._signer() if source.signed else None
        caller = source.caller(_access_key(signer, source) if signer is not None else None)
        key = self._key(duration, caller)
        if accept is not None and key is not None:
            cached = self._lookup(key, accept)
            if cached is not None:
                return Fetched(cached, True)
        with self._lock_for(key):
            if accept is not None and key is not None:
                # Another thread or process may have fetched while we waited for the lock.
                cached = self._lookup(key, accept)
                if cached is not None:
                    return Fetched(cached, True)
            try:
                creds = self._call_sts(self._fit(duration, signer), signer)
            except AssumeRoleError as exc:
                if _sts.is_rejection(exc) and _reject_parent(signer, caller):
                    raise _ParentRejected() from exc
                raise
            if key is not None:
                self._cache_call("set", key, creds.to_entry())
        return Fetched(creds, False)

    def _key(self, duration: int | None, caller: Hashable) -> Hashable | None:
        if self.cache is None:
            return None
        persistent = bool(getattr(self.cache, "persistent", True))
        key = _keys.key_for(self.source.key_material(duration), caller, persistent=persistent)
        if key is not None and key != self._last_key:
            # The caller changed (a parent refreshed, a token rotated): the
            # old entry can never be met again.
            if self._last_key is not None:
                self._cache_call("delete", self._last_key)
            self._last_key = key
        return key

    def _signer(self) -> Any:
        """The credentials that sign the call: the parent's, or the default chain's."""
        parent = self.parent if self.parent is not None else default_source()
        label = self.source.label
        try:
            credentials = parent.get_credentials()
        except RoleSessionError:
            raise  # a hop whose parent cannot get credentials raises the parent's error
        except Exception as exc:
            raise SourceCredentialsError(
                f"cannot assume {label}: the source credentials could not be loaded ({_describe(exc)})",
                role_arn=self.source.role_arn,
            ) from exc
        if credentials is None:
            raise SourceCredentialsError(
                f"cannot assume {label}: no source credentials were found "
                f"({where_botocore_looked(parent)}); configure credentials there or give a source session",
                role_arn=self.source.role_arn,
            )
        return credentials

    def _lookup(self, key: Hashable, accept: Accept) -> RoleCredentials | None:
        entry = self._cache_call("get", key)
        if entry is None:
            return None
        creds = RoleCredentials.from_entry(entry)
        if creds is None or time.time() >= creds.expiry:
            return None  # corrupt, foreign or expired: never served
        if not accept(creds):
            return None
        if self.source.one_shot() is not None:
            # These credentials were bought with this very static secret (it is
            # in the key), by whichever session sent it: it is spent here too.
            self.one_shot.used = True
        return creds

    def _lock_for(self, key: Hashable | None) -> AbstractContextManager[Any]:
        """Single-flight for one cache key: across sessions in this process, and
        across processes when the cache has a lock of its own."""
        if key is None:
            return nullcontext()
        local = _state.key_lock(self.cache, key)
        lock = getattr(self.cache, "lock", None)
        if not callable(lock):
            return local
        return _Both(local, _NeverFailing(lock, key))

    def _cache_call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.cache, method)(*args)
        except Exception as exc:  # cache I/O never fails a credential read
            if not self._cache_warned:
                self._cache_warned = True
                logger.warning(
                    "credential cache %s failed on %s (%s); continuing without it",
                    type(self.cache).__name__,
                    method,
                    type(exc).__name__,
                )
            return None

    # -- STS -----------------------------------------------------------------------------------

    def _call_sts(self, duration: int | None, signer: Any) -> RoleCredentials:
        creds = self._ask(duration, signer)
        if not creds.expiry > creds.received:
            # A stale answer (a replaying proxy, a broken cache in front of STS or of a
            # container endpoint): a failed refresh, never credentials to hand out.
            raise AssumeRoleError(
                f"{self.source.operation} for {self.source.label} returned credentials that had "
                f"already expired (Expiration {to_iso(creds.expiration)})",
                role_arn=self.source.role_arn,
                code="StaleResponse",
            )
        return creds

    def _ask(self, duration: int | None, signer: Any) -> RoleCredentials:
        source = self.source
        fetch_own = getattr(source, "fetch_credentials", None)
        if fetch_own is not None:  # not an STS call: a botocore provider the source wraps
            return fetch_own()  # type: ignore[no-any-return]
        config = source.sts_config
        if workers.in_background():
            # No reader waits on this call: a slow STS gets a longer read timeout
            # (a reader with nothing valid keeps the short one).
            config = _sts.background_config(config)
        client = _sts.client_for(signer, source.sts_region, source.sts_endpoint_url, config, source.profile)
        params = source.params(duration)
        for attempt in range(source.attempts):
            extra, secrets = source.secret_params(self._spend)
            try:
                return _sts.call(client, source, {**params, **extra}, secrets)
            except AssumeRoleError as exc:
                if self._should_rechain(duration, exc):
                    raise _Rechain() from exc
                if exc.code not in source.retry_codes or attempt + 1 == source.attempts:
                    raise
                time.sleep(random.uniform(0.5, 1.0) * 0.2 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _should_rechain(self, duration: int | None, exc: AssumeRoleError) -> bool:
        """STS says the source holds role credentials and the duration is over an hour."""
        if not self.source.chains or self.chained:
            return False
        if duration is None or duration <= CHAINED_MAX_DURATION or not _sts.is_chaining_error(exc):
            return False
        self.chained = True
        self._warn_cap_once()
        return True

    def _fit(self, duration: int | None, signer: Any) -> int | None:
        """The duration sent: what the source allows given the signer (``GetScopedCredentials``
        cannot outlive its source), with one WARNING per session when that is less than asked."""
        fitted = self.source.fit_duration(duration, signer)
        if fitted != duration and duration is not None and not self._warned_left:
            self._warned_left = True
            logger.warning(
                "%s: duration=%d is capped to %d s, what the source credentials have left",
                self.source.label,
                duration,
                fitted,
            )
        return fitted

    def _warn_cap_once(self) -> None:
        duration = self.source.duration
        if self._warned_cap or duration is None or duration <= CHAINED_MAX_DURATION:
            return
        self._warned_cap = True
        logger.warning(
            "%s is a chained role session: AWS caps those at %d s, so duration=%d is capped to %d s",
            self.source.label,
            CHAINED_MAX_DURATION,
            duration,
            CHAINED_MAX_DURATION,
        )

    def _spend(self, what: str) -> None:
        """A static one-shot secret is about to be sent: only if it never was."""
        with self.one_shot.lock:
            if self.one_shot.used:
                raise TokenError(
                    f"cannot get new credentials for {self.source.label}: the static {what} was "
                    f"already used and is never resent; pass a callable that returns a fresh "
                    f"{what} to let the session refresh",
                    role_arn=self.source.role_arn,
                )
            self.one_shot.used = True


# -- helpers ----------------------------------------------------------------------------------------


class _Rechain(Exception):
    """STS said the source holds role credentials: retry once as a chained hop."""


class _ParentRejected(Exception):
    """STS rejected the parent session's credentials, which it dropped: retry once."""


def _reject_parent(signer: Any, caller: Hashable) -> bool:
    reject = getattr(signer, "reject", None)  # the engine of a parent RoleSession
    return callable(reject) and bool(reject(caller if isinstance(caller, str) else None))


def _access_key(credentials: Any, source: Source) -> str:
    """The access key id signing the call: the caller's identity for AssumeRole."""
    try:
        frozen = credentials.get_frozen_credentials()
    except RoleSessionError:
        raise
    except Exception as exc:
        raise SourceCredentialsError(
            f"cannot assume {source.label}: the source credentials could not be refreshed "
            f"({type(exc).__name__})",
            role_arn=source.role_arn,
        ) from exc
    access_key = getattr(frozen, "access_key", None)
    if not access_key:
        raise SourceCredentialsError(
            f"cannot assume {source.label}: the source credentials are empty", role_arn=source.role_arn
        )
    return str(access_key)


def _describe(exc: BaseException) -> str:
    """Name a source-credential failure; botocore's own messages name no secret."""
    if isinstance(exc, BotoCoreError):
        return f"{type(exc).__name__}: {redact(str(exc))}"
    return type(exc).__name__


class _Both:
    """Enter two context managers in order (the process-local lock first)."""

    def __init__(self, first: AbstractContextManager[Any], second: AbstractContextManager[Any]) -> None:
        self._first = first
        self._second = second

    def __enter__(self) -> None:
        self._first.__enter__()
        try:
            self._second.__enter__()
        except BaseException:
            self._first.__exit__(None, None, None)
            raise

    def __exit__(self, *exc_info: Any) -> None:
        try:
            self._second.__exit__(*exc_info)
        finally:
            self._first.__exit__(*exc_info)


class _NeverFailing:
    """A cache's cross-process lock whose failures never fail a credential read."""

    def __init__(self, lock: Callable[[Hashable], Any], key: Hashable) -> None:
        self._lock = lock
        self._key = key
        self._held: Any = None

    def __enter__(self) -> None:
        try:
            held = self._lock(self._key)
            held.__enter__()
            self._held = held
        except Exception:
            logger.debug("credential cache lock failed; refreshing without it", exc_info=True)

    def __exit__(self, *exc_info: Any) -> None:
        if self._held is not None:
            try:
                self._held.__exit__(*exc_info)
            except Exception:
                logger.debug("credential cache unlock failed", exc_info=True)
