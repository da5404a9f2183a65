"""``FileCache``: credentials cached on disk, shared by every process of the user.

One ``<key>.json`` file per cache key, holding the STS response and the time
it was received (``RoleCredentials.to_entry()``), as the AWS CLI cache does.
Beside them sit ``<key>.lock`` files (cross-process locks) and, for an
instant, ``.<key>.<random>.tmp`` files being written.

Safety rules, in order of importance:

* the directory is private: 0700, ours, not a symbolic link, without the
  sticky or setgid bit, and not a system or shared directory (``/``, ``/tmp``,
  ``/usr``, the home directory itself...). Such a directory passed by the
  caller is refused and never ``chmod``-ed; the default directory in such a
  state is bypassed with one WARNING;
* nobody else can swap the directory: every directory leading to it belongs
  to us or to root and is not writable by other users unless it has the
  sticky bit (``/tmp``), and every symbolic link on the way belongs to us or
  to root (`_ancestor_problem`). The directory is then held open and every
  file is reached relative to it (``dir_fd``): renaming or replacing the
  path later changes nothing for this cache object;
* an entry is bound to its key: ``set()`` records the key in the entry and
  ``get()`` serves only an entry recording the key it was asked for, so an
  entry renamed or copied over another's file (prod's credentials under
  dev's name) is ignored with a WARNING and replaced;
* files are 0600 from the moment they exist and never followed through
  symbolic links. Only regular files of ours no looser than 0600 are read,
  opened non-blocking, so a FIFO or device planted at an entry's path is a
  miss instead of a hang;
* an entry's times must be plausible (received in the past or within a day,
  a lifetime no longer than STS issues -- 36 h for GetSessionToken, 12 h for
  the role operations, ``_limits`` --, finite numbers); anything else is a
  miss that the next ``set()`` replaces;
* writes are atomic (temporary file, ``fsync``, ``os.replace``), so a reader
  sees a whole old entry or a whole new one, never a torn one;
* the directory stays bounded: ``set()`` sweeps it (at most once a minute per
  cache object), deleting expired entries -- e.g. of keys that can never be
  met again after a token rotation --, stale temporary files and idle lock
  files; ``clear()`` likewise removes only files this cache wrote;
* cache I/O never raises: a broken, foreign or expired file is a miss, and a
  cache that cannot be written logs one WARNING and is bypassed.

Reading an entry is the command line's cached path (a ``credential_process``
pays for every import): ``logging``, ``secrets``, ``threading``, ``typing``
and the parameter checks are imported only when a write, a warning or a
given directory needs them.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import json
import math
import os
import re
import stat
import time
import weakref
from _thread import allocate_lock
from collections.abc import Hashable, Iterator, Mapping
from contextlib import AbstractContextManager
from types import ModuleType

from ._credentials import ENTRY_VERSION, RoleCredentials, to_epoch
from ._keys import KEY_PATTERN, cache_key, is_key
from ._limits import LONGEST_LIFETIME, MAX_DURATION

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging
    from typing import Any

_fcntl: ModuleType | None
try:
    import fcntl as _fcntl
except ImportError:  # Windows: idle lock files cannot be told from held ones, so they are left
    _fcntl = None

__all__ = ["FileCache", "default_directory"]



def _logger() -> logging.Logger:
    """The library's logger, imported when something is logged (not on a plain read)."""
    import logging

    return logging.getLogger("rolesession")


# Keys are SHA-256 hex digests (``_keys``); anything else -- e.g. the
# in-memory key of a callable token -- never reaches disk.
_OUR_NAME_RE = re.compile(
    rf"(?P<key>{KEY_PATTERN})\.(?P<kind>json|lock)|\.(?P<temp_key>{KEY_PATTERN})\.[0-9a-f]{{16}}\.tmp"
)
#: An entry is a few kilobytes; a larger file is not ours and is not read whole.
_MAX_ENTRY_BYTES = 64 * 1024
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOCTTY = getattr(os, "O_NOCTTY", 0)
_READ_FLAGS = os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK | _NOCTTY
_PRIVATE_BITS = 0o077
_SHARED_DIRECTORY_BITS = stat.S_ISVTX | stat.S_ISGID
_CANNOT_WRITE = frozenset(
    getattr(errno, name) for name in ("EACCES", "EPERM", "EROFS", "ENOSPC", "EDQUOT") if hasattr(errno, name)
)

