"""The credential refresh engine.

`SessionCredentials` holds one `RoleCredentials` and decides, at every
read, whether to hand it out, have it refreshed in the background, or wait
for new credentials. Compared with botocore's ``RefreshableCredentials``:

* the hot path is a clock read and one float comparison on an immutable
  snapshot -- no lock, no datetime arithmetic;
* windows are relative to the credentials' lifetime, so 15-minute credentials
  are not refreshed on every request;
* a reader holding valid credentials never waits for STS: refreshes run on
  long-lived worker threads while readers keep the held credentials, so a
  slow or hanging STS costs them nothing;
* a reader with nothing valid waits for one attempt, shared by every reader
  waiting with it (single-flight: one outcome for all of them);
* the moment a refresh starts is jittered per credential set, so a fleet
  started together does not hit STS in lockstep;
* a failed refresh keeps serving still-valid credentials and retries after a
  jittered backoff (static stability); with nothing valid, attempts back off
  exponentially (full jitter, from 1 s to ``max_backoff``) and a read during
  that backoff gets the last error at once; a non-recoverable refusal
  (``AccessDenied``, ...) is kept 5 s. Every backoff counts from when the
  failed attempt *ended*, so a slow STS cannot turn every queued reader into
  another attempt;
* credentials AWS rejected are refreshed by the next read, at most once per
  backoff step, and still served while valid if that refresh fails;
* time is judged on STS's clock (the credentials carry the skew measured
  from the response's ``Date`` header).

Every decision uses the wall clock read at call time (``time.time()``), so a
process that was suspended sees true expiry when it wakes, and freezegun
drives the engine in tests. Decisions made for a reader (including those a
worker thread makes for it) use the time that reader read, and the slow
path reads the clock where freezegun's "real time near ``threading``" rule
cannot reach (`_clock`).
"""

from __future__ import annotations

import datetime as _dt
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from botocore.credentials import Credentials, ReadOnlyCredentials

from . import _state
from . import _workers as workers
from ._credentials import RoleCredentials, to_datetime, to_iso
from ._errors import AssumeRoleError, CredentialRefreshError, RoleSessionError, TokenError, _rebuild
from ._limits import default_advisory
from ._sts import NON_RECOVERABLE_HOLD, is_non_recoverable
from ._validation import fail

__all__ = ["RefreshEvent", "RefreshPolicy", "SessionCredentials"]

logger = logging.getLogger("rolesession")

# With nothing valid, the first backoff step: no attempt within this many
# seconds of the end of a failed one. Later steps double the bound (full
# jitter) up to ``max_backoff``: an outage must not turn every read into a call.
RETRY_FLOOR = 1.0
#: The longest a reader with nothing valid waits for an attempt a worker is
#: making: about what a reader's own attempt may take (3 tries of short
#: timeouts). Background attempts read with a 30-s timeout, which no reader
#: should inherit; past this the reader gets an error and the attempt goes on.
BACKGROUND_WAIT = 20.0

# freezegun (default ``call_stack_inspection_limit`` 5) hands the *real* time
# to a clock read within 5 frames of a ``threading`` frame -- a reader
# thread's target, a worker's job -- and the frozen time elsewhere. The slow
# path reads the clock this many frames down so that it sees the test's clock
# on every thread.
_CLOCK_DEPTH = 5


def _clock(depth: int = _CLOCK_DEPTH) -> float:
    """``time.time()``, read ``depth`` frames below the caller (see `_CLOCK_DEPTH`)."""
    return time.time() if depth <= 0 else _clock(depth - 1)


def cold_backoff(step: int, cap: float) -> float:
    """The wait after the ``step``-th failed attempt with nothing valid held.

    Full jitter: uniform below min(cap, 2 ** step) seconds, and at least
    `RETRY_FLOOR` (steps 1, 2, 3, ... are bounded by 2, 4, 8, ... s).
    """
    bound = min(cap, 2.0 ** min(step, 60))
    return max(RETRY_FLOOR, random.uniform(0.0, bound))

Accept = Callable[[RoleCredentials], bool]

OUTCOMES = ("refreshed", "failed", "serving-held", "cache-hit")


