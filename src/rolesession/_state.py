"""Everything rolesession keeps per process, in one place.

* the warm-session registry (asking again for the same role returns the same
  `RoleSession` while its credentials are cached);
* the STS client pool (one client per signer, region, endpoint and config;
  bounded);
* the default-chain source sessions (one per distinct AWS environment);
* the process-wide default cache;
* per-cache-key locks (single-flight across sessions in this process);
* the refresh workers;
* objects holding locks a forked child must not inherit (engines, memory
  caches), and hooks the testing kit installs on new STS clients.

`reset()` empties it (tests and benchmarks); the one fork hook at the bottom
gives a forked child fresh locks, no parent connections and no parent
threads. Nothing here imports the rest of the package, so every module can
use it.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import cachetools

__all__ = ["reset"]

#: Sessions kept for warm re-assume; beyond this the least recently asked go.
#: As many as the default cache holds entries: a session whose entry the
#: cache evicted cannot be served warm, and holding it only costs memory
#: (~44 KiB each: 4096 of them after a 10,000-account fan_out held 182 MB).
WARM_SESSIONS = 1024
#: STS clients kept per signer (and for unsigned calls): a program passing a
#: new ``Config`` per call does not grow the pool without end.
CLIENTS_PER_SIGNER = 16
UNSIGNED_CLIENTS = 64


def _lru(maxsize: int) -> cachetools.LRUCache[Any, Any]:
    import cachetools  # on first use: ``import rolesession`` stays light

    return cachetools.LRUCache(maxsize)


class _State:
    """The process's state; replaced whole in a forked child."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # guards the registries below; held for microseconds
        self.sessions: cachetools.LRUCache[Hashable, Any] | None = None
        self.signed_clients: weakref.WeakKeyDictionary[Any, cachetools.LRUCache[Hashable, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self.unsigned_clients: cachetools.LRUCache[Hashable, Any] | None = None
        self.client_lock = threading.Lock()  # held while a client is built (not thread-safe in botocore)
        self.default_sources: dict[str, Any] = {}
        self.pickle_warned: set[str] = set()  # secret-bearing kinds of pickled recipe, warned once each
        self.default_cache: Any = None
        self.key_locks: weakref.WeakValueDictionary[tuple[int, Hashable], KeyLock] = (
            weakref.WeakValueDictionary()
        )
        self.workers: Any = None
        self.profile_sources: dict[Hashable, Any] = {}  # from_profile's source sessions
        self.user_at_host: str | None = None  # the default session name's last resort, looked up once
        self.skew_warned = False  # a clock skew over 60 s is reported once per process
        self.regions_warned: set[str] = set()  # region names botocore does not know, reported once each
        self.botocore_lock = threading.Lock()  # the shared loader and template (``_botocore``)


class KeyLock:
    """A lock for one cache key; weakly registered, so it lives only while used."""

    __slots__ = ("__weakref__", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()


state = _State()

# Objects with locks of their own (refresh engines, memory caches): each has
# an ``_after_fork()`` method the fork hook calls in the child.
_forkable: weakref.WeakSet[Any] = weakref.WeakSet()

#: ``(event, handler)`` pairs registered on every new STS client: the seam
#: ``rolesession.testing`` records and fails STS calls through.
sts_client_hooks: list[tuple[str, Callable[..., Any]]] = []


def track(obj: Any) -> None:
    """Have ``obj._after_fork()`` called in a forked child."""
    _forkable.add(obj)


def warm_sessions() -> cachetools.LRUCache[Hashable, Any]:
    """The warm-session registry (call with ``state.lock`` held)."""
    if state.sessions is None:
        state.sessions = _lru(WARM_SESSIONS)
    return state.sessions


def client_table(signer: Any) -> cachetools.LRUCache[Hashable, Any]:
    """The STS clients signing with ``signer`` (``None``: unsigned); call with ``state.lock`` held."""
    if signer is None:
        if state.unsigned_clients is None:
            state.unsigned_clients = _lru(UNSIGNED_CLIENTS)
        return state.unsigned_clients
    table = state.signed_clients.get(signer)
    if table is None:
        table = state.signed_clients[signer] = _lru(CLIENTS_PER_SIGNER)
    return table


def sts_client_count() -> int:
    """How many STS clients the pool holds now."""
    with state.lock:
        signed = sum(len(table) for table in state.signed_clients.values())
        return signed + len(state.unsigned_clients or ())


def key_lock(cache: object, key: Hashable) -> KeyLock:
    """The process-wide lock for ``key`` in ``cache``: sessions fetching the same
    entry at once make one STS call, the others then find the entry."""
    name = (id(cache), key)
    with state.lock:
        lock = state.key_locks.get(name)
        if lock is None:
            lock = state.key_locks[name] = KeyLock()
    return lock


def reset() -> None:
    """Start afresh, as a new process would (tests and benchmarks).

    Forgets warm sessions, STS clients, default and profile sources, cached
    credentials (a new default cache: a background refresh still running
    from before writes into the old one, never into the new), and what the
    process learnt once: its default session name and whether it warned
    about clock skew or an unknown region name.
    """
    with state.lock:
        if state.sessions is not None:
            state.sessions.clear()
        state.signed_clients.clear()
        if state.unsigned_clients is not None:
            state.unsigned_clients.clear()
        state.default_sources.clear()
        state.pickle_warned.clear()  # (what a pickled recipe carries is reported again)
        state.profile_sources.clear()
        state.default_cache = None
        state.user_at_host = None
        state.skew_warned = False
        state.regions_warned.clear()


def _after_fork_in_child() -> None:
    # Locks held by threads that do not exist in the child would never be
    # released; connection pools must not be shared with the parent; worker
    # threads do not survive fork. The child keeps its caches' contents and
    # its sessions' held credentials, with fresh locks.
    global state
    old = state
    state = _State()
    state.default_cache = old.default_cache
    for obj in list(_forkable):
        obj._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
