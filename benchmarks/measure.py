"""What every benchmark case shares: the result record, timing and memory tools, a clean environment.

The bottom of the benchmarks: case modules (``cases.py``, ``*_cases.py``) import from here and
``run.py`` imports them all, so nothing imports upwards.
"""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import threading
import time
import timeit
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

Log = Callable[[str], None]


@dataclass
class Result:
    key: str
    what: str
    baseline_what: str
    ours: float
    baseline: float
    unit: str
    target: str
    ratio: float | None  # baseline / ours where "x faster" makes sense
    passed: bool | None
    notes: list[str] = field(default_factory=list)


def median_per_call(fn: Callable[[], object], number: int, repeat: int) -> float:
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@contextmanager
def traced() -> Iterator[Callable[[], int]]:
    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    try:
        yield lambda: tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()


def max_read_latency(read: Callable[[], object], seconds: float, readers: int) -> float:
    """Readers call ``read`` about every 0.2 ms for ``seconds``; the slowest read in seconds."""
    return max(slowest_reads(read, seconds, readers))


def slowest_reads(read: Callable[[], object], seconds: float, readers: int) -> list[float]:
    """Readers call ``read`` about every 0.2 ms for ``seconds``; each reader's slowest read."""
    worst = [0.0] * readers
    start = threading.Barrier(readers + 1)

    def reader(i: int) -> None:
        start.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            read()
            worst[i] = max(worst[i], time.perf_counter() - t0)
            time.sleep(0.0002)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(readers)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join()
    return worst


def isolate_environment() -> None:
    """Fake source credentials, no AWS config files, a private cache directory."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    scratch = tempfile.mkdtemp(prefix="rolesession-bench-")
    os.environ.update(
        AWS_ACCESS_KEY_ID="AKIAIOSFODNN7EXAMPLE",
        AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.path.join(scratch, "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=os.path.join(scratch, "no-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        XDG_CACHE_HOME=os.path.join(scratch, "cache"),
    )
