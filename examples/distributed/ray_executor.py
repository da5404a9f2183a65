"""A ``concurrent.futures.Executor`` over Ray tasks, for `rolesession.fan_out` (and anything else).

Ray ships no ``Executor`` (``ray.util.multiprocessing.Pool`` is a
``multiprocessing.Pool`` look-alike), but every ``ObjectRef`` turns into a
``concurrent.futures.Future`` with ``.future()``, so this is all it takes::

    import ray
    ray.init()                                    # or ray.init(address="ray://head:10001")
    with RayExecutor(num_cpus=0.25) as executor:  # STS-bound work: several tasks per CPU
        results = rolesession.fan_out(arns, audit, executor=executor)

Copy it into your project; ``tests/distributed/test_ray_fan_out.py`` runs it
on a local Ray instance.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any


class RayExecutor(concurrent.futures.Executor):
    """A ``concurrent.futures.Executor`` that runs each call as a Ray task.

    Ray ships no ``Executor`` (``ray.util.multiprocessing.Pool`` is a
    ``multiprocessing.Pool`` look-alike); but every ``ObjectRef`` turns into
    a ``concurrent.futures.Future`` with ``.future()``, so this is all it
    takes. ``options`` go to ``ray.remote(...).options`` (``num_cpus``,
    ``max_retries``, ...). Needs ``ray.init()`` first.

        with RayExecutor() as executor:
            results = rolesession.fan_out(arns, fn, executor=executor)
    """

    def __init__(self, **options: Any) -> None:
        import ray

        # A lambda travels by value: the workers need not import this module.
        task = ray.remote(lambda fn, *args, **kwargs: fn(*args, **kwargs))
        self._task = task.options(**options) if options else task
        self._lock = threading.Lock()
        self._shutdown = False
        self._pending: dict[concurrent.futures.Future[Any], Any] = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            ref = self._task.remote(fn, *args, **kwargs)
            future: concurrent.futures.Future[Any] = ref.future()
            self._pending[future] = ref
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.pop(future, None)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        import ray

        with self._lock:
            self._shutdown = True
            pending = dict(self._pending)
        if cancel_futures:
            for future, ref in pending.items():
                if not future.done():
                    ray.cancel(ref)
        if wait:
            concurrent.futures.wait(list(pending))
