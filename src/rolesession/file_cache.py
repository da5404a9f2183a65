"""``FileCache``: credentials cached on disk, shared by every process of the user.

One ``<key>.json`` file per cache key, holding the STS response and the time
it was received (``RoleCredentials.to_entry()``), as the AWS CLI cache does.
Beside them sit ``<key>.lock`` files (cross-process locks) and, for an
instant, ``.<key>.<random>.tmp`` files being written.

Safety rules, in order of importance:

* the directory is private: 0700, ours, not a symbolic link;
* files are 0600 from the moment they exist, never followed through
  symbolic links, and ignored unless they are regular files of ours;
* writes are atomic (temporary file, ``fsync``, ``os.replace``), so a reader
  sees a whole old entry or a whole new one, never a torn one;
* cache I/O never raises: a broken, foreign or expired file is a miss, and a
  cache that cannot be written logs one WARNING and is bypassed.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Hashable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from .credentials import RoleCredentials
from .validation import check_optional_path, fail

__all__ = ["FileCache", "default_directory"]

logger = logging.getLogger("rolesession")

#: Cache keys are hex digests (``cache_key()`` makes SHA-256 ones); anything
#: else -- e.g. the in-memory key of a callable token -- never reaches disk.
_KEY_RE = re.compile(r"[0-9a-f]{32,128}")
_OUR_FILE_RE = re.compile(r"[0-9a-f]{32,128}\.(?:json|lock)|\.[0-9a-f]{32,128}\.[0-9a-f]+\.tmp")
#: An entry is a few kilobytes; a larger file is not ours and is not read whole.
_MAX_ENTRY_BYTES = 64 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_PRIVATE_BITS = 0o077
_CANNOT_WRITE = frozenset(
    getattr(errno, name) for name in ("EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT") if hasattr(errno, name)
)


def default_directory() -> str:
    """``$XDG_CACHE_HOME/rolesession``, else ``~/.cache/rolesession``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec says to ignore relative paths
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rolesession")


def _our_uid() -> int | None:
    geteuid = getattr(os, "geteuid", None)  # absent on Windows
    return geteuid() if geteuid is not None else None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _Unusable(Exception):
    """The directory must not be used (a symbolic link, not ours, not a directory)."""


