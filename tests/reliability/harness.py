"""Many readers at once, every read timed with the real clock.

`run_readers` starts N threads that each call ``read()`` (by default
``session.get_credentials().get_frozen_credentials()``) in a loop for a number
of seconds or reads, and reports the worst wait overall and per thread, the
number of reads and every error. Durations use the real
``time.perf_counter`` even while freezegun freezes the test's clock, and a
reader still stuck in a read when the run's deadline passes is reported (its
wait so far counts) instead of hanging the test.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import botocore.config

from .faultproxy import real_clock

__all__ = [
    "ATTEMPT_REQUESTS",
    "ATTEMPT_SECONDS",
    "NO_WAIT",
    "STS_CONFIG",
    "ReaderReport",
    "frozen_read",
    "run_readers",
    "short_sts_config",
    "wait_until",
    "warnings_from",
]

#: One attempt = at most 2 HTTP requests, each given up after 1 s: a hung STS
#: costs a reader ~2 s (plus botocore's retry delay), not the default ~15 s.
ATTEMPT_REQUESTS = 2


def short_sts_config() -> botocore.config.Config:
    """A new ``Config`` with the suite's short timeouts (equal options, a new object each call)."""
    return botocore.config.Config(connect_timeout=1, read_timeout=1, retries={"total_max_attempts": 2})


#: The one ``sts_config`` object the suite passes (one object, so no test
#: depends on configs comparing by value unless it says so).
STS_CONFIG = short_sts_config()
#: Upper bound of one attempt against a hung STS: 2 x 1 s read timeout, botocore's
#: standard-mode retry delay (< 1 s) and generous slack for a loaded 2-core box.
ATTEMPT_SECONDS = 5.0
#: What the suite accepts as "did not wait for STS" for a reader holding valid
#: credentials. Not a speed target (benchmarks/ measure the SPEC's milliseconds):
#: a bound no loaded machine reaches by scheduling alone, yet below the ~2 s a
#: reader waiting for one attempt against a hung STS would take.
NO_WAIT = 1.5


def frozen_read(session: Any) -> Callable[[], Any]:
    """The hot path every signed request takes."""
    credentials = session.get_credentials()
    return credentials.get_frozen_credentials  # type: ignore[no-any-return]


@dataclass
class ReaderReport:
    """What a run of readers saw."""

    threads: int
    reads: int = 0
    worst: float = 0.0  # seconds, the longest single read (or stuck wait)
    per_thread_worst: list[float] = field(default_factory=list, repr=False)
    errors: list[BaseException] = field(default_factory=list, repr=False)
    values: list[Any] = field(default_factory=list, repr=False)  # distinct results (by identity), in order
    stuck: int = 0  # readers still inside a read when the deadline passed
    slow: float = NO_WAIT  # the threshold of ``slow_reads``, seconds
    slow_reads: int = 0  # reads that took longer than ``slow``
    elapsed: float = 0.0

    def error_types(self) -> set[str]:
        return {type(e).__name__ for e in self.errors}

    def summary(self) -> str:
        """The numbers, for assertion messages and reports."""
        worst_threads = sorted(self.per_thread_worst, reverse=True)[:4]
        return (
            f"{self.threads} threads, {self.reads} reads in {self.elapsed:.2f} s, "
            f"worst wait {self.worst * 1000:.1f} ms (slowest threads: "
            f"{', '.join(f'{w * 1000:.1f}' for w in worst_threads)} ms), "
            f"{self.slow_reads} over {self.slow * 1000:.0f} ms, "
            f"{len(self.errors)} errors {sorted(self.error_types())}, {self.stuck} stuck"
        )


class _Reader(threading.Thread):
    def __init__(
        self,
        read: Callable[[], Any],
        start_gate: threading.Barrier,
        stop: threading.Event,
        reads: int | None,
        pause: float,
        slow: float,
    ) -> None:
        super().__init__(daemon=True, name="reliability-reader")
        self._read = read
        self._gate = start_gate
        self._stop_event = stop
        self._reads = reads
        self._pause = pause
        self._slow = slow
        self.slow_reads = 0
        self.count = 0
        self.worst = 0.0
        self.errors: list[BaseException] = []
        self.values: list[Any] = []
        self.in_read_since: float | None = None

    def run(self) -> None:
        self._gate.wait()
        while not self._stop_event.is_set() and (self._reads is None or self.count < self._reads):
            started = real_clock()
            self.in_read_since = started
            try:
                value = self._read()
            except Exception as exc:
                value = None
                self.errors.append(exc)
            finally:
                self.in_read_since = None
            took = real_clock() - started
            self.count += 1
            self.worst = max(self.worst, took)
            if took > self._slow:
                self.slow_reads += 1
            if value is not None and not any(v is value for v in self.values):
                self.values.append(value)
            if self._pause:
                # Sleeping readers leave the GIL to whoever is being measured:
                # a tight loop of 16 threads would time the scheduler instead.
                time.sleep(self._pause)


def run_readers(
    read: Callable[[], Any],
    *,
    threads: int = 16,
    seconds: float | None = None,
    reads: int | None = None,
    pause: float = 0.001,
    deadline: float | None = None,
    slow: float = NO_WAIT,
) -> ReaderReport:
    """Run ``threads`` readers calling ``read()`` for ``seconds`` or ``reads`` reads each.

    All start together (a barrier). ``deadline`` (real seconds, default
    ``seconds + 10`` or 30) bounds the whole run: readers still inside a read
    then are counted as ``stuck`` and their wait so far as a read's wait.
    Reads longer than ``slow`` seconds are counted in ``slow_reads``.
    """
    if (seconds is None) == (reads is None):
        raise ValueError("give seconds or reads")
    if deadline is None:
        deadline = (seconds + 10.0) if seconds is not None else 30.0
    gate = threading.Barrier(threads + 1)
    stop = threading.Event()
    readers = [_Reader(read, gate, stop, reads, pause, slow) for _ in range(threads)]
    for reader in readers:
        reader.start()
    gate.wait()
    started = real_clock()
    if seconds is not None:
        stop.wait(seconds)
        stop.set()
    end = started + deadline
    for reader in readers:
        reader.join(max(0.0, end - real_clock()))
    stop.set()
    now = real_clock()
    report = ReaderReport(threads=threads, elapsed=now - started, slow=slow)
    for reader in readers:
        worst = reader.worst
        since = reader.in_read_since
        if reader.is_alive() and since is not None:
            report.stuck += 1
            worst = max(worst, now - since)
        report.reads += reader.count
        report.slow_reads += reader.slow_reads
        report.per_thread_worst.append(worst)
        report.errors.extend(reader.errors)
        for value in reader.values:
            if not any(v is value for v in report.values):
                report.values.append(value)
    report.worst = max(report.per_thread_worst, default=0.0)
    return report


def wait_until(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``condition`` with the real clock until it is true or ``timeout`` passes."""
    end = real_clock() + timeout
    while not condition():
        if real_clock() >= end:
            return bool(condition())
        time.sleep(interval)
    return True


def warnings_from(
    records: Iterable[logging.LogRecord], logger: str = "rolesession"
) -> list[logging.LogRecord]:
    """WARNING-and-above records of ``logger`` and its children."""
    return [
        r
        for r in records
        if r.levelno >= logging.WARNING and (r.name == logger or r.name.startswith(logger + "."))
    ]
