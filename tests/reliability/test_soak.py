"""Soak: several processes sharing a FileCache, many readers each, STS faults rotating.

Deselected by default (``-m "not soak"`` in pyproject); run with
``pytest -m soak tests/reliability``. Knobs: ``SOAK_PROCESSES`` (3),
``SOAK_THREADS`` (64 per process), ``SOAK_SECONDS`` (60), ``SOAK_STEP`` (3 s
per fault).

The proxy makes every credential set last 30 s, so in one minute each process
goes through several refreshes while the faults rotate (every other step is
healthy). What must hold throughout:

- every read returns credentials or raises a `CredentialRefreshError`
  (never anything else), no process crashes, no traceback on stderr;
- no read waits longer than one attempt (readers share attempts; readers
  holding valid credentials do not wait at all);
- reads that fail are rare (the fault windows are short next to the
  credentials' lifetime: static stability carries them over);
- STS load stays bounded (single-flight across processes via the FileCache,
  backoff between failed attempts).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import rolesession

from .faultproxy import FaultProxy, real_clock
from .harness import ATTEMPT_SECONDS
from .soak_worker import LIFETIME

pytestmark = pytest.mark.soak

PROCESSES = int(os.environ.get("SOAK_PROCESSES", "3"))
THREADS = int(os.environ.get("SOAK_THREADS", "64"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "60"))
STEP = float(os.environ.get("SOAK_STEP", "3"))

FAULT_CYCLE: list[tuple[str, Callable[[FaultProxy], Any]]] = [
    ("hang", lambda p: p.hang(action="AssumeRole")),
    ("slow", lambda p: p.slow(0.5, action="AssumeRole")),
    ("refused", lambda p: p.refuse(listener=True)),
    ("reset", lambda p: p.reset(action="AssumeRole")),
    ("503", lambda p: p.http_5xx(503, action="AssumeRole")),
    ("throttle", lambda p: p.throttle(action="AssumeRole")),
    ("non-xml", lambda p: p.non_xml(action="AssumeRole")),
    ("closed", lambda p: p.refuse(action="AssumeRole")),
]


def _rotate(proxy: FaultProxy, stop: threading.Event, log: list[str]) -> None:
    """Healthy and faulty steps alternate; every step keeps the short lifetime on."""
    step = 0
    while not stop.is_set():
        proxy.clear()
        proxy.expire_in(LIFETIME, action="AssumeRole")
        if step % 2:
            name, switch_on = FAULT_CYCLE[(step // 2) % len(FAULT_CYCLE)]
            switch_on(proxy)
            log.append(name)
        else:
            log.append("healthy")
        step += 1
        stop.wait(STEP)
    proxy.clear()


def test_soak_many_processes_and_threads_under_rotating_faults(moto_server: str, tmp_path: Path) -> None:
    proxy = FaultProxy(moto_server).start()
    proxy.expire_in(LIFETIME, action="AssumeRole")
    cache_dir = tmp_path / "shared-cache"
    env = dict(os.environ)
    tests_dir = str(Path(__file__).resolve().parents[1])
    source = str(Path(rolesession.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (source, tests_dir, env.get("PYTHONPATH")) if p)
    stop = threading.Event()
    schedule: list[str] = []
    rotator = threading.Thread(target=_rotate, args=(proxy, stop, schedule), daemon=True)
    started = real_clock()
    try:
        workers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "reliability.soak_worker",
                    proxy.url,
                    str(cache_dir),
                    str(THREADS),
                    str(SECONDS),
                ],
                env=env,
                cwd=tests_dir,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(PROCESSES)
        ]
        rotator.start()
        outputs = [w.communicate(timeout=SECONDS + 120) for w in workers]
    finally:
        stop.set()
        rotator.join(10)
        proxy.stop()
    took = real_clock() - started

    results = []
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, f"worker failed: {out[-2000:]} {err[-2000:]}"
        assert "Traceback" not in err, err[-4000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    reads = sum(r["reads"] for r in results)
    failed = sum(sum(r["errors"].values()) for r in results)
    worst = max(r["worst"] for r in results)
    assume_requests = proxy.count("AssumeRole")
    report = (
        f"{PROCESSES} processes x {THREADS} threads x {SECONDS:.0f} s ({took:.0f} s wall), "
        f"faults {schedule}: {reads} reads, {failed} failed reads {[r['errors'] for r in results]}, "
        f"worst wait {worst * 1000:.0f} ms, "
        f"slow reads {[r['slow_reads'] for r in results]}, AssumeRole requests {assume_requests} "
        f"(forwarded {proxy.count('AssumeRole', fault='forward')}), credential sets seen "
        f"{[r['keys'] for r in results]}"
    )
    print(f"[soak] {report}")
    assert all(r["non_refresh_errors"] == 0 for r in results), report
    assert all(r["stuck"] == 0 for r in results), report
    assert worst < ATTEMPT_SECONDS + 0.5, report
    assert failed <= reads * 0.01, report
    # Processes share refreshed credentials through the FileCache instead of each fetching its own.
    assert proxy.count("AssumeRole", fault="forward") <= 2 * max(r["keys"] for r in results), report
    # A refresh cycle every ~15 s per process; a few attempts of 2 requests each.
    assert assume_requests <= 10 * SECONDS / LIFETIME * PROCESSES * 2, report
