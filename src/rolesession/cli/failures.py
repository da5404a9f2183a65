"""An STS outage shared across ``rolesession assume`` processes (a failure marker in the file cache).

As a ``credential_process``, ``assume`` runs in a new process for every
``aws`` command; each one would meet the outage afresh -- botocore's
retries and timeouts, about 16 s -- and each would call STS. The first to
fail leaves a marker beside the file cache's entries, keyed like them
(`marker_key`), with its backoff:

* while the marker holds, other runs fail at once with the same line and
  exit code (4 or 5), calling nothing -- or, when the failure was a refresh
  and valid credentials are still cached, hand those out without trying;
* when it lapses, one run (the one that takes the marker's lock) makes this
  step's attempt while the others keep failing fast; a failure doubles the
  backoff (5 s up to 5 minutes, jittered), a success removes the marker;
* a refusal STS will repeat whatever is tried (AccessDenied...) is shared
  for `REFUSAL_FOR` only, so a fixed trust policy is seen at once.

The marker is a small JSON file, 0600 in the cache's 0700 directory,
written atomically (a temporary file renamed over it); it holds the error
line the CLI prints, which never holds a secret. Only regular files of ours
are read.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import secrets
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rolesession import FileCache

from .errors import CliError

__all__ = ["FIRST_BACKOFF", "MAX_BACKOFF", "REFUSAL_FOR", "Marker", "SharedFailures", "marker_key"]

logger = logging.getLogger("rolesession")

FIRST_BACKOFF = 5.0
MAX_BACKOFF = 300.0
#: How long an answer STS would repeat (AccessDenied, ValidationError...) is shared.
REFUSAL_FOR = 5.0
#: Answers that an outage gives, and that a later attempt may not get.
_OUTAGE_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
     "ServiceUnavailable", "InternalFailure", "InternalError", "RequestTimeout", "IDPCommunicationError"}
)  # fmt: skip
_MAX_MARKER_BYTES = 4096
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def marker_key(material: dict[str, Any]) -> str:
    """The marker's key: the run's request (its options) and every ``AWS_*`` variable (its source)."""
    environment = {k: v for k, v in sorted(os.environ.items()) if k.startswith("AWS_")}
    return FileCache.key_for({"operation": "cli-failure", "request": material, "environment": environment})


@dataclass(frozen=True)
class Marker:
    """A shared failure: what to print, how to exit, until when, at which backoff step."""

    message: str
    exit_code: int
    until: float
    step: int
    #: The failure was a refresh, and valid credentials were handed out until then.
    valid_until: float | None = None

    def holds(self, now: float) -> bool:
        return now < self.until

    def as_json(self) -> dict[str, Any]:
        return {"Version": 1, "Message": self.message, "ExitCode": self.exit_code, "Until": self.until,
                "Step": self.step, "ValidUntil": self.valid_until}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any, now: float) -> Marker | None:
        """The marker ``data`` describes; ``None`` if it is not one or its times are implausible."""
        if not isinstance(data, dict) or data.get("Version") != 1:
            return None
        message, code, until, step = (data.get(k) for k in ("Message", "ExitCode", "Until", "Step"))
        valid = data.get("ValidUntil")
        if not (isinstance(message, str) and code in (4, 5) and type(step) is int and 0 <= step < 64):
            return None
        if not isinstance(until, (int, float)) or not now - 86400 < until <= now + MAX_BACKOFF + 1:
            return None
        if valid is not None and not isinstance(valid, (int, float)):
            return None
        return cls(message[:1000], int(code), float(until), step, None if valid is None else float(valid))


class MarkedFailure(CliError):
    """Another run's failure, still holding: its line and exit code, with nothing called."""

    def __init__(self, marker: Marker) -> None:
        super().__init__(marker.message, exit_code=marker.exit_code)


