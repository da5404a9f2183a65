"""Credential caches and the cache key.

A cache is any object with four methods -- ``get(key)`` returning an entry
dict or ``None``, ``set(key, entry)``, ``delete(key)`` and ``clear()`` -- and
optionally:

* ``persistent`` (bool, assumed ``True`` when absent): whether entries leave
  the process. Credentials obtained with a *callable* token or assertion are
  keyed by the callable object itself and go only to non-persistent caches.
* ``lock(key)``: a context manager making a refresh single-flight across
  processes (the `FileCache` has one).

Entries are JSON-serialisable dicts (see ``RoleCredentials.to_entry``). A
cache never raises from its methods: failing I/O is a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import weakref
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._validation import fail

if TYPE_CHECKING:
    import cachetools

__all__ = ["CredentialCache", "MemoryCache", "cache_key", "default_cache", "key_lock"]


@runtime_checkable
class CredentialCache(Protocol):
    """The interface rolesession needs from a cache."""

    def get(self, key: Hashable) -> dict[str, Any] | None: ...

    def set(self, key: Hashable, entry: dict[str, Any]) -> None: ...

    def delete(self, key: Hashable) -> None: ...

    def clear(self) -> None: ...


def cache_key(material: dict[str, Any], caller: str) -> str:
    """SHA-256 over canonical JSON of the request and the caller's identity."""
    canonical = json.dumps(
        {**material, "caller": caller}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class MemoryCache:
    """A bounded, thread-safe, in-process cache (LRU beyond ``maxsize``)."""

    persistent = False

    def __init__(self, maxsize: int = 1024) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise fail("maxsize", f"must be a positive int, got {maxsize!r}")
        self.maxsize = maxsize
        import cachetools  # on first use: ``import rolesession`` stays light

        self._data: cachetools.LRUCache[Hashable, dict[str, Any]] = cachetools.LRUCache(maxsize)
        self._lock = threading.Lock()
        _memory_caches.add(self)

    def get(self, key: Hashable) -> dict[str, Any] | None:
        with self._lock:
            return self._data.get(key)

    def set(self, key: Hashable, entry: dict[str, Any]) -> None:
        with self._lock:
            self._data[key] = entry

    def delete(self, key: Hashable) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"MemoryCache(maxsize={self.maxsize}, entries={len(self._data)})"

    def _reset_after_fork(self) -> None:
        self._lock = threading.Lock()


# A lock held by another thread when the process forks is never released in
# the child; every MemoryCache starts the child with a fresh one.
_memory_caches: weakref.WeakSet[MemoryCache] = weakref.WeakSet()


class _KeyLock:
    """A lock for one cache key; weakly registered, so it lives only while used."""

    __slots__ = ("__weakref__", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


_key_locks: weakref.WeakValueDictionary[tuple[int, Hashable], _KeyLock] = weakref.WeakValueDictionary()
_key_locks_guard = threading.Lock()


def key_lock(cache: object, key: Hashable) -> _KeyLock:
    """The process-wide lock for ``key`` in ``cache``: sessions fetching the same
    entry at once make one STS call, the others then find the entry."""
    name = (id(cache), key)
    with _key_locks_guard:
        lock = _key_locks.get(name)
        if lock is None:
            lock = _key_locks[name] = _KeyLock()
    return lock


def _reset_after_fork() -> None:
    global _default_lock, _key_locks_guard
    _default_lock = threading.Lock()
    _key_locks_guard = threading.Lock()
    _key_locks.clear()
    for cache in list(_memory_caches):
        cache._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


_default: MemoryCache | None = None
_default_lock = threading.Lock()


def default_cache() -> MemoryCache:
    """The process-wide `MemoryCache` used when ``cache=`` is not given."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = MemoryCache()
    return _default


def is_persistent(cache: object) -> bool:
    return bool(getattr(cache, "persistent", True))


def check_cache(value: object, parameter: str = "cache") -> Any:
    if value is None:
        return None
    missing = [m for m in ("get", "set", "delete", "clear") if not callable(getattr(value, m, None))]
    if missing:
        raise fail(
            parameter,
            f"{type(value).__name__} is not a cache (no {', '.join(missing)}); pass a "
            "MemoryCache, a FileCache, an object with get/set/delete/clear, or None",
        )
    return value