class RefreshEvent:
    """What happened when a session got (or failed to get) credentials.

    Given to ``RefreshPolicy(on_event=...)`` for every STS call, every
    credentials set taken from a cache, and once per failure episode in
    which held credentials keep being served. Holds no secret. Immutable.

    Attributes:
        role_arn: the role (``None`` for an MFA session).
        operation: the STS operation (``AssumeRole``, ...).
        outcome: ``"refreshed"`` (STS answered), ``"failed"`` (STS refused or
            could not be reached, or a token provider failed),
            ``"serving-held"`` (a failure episode began: the held, still valid
            credentials keep being served) or ``"cache-hit"`` (taken from
            the cache, no STS call).
        seconds: how long getting them took (0 for ``"serving-held"``).
        expiration: when the credentials now held expire (UTC), if any.
        error_code: the STS error code or exception class for failures.

    Example:
        ```python
        def record(event: rolesession.RefreshEvent) -> None:
            if event.outcome == "serving-held":
                log.warning("%s: STS failing (%s)", event.role_arn, event.error_code)

        rolesession.assume_role(arn, refresh=rolesession.RefreshPolicy(on_event=record))
        ```
    """

    # A plain class, not a dataclass: ``import rolesession`` stays light.
    __slots__ = ("error_code", "expiration", "operation", "outcome", "role_arn", "seconds")

    role_arn: str | None
    operation: str
    outcome: str
    seconds: float
    expiration: _dt.datetime | None
    error_code: str | None

    def __init__(
        self,
        role_arn: str | None,
        operation: str,
        outcome: str,
        seconds: float,
        expiration: _dt.datetime | None,
        error_code: str | None = None,
    ) -> None:
        values = (error_code, expiration, operation, outcome, role_arn, seconds)
        for name, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"RefreshEvent is immutable: cannot set {name!r}")

    def _fields(self) -> tuple[Any, ...]:
        return (self.role_arn, self.operation, self.outcome, self.seconds, self.expiration, self.error_code)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RefreshEvent) and other._fields() == self._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"RefreshEvent(role_arn={self.role_arn!r}, operation={self.operation!r}, "
            f"outcome={self.outcome!r}, seconds={self.seconds:.3f}, expiration={self.expiration!r}, "
            f"error_code={self.error_code!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (RefreshEvent, self._fields())


EventHook = Callable[[RefreshEvent], Any]


@dataclass(frozen=True)
class RefreshPolicy:
    """When credentials are refreshed, in seconds before their expiry.

    ``advisory=None`` (the default) scales with the credentials' lifetime:
    5 minutes for lifetimes up to 20 minutes, 15 minutes below 90 minutes and
    60 minutes otherwise. From the (jittered) start of the advisory window a
    refresh runs in the background while readers keep the held credentials;
    the ``mandatory`` window (default the last 60 s) is where the refresh is
    due at the latest. Readers never wait while they hold valid credentials.
    ``max_backoff`` (default 300 s) caps the wait between attempts after a
    failed refresh: with valid credentials held, 50-100 % of min(max_backoff,
    half the time left); with nothing valid, exponential with full jitter from
    1 s (steps bounded by 2, 4, 8, ... s) up to ``max_backoff``, during which
    reads get the last error at once. ``jitter`` spreads the start of the
    refresh over the first half of the window between the advisory and
    mandatory marks. ``serve_expired=True`` hands out the expired credentials
    when their refresh fails (AWS's cross-SDK refresh standard: the service
    then answers) instead of raising `CredentialRefreshError`. ``on_event`` is
    called with a `RefreshEvent` for every STS call and failure episode (its
    exceptions are logged, never raised).

    Args:
        advisory: seconds before expiry at which the background refresh may
            start; ``None``: relative to the lifetime (above).
        mandatory: seconds before expiry by which it is due (> 0, < ``advisory``).
        max_backoff: the longest wait between attempts after a failure (300 s).
        jitter: spread the start over the first half of the window.
        on_event: a callable taking a `RefreshEvent`.
        serve_expired: when credentials have expired and their refresh
            fails, hand out the expired set (default ``False``: raise).

    Raises:
        InvalidParameterError: a window is not a positive number, or
            ``mandatory`` is not below ``advisory``, or ``on_event`` is not
            callable, or ``jitter``/``serve_expired`` is not a bool.

    Example:
        ```python
        policy = rolesession.RefreshPolicy(advisory=1800, mandatory=300, on_event=metrics.record)
        session = rolesession.assume_role(arn, refresh=policy)
        ```
    """

    advisory: float | None = None
    mandatory: float = 60.0
    max_backoff: float = 300.0
    jitter: bool = True
    on_event: EventHook | None = field(default=None, compare=False)
    serve_expired: bool = False
    # Policies compare by their hook's identity (a callable may be unhashable).
    _hook: int = field(default=0, init=False, repr=False)

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
        for flag in ("jitter", "serve_expired"):
            if not isinstance(getattr(self, flag), bool):
                raise fail(flag, "must be True or False")
        if self.on_event is not None and not callable(self.on_event):
            kind = type(self.on_event).__name__
            raise fail("on_event", f"expected a callable taking a RefreshEvent, got {kind}")
        object.__setattr__(self, "_hook", id(self.on_event) if self.on_event is not None else 0)

    def windows(self, lifetime: float) -> tuple[float, float]:
        """``(advisory, mandatory)`` seconds before expiry for this lifetime."""
        if self.advisory is None:
            advisory = default_advisory(lifetime)
        else:
            # Windows never cover more than three quarters of the lifetime:
            # credentials due for refresh the moment they arrive would cost an
            # STS call a read (`default_advisory` keeps to this too).
            advisory = min(float(self.advisory), lifetime * 0.75)
        return advisory, min(float(self.mandatory), advisory)


