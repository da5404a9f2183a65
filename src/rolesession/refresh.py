"""The credential refresh engine.

`RefreshingCredentials` holds one `RoleCredentials` and decides,
at every read, whether to hand it out, refresh it in the background, or wait
for a refresh. Compared with botocore's ``RefreshableCredentials``:

* the hot path is a clock read and one float comparison on an immutable
  snapshot -- no lock, no datetime arithmetic;
* windows are relative to the credentials' lifetime, so 15-minute credentials
  are not refreshed on every request;
* in the advisory window no reader ever waits: one background thread
  refreshes while readers keep the held credentials;
* the moment a refresh starts is jittered per credential set, so a fleet
  started together does not hit STS in lockstep;
* a failed refresh keeps serving still-valid credentials and retries after a
  jittered backoff (static stability) instead of failing every request.

Every decision uses the wall clock read at call time (``time.time()``), so a
process that was suspended sees true expiry when it wakes, and freezegun
drives the engine in tests. Where a decision is made, the time used is the
one read by the caller who triggered it.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.credentials import Credentials, ReadOnlyCredentials

from .credentials import RoleCredentials, to_iso
from .errors import CredentialRefreshError, RoleSessionError, _rebuild
from .validation import fail

__all__ = ["RefreshPolicy", "RefreshingCredentials"]

logger = logging.getLogger("rolesession")

# A read with no valid credentials does not call STS again within this many
# seconds of a failed attempt: an outage must not turn every read into a call.
RETRY_FLOOR = 1.0

Accept = Callable[[RoleCredentials], bool]


@dataclass(frozen=True)
class RefreshPolicy:
    """When credentials are refreshed, in seconds before their expiry.

    ``advisory=None`` (the default) scales with the credentials' lifetime:
    5 minutes for lifetimes up to 20 minutes, 15 minutes below 90 minutes and
    60 minutes otherwise. In the advisory window one background refresh runs
    and no reader waits. In the ``mandatory`` window (default the last 60 s)
    readers wait for a refresh. ``max_backoff`` caps the wait between
    attempts after a failed refresh; ``jitter`` spreads the start of the
    advisory refresh over the first half of its window.
    """

    advisory: float | None = None
    mandatory: float = 60.0
    max_backoff: float = 300.0
    jitter: bool = True

    def __post_init__(self) -> None:
        for name in ("mandatory", "max_backoff"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:  # NaN too
                raise fail(name, f"must be a positive number of seconds, got {value!r}")
        if self.advisory is not None:
            adv = self.advisory
            if isinstance(adv, bool) or not isinstance(adv, (int, float)):
                raise fail("advisory", f"must be a number of seconds or None, got {adv!r}")
            if not self.mandatory < adv:
                raise fail("advisory", f"must be greater than mandatory ({self.mandatory}), got {adv}")
        if not isinstance(self.jitter, bool):
            raise fail("jitter", "must be True or False")

    def windows(self, lifetime: float) -> tuple[float, float]:
        """``(advisory, mandatory)`` seconds before expiry for this lifetime."""
        if self.advisory is None:
            advisory = 300.0 if lifetime <= 1200 else 900.0 if lifetime < 5400 else 3600.0
        else:
            advisory = float(self.advisory)
        # Windows never cover more than three quarters of the lifetime:
        # credentials due for refresh the moment they arrive would cost an STS
        # call a read. (The lifetime-relative defaults stay below this for any
        # lifetime STS issues.)
        advisory = min(advisory, lifetime * 0.75)
        return advisory, min(float(self.mandatory), advisory)


class CredentialFetcher(Protocol):
    """What the engine needs from whoever really gets credentials."""

    role_arn: str

    def fetch(self, accept: Accept | None) -> RoleCredentials:
        """New credentials: a cached entry for which ``accept`` is true, else STS's.

        ``accept=None`` always calls STS.
        """

    def can_refresh(self) -> bool:
        """False once a one-shot MFA code or SAML assertion has been spent."""

    def forget(self) -> None:
        """Drop the cache entry for these credentials."""


class _Held:
    """An immutable snapshot; replacing ``engine._held`` publishes it atomically."""

    __slots__ = ("creds", "expiry", "frozen", "mandatory_at", "refresh_at")

    def __init__(
        self,
        creds: RoleCredentials | None,
        frozen: Any,
        refresh_at: float,
        mandatory_at: float,
        expiry: float,
    ) -> None:
        self.creds = creds
        self.frozen = frozen
        self.refresh_at = refresh_at  # the hot path hands out ``frozen`` before this
        self.mandatory_at = mandatory_at
        self.expiry = expiry

    def postponed(self, until: float) -> _Held:
        return _Held(self.creds, self.frozen, until, self.mandatory_at, self.expiry)


class FrozenCredentials(ReadOnlyCredentials):
    """botocore's ``ReadOnlyCredentials`` whose ``repr`` hides the secrets.

    Still a ``ReadOnlyCredentials`` (a named tuple) for every consumer; only
    printing it differs, so a log line or a traceback never shows a secret.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return (
            f"ReadOnlyCredentials(access_key={self.access_key!r}, secret_key='***', "
            f"token='***', account_id={self.account_id!r})"
        )

    __str__ = __repr__