class SharedFailures:
    """The failure marker for one request, in ``cache``'s directory."""

    def __init__(self, cache: FileCache, key: str) -> None:
        self._directory = cache.directory
        self._key = key
        self._path = os.path.join(cache.directory, f"{key}.failure")
        self._stale = False
        self._usable = _private_directory(cache.directory)

    @property
    def key(self) -> str:
        """The marker's key: its file is ``<key>.failure`` in the cache's directory."""
        return self._key

    # -- the attempt ------------------------------------------------------------------

    @contextlib.contextmanager
    def attempt(self) -> Iterator[Marker | None]:
        """Around a hand-out: raises `MarkedFailure` while a marker holds; records the outcome.

        Yields the marker found (lapsed, or holding with valid credentials
        cached: the caller hands those out without a refresh), or ``None``.
        """
        from . import describe, exit_code

        self._stale = False
        marker = self.read()
        with self._step_lock(marker) as marker:
            try:
                yield marker
            except Exception as exc:
                code = exit_code(exc)
                if code in (4, 5) and _from_sts(exc):
                    self.write(self._next(marker, describe(exc), code, _is_outage(exc, code)))
                raise
            if marker is not None and not marker.holds(time.time()) and not self._stale:
                self.delete()  # the attempt went through: the outage is over

    def served_stale(self, marker: Marker | None, valid_until: float) -> None:
        """Within `attempt`: a refresh failed; valid credentials (until ``valid_until``) were handed out."""
        self._stale = True
        message = "STS could not refresh the credentials; handing out those still valid"
        step = self._next(marker, message, 5, outage=True)
        self.write(Marker(message, 5, step.until, step.step, valid_until))

    @contextlib.contextmanager
    def _step_lock(self, marker: Marker | None) -> Iterator[Marker | None]:
        """No marker: go on. A holding one: fail fast (or serve what is cached). A lapsed one: one
        process takes this step's attempt, the others fail fast."""
        now = time.time()
        if marker is None:
            yield None
            return
        if marker.holds(now):
            if marker.valid_until is not None and now < marker.valid_until:
                yield marker  # credentials are cached: they are handed out, nothing is tried
                return
            raise MarkedFailure(marker)
        lock = self._try_lock()
        if lock is None:  # another process is making this step's attempt
            raise MarkedFailure(marker)
        try:
            again = self.read()  # it may have ended while we took the lock
            if again is None:
                yield None
                return
            if again.holds(time.time()) and again != marker:
                raise MarkedFailure(again)
            yield again
        finally:
            with contextlib.suppress(Exception):
                lock.release()

    def _try_lock(self) -> Any:
        try:
            import filelock
        except ImportError:
            return contextlib.nullcontext()  # pragma: no cover - filelock is a dependency
        lock = filelock.FileLock(self._path + ".lock", timeout=0, mode=0o600)
        try:
            lock.acquire()
        except filelock.Timeout:
            return None
        except OSError:
            logger.debug("the failure marker's lock cannot be taken; trying without it")
            return contextlib.nullcontext()
        return lock

    @staticmethod
    def _next(marker: Marker | None, message: str, code: int, outage: bool) -> Marker:
        now = time.time()
        if not outage:
            return Marker(message, code, now + REFUSAL_FOR, 0)
        step = 0 if marker is None else min(marker.step + 1, 63)
        base = min(MAX_BACKOFF, FIRST_BACKOFF * 2.0**step)
        return Marker(message, code, now + random.uniform(base / 2, base), step)

    # -- the file ---------------------------------------------------------------------

    def read(self) -> Marker | None:
        """The marker, if a regular file of ours, private and plausible; else ``None``."""
        if not self._usable:
            return None
        try:
            fd = os.open(self._path, os.O_RDONLY | _NOFOLLOW | _NONBLOCK)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            getuid = getattr(os, "geteuid", None)
            if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
                return None
            if getuid is not None and info.st_uid != getuid():
                return None
            data = os.read(fd, _MAX_MARKER_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        if len(data) > _MAX_MARKER_BYTES:
            return None
        try:
            return Marker.from_json(json.loads(data.decode("utf-8")), time.time())
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None

    def write(self, marker: Marker) -> None:
        """Store ``marker`` atomically (0600); a directory that cannot be written is not an error."""
        if not self._usable:
            return
        data = json.dumps(marker.as_json()).encode("utf-8")
        # Named like the file cache's temporary files, so its sweep removes one a crash left.
        temp = os.path.join(self._directory, f".{self._key}.{secrets.token_hex(8)}.tmp")
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(temp, self._path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            logger.debug("the failure marker cannot be written (%s)", type(exc).__name__)

    def delete(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._path)


def _private_directory(path: str) -> bool:
    """Whether ``path`` is a directory of ours, not a symbolic link, private (0700 or tighter).

    The file cache checks its directory more thoroughly and goes on without
    it when it is not fit; markers are then not shared either.
    """
    try:
        info = os.lstat(path)
    except OSError:
        return False
    geteuid = getattr(os, "geteuid", None)
    owned = geteuid is None or info.st_uid == geteuid()
    return stat.S_ISDIR(info.st_mode) and owned and not info.st_mode & 0o077


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _from_sts(exc: BaseException) -> bool:
    """Whether STS refused or could not be reached -- not an MFA code, a command or the source failing.

    Only those are shared: another run's missing MFA code or failing helper
    says nothing about this one's.
    """
    from rolesession import AssumeRoleError, SourceCredentialsError, TokenError

    chain = list(_chain(exc))
    if any(isinstance(e, (TokenError, SourceCredentialsError, CliError)) for e in chain):
        return False
    return any(isinstance(e, AssumeRoleError) for e in chain)


def _is_outage(exc: BaseException, code: int) -> bool:
    """Whether another attempt may succeed later: STS unreachable, throttling or a 5xx."""
    if code == 5:
        return True
    for current in _chain(exc):
        if getattr(current, "code", None) in _OUTAGE_CODES:
            return True
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if isinstance(status, int) and status >= 500:
                return True
            if response.get("Error", {}).get("Code") in _OUTAGE_CODES:
                return True
    return False