class Fetched:
    """What a fetcher got: the credentials and whether a cache supplied them."""

    __slots__ = ("cached", "creds")

    def __init__(self, creds: RoleCredentials, cached: bool) -> None:
        self.creds = creds
        self.cached = cached


class CredentialFetcher(Protocol):
    """What the engine needs from whoever really gets credentials."""

    @property
    def role_arn(self) -> str | None:
        """The role (``None`` for an MFA session)."""

    @property
    def operation(self) -> str:
        """The STS operation that gets the credentials."""

    def fetch(self, accept: Accept | None) -> Fetched:
        """New credentials: a cached entry for which ``accept`` is true, else STS's.

        ``accept=None`` always calls STS.
        """

    def can_refresh(self) -> bool:
        """False once a one-shot MFA code or SAML assertion has been spent."""

    def interactive(self) -> bool:
        """True when getting credentials may ask a person (never from a background thread)."""

    def forget(self) -> None:
        """Drop the cache entry for these credentials."""


class _Held:
    """An immutable snapshot; replacing ``engine._held`` publishes it atomically."""

    __slots__ = ("creds", "expiry", "frozen", "refresh_at", "rejected")

    def __init__(
        self,
        creds: RoleCredentials | None,
        frozen: Any,
        refresh_at: float,
        expiry: float,
        rejected: bool = False,
    ) -> None:
        self.creds = creds
        self.frozen = frozen
        self.refresh_at = refresh_at  # the hot path hands out ``frozen`` before this
        self.expiry = expiry  # on this host's clock
        self.rejected = rejected  # AWS refused them: the next read refreshes (served if that fails)

    def postponed(self, until: float) -> _Held:
        return _Held(self.creds, self.frozen, until, self.expiry, self.rejected)

    def as_rejected(self) -> _Held:
        return _Held(self.creds, self.frozen, float("-inf"), self.expiry, rejected=True)

    def valid_at(self, now: float) -> bool:
        return self.creds is not None and now < self.expiry


class _Attempt:
    """One refresh attempt; every reader waiting during it shares its outcome."""

    __slots__ = ("background", "claimed", "done", "error", "held")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.claimed = False  # set (under the engine's lock) by whoever runs it
        self.background = False  # run by a worker, with the longer background read timeout
        self.held: _Held | None = None
        self.error: CredentialRefreshError | None = None


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


_NOTHING = _Held(None, None, float("-inf"), float("-inf"))


