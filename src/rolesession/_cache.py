"""Credential caches: the interface, the in-memory cache, the process default.

A cache is any object with four methods -- ``get(key)`` returning an entry
dict or ``None``, ``set(key, entry)``, ``delete(key)`` and ``clear()``
(`CredentialCache`) -- and optionally:

* ``persistent`` (bool, assumed ``True`` when absent): whether entries leave
  the process. Credentials obtained with a *callable* token or assertion are
  keyed by the callable object itself and go only to non-persistent caches.
* ``lock(key)``: a context manager making a refresh single-flight across
  processes (the `FileCache` has one).

Keys are made in ``_keys``. Entries are JSON-serialisable dicts (see
``RoleCredentials.to_entry``). A cache should not raise from its methods;
if one does, the session logs one WARNING and goes on without it.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from . import _state
from ._validation import fail

if TYPE_CHECKING:
    import cachetools

__all__ = ["DEFAULT_CACHE", "CredentialCache", "DefaultCache", "MemoryCache", "default_cache"]


@runtime_checkable
class CredentialCache(Protocol):
    """The interface rolesession needs from a credential cache.

    ``get`` returns the entry stored for ``key`` or ``None``; ``set`` stores
    one (a JSON-serialisable dict); ``delete`` removes one; ``clear`` removes
    every entry. Two optional attributes refine it: ``persistent`` (entries
    leave the process; default ``True``) and ``lock(key)``, a context manager
    that makes a refresh single-flight across processes. Entries hold
    credentials: keep them private. A method that raises is logged once and
    the session goes on without the cache.

    Example:
        ```python
        class DictCache:  # any object with these four methods
            persistent = False  # in-process: credentials from callable tokens may be kept
            def __init__(self): self.data = {}
            def get(self, key): return self.data.get(key)
            def set(self, key, entry): self.data[key] = entry
            def delete(self, key): self.data.pop(key, None)
            def clear(self): self.data.clear()

        session = rolesession.assume_role(arn, cache=DictCache())
        ```
    """

    def get(self, key: Hashable) -> dict[str, Any] | None:
        """The entry for ``key``, or ``None``."""

    def set(self, key: Hashable, entry: dict[str, Any]) -> None:
        """Store ``entry`` for ``key``."""

    def delete(self, key: Hashable) -> None:
        """Remove the entry for ``key``, if any."""

    def clear(self) -> None:
        """Remove every entry."""


class DefaultCache:
    """The type of `DEFAULT_CACHE`: "use the process-wide `default_cache()`"."""

    _instance: DefaultCache | None = None

    def __new__(cls) -> DefaultCache:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<process default>"

    def __reduce__(self) -> str:
        return "DEFAULT_CACHE"  # the receiving process's own default


#: The default of every ``cache=`` parameter: the process-wide `default_cache()`.
DEFAULT_CACHE: Final = DefaultCache()

CacheArg = CredentialCache | DefaultCache | None


class MemoryCache:
    """A bounded, thread-safe, in-process cache (LRU beyond ``maxsize``).

    Args:
        maxsize: entries kept; the least recently used go first beyond it.

    Raises:
        InvalidParameterError: ``maxsize`` is not a positive ``int``.

    Example:
        ```python
        tenants = rolesession.MemoryCache(maxsize=10_000)  # one entry per tenant's scoped session
        session = rolesession.assume_role(arn, cache=tenants)
        ```
    """

    persistent = False
    """Entries never leave the process, so callable-token credentials may be kept here."""

    def __init__(self, maxsize: int = 1024) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise fail("maxsize", f"must be a positive int, got {maxsize!r}")
        self.maxsize = maxsize
        """The most entries kept."""
        import cachetools  # on first use: ``import rolesession`` stays light

        self._data: cachetools.LRUCache[Hashable, dict[str, Any]] = cachetools.LRUCache(maxsize)
        self._lock = threading.Lock()
        _state.track(self)

    def get(self, key: Hashable) -> dict[str, Any] | None:
        """The entry for ``key``, or ``None``."""
        with self._lock:
            return self._data.get(key)

    def set(self, key: Hashable, entry: dict[str, Any]) -> None:
        """Store ``entry`` for ``key`` (evicting the least recently used beyond ``maxsize``)."""
        with self._lock:
            self._data[key] = entry

    def delete(self, key: Hashable) -> None:
        """Remove the entry for ``key``, if any."""
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"MemoryCache(maxsize={self.maxsize}, entries={len(self._data)})"

    def _after_fork(self) -> None:
        # A lock held by another thread when the process forked is never
        # released in the child.
        self._lock = threading.Lock()


def default_cache() -> MemoryCache:
    """The process-wide `MemoryCache` used when ``cache=`` is not given.

    Returns:
        The cache (the same object for the life of the process; a forked
        child keeps its contents).

    Example:
        ```python
        rolesession.default_cache().clear()  # forget every cached credential of this process
        ```
    """
    state = _state.state
    if state.default_cache is None:
        with state.lock:
            if state.default_cache is None:
                state.default_cache = MemoryCache()
    return state.default_cache  # type: ignore[no-any-return]


def check_cache(value: object, parameter: str = "cache") -> Any:
    """``value`` if it has the cache interface (``None`` disables caching)."""
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


# Pickles name the public module (``rolesession.X``), never this private one, which a later
# release may move (the stable pickle format, docs/architecture.md).
for _public in (CredentialCache, MemoryCache,):
    _public.__module__ = "rolesession"
del _public
