"""Long-lived daemon threads that run background refreshes.

A read that finds its credentials in the advisory window hands the refresh
to this pool and returns at once. Starting a thread costs a few milliseconds
under GIL contention (``Thread.start()`` waits for the new thread to run), so
a reader never starts one: the pool is started from a path that is already
slow (a fetch that waited for STS), and a worker that takes the last idle
slot starts the next spare thread itself. A thread that stays idle for a
minute ends, so a process that refreshed many roles once does not keep many
threads.

A job that raises is logged and forgotten: jobs report their outcome through
the objects they were given.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from . import _state

__all__ = ["in_background", "submit", "warm_up"]

logger = logging.getLogger("rolesession")

#: At most this many refreshes run at once; more wait in the queue. A hanging
#: STS holds one thread per role for the length of one attempt (seconds).
MAX_THREADS = 32
#: A spare thread idle this long ends (the first one stays).
IDLE_SECONDS = 60.0

Job = Callable[[], None]


class _Pool:
    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0

    def warm_up(self) -> None:
        """Have at least one idle worker (called where a thread start costs nothing noticeable)."""
        if self._threads:
            return
        with self._lock:
            if self._threads == 0:
                self._start_locked()

    def submit(self, job: Job) -> None:
        self._jobs.put(job)
        if self._threads == 0:  # not warmed up (e.g. the first read after fork)
            self.warm_up()

    def _start_locked(self) -> None:
        self._threads += 1
        self._idle += 1
        try:
            threading.Thread(target=self._work, name="rolesession-refresh", daemon=True).start()
        except BaseException:  # e.g. "can't start new thread": the queue waits for another
            self._threads -= 1
            self._idle -= 1
            raise

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    if self._threads > 1:
                        self._threads -= 1
                        self._idle -= 1
                        return
                continue
            with self._lock:
                self._idle -= 1
                if self._idle == 0 and self._threads < MAX_THREADS:
                    try:
                        self._start_locked()  # this worker pays for the spare, not a reader
                    except Exception:
                        logger.debug("could not start a spare refresh worker", exc_info=True)
            _worker.active = True
            try:
                job()
            except BaseException:
                logger.debug("a background refresh job failed", exc_info=True)
            finally:
                _worker.active = False
                with self._lock:
                    self._idle += 1


_worker = threading.local()


def in_background() -> bool:
    """Whether this thread is running a background refresh (no person may be asked here)."""
    return bool(getattr(_worker, "active", False))


def _pool() -> _Pool:
    # Kept in the process state: a forked child starts with a new pool
    # (worker threads do not survive fork; queued jobs belong to the parent).
    state = _state.state
    if state.workers is None:
        with state.lock:
            if state.workers is None:
                state.workers = _Pool()
    return state.workers  # type: ignore[no-any-return]


def submit(job: Job) -> None:
    """Run ``job`` on a worker thread; never starts a thread once the pool is warm."""
    _pool().submit(job)


def warm_up() -> None:
    """Make sure a worker is waiting for jobs."""
    _pool().warm_up()