#: STS never issues credentials for longer than this (36 h, GetSessionToken);
#: role credentials, which name their role, never for longer than 12 h.
_MAX_LIFETIME = float(LONGEST_LIFETIME)
_MAX_ROLE_LIFETIME = float(MAX_DURATION)
#: The field of an entry recording the key it was written for.
_KEY_FIELD = "CacheKey"
#: Symbolic links followed while checking the directories leading to the cache (as the kernel's 40).
_MAX_LINKS = 40
#: Room for the clock skew between this host and STS that an entry does not record.
_LIFETIME_MARGIN = 3600.0
#: A receipt time further ahead than this is no skew: the entry is foreign.
_MAX_AHEAD = 86400.0
#: The ``ClockSkew`` an entry may record (STS's clock minus ours).
_MAX_SKEW = 86400.0

#: The sweep runs on ``set()``, at most this often per cache object.
_SWEEP_INTERVAL = 60.0
#: A temporary file this old was left by a writer that died before its rename.
_STALE_TEMP = 60.0
#: A lock file without an entry, untouched this long and not held, is no longer needed.
_STALE_LOCK = 300.0

#: Directories many programs or users share: a cache there is refused, never ``chmod``-ed.
_SYSTEM_DIRECTORIES = (
    "/", "/bin", "/boot", "/dev", "/dev/shm", "/etc", "/home", "/lib", "/lib32", "/lib64",
    "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/run/lock", "/run/user", "/sbin", "/srv",
    "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/local/bin", "/usr/sbin",
    "/usr/share", "/var", "/var/cache", "/var/lib", "/var/log", "/var/run", "/var/spool", "/var/tmp",
    # macOS
    "/Applications", "/Library", "/System", "/Users", "/Volumes", "/private", "/private/etc",
    "/private/tmp", "/private/var", "/private/var/tmp",
)  # fmt: skip


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


def _entry_name(key: str) -> str:
    return f"{key}.json"