class SessionCredentials(Credentials):
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
        # Guards the fields below; held for microseconds, never during STS.
        self._lock = threading.Lock()
        self._attempt: _Attempt | None = None
        self._retry_at = float("-inf")  # backing off after a failed attempt: none before this
        self._last_error: CredentialRefreshError | None = None
        self._failures = 0  # failed attempts in the current episode
        self._cold_steps = 0  # of which with nothing valid held: the exponential backoff's step
        self._rejected: tuple[str, ...] = ()  # access keys AWS refused: never adopted again
        self._reject_at = float("-inf")  # no rejection-driven refresh before this
        self._reject_steps = 0  # rejection-driven refreshes in the current rejection episode
        self._warned_static = False
        _state.track(self)

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
    def role_arn(self) -> str | None:
        return self._fetcher.role_arn

    @property
    def _label(self) -> str:
        # What messages name: the role, or the operation for role-less sessions (GetSessionToken ...).
        return self.role_arn or self._fetcher.operation

    def held_frozen(self) -> ReadOnlyCredentials | None:
        """What a read would hand out without waiting: valid held credentials (a due
        refresh starts in the background), or ``None`` when a reader must wait for new ones.

        For readers that must not block (``rolesession.aio``).
        """
        held = self._serve_held(_clock())
        return None if held is None else held.frozen

    def current(self) -> RoleCredentials:
        """The credentials a read would hand out now (fetching if none)."""
        held = self._held
        if held.creds is None or not time.time() < held.refresh_at:
            held = self._read_slow()
        assert held.creds is not None
        return held.creds

    def holds_valid(self) -> bool:
        """Whether unexpired credentials are held, without fetching."""
        return _clock() < self._held.expiry

    def untouched(self) -> bool:
        """Nothing held and no failure: never fetched, fetching now, or invalidated."""
        return self._held is _NOTHING and self._last_error is None

    def refresh(self) -> RoleCredentials:
        """Call STS now, whatever the windows and backoff; raise if it fails."""
        while True:
            with self._lock:
                running = self._attempt
                if running is None:
                    attempt = self._attempt = _Attempt()
                    attempt.claimed = True
                    held = self._held
                    break
            running.done.wait()  # one attempt at a time; then ours
        self._run(attempt, held, None, _clock())
        if attempt.error is not None:
            raise self._copy(attempt.error)
        assert attempt.held is not None and attempt.held.creds is not None
        return attempt.held.creds

    def hand_out(self, min_left: float, *, wait: bool) -> RoleCredentials:
        """Credentials for a consumer that refreshes with fixed windows (the CLI's).

        Such consumers (botocore's credential_process, container and
        environment providers) come back at every request once fewer than 15
        minutes are left. When fewer than ``min_left`` seconds are left and a
        fresh set would last longer, this makes one refresh attempt under the
        engine's rules -- never while backing off, never twice at once:
        ``wait=True`` waits for it (a one-shot command), ``wait=False`` starts
        it in the background and returns what is held at once (a server).
        A failed attempt hands out the held credentials while they are valid.
        Raises `CredentialRefreshError` only when nothing valid can be had.
        """
        creds = self.current()
        now = _clock()
        held = self._held
        if creds.expiry - now >= min_left or creds.lifetime < min_left + 60:
            return creds
        if not self._fetcher.can_refresh() or (not wait and self._fetcher.interactive()):
            return creds
        with self._lock:
            attempt = self._attempt
            if attempt is None:
                if now < self._retry_at or self._held is not held:
                    return creds  # backing off, or refreshed meanwhile
                attempt = self._attempt = _Attempt()
                # Unclaimed when queued: a reader left with nothing valid runs it
                # itself rather than wait behind a saturated pool.
                attempt.claimed = wait
                mine = True
            else:
                mine = False
        accept = _lasting(min_left, creds, now)
        if mine and wait:
            self._run(attempt, held, accept, now)
        elif mine:
            workers.submit(lambda: self._run_claimed(attempt, held, accept, now))
        if wait:
            attempt.done.wait()
            if attempt.held is not None and attempt.held.creds is not None:
                return attempt.held.creds
        return creds if _clock() < creds.expiry else self.current()

    def invalidate(self) -> None:
        """Drop the held credentials and their cache entry.

        A backoff under way stays: the next read makes no STS call before it
        ends (it raises the last error meanwhile).
        """
        with self._lock:
            # The entry goes first: a read after this must not adopt it again.
            self._fetcher.forget()
            self._held = _NOTHING

    def reject(self, access_key: str | None) -> bool:
        """AWS rejected ``access_key`` (expired or unknown token): refresh if it is held.

        The held set is kept but marked: the next read waits for one refresh,
        and if that fails the rejected set is still served while it has not
        expired (a rejection may be a clock or propagation artefact). At most
        one rejection-driven refresh per backoff step (exponential, from 1 s
        to ``max_backoff``), and none during a refresh backoff; one WARNING per
        episode. Returns whether this rejection routed reads through a refresh
        (or found one already asked for).
        """
        now = _clock()
        with self._lock:
            held = self._held
            creds = held.creds
            if creds is None or (access_key is not None and creds.access_key != access_key):
                return False  # a stale rejection: those credentials are gone already
            if held.rejected:
                return True  # already asked for: one refresh for every request that saw it
            if now < self._reject_at or now < self._retry_at:
                return False  # at most one per backoff step: serve what is held
            if now - self._reject_at > self._policy.max_backoff:
                self._reject_steps = 0  # quiet for a while: a new episode
            self._reject_steps += 1
            step = self._reject_steps
            self._reject_at = now + cold_backoff(step, self._policy.max_backoff)
            self._rejected = (*self._rejected[-3:], creds.access_key)
            self._fetcher.forget()  # no read may adopt the cache entry again
            self._held = held.as_rejected()
        name = self._label
        if step == 1:
            logger.warning(
                "AWS rejected the credentials of %s (%s); fetching new ones", name, creds.access_key
            )
        else:
            logger.info("AWS rejected the credentials of %s again (%s)", name, creds.access_key)
        return True

    def wait_for_background(self, timeout: float | None = None) -> None:
        """Wait for a refresh under way (tests and shutdown)."""
        attempt = self._attempt
        if attempt is not None:
            attempt.done.wait(timeout)

    def _after_fork(self) -> None:
        # A lock held by a thread that does not exist in the child would never
        # be released; an attempt under way in the parent never ends in the child.
        self._lock = threading.Lock()
        attempt, self._attempt = self._attempt, None
        if attempt is not None:
            attempt.done.set()

    def __repr__(self) -> str:
        held = self._held
        expiry = to_iso(held.expiry) if held.creds is not None else None
        return f"SessionCredentials(role_arn={self.role_arn!r}, expiration={expiry!r})"

    # -- the slow path --------------------------------------------------------

    def _read_slow(self) -> _Held:
        now = _clock()  # the reader's time: every decision below, on any thread, uses it
        held = self._serve_held(now)
        if held is not None:
            return held
        held = self._wait_for_new(now)
        if not now < held.refresh_at and not held.rejected and held.valid_at(now):
            # A cached entry adopted inside its refresh window: the same rules
            # apply to it as to any credentials held.
            self._refresh_behind(held, now)
        return held

    def _serve_held(self, now: float) -> _Held | None:
        """The held credentials if valid at ``now`` (starting a refresh behind them when
        due), or ``None`` when a reader has to wait for new ones. Never blocks."""
        held = self._held
        if now < held.refresh_at:
            return held
        if not held.valid_at(now):
            return None
        if held.rejected:
            # AWS refused them: a reader waits for one refresh, unless backing off.
            return held if now < self._retry_at else None
        self._refresh_behind(held, now)
        return held

    def _refresh_behind(self, held: _Held, now: float) -> None:
        """Due for refresh with valid credentials held: refresh without anyone waiting."""
        if self._attempt is not None:
            return  # under way (a racy read is fine: the lock decides below)
        if not self._fetcher.can_refresh():
            self._cannot_refresh(held)
            return
        if self._fetcher.interactive():
            # A person would be asked from a background thread, perhaps while
            # a child process owns the terminal: serve what is held; the first
            # read with nothing valid asks, in the foreground.
            self._postpone(held, held.expiry)
            return
        with self._lock:
            if self._attempt is not None or self._held is not held:
                return
            if now < self._retry_at:  # backing off: serve without coming back here
                self._held = held.postponed(min(self._retry_at, held.expiry))
                return
            attempt = self._attempt = _Attempt()
        accept = self._better_than(held, now)
        workers.submit(lambda: self._run_claimed(attempt, held, accept, now))

    def _wait_for_new(self, now: float) -> _Held:
        """Nothing valid held (or a rejected set): wait for one attempt, started by us or
        shared with others; during a backoff, answer at once without one."""
        if self._fetcher.interactive() and workers.in_background():
            # A hop refreshing in the background reads this session: asking a
            # person from there could interrupt whoever owns the terminal.
            # The hop keeps what it holds; a foreground read asks.
            raise TokenError(
                f"{self._label} needs a person to give a code or token, "
                "which is never asked from a background refresh; the next foreground read asks",
                role_arn=self.role_arn,
            )
        with self._lock:
            held = self._held
            if held.valid_at(now) and not held.rejected:
                return held  # installed while we came here
            attempt = self._attempt
            if attempt is None:
                if now < self._retry_at:
                    return self._instead(held, now, self._last_error)  # backing off: no call
                attempt = self._attempt = _Attempt()
            mine = not attempt.claimed
            attempt.claimed = True  # a queued background attempt is run here instead
        if mine:
            self._run(attempt, held, _valid_at(now), now)
        elif not attempt.done.wait(BACKGROUND_WAIT if attempt.background else None):
            raise CredentialRefreshError(
                f"no credentials for {self._label}: STS has not answered "
                f"the refresh under way within {BACKGROUND_WAIT:g} s (it goes on in the background; "
                "a later read gets its result)",
                role_arn=self.role_arn,
            )
        if attempt.error is not None:
            return self._instead(self._held, now, attempt.error)
        assert attempt.held is not None
        return attempt.held

    def _instead(self, held: _Held, now: float, error: BaseException | None) -> _Held:
        """No new credentials: the rejected set while valid, the expired one if the policy
        says so, else the error (each reader its own copy)."""
        if held.creds is not None and (held.valid_at(now) or self._policy.serve_expired):
            return held
        raise self._copy(error)

    def _run_claimed(self, attempt: _Attempt, held: _Held, accept: Accept, now: float) -> None:
        """A worker's entry: run the attempt unless a waiting reader took it over."""
        with self._lock:
            if attempt.claimed:
                return
            attempt.claimed = attempt.background = True
        self._run(attempt, held, accept, now)

    def _run(self, attempt: _Attempt, held: _Held, accept: Accept | None, now: float) -> None:
        """Make the attempt, publish its outcome, and wake everyone waiting for it.

        ``now`` is the time of the reader the attempt is for (it may run on a
        worker thread, whose own clock reads freezegun may answer differently):
        the attempt ends at ``now`` plus how long it took.
        """
        began = _clock()
        try:
            fetched = self._fetch(accept)
        except CredentialRefreshError as exc:
            self._on_failure(attempt, exc, now, now + max(0.0, _clock() - began))
        else:
            self._on_success(attempt, fetched, max(0.0, _clock() - began))
        finally:
            with self._lock:
                if self._attempt is attempt:
                    self._attempt = None
            attempt.done.set()

    def _fetch(self, accept: Accept | None) -> Fetched:
        rejected = self._rejected
        if accept is not None and rejected:
            wanted = accept

            def accept(creds: RoleCredentials) -> bool:
                return creds.access_key not in rejected and wanted(creds)

        try:
            return self._fetcher.fetch(accept)
        except RoleSessionError as exc:
            if isinstance(exc, CredentialRefreshError):
                raise
            raise CredentialRefreshError(str(exc), role_arn=self.role_arn) from exc
        except Exception as exc:  # never a bare KeyError from deep inside
            raise CredentialRefreshError(
                f"could not get credentials for {self._label}: unexpected {type(exc).__name__}",
                role_arn=self.role_arn,
            ) from exc

    def _on_success(self, attempt: _Attempt, fetched: Fetched, seconds: float) -> None:
        creds = fetched.creds
        held = self._make_held(creds)
        with self._lock:
            failures = self._failures
            self._held = held
            self._forget_failures()
            self._warned_static = False
        attempt.held = held
        workers.warm_up()  # a fetch already waited: starting a worker now costs no reader
        if failures:
            logger.info(
                "refreshed %s after %d failed attempt(s)", self._label, failures
            )
        self._emit("cache-hit" if fetched.cached else "refreshed", seconds, creds)

    def _on_failure(
        self, attempt: _Attempt, exc: CredentialRefreshError, started: float, ended: float
    ) -> None:
        attempt.error = exc
        with self._lock:
            self._last_error = exc
            self._failures += 1
            first = self._failures == 1
            current = self._held
            valid = current.valid_at(ended)
            if valid:
                # Static stability: serve what is held; try again well before it expires.
                left = current.expiry - ended
                delay = max(RETRY_FLOOR, random.uniform(0.5, 1.0) * min(self._policy.max_backoff, left / 2))
                self._held = current.postponed(min(ended + delay, current.expiry))
            else:
                self._cold_steps += 1
                delay = cold_backoff(self._cold_steps, self._policy.max_backoff)
                if is_non_recoverable(exc):
                    delay = max(delay, NON_RECOVERABLE_HOLD)  # asking again within seconds would repeat it
            self._retry_at = ended + delay  # every backoff counts from the end of the attempt
        code = getattr(exc, "code", None) if isinstance(exc, AssumeRoleError) else type(exc).__name__
        self._emit("failed", ended - started, None, code)
        if not valid:
            return
        name = self._label
        if first:
            logger.warning(
                "refresh of %s failed (%s); serving the held credentials, valid until %s; "
                "next attempt in %.0f s",
                name,
                exc,
                to_iso(current.expiry),
                delay,
            )
            self._emit("serving-held", 0.0, current.creds, code)
        else:
            logger.info(
                "refresh of %s failed again (%s); next attempt in %.0f s", name, code, delay
            )

    def _forget_failures(self) -> None:
        self._retry_at = float("-inf")
        self._last_error = None
        self._failures = 0
        self._cold_steps = 0

    def _make_held(self, creds: RoleCredentials) -> _Held:
        advisory, mandatory = self._policy.windows(creds.lifetime)
        expiry = creds.expiry
        advisory_at = expiry - advisory
        mandatory_at = expiry - mandatory
        refresh_at = advisory_at
        if self._policy.jitter:
            refresh_at += random.uniform(0.0, 0.5) * (mandatory_at - advisory_at)
        frozen = FrozenCredentials(creds.access_key, creds.secret_key, creds.token, creds.account)
        return _Held(creds, frozen, refresh_at, expiry)

    def _cannot_refresh(self, held: _Held) -> None:
        if not self._warned_static:
            self._warned_static = True
            logger.warning(
                "credentials for %s cannot be refreshed: the MFA code or SAML assertion was "
                "static and is spent; they stop working at %s. Pass a callable to refresh.",
                self._label,
                to_iso(held.expiry),
            )
        self._postpone(held, held.expiry)

    def _postpone(self, held: _Held, until: float) -> None:
        """Serve ``held`` without coming back to the slow path before ``until``.

        Under the lock and only if ``held`` is still what is held: a refresh
        may have installed newer credentials since the reader looked.
        """
        with self._lock:
            if self._held is held:
                self._held = held.postponed(until)

    def _better_than(self, held: _Held, now: float) -> Accept:
        """Accept a cached entry only if it outlives ours and needs no refresh yet."""

        def accept(creds: RoleCredentials) -> bool:
            advisory, _ = self._policy.windows(creds.lifetime)
            return creds.expiry > held.expiry and now < creds.expiry - advisory

        return accept

    def _emit(
        self, outcome: str, seconds: float, creds: RoleCredentials | None, code: str | None = None
    ) -> None:
        hook = self._policy.on_event
        if hook is None:
            return
        event = RefreshEvent(
            role_arn=self.role_arn,
            operation=self._fetcher.operation,
            outcome=outcome,
            seconds=seconds,
            expiration=to_datetime(creds.expiry) if creds is not None else None,
            error_code=code,
        )
        try:
            hook(event)
        except Exception:
            logger.warning("the on_event hook raised; ignored", exc_info=True)

    def _copy(self, err: BaseException | None) -> CredentialRefreshError:
        # Many threads may raise one failure at once; each gets its own
        # instance so tracebacks do not interleave.
        if isinstance(err, CredentialRefreshError):
            copy = _rebuild(type(err), err.args, getattr(err, "_init_kwargs", {}))
            copy.__cause__ = err.__cause__
            return copy  # type: ignore[no-any-return]
        return CredentialRefreshError(
            f"could not get credentials for {self._label}", role_arn=self.role_arn
        )


def _valid_at(now: float) -> Accept:
    def accept(creds: RoleCredentials) -> bool:
        return now < creds.expiry

    return accept


def _lasting(min_left: float, held: RoleCredentials, now: float) -> Accept:
    def accept(creds: RoleCredentials) -> bool:
        return creds.expiry > held.expiry and creds.expiry - now >= min_left

    return accept


# Pickles name the public module (``rolesession.X``), never this private one, which a later
# release may move (the stable pickle format, docs/architecture.md).
for _public in (RefreshEvent, RefreshPolicy,):
    _public.__module__ = "rolesession"
del _public