class FileCache:
    """A credential cache on disk, shared by processes (one JSON file per entry).

    Sessions of many processes -- CLI invocations, workers, cron jobs -- that
    use the same directory share credentials, and a refresh is single-flight
    across them: one process calls STS while the others wait for its entry.

    Args:
        directory: where entries live; default `$XDG_CACHE_HOME/rolesession`,
            else `~/.cache/rolesession`. Created 0700 if missing; tightened to
            0700 if it is ours and looser.
        lock_timeout: seconds a refresh waits for another process's lock on the
            same entry (a hung or stale holder) before going on without it.

    Raises:
        InvalidParameterError: (``parameter="directory"``) ``directory`` is a
            symbolic link, is not a directory, or belongs to another user. The
            default directory in that state is bypassed with a WARNING instead.

    A directory that cannot be created or written (read-only home, full disk)
    is never an error: the cache logs one WARNING and is bypassed, and
    credentials are fetched as if there were no cache.
    """

    persistent = True
    """Entries leave the process, so credentials got with a callable token are never written here."""

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, *, lock_timeout: float = 10.0
    ) -> None:
        number = isinstance(lock_timeout, (int, float)) and not isinstance(lock_timeout, bool)
        if not number or not lock_timeout >= 0:  # NaN fails too
            raise fail("lock_timeout", f"must be a non-negative number of seconds, got {lock_timeout!r}")
        path = check_optional_path(directory, "directory")
        if path == "" or (path is not None and "\0" in path):
            raise fail("directory", "must be a non-empty path without NUL (None: the default directory)")
        self.directory = os.path.abspath(os.path.expanduser(path)) if path else default_directory()
        """The directory holding the entries (an absolute path)."""
        self._given = self.directory if path else None
        self.lock_timeout = float(lock_timeout)
        """Seconds to wait for another process's lock on an entry before going on without it."""
        self._warnings = itertools.count()
        self._readable = self._writable = True
        try:
            self._prepare()
        except _Unusable as exc:
            if path is not None:
                raise fail("directory", f"{self.directory} {exc}; pass a private directory") from None
            self._bypass(f"{self.directory} {exc}")
        except OSError as exc:
            self._unwritable(exc)

    # -- the cache interface ------------------------------------------------------

    def get(self, key: Hashable) -> dict[str, Any] | None:
        """The entry for ``key``; ``None`` if missing, unreadable, foreign or expired."""
        if not self._readable or not _is_key(key):
            return None
        path = self._path(str(key))
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC)
        except OSError:  # missing, or a symbolic link planted in our place
            return None
        try:
            with os.fdopen(fd, "rb") as handle:
                info = os.fstat(handle.fileno())
                if not self._is_ours(info):
                    return None
                data = handle.read(_MAX_ENTRY_BYTES + 1)
        except OSError:
            return None
        entry = _parse(data)
        if entry is None:
            return None  # corrupt or foreign: the next set() replaces it
        creds = RoleCredentials.from_entry(entry)
        if creds is None:
            return None
        if time.time() >= creds.expiration:
            _prune(path, info)
            return None
        return entry

    def set(self, key: Hashable, entry: dict[str, Any]) -> None:
        """Store ``entry`` for ``key`` atomically (a no-op for keys that are not hex digests)."""
        if not self._writable or not _is_key(key):
            return
        try:
            data = json.dumps(entry, separators=(",", ":"), allow_nan=False).encode("utf-8")
        except (TypeError, ValueError):
            logger.debug("not caching an entry that is not JSON-serialisable")
            return
        final = self._path(str(key))
        temp = os.path.join(self.directory, f".{key}.{secrets.token_hex(8)}.tmp")
        try:
            self._write_new(temp, data)
            os.replace(temp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            self._unwritable(exc)

    def delete(self, key: Hashable) -> None:
        """Remove the entry for ``key`` if there is one."""
        if not self._writable or not _is_key(key):
            return
        try:
            os.unlink(self._path(str(key)))
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._unwritable(exc)

    def clear(self) -> None:
        """Remove every entry, lock and temporary file of this cache (nothing else)."""
        if not self._writable:
            return
        try:
            names = os.listdir(self.directory)
        except OSError as exc:
            self._unwritable(exc)
            return
        for name in names:
            if _OUR_FILE_RE.fullmatch(name):
                try:
                    os.unlink(os.path.join(self.directory, name))
                except FileNotFoundError:
                    pass
                except OSError as exc:
                    self._unwritable(exc)
                    return

    def lock(self, key: Hashable) -> AbstractContextManager[None]:
        """A cross-process lock on ``key``: held while one process refreshes the entry.

        Waits at most ``lock_timeout`` seconds, then goes on without the lock
        (a WARNING); a lock that cannot be taken at all is skipped. Never raises.
        """
        if not self._writable or not _is_key(key):
            return contextlib.nullcontext()
        return self._locked(self._path(str(key))[: -len(".json")] + ".lock")

    def __repr__(self) -> str:
        return f"FileCache(directory={self.directory!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt, not copied: the new process checks the directory for itself.
        return (_rebuild, (self._given, self.lock_timeout))

    # -- the directory ----------------------------------------------------------------

    def _prepare(self) -> None:
        path = self.directory
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            os.makedirs(path, mode=0o700, exist_ok=True)
            info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            raise _Unusable("is a symbolic link")
        if not stat.S_ISDIR(info.st_mode):
            raise _Unusable("is not a directory")
        uid = _our_uid()
        if uid is not None and info.st_uid != uid:
            raise _Unusable(f"belongs to uid {info.st_uid}, not to this user (uid {uid})")
        if info.st_mode & _PRIVATE_BITS:
            os.chmod(path, 0o700)

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, f"{key}.json")

    def _is_ours(self, info: os.stat_result) -> bool:
        uid = _our_uid()
        return stat.S_ISREG(info.st_mode) and (uid is None or info.st_uid == uid)

    def _write_new(self, temp: str, data: bytes) -> None:
        # 0600 from creation: the file is never readable by others, not even for an instant.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _locked(self, lock_path: str) -> Iterator[None]:
        held = self._acquire(lock_path)
        try:
            yield
        finally:
            if held is not None:
                with contextlib.suppress(Exception):
                    held.release()

    def _acquire(self, lock_path: str) -> Any:
        try:
            import filelock  # only processes that really refresh pay for the import
        except ImportError:
            logger.debug("filelock is not installed; refreshes are not single-flight across processes")
            return None
        try:
            lock = filelock.FileLock(lock_path, timeout=self.lock_timeout, mode=0o600)
            lock.acquire()
        except filelock.Timeout:  # before OSError: Timeout is a TimeoutError
            logger.warning(
                "waited %.1f s for another process's lock on a credential cache entry in %s; "
                "going on without it",
                self.lock_timeout,
                self.directory,
            )
            return None
        except OSError as exc:
            if exc.errno in _CANNOT_WRITE:
                self._unwritable(exc)
            else:  # e.g. no lock support on a network filesystem: go on unlocked
                logger.debug("credential cache lock unavailable (%s)", exc)
            return None
        except Exception as exc:
            logger.debug("credential cache lock unavailable (%s)", type(exc).__name__)
            return None
        return lock

    # -- degrading ----------------------------------------------------------------------

    def _unwritable(self, exc: OSError) -> None:
        self._writable = False
        if not os.path.isdir(self.directory):
            self._readable = False
        if next(self._warnings) == 0:
            reason = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
            logger.warning(
                "credential cache directory %s cannot be written (%s: %s); continuing without "
                "caching credentials on disk",
                self.directory,
                reason,
                exc.strerror or exc,
            )

    def _bypass(self, reason: str) -> None:
        self._readable = self._writable = False
        if next(self._warnings) == 0:
            logger.warning(
                "not using the credential cache directory: %s; credentials are not cached on disk",
                reason,
            )


def _is_key(key: object) -> bool:
    return isinstance(key, str) and _KEY_RE.fullmatch(key) is not None


def _parse(data: bytes) -> dict[str, Any] | None:
    if len(data) > _MAX_ENTRY_BYTES:
        return None
    try:
        entry = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return entry if isinstance(entry, dict) else None


def _prune(path: str, seen: os.stat_result) -> None:
    """Delete an expired entry -- unless another process has just replaced it."""
    with contextlib.suppress(OSError):
        now = os.stat(path, follow_symlinks=False)
        if (now.st_ino, now.st_dev, now.st_mtime_ns) == (seen.st_ino, seen.st_dev, seen.st_mtime_ns):
            os.unlink(path)


def _rebuild(directory: str | None, lock_timeout: float) -> FileCache:
    return FileCache(directory, lock_timeout=lock_timeout)