_NOTHING = _Held(None, None, float("-inf"), float("-inf"), float("-inf"))
_ENGINES: weakref.WeakSet[RefreshingCredentials] = weakref.WeakSet()


class RefreshingCredentials(Credentials):
    """botocore-compatible credentials that keep themselves fresh.

    Every client of a `rolesession.RoleSession` signs with this
    object; botocore calls `get_frozen_credentials` once per request.
    """

    method = "rolesession"

    def __init__(self, fetcher: CredentialFetcher, policy: RefreshPolicy | None = None) -> None:
        # Credentials.__init__ is not called: its plain attributes are
        # replaced by properties reading the held snapshot.
        self._fetcher = fetcher
        self._policy = policy or RefreshPolicy()
        self._held = _NOTHING
        self._lock = threading.Lock()  # held by whoever is refreshing
        self._worker: threading.Thread | None = None
        self._failed_at: float | None = None
        self._last_error: BaseException | None = None
        self._warned_static = False
        _ENGINES.add(self)

    # -- the hot path -------------------------------------------------------

    def get_frozen_credentials(self) -> ReadOnlyCredentials:
        held = self._held
        if time.time() < held.refresh_at:
            return held.frozen  # type: ignore[no-any-return]
        return self._read_slow().frozen  # type: ignore[no-any-return]

    # -- botocore's attribute interface ---------------------------------------

    @property
    def access_key(self) -> str | None:  # type: ignore[override]
        return self.get_frozen_credentials().access_key

    @property
    def secret_key(self) -> str | None:  # type: ignore[override]
        return self.get_frozen_credentials().secret_key

    @property
    def token(self) -> str | None:  # type: ignore[override]
        return self.get_frozen_credentials().token

    @property
    def account_id(self) -> str | None:
        return self.get_frozen_credentials().account_id

    # -- what sessions ask of it ----------------------------------------------

    @property
    def role_arn(self) -> str:
        return self._fetcher.role_arn

    def current(self) -> RoleCredentials:
        """The credentials a read would hand out now (fetching if none)."""
        held = self._held
        if held.creds is None or not time.time() < held.refresh_at:
            held = self._read_slow()
        assert held.creds is not None
        return held.creds

    def holds_valid(self) -> bool:
        """Whether unexpired credentials are held, without fetching."""
        return time.time() < self._held.expiry

    def refresh(self) -> RoleCredentials:
        """Call STS now, whatever the windows and backoff; raise if it fails."""
        with self._lock:
            return self._install(self._call(self._fetcher.fetch, None)).creds  # type: ignore[return-value]

    def invalidate(self) -> None:
        """Drop the held credentials and their cache entry."""
        with self._lock:
            self._held = _NOTHING
            self._failed_at = None
            self._last_error = None
            self._fetcher.forget()

    def wait_for_background(self, timeout: float | None = None) -> None:
        """Wait for a background refresh under way (tests and shutdown)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)

    def __repr__(self) -> str:
        held = self._held
        expiry = to_iso(held.expiry) if held.creds is not None else None
        return f"RefreshingCredentials(role_arn={self.role_arn!r}, expiration={expiry!r})"

    # -- the slow path --------------------------------------------------------

    def _read_slow(self) -> _Held:
        now = time.time()
        held = self._held
        if now < held.refresh_at:
            return held
        if held.creds is None or now >= held.expiry:
            held = self._refresh_waiting()
            now = time.time()
            if now < held.refresh_at:
                return held
            # A cached entry adopted inside its refresh window: the rules below
            # apply to it as to any credentials held.
        if not self._fetcher.can_refresh():
            return self._cannot_refresh(held)
        if now < held.mandatory_at:
            self._refresh_in_background(held)
            return held
        return self._refresh_waiting()

    def _refresh_waiting(self) -> _Held:
        """Single-flight: the first reader refreshes, the others wait for it."""
        with self._lock:
            now = time.time()
            held = self._held
            if now < held.refresh_at:
                return held  # refreshed (or backed off) while we waited
            if held.creds is None or now >= held.expiry:
                if self._failed_at is not None and now - self._failed_at < RETRY_FLOOR:
                    raise self._copy_of_last_error()
                return self._refresh_locked(now, held, accept=_valid_at(now))
            return self._refresh_locked(now, held, accept=self._better_than(held, now))

    def _refresh_in_background(self, held: _Held) -> None:
        if not self._lock.acquire(blocking=False):
            return  # a refresh is already under way
        try:
            worker = threading.Thread(
                target=self._background, args=(held,), name="rolesession-refresh", daemon=True
            )
            self._worker = worker
            worker.start()
        except BaseException:
            self._lock.release()
            raise

    def _background(self, held: _Held) -> None:
        try:
            if self._held is held:  # else someone refreshed meanwhile
                self._refresh_locked(time.time(), held, accept=self._better_than(held, time.time()))
        except Exception:  # the held credentials are valid; readers keep them
            logger.debug("background refresh of %s failed", self.role_arn, exc_info=True)
        finally:
            self._lock.release()

    def _refresh_locked(self, now: float, held: _Held, accept: Accept) -> _Held:
        try:
            creds = self._call(self._fetcher.fetch, accept)
        except CredentialRefreshError as exc:
            return self._on_failure(now, held, exc)
        return self._install(creds)

    def _call(
        self, fetch: Callable[[Accept | None], RoleCredentials], accept: Accept | None
    ) -> RoleCredentials:
        try:
            return fetch(accept)
        except RoleSessionError:
            raise
        except Exception as exc:  # never a bare KeyError from deep inside
            raise CredentialRefreshError(
                f"could not get credentials for {self.role_arn}: unexpected "
                f"{type(exc).__name__}",
                role_arn=self.role_arn,
            ) from exc

    def _install(self, creds: RoleCredentials) -> _Held:
        advisory, mandatory = self._policy.windows(creds.lifetime)
        advisory_at = creds.expiration - advisory
        mandatory_at = creds.expiration - mandatory
        refresh_at = advisory_at
        if self._policy.jitter:
            refresh_at += random.uniform(0.0, 0.5) * (mandatory_at - advisory_at)
        frozen = FrozenCredentials(creds.access_key, creds.secret_key, creds.token, creds.account)
        held = _Held(creds, frozen, refresh_at, mandatory_at, creds.expiration)
        self._held = held
        self._failed_at = None
        self._last_error = None
        self._warned_static = False
        return held

    def _on_failure(self, now: float, held: _Held, exc: CredentialRefreshError) -> _Held:
        self._failed_at = now
        self._last_error = exc
        if held.creds is None or now >= held.expiry:
            raise exc
        left = held.expiry - now
        delay = max(1.0, random.uniform(0.5, 1.0) * min(self._policy.max_backoff, left / 2))
        logger.warning(
            "refresh of %s failed (%s); serving the held credentials, valid until %s; "
            "next attempt in %.0f s",
            self.role_arn,
            exc,
            to_iso(held.expiry),
            delay,
        )
        self._held = held.postponed(min(now + delay, held.expiry))
        return self._held

    def _cannot_refresh(self, held: _Held) -> _Held:
        if not self._warned_static:
            self._warned_static = True
            logger.warning(
                "credentials for %s cannot be refreshed: the MFA code or SAML assertion was "
                "static and is spent; they stop working at %s. Pass a callable to refresh.",
                self.role_arn,
                to_iso(held.expiry),
            )
        self._held = held.postponed(held.expiry)
        return self._held

    def _better_than(self, held: _Held, now: float) -> Accept:
        """Accept a cached entry only if it outlives ours and needs no refresh yet."""

        def accept(creds: RoleCredentials) -> bool:
            advisory, _ = self._policy.windows(creds.lifetime)
            return creds.expiration > held.expiry and now < creds.expiration - advisory

        return accept

    def _copy_of_last_error(self) -> BaseException:
        # Many threads may re-raise the last failure at once; each gets its own
        # instance so tracebacks do not interleave.
        err = self._last_error
        if isinstance(err, RoleSessionError):
            copy = _rebuild(type(err), err.args, getattr(err, "_init_kwargs", {}))
            copy.__cause__ = err.__cause__
            return copy  # type: ignore[no-any-return]
        return CredentialRefreshError(f"could not get credentials for {self.role_arn}")


def _valid_at(now: float) -> Accept:
    def accept(creds: RoleCredentials) -> bool:
        return now < creds.expiration

    return accept


def _reset_after_fork() -> None:
    # A lock held by a thread that does not exist in the child would never
    # be released; a worker thread does not survive fork.
    for engine in list(_ENGINES):
        engine._lock = threading.Lock()
        engine._worker = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
