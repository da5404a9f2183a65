"""``RoleProvider``: how one session gets credentials -- from the cache, else STS.

It knows the request, the source, the cache and the one-shot secrets; the
refresh engine (``refresh.py``) decides *when* to ask it.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from botocore.exceptions import BotoCoreError

from . import _sts as sts
from ._cache import cache_key, is_persistent, key_lock
from ._credentials import RoleCredentials
from ._errors import (
    AssumeRoleError,
    RoleSessionError,
    SourceCredentialsError,
    TokenError,
)
from ._redaction import redact
from ._refresh import Accept, Fetched
from ._request import AssumeRequest, SecretSource, unwrap
from ._validation import CHAINED_MAX_DURATION, is_mfa_code

logger = logging.getLogger("rolesession")

#: Web identity refusals that are often transient (an IdP's key rotation, a
#: token read mid-rewrite); botocore resends the same body, so we retry with
#: a freshly read token.
WEB_IDENTITY_RETRY_CODES = frozenset({"InvalidIdentityToken", "IDPCommunicationError"})
WEB_IDENTITY_ATTEMPTS = 3


class OneShot:
    """Whether a static MFA code or SAML assertion has been sent (shared by scoped copies)."""

    def __init__(self) -> None:
        self.used = False
        self.lock = threading.Lock()


class RoleProvider:
    def __init__(
        self,
        request: AssumeRequest,
        *,
        source: Any,
        chained: bool,
        cache: Any,
        one_shot: OneShot | None = None,
    ) -> None:
        self.request = request
        self.role_arn = request.role_arn
        self.operation = request.operation
        self.source = source  # boto3/botocore session, or None for the default chain
        self.cache = cache
        self.one_shot = one_shot or OneShot()
        self.chained = chained
        self._warned_cap = False
        self._last_key: Hashable | None = None
        self._cache_warned = False
        if chained:
            self._warn_cap_once()

    # -- the CredentialFetcher interface --------------------------------------

    def fetch(self, accept: Accept | None) -> Fetched:
        try:
            return self._fetch(accept)
        except _Rechain:
            return self._fetch(accept)
        except _ParentRejected:
            return self._fetch(accept)  # the parent dropped the rejected credentials: once more

    def can_refresh(self) -> bool:
        return not (self._static_one_shot() is not None and self.one_shot.used)

    def interactive(self) -> bool:
        request = self.request
        provider = request.mfa_token if request.mfa_serial is not None else None
        provider = provider or request.token or request.assertion
        return bool(getattr(unwrap(provider), "interactive", False))

    def forget(self) -> None:
        if self.cache is not None and self._last_key is not None:
            self._cache_call("delete", self._last_key)

    # -- what sessions ask ----------------------------------------------------

    def is_cached(self) -> bool:
        """Whether the cache still holds the entry last written or read."""
        if self.cache is None or self._last_key is None:
            return False
        return self._cache_call("get", self._last_key) is not None

    def effective_duration(self) -> int | None:
        duration = self.request.duration
        if self.chained and duration is not None and duration > CHAINED_MAX_DURATION:
            return CHAINED_MAX_DURATION
        return duration

    # -- internals ---------------------------------------------------------------

    def _fetch(self, accept: Accept | None) -> Fetched:
        request = self.request
        duration = self.effective_duration()
        signer = None
        if request.operation == sts.ASSUME_ROLE:
            signer = self._source_credentials()
            caller: Hashable = _caller_access_key(signer, request.role_arn)
        else:
            caller = self._caller_for_token()
        key = self._key(duration, caller)
        if key is not None and key != self._last_key:
            # The caller changed (a parent refreshed, a token rotated): the
            # old entry can never be met again.
            if self._last_key is not None:
                self._cache_call("delete", self._last_key)
            self._last_key = key
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
                creds = self._call_sts(duration, signer)
            except AssumeRoleError as exc:
                if sts.is_rejection(exc) and _reject_parent(signer, caller):
                    raise _ParentRejected() from exc
                raise
            if key is not None:
                self._cache_call("set", key, creds.to_entry())
        return Fetched(creds, False)

    def _source_credentials(self) -> Any:
        from ._environment import default_source

        source = self.source if self.source is not None else default_source()
        try:
            credentials = source.get_credentials()
        except RoleSessionError:
            raise  # a hop whose parent cannot get credentials raises the parent's error
        except Exception as exc:
            raise SourceCredentialsError(
                f"cannot assume {self.role_arn}: the source credentials could not be "
                f"loaded ({_describe(exc)})",
                role_arn=self.role_arn,
            ) from exc
        if credentials is None:
            raise SourceCredentialsError(
                f"cannot assume {self.role_arn}: no source credentials were found "
                "(configure the default credential chain or pass source=)",
                role_arn=self.role_arn,
            )
        return credentials

    def _caller_for_token(self) -> Hashable:
        request = self.request
        secret = request.token if request.operation == sts.WEB_IDENTITY else request.assertion
        if callable(secret):
            # A callable naming what it stands for (the CLI's command line) is
            # a caller other processes recognise, so persistent caches can key it.
            named = getattr(secret, "cache_identity", None)
            if isinstance(named, str) and named:
                return "named-callable:" + hashlib.sha256(named.encode("utf-8")).hexdigest()
            return secret
        if secret is None and request.token_file is not None:
            secret = self._read_token_file()
        assert isinstance(secret, str)
        return hashlib.sha256(secret.encode("utf-8")).hexdigest()

    def _key(self, duration: int | None, caller: Hashable) -> Hashable | None:
        if self.cache is None:
            return None
        material = self.request.key_material(duration)
        if isinstance(caller, str):
            return cache_key(material, caller)
        # A callable token identifies its caller only within this process.
        if is_persistent(self.cache):
            return None
        return (cache_key(material, "callable"), caller)

    def _lookup(self, key: Hashable, accept: Accept) -> RoleCredentials | None:
        entry = self._cache_call("get", key)
        if entry is None:
            return None
        creds = RoleCredentials.from_entry(entry)
        if creds is None or time.time() >= creds.expiry:
            return None  # corrupt, foreign or expired: never served
        if not accept(creds):
            return None
        if self._static_one_shot() is not None:
            # These credentials were bought with this very static secret (it is
            # in the key), by whichever session sent it: it is spent here too.
            self.one_shot.used = True
        return creds

    def _lock_for(self, key: Hashable | None) -> AbstractContextManager[Any]:
        """Single-flight for one cache key: across sessions in this process, and
        across processes when the cache has a lock of its own."""
        if key is None:
            return nullcontext()
        local = key_lock(self.cache, key)
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

    # -- STS --------------------------------------------------------------------

    def _call_sts(self, duration: int | None, signer: Any) -> RoleCredentials:
        request = self.request
        client = sts.client_for(
            signer, request.region, request.sts_endpoint_url, request.sts_config
        )
        if request.operation == sts.WEB_IDENTITY:
            return self._call_web_identity(client, duration)
        params = request.params(duration)
        secrets: tuple[str, ...] = ()
        if request.operation == sts.SAML:
            params["SAMLAssertion"] = assertion = self._secret(
                request.assertion, "SAML assertion", 4, 100_000
            )
            secrets = (assertion,)
        elif request.mfa_serial is not None:
            params["TokenCode"] = code = self._mfa_code()
            secrets = (code,)
        try:
            return sts.call(client, request.operation, params, self.role_arn, secrets=secrets)
        except AssumeRoleError as exc:
            if request.operation == sts.ASSUME_ROLE and self._should_rechain(duration, exc):
                raise _Rechain() from exc
            raise

    def _call_web_identity(self, client: Any, duration: int | None) -> RoleCredentials:
        request = self.request
        for attempt in range(WEB_IDENTITY_ATTEMPTS):
            params = request.params(duration)
            params["WebIdentityToken"] = token = self._web_identity_token()
            try:
                return sts.call(client, sts.WEB_IDENTITY, params, self.role_arn, secrets=(token,))
            except AssumeRoleError as exc:
                if exc.code not in WEB_IDENTITY_RETRY_CODES or attempt + 1 == WEB_IDENTITY_ATTEMPTS:
                    raise
                time.sleep(random.uniform(0.5, 1.0) * 0.2 * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _should_rechain(self, duration: int | None, exc: AssumeRoleError) -> bool:
        if self.chained or duration is None or duration <= CHAINED_MAX_DURATION:
            return False
        if not sts.is_chaining_error(exc):
            return False
        self.chained = True
        self._warn_cap_once()
        return True

    def _warn_cap_once(self) -> None:
        duration = self.request.duration
        if self._warned_cap or duration is None or duration <= CHAINED_MAX_DURATION:
            return
        self._warned_cap = True
        logger.warning(
            "%s is a chained role session: AWS caps those at %d s, so duration=%d is "
            "capped to %d s",
            self.role_arn,
            CHAINED_MAX_DURATION,
            duration,
            CHAINED_MAX_DURATION,
        )

    # -- secrets ----------------------------------------------------------------

    def _static_one_shot(self) -> str | None:
        request = self.request
        if request.operation == sts.SAML and isinstance(request.assertion, str):
            return "SAML assertion"
        if request.mfa_serial is not None and isinstance(request.mfa_token, str):
            return "MFA code"
        return None

    def _spend_one_shot(self, what: str) -> None:
        with self.one_shot.lock:
            if self.one_shot.used:
                raise TokenError(
                    f"cannot get new credentials for {self.role_arn}: the static {what} was "
                    f"already used and is never resent; pass a callable that returns a fresh "
                    f"{what} to let the session refresh",
                    role_arn=self.role_arn,
                )
            self.one_shot.used = True

    def _mfa_code(self) -> str:
        token = self.request.mfa_token
        if isinstance(token, str):
            self._spend_one_shot("MFA code")
            return token
        code = self._from_callable(token, "MFA code")
        if not is_mfa_code(code):
            raise TokenError(
                f"the MFA code provider for {self.role_arn} returned something that is not "
                "6 digits",
                role_arn=self.role_arn,
            )
        return code

    def _secret(self, source: SecretSource | None, what: str, low: int, high: int) -> str:
        if isinstance(source, str):
            self._spend_one_shot(what)
            return source
        value = self._from_callable(source, what)
        if not low <= len(value) <= high:
            raise TokenError(
                f"the {what} provider for {self.role_arn} returned {len(value)} characters; "
                f"expected {low}-{high}",
                role_arn=self.role_arn,
            )
        return value

    def _web_identity_token(self) -> str:
        request = self.request
        if isinstance(request.token, str):
            return request.token
        if request.token is not None:
            value = self._from_callable(request.token, "web identity token")
        else:
            value = self._read_token_file()
        if not 4 <= len(value) <= 20_000:
            raise TokenError(
                f"the web identity token for {self.role_arn} has {len(value)} characters; "
                "expected 4-20000",
                role_arn=self.role_arn,
            )
        return value

    def _read_token_file(self) -> str:
        path = self.request.token_file
        assert path is not None
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise TokenError(
                f"cannot read the web identity token file {path} ({type(exc).__name__})",
                role_arn=self.role_arn,
            ) from exc

    def _from_callable(self, provider: Callable[[], str] | None, what: str) -> str:
        assert provider is not None
        try:
            value = provider()
        except Exception as exc:
            raise TokenError(
                f"the {what} provider for {self.role_arn} raised {type(exc).__name__}",
                role_arn=self.role_arn,
            ) from exc
        if not isinstance(value, str):
            raise TokenError(
                f"the {what} provider for {self.role_arn} returned {type(value).__name__}, "
                "not a string",
                role_arn=self.role_arn,
            )
        return value.strip()


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


def _describe(exc: BaseException) -> str:
    """Name a source-credential failure; botocore's own messages name no secret."""
    if isinstance(exc, BotoCoreError):
        return f"{type(exc).__name__}: {redact(str(exc))}"
    return type(exc).__name__


class _Rechain(Exception):
    """STS said the source holds role credentials: retry once as a chained hop."""


class _ParentRejected(Exception):
    """STS rejected the parent session's credentials, which it dropped: retry once."""


def _reject_parent(signer: Any, access_key: Hashable) -> bool:
    reject = getattr(signer, "reject", None)  # a RefreshingCredentials of a parent RoleSession
    return callable(reject) and bool(reject(access_key if isinstance(access_key, str) else None))


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


def _caller_access_key(credentials: Any, role_arn: str) -> str:
    try:
        frozen = credentials.get_frozen_credentials()
    except RoleSessionError:
        raise
    except Exception as exc:
        raise SourceCredentialsError(
            f"cannot assume {role_arn}: the source credentials could not be refreshed "
            f"({type(exc).__name__})",
            role_arn=role_arn,
        ) from exc
    access_key = getattr(frozen, "access_key", None)
    if not access_key:
        raise SourceCredentialsError(
            f"cannot assume {role_arn}: the source credentials are empty", role_arn=role_arn
        )
    return str(access_key)