class _Dir:
    """The cache directory, held open once checked: every file is reached relative to it.

    With ``dir_fd`` (POSIX), renaming the directory, or replacing it -- or a
    directory on the way to it -- with a symbolic link after the check,
    changes nothing: the files this cache reads and writes are the ones in
    the directory it checked. Where ``dir_fd`` is not supported (Windows),
    paths are joined as before.
    """

    __slots__ = ("fd", "path")

    def __init__(self, path: str, fd: int | None) -> None:
        self.path = path
        self.fd = fd

    @classmethod
    def open_checked(cls, path: str, seen: os.stat_result) -> _Dir:
        """Open ``path`` without following a link; `_Unusable` if it is no longer what ``seen`` was."""
        if not _DIR_FD_WORKS:
            return cls(path, None)
        try:
            fd = os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _Unusable("was replaced while being checked") from None
            raise
        if not os.path.samestat(os.fstat(fd), seen):
            os.close(fd)
            raise _Unusable("was replaced while being checked")
        return cls(path, fd)

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _at(self, name: str) -> tuple[str, dict[str, Any]]:
        if self.fd is None:
            return os.path.join(self.path, name), {}
        return name, {"dir_fd": self.fd}

    def open(self, name: str, flags: int, mode: int = 0o777) -> int:
        path, where = self._at(name)
        return os.open(path, flags, mode, **where)

    def lstat(self, name: str) -> os.stat_result:
        path, where = self._at(name)
        return os.stat(path, follow_symlinks=False, **where)

    def fstat(self) -> os.stat_result:
        return os.fstat(self.fd) if self.fd is not None else os.lstat(self.path)

    def chmod(self, mode: int) -> None:
        if self.fd is not None and os.chmod in os.supports_fd:
            os.chmod(self.fd, mode)
        else:
            os.chmod(self.path, mode)

    def unlink(self, name: str) -> None:
        path, where = self._at(name)
        os.unlink(path, **where)

    def replace(self, source: str, target: str) -> None:
        if self.fd is None:
            os.replace(os.path.join(self.path, source), os.path.join(self.path, target))
        else:
            os.replace(source, target, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def listdir(self) -> list[str]:
        return os.listdir(self.fd if self.fd is not None else self.path)

    def lock_path(self, name: str) -> str:
        """A path for filelock, which takes paths: through the open directory where ``/proc`` shows it."""
        if self.fd is not None and _PROC_FD:
            return f"/proc/self/fd/{self.fd}/{name}"
        return os.path.join(self.path, name)


_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
# (os.replace takes dir_fd wherever os.rename does: the set names rename only)
_DIR_FD_WORKS = bool(_DIRECTORY) and {os.open, os.stat, os.unlink, os.rename} <= os.supports_dir_fd
_PROC_FD = os.path.isdir("/proc/self/fd")


def _check_private(where: _Dir, created: bool) -> None:
    """The open directory is ours, private (tightened to 0700 if looser) and not shared."""
    info = where.fstat()
    uid = _our_uid()
    if uid is not None and info.st_uid != uid:
        raise _Unusable(f"belongs to uid {info.st_uid}, not to this user (uid {uid})")
    if created and stat.S_IMODE(info.st_mode) != 0o700:
        # Made just now, by us: a setgid bit inherited from its parent goes with the chmod.
        where.chmod(0o700)
        info = where.fstat()
    if info.st_mode & _SHARED_DIRECTORY_BITS:
        raise _Unusable("has the sticky or setgid bit set (a shared directory)")
    if _is_system_directory(info):
        raise _Unusable("is a system or shared directory")
    if info.st_mode & _PRIVATE_BITS:
        where.chmod(0o700)


def _ancestor_problem(directory: str) -> str | None:
    """What lets another user swap ``directory`` for one of theirs; ``None`` if nothing does.

    Walks the path from ``/`` as the kernel resolves it, following symbolic
    links. Every directory on the way must belong to this user or to root and
    must not be writable by other users -- by everyone, or by a group other
    than this user's own -- unless its sticky bit is set (``/tmp``: others may
    create there but not rename what is ours). Every symbolic link on the way
    must belong to this user or to root (another user's link could point
    anywhere, any time). On systems without POSIX ownership (Windows) there is
    nothing to check.
    """
    uid = _our_uid()
    if uid is None:
        return None
    gid = os.getegid()
    root_info = os.lstat(os.sep)
    problem = _writable_by_others(os.sep, root_info, uid, gid)
    if problem is not None:
        return problem
    pending = list(reversed(_components(os.path.dirname(directory))))
    current = os.sep
    links = 0
    while pending:
        name = pending.pop()
        if name == "..":
            current = os.path.dirname(current)
            continue
        candidate = os.path.join(current, name)
        info = os.lstat(candidate)
        if stat.S_ISLNK(info.st_mode):
            if info.st_uid not in (uid, 0):
                return f"{candidate} is a symbolic link of uid {info.st_uid}"
            links += 1
            if links > _MAX_LINKS:
                return f"{candidate} is one of too many symbolic links"
            target = os.readlink(candidate)
            if os.path.isabs(target):
                current = os.sep
            pending.extend(reversed(_components(target)))
            continue
        problem = _writable_by_others(candidate, info, uid, gid)
        if problem is not None:
            return problem
        current = candidate
    return None


def _components(path: str) -> list[str]:
    return [part for part in path.split(os.sep) if part not in ("", ".")]


def _writable_by_others(path: str, info: os.stat_result, uid: int, gid: int) -> str | None:
    if info.st_uid not in (uid, 0):
        return f"{path} belongs to uid {info.st_uid}"
    if info.st_mode & stat.S_ISVTX:
        return None  # others may add names here, but not rename or remove ours
    if info.st_mode & stat.S_IWOTH:
        return f"{path} is writable by every user (and has no sticky bit)"
    if info.st_mode & stat.S_IWGRP and info.st_gid != gid:
        return f"{path} is writable by group {info.st_gid} (and has no sticky bit)"
    return None


class _Unusable(Exception):
    """The directory must not be used (a symbolic link, not ours, shared, not a directory)."""


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
            symbolic link, is not a directory, belongs to another user, has the
            sticky or setgid bit, or is a system or shared directory (``/``,
            ``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/usr``, ``/etc``, the home
            directory itself, ``$TMPDIR``, ``$XDG_RUNTIME_DIR``... however the
            path reaches it), or can be swapped by another user: a directory
            on the way to it belongs to another user or is writable by
            others without the sticky bit, or a symbolic link on the way
            belongs to another user.
            Such a directory is never modified. The default directory in that
            state is bypassed with a WARNING instead.

    The directory is held open once checked, and files are reached relative
    to it. Only regular files of this user, no looser than 0600, holding an
    entry with plausible times that was written for the key asked for
    (an entry renamed over another's file is ignored with a WARNING) are
    served; anything else is a miss, replaced by the
    next write. Reads never block, not even on a FIFO planted in the directory.
    The directory stays bounded: writes sweep out expired entries (at most once
    a minute), stale temporary files and idle lock files. Neither the sweep
    nor `clear()` touches a file this cache did not write.

    A directory that cannot be created or written (read-only home, full disk)
    is never an error: the cache logs one WARNING and is bypassed, and
    credentials are fetched as if there were no cache.

    Example:
        ```python
        cache = rolesession.FileCache()  # ~/.cache/rolesession, shared by every process of the user
        session = rolesession.assume_role(arn, cache=cache)  # cron jobs and CLI runs share credentials
        ```
    """

    persistent = True
    """Entries leave the process, so credentials got with a callable token are never written here."""

    def __init__(
        self, directory: str | os.PathLike[str] | None = None, *, lock_timeout: float = 10.0
    ) -> None:
        number = isinstance(lock_timeout, (int, float)) and not isinstance(lock_timeout, bool)
        if not number or not lock_timeout >= 0:  # NaN fails too
            raise _fail("lock_timeout", f"must be a non-negative number of seconds, got {lock_timeout!r}")
        path = None if directory is None else _checked_path(directory)
        self.directory = os.path.abspath(os.path.expanduser(path)) if path else default_directory()
        """The directory holding the entries (an absolute path)."""
        self._given = self.directory if path else None
        self.lock_timeout = float(lock_timeout)
        """Seconds to wait for another process's lock on an entry before going on without it."""
        self._warnings = itertools.count()
        self._readable = self._writable = True
        self._swept_at = -math.inf
        self._sweeping = allocate_lock()  # threading.Lock, without importing threading
        # Until the directory is checked and open: a cache that is bypassed never uses it.
        self._dir = _Dir(self.directory, None)
        try:
            self._dir = self._prepare()
        except _Unusable as exc:
            if path is not None:
                raise _fail("directory", f"{self.directory} {exc}; pass a private directory") from None
            self._bypass(f"{self.directory} {exc}")
        except OSError as exc:
            self._unwritable(exc)

    # -- the cache interface ------------------------------------------------------

    def get(self, key: Hashable) -> dict[str, Any] | None:
        """The entry for ``key``; ``None`` if missing, unreadable, foreign, implausible or expired."""
        if not self._readable or not is_key(key):
            return None
        now = time.time()
        name = _entry_name(str(key))
        found = _read_ours(self._dir, name, private=True)
        if found is None:
            return None
        data, info = found
        entry = _parse(data)
        if entry is None:
            return None  # corrupt or foreign: the next set() replaces it
        expiry = _expiry(entry, now)
        if expiry is None or RoleCredentials.from_entry(entry) is None:
            return None  # implausible or not an entry: the next set() replaces it
        if now >= expiry:
            _remove_unchanged(self._dir, name, info)
            return None
        written_for = entry.pop(_KEY_FIELD, None)
        if written_for is None:
            _logger().debug("credential cache entry %s records no key (an older version wrote it)", name)
            return None  # the next set() replaces it
        if written_for != key:
            self._foreign_entry(name)
            return None  # the next set() replaces it
        return entry

    def set(self, key: Hashable, entry: dict[str, Any]) -> None:
        """Store ``entry`` for ``key`` atomically.

        A no-op for keys that are not hex digests and for entries that `get()`
        would never return (not an entry, or implausible times). Now and then
        (at most once a minute) it also sweeps the directory.
        """
        if not self._writable or not is_key(key):
            return
        now = time.time()
        expiry = _expiry(entry, now) if isinstance(entry, Mapping) else None
        if expiry is None or RoleCredentials.from_entry(entry) is None:
            _logger().debug("not caching an entry that is not a credential entry with plausible times")
            return
        try:
            bound = {**entry, _KEY_FIELD: key}  # what get() checks: the entry was written for this key
            data = json.dumps(bound, separators=(",", ":"), allow_nan=False).encode("utf-8")
        except (TypeError, ValueError):
            _logger().debug("not caching an entry that is not JSON-serialisable")
            return
        final = _entry_name(str(key))
        import secrets

        temp = f".{key}.{secrets.token_hex(8)}.tmp"
        try:
            self._write(temp, final, data, expiry)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._dir.unlink(temp)
            if isinstance(exc, FileNotFoundError) and os.path.isdir(self.directory):
                # Our temporary file was removed by another process's clear(): this write is lost, no more.
                _logger().debug("credential cache write lost to a concurrent clear()")
                return
            self._unwritable(exc)
            return
        self._maybe_sweep(now)

    def delete(self, key: Hashable) -> None:
        """Remove the entry for ``key`` if there is one."""
        if not self._writable or not is_key(key):
            return
        try:
            self._dir.unlink(_entry_name(str(key)))
        except FileNotFoundError:
            pass
        except OSError as exc:
            self._unwritable(exc)

    def clear(self) -> None:
        """Remove every entry, lock and temporary file this cache wrote, and nothing else.

        Entry files are removed only if they are regular files of this user
        holding a credential entry; a user's own file that merely has an
        entry's name is left. A lock file another process holds is left too.
        """
        if not self._writable:
            return
        try:
            names = self._dir.listdir()
        except OSError as exc:
            self._unwritable(exc)
            return
        for match, name, info in _named_like_ours(self._dir, names):
            if not _is_ours(info):
                continue
            if match["kind"] == "lock":
                _remove_idle_lock(self._dir, name, info)
                continue
            if match["kind"] == "json" and not _holds_an_entry(self._dir, name):
                continue
            try:
                self._dir.unlink(name)
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
        if not self._writable or not is_key(key):
            return contextlib.nullcontext()
        return self._locked(self._dir.lock_path(f"{key}.lock"))

    @staticmethod
    def default_directory() -> str:
        """The directory a `FileCache()` without ``directory`` uses (an absolute path).

        ``$XDG_CACHE_HOME/rolesession`` when ``XDG_CACHE_HOME`` is an absolute
        path, else ``~/.cache/rolesession``; read from the environment at each call.

        Example:
            ```python
            print(rolesession.FileCache.default_directory())  # e.g. /home/me/.cache/rolesession
            ```
        """
        return default_directory()

    @staticmethod
    def key_for(material: Mapping[str, Any], caller: str = "") -> str:
        """A key for credentials of your own: a SHA-256 over canonical JSON of ``material`` and ``caller``.

        `get`, `set`, `delete` and `lock` only accept such hex digests (they are
        the file names). Put everything that can change the credentials in
        ``material`` (JSON-serialisable), with an ``"operation"`` of your own so
        your keys never meet the library's, and who asks in ``caller``.

        Example:
            ```python
            key = rolesession.FileCache.key_for({"operation": "my-broker", "account": "123456789012"})
            entry = cache.get(key)  # None, or what cache.set(key, credentials.to_entry()) stored
            ```
        """
        return cache_key(material, caller)

    def __repr__(self) -> str:
        return f"FileCache(directory={self.directory!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt, not copied: the new process checks the directory for itself. By the public
        # class (rolesession.FileCache), never a private module a later release may move.
        return (type(self), (self._given,), {"lock_timeout": self.lock_timeout})

    # -- the directory ----------------------------------------------------------------

    def _prepare(self) -> _Dir:
        """Check the directory and the way to it, and open it: the `_Dir` every file is reached through."""
        path = self.directory
        created = False
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            os.makedirs(path, mode=0o700, exist_ok=True)
            created = True
            info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            raise _Unusable("is a symbolic link")
        if not stat.S_ISDIR(info.st_mode):
            raise _Unusable("is not a directory")
        problem = _ancestor_problem(path)
        if problem is not None:
            raise _Unusable(f"can be replaced by another user: {problem}")
        where = _Dir.open_checked(path, info)
        try:
            _check_private(where, created)
        except BaseException:
            where.close()
            raise
        weakref.finalize(self, where.close)
        return where

    def _write(self, temp: str, final: str, data: bytes, expiry: float) -> None:
        # 0600 from creation: the file is never readable by others, not even for an instant.
        fd = self._dir.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
        try:
            _write_all(fd, data)
            os.fsync(fd)
            self._dir.replace(temp, final)
            # After the rename, so a temporary file left by a crash keeps its real age.
            _stamp_expiry(fd, expiry)
        finally:
            os.close(fd)

    # -- the sweep --------------------------------------------------------------------

    def _maybe_sweep(self, now: float) -> None:
        if abs(now - self._swept_at) < _SWEEP_INTERVAL:  # abs(): a clock set back sweeps too
            return
        if not self._sweeping.acquire(blocking=False):
            return  # another thread of ours is sweeping right now
        try:
            self._swept_at = now
            self._sweep(now)
        except Exception as exc:  # the sweep is housekeeping: it never fails a write
            _logger().debug("credential cache sweep stopped (%s)", type(exc).__name__)
        finally:
            self._sweeping.release()

    def _sweep(self, now: float) -> None:
        """Delete our expired entries, stale temporary files and idle lock files.

        One ``listdir`` and one ``lstat`` per file: an entry's modification time
        is stamped with its expiry, so only entries already past it are read
        (to confirm them ours and expired) before they go. Symbolic links and
        files of other users or kinds are never opened or removed.
        """
        where = self._dir
        try:
            names = where.listdir()
        except OSError:
            return
        kept: set[str] = set()
        idle_locks: list[tuple[str, str, os.stat_result]] = []
        for match, name, info in _named_like_ours(where, names):
            kind = match["kind"]
            if kind == "json":
                if not _is_ours(info) or info.st_mtime > now or not _remove_if_expired(where, name, now):
                    kept.add(match["key"])
            elif not _is_ours(info):
                continue
            elif kind == "lock":
                if info.st_size == 0 and info.st_mtime < now - _STALE_LOCK:
                    idle_locks.append((match["key"], name, info))
            elif info.st_mtime < now - _STALE_TEMP:
                _remove_unchanged(where, name, info)
        for key, name, info in idle_locks:
            if key not in kept:
                _remove_idle_lock(where, name, info)

    # -- locks --------------------------------------------------------------------------

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
            _logger().debug("filelock is not installed; refreshes are not single-flight across processes")
            return None
        try:
            lock = filelock.FileLock(lock_path, timeout=self.lock_timeout, mode=0o600)
            lock.acquire()
        except filelock.Timeout:  # before OSError: Timeout is a TimeoutError
            _logger().warning(
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
                _logger().debug("credential cache lock unavailable (%s)", exc)
            return None
        except Exception as exc:
            _logger().debug("credential cache lock unavailable (%s)", type(exc).__name__)
            return None
        return lock

    # -- degrading ----------------------------------------------------------------------

    def _unwritable(self, exc: OSError) -> None:
        self._writable = False
        if not os.path.isdir(self.directory):
            self._readable = False
        if next(self._warnings) == 0:
            reason = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
            _logger().warning(
                "credential cache directory %s cannot be written (%s: %s); continuing without "
                "caching credentials on disk",
                self.directory,
                reason,
                exc.strerror or exc,
            )

    def _foreign_entry(self, name: str) -> None:
        _logger().warning(
            "ignoring credential cache entry %s in %s: it was written for another request (a role, "
            "MFA device or caller other than this one's: renamed or copied over this file?); it "
            "will be replaced",
            name,
            self.directory,
        )

    def _bypass(self, reason: str) -> None:
        self._readable = self._writable = False
        if next(self._warnings) == 0:
            _logger().warning(
                "not using the credential cache directory: %s; credentials are not cached on disk",
                reason,
            )


def _fail(parameter: str, message: str) -> Exception:
    from ._validation import fail

    return fail(parameter, message)


def _checked_path(directory: object) -> str:
    """A given ``directory`` as a checked ``str`` path (`_validation`, imported only then)."""
    from ._validation import check_optional_path

    path = check_optional_path(directory, "directory")
    if not path or "\0" in path:
        raise _fail("directory", "must be a non-empty path without NUL (None: the default directory)")
    return path


# -- directories --------------------------------------------------------------------------


def _is_system_directory(info: os.stat_result) -> bool:
    """Whether the directory ``info`` describes is a system or shared one, however it was reached.

    Compared by device and inode, so a path through symbolic links, ``..`` or
    a bind mount is recognised as well as the plain name.
    """
    identity = (info.st_dev, info.st_ino)
    return identity in _fixed_system_directories() or identity in _personal_shared_directories()


@functools.lru_cache(maxsize=1)
def _fixed_system_directories() -> frozenset[tuple[int, int]]:
    return frozenset(i for i in map(_identity, _SYSTEM_DIRECTORIES) if i is not None)


def _personal_shared_directories() -> set[tuple[int, int]]:
    """The home directory and temporary directories: looked up each time, as the environment may change."""
    candidates = [os.path.expanduser("~"), _passwd_home()]
    for name in ("TMPDIR", "TEMP", "TMP", "XDG_RUNTIME_DIR"):
        value = os.environ.get(name, "")
        if os.path.isabs(value):
            candidates.append(value)
    return {i for i in map(_identity, candidates) if i is not None}


@functools.lru_cache(maxsize=1)
def _passwd_home() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError, OSError):
        return ""


def _identity(path: str) -> tuple[int, int] | None:
    if not path:
        return None
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_ino == 0:  # no inode numbers here: cannot compare
        return None
    return info.st_dev, info.st_ino


# -- files ----------------------------------------------------------------------------------


def _named_like_ours(where: _Dir, names: list[str]) -> Iterator[tuple[re.Match[str], str, os.stat_result]]:
    """The files of ``names`` named as this cache names its files, with their ``lstat``
    (never followed: a symbolic link is seen as one). Who owns them is the caller's check."""
    for name in names:
        match = _OUR_NAME_RE.fullmatch(name)
        if match is None:
            continue
        try:
            info = where.lstat(name)
        except OSError:  # gone meanwhile
            continue
        yield match, name, info


def _is_ours(info: os.stat_result) -> bool:
    uid = _our_uid()
    return stat.S_ISREG(info.st_mode) and (uid is None or info.st_uid == uid)


def _read_ours(where: _Dir, name: str, *, private: bool) -> tuple[bytes, os.stat_result] | None:
    """The first bytes of a regular file of ours named ``name`` (``private``: no looser than 0600).

    Opened without following a symbolic link and without blocking: a FIFO or
    a device there is turned away by ``fstat`` before any read.
    """
    try:
        fd = where.open(name, _READ_FLAGS)
    except OSError:  # missing, a symbolic link, a socket...
        return None
    try:
        info = os.fstat(fd)
        if not _is_ours(info) or (private and stat.S_IMODE(info.st_mode) & ~0o600):
            return None
        chunks: list[bytes] = []
        size = 0
        limit = min(info.st_size, _MAX_ENTRY_BYTES + 1)  # one byte more than allowed shows a file too large
        while size < limit:
            chunk = os.read(fd, limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks), info


def _parse(data: bytes) -> dict[str, Any] | None:
    if len(data) > _MAX_ENTRY_BYTES:
        return None
    try:
        entry = json.loads(data)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return entry if isinstance(entry, dict) else None


def _is_entry(entry: dict[str, Any]) -> bool:
    """Whether ``entry`` has the shape this cache writes (whatever its times)."""
    credentials = entry.get("Credentials")
    return (
        entry.get("Version") == ENTRY_VERSION
        and "ReceivedAt" in entry
        and isinstance(credentials, dict)
        and all(isinstance(credentials.get(field), str) for field in ("AccessKeyId", "Expiration"))
    )


def _holds_an_entry(where: _Dir, name: str) -> bool:
    found = _read_ours(where, name, private=False)
    if found is None:
        return False
    entry = _parse(found[0])
    return entry is not None and _is_entry(entry)


def _expiry(entry: Mapping[str, Any], now: float) -> float | None:
    """When ``entry`` expires on this host's clock; ``None`` if its times are implausible.

    Plausible: received at a finite, positive time no more than a day ahead
    of ``now``; a lifetime (on STS's clock, when the entry records the skew)
    above zero and at most what STS issues (12 hours for role credentials,
    36 for an MFA session's), plus a margin for an unrecorded clock skew.
    Rules out ``inf``/``NaN``/``10**400``, year 9999, expirations before
    receipt and receipts far in the future.
    """
    received = _finite(entry.get("ReceivedAt"))
    skew = _finite(entry.get("ClockSkew", 0.0))
    credentials = entry.get("Credentials")
    if received is None or skew is None or not isinstance(credentials, Mapping):
        return None
    expiration = _epoch(credentials.get("Expiration"))
    if expiration is None:
        return None
    lifetime = expiration - skew - received
    user = entry.get("AssumedRoleUser")
    names_a_role = isinstance(user, Mapping) and bool(user.get("Arn"))
    longest = _MAX_ROLE_LIFETIME if names_a_role else _MAX_LIFETIME  # GetSessionToken names no role
    plausible = (
        0 < received <= now + _MAX_AHEAD
        and abs(skew) <= _MAX_SKEW
        and 0 < lifetime <= longest + _LIFETIME_MARGIN
    )
    return expiration - skew if plausible else None


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer like 10**400
        return None
    return number if math.isfinite(number) else None


def _epoch(value: object) -> float | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        epoch = to_epoch(value)
    except (ValueError, TypeError, OverflowError):
        return None
    return epoch if math.isfinite(epoch) else None


def _stamp_expiry(fd: int, expiry: float) -> None:
    """Set the file's modification time to its entry's expiry, so the sweep judges it by ``lstat``."""
    if os.utime in os.supports_fd:
        with contextlib.suppress(OSError, ValueError, OverflowError):
            os.utime(fd, (expiry, expiry))


def _remove_if_expired(where: _Dir, name: str, now: float) -> bool:
    """Delete the entry ``name`` if it is ours and expired or implausible; whether it was."""
    found = _read_ours(where, name, private=False)
    if found is None:
        return False
    data, info = found
    entry = _parse(data)
    if entry is None or not _is_entry(entry):
        return False  # not something this cache wrote
    expiry = _expiry(entry, now)
    if expiry is not None and expiry > now:
        return False  # valid (its stamp was lost): kept
    return _remove_unchanged(where, name, info)


def _remove_unchanged(where: _Dir, name: str, seen: os.stat_result) -> bool:
    """Delete ``name`` -- unless another process has just replaced it."""
    try:
        now = where.lstat(name)
        if (now.st_ino, now.st_dev, now.st_mtime_ns) != (seen.st_ino, seen.st_dev, seen.st_mtime_ns):
            return False
        where.unlink(name)
    except OSError:
        return False
    return True


def _remove_idle_lock(where: _Dir, name: str, seen: os.stat_result) -> bool:
    """Delete the lock file ``name`` if nobody holds it; whether it was deleted.

    The file is unlinked while we hold its lock ourselves, as filelock does on
    release: a process that opened it just before sees, once it gets the
    lock, that the file has no name left and opens the path again. If the lock
    cannot be probed (no ``flock`` here), the file is left.
    """
    if _fcntl is None:
        return False
    try:
        fd = where.open(name, _READ_FLAGS)
    except OSError:
        return False
    try:
        info = os.fstat(fd)
        if not (_is_ours(info) and info.st_size == 0 and os.path.samestat(info, seen)):
            return False
        try:
            _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
        except OSError:  # held by someone, or flock unsupported: leave it
            return False
        if not os.path.samestat(where.lstat(name), info):
            return False
        where.unlink(name)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # releases our flock


def _rebuild(directory: str | None, lock_timeout: float) -> FileCache:
    # What pickles made before FileCache pickled by its public name refer to: keep it.
    return FileCache(directory, lock_timeout=lock_timeout)


# Pickles name the public module (``rolesession.X``), never this private one, which a later
# release may move (the stable pickle format, docs/architecture.md).
for _public in (FileCache,):
    _public.__module__ = "rolesession"
del _public
