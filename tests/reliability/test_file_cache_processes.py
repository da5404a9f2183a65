"""FileCache hammered by several processes at once on one directory.

Four processes (``spawn``) run several hundred interleaved operations each on a
few shared keys: reads (through ``get()`` and straight off the disk), writes
of live and expired entries, deletes, ``clear()``, sweeps, token rotations
(new keys that are never met again) and refreshes guarded by ``lock(key)``.

What must hold throughout: no exception escapes the cache and it never logs
a WARNING (it never thinks the directory unwritable); every read is ``None``
or a whole entry written by one writer (never torn or mixed); every file is
0600; ``lock(key)`` is single-flight across processes (an ``O_EXCL`` marker
proves no overlap, and a read-modify-write counter loses no update); a
user's file in the directory survives every ``clear()`` and sweep; and the
directory stays bounded although every rotation adds new keys.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import queue
import random
import re
import stat
import time
import traceback
from pathlib import Path
from typing import Any

from rolesession import FileCache
from rolesession._credentials import RoleCredentials

PROCESSES = 4
OPERATIONS = 600
SHARED_KEYS = [hashlib.sha256(f"shared {n}".encode()).hexdigest() for n in range(3)]
USER_FILE = "0" * 64 + ".json"  # a user's own JSON that merely has an entry's name
USER_CONTENT = {"mine": True, "Version": 1}
OUR_NAME = re.compile(r"[0-9a-f]{64}\.(json|lock)|\.[0-9a-f]{64}\.[0-9a-f]{16}\.tmp")
TOKEN_BYTES = 16_000  # big enough that a torn write would show
READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)

#: Operations and their weights.
MIX = {
    "get": 30,
    "raw-read": 10,
    "set": 18,
    "set-expired": 5,
    "rotate": 8,
    "delete": 4,
    "refresh-under-lock": 12,
    "clear": 3,
    "sweep": 6,
    "new-cache-object": 4,
}


def token_for(access_key: str) -> str:
    """Every byte of an entry follows from its access key: a mix of two writers cannot pass."""
    return (access_key * (TOKEN_BYTES // len(access_key) + 1))[:TOKEN_BYTES]


def make_entry(writer: int, serial: int, *, expired: bool = False) -> dict[str, Any]:
    access_key = f"ASIA{writer:04d}{serial:08d}"
    received = time.time() - (7200 if expired else 0)
    return RoleCredentials(
        access_key=access_key,
        secret_key="secret-" + access_key,
        token=token_for(access_key),
        expiration=received + 3600,
        received=received,
        arn="arn:aws:sts::123456789012:assumed-role/Hammer/s",
        user_id="AROAHAMMER:s",
    ).to_entry()


def is_whole(entry: object) -> bool:
    creds = RoleCredentials.from_entry(entry)
    return (
        creds is not None
        and creds.token == token_for(creds.access_key)
        and creds.secret_key == "secret-" + creds.access_key
    )


def raw_read(path: str) -> tuple[bool, bool]:
    """(whole, private) for the file at ``path``, read straight off the disk; missing is fine."""
    try:
        fd = os.open(path, READ_FLAGS)
    except FileNotFoundError:
        return True, True
    try:
        info = os.fstat(fd)
        private = stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    try:
        return is_whole(json.loads(b"".join(chunks))), private
    except ValueError:
        return False, private


def our_files(directory: str) -> list[str]:
    return [n for n in os.listdir(directory) if OUR_NAME.fullmatch(n) and n != USER_FILE]


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def refresh_under_lock(cache: FileCache, key: str, markers: str, entry: dict[str, Any]) -> bool:
    """A refresh as the engine does it; whether another process was inside at the same time."""
    overlapped = False
    with cache.lock(key):
        marker = os.path.join(markers, f"{key}.inflight")
        try:
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            overlapped = True
        counter = Path(markers) / f"{key}.count"
        count = int(counter.read_text()) if counter.exists() else 0
        time.sleep(0.001)  # widen the window a second holder would need
        cache.set(key, entry)
        counter.write_text(str(count + 1))
        if not overlapped:
            os.unlink(marker)
    return overlapped


def worker(index: int, directory: str, markers: str, barrier: Any, results: Any) -> None:
    try:
        results.put(_run(index, directory, markers, barrier))
    except BaseException:
        results.put({"index": index, "crash": traceback.format_exc()})


def _run(index: int, directory: str, markers: str, barrier: Any) -> dict[str, Any]:
    warnings = _Warnings()
    logging.getLogger("rolesession").addHandler(warnings)
    rng = random.Random(index)
    operations, weights = list(MIX), list(MIX.values())
    cache = FileCache(directory, lock_timeout=30)
    errors: list[str] = []
    torn = loose = overlaps = reads = 0
    locked: dict[str, int] = {}
    max_files = 0
    barrier.wait(60)
    for serial in range(OPERATIONS):
        operation = rng.choices(operations, weights)[0]
        key = rng.choice(SHARED_KEYS)
        path = os.path.join(directory, f"{key}.json")
        try:
            if operation == "get":
                reads += 1
                found = cache.get(key)
                torn += found is not None and not is_whole(found)
            elif operation == "raw-read":
                reads += 1
                whole, private = raw_read(path)
                torn += not whole
                loose += not private
            elif operation in ("set", "set-expired"):
                cache.set(key, make_entry(index, serial, expired=operation == "set-expired"))
                loose += not raw_read(path)[1]
            elif operation == "rotate":
                rotated = hashlib.sha256(f"rotation {index} {serial}".encode()).hexdigest()
                with cache.lock(rotated):
                    cache.set(rotated, make_entry(index, serial, expired=True))
                # In real life minutes pass before that lock file is idle; here, a utime
                # (unless another process's clear() or sweep has removed it already).
                stale = time.time() - 600
                with contextlib.suppress(FileNotFoundError):
                    os.utime(os.path.join(directory, f"{rotated}.lock"), (stale, stale))
            elif operation == "delete":
                cache.delete(key)
            elif operation == "refresh-under-lock":
                overlaps += refresh_under_lock(cache, key, markers, make_entry(index, serial))
                locked[key] = locked.get(key, 0) + 1
            elif operation == "clear":
                cache.clear()
            elif operation == "sweep":
                cache._sweep(time.time())
            else:
                cache = FileCache(directory, lock_timeout=30)  # as a new process would
        except Exception as exc:
            errors.append(f"{operation}: {exc!r}")
        if serial % 10 == 0:
            max_files = max(max_files, len(our_files(directory)))
    return {
        "index": index,
        "errors": errors,
        "warnings": warnings.messages,
        "reads": reads,
        "torn": torn,
        "loose": loose,
        "overlaps": overlaps,
        "locked": locked,
        "max_files": max_files,
    }


def test_many_processes_hammer_one_directory(tmp_path: Path) -> None:
    directory, markers = tmp_path / "cache", tmp_path / "markers"
    markers.mkdir()
    FileCache(directory)
    (directory / USER_FILE).write_text(json.dumps(USER_CONTENT))
    (directory / "README").write_text("the user's")
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results_queue = context.Queue()
    processes = [
        context.Process(target=worker, args=(i, str(directory), str(markers), barrier, results_queue))
        for i in range(PROCESSES)
    ]
    started = time.monotonic()
    for process in processes:
        process.start()
    results: list[dict[str, Any]] = []
    try:
        for _ in processes:
            results.append(results_queue.get(timeout=120))
    except queue.Empty:
        pass
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
    seconds = time.monotonic() - started

    crashes = [r["crash"] for r in results if "crash" in r]
    assert len(results) == PROCESSES and not crashes, crashes
    errors = [e for r in results for e in r["errors"]]
    warnings = [w for r in results for w in r["warnings"]]
    torn = sum(r["torn"] for r in results)
    reads = sum(r["reads"] for r in results)
    loose = sum(r["loose"] for r in results)
    overlaps = sum(r["overlaps"] for r in results)
    refreshes = {key: sum(r["locked"].get(key, 0) for r in results) for key in SHARED_KEYS}
    counted = {
        key: int((markers / f"{key}.count").read_text()) if (markers / f"{key}.count").exists() else 0
        for key in SHARED_KEYS
    }
    max_files = max(r["max_files"] for r in results)
    FileCache(directory)._sweep(time.time())
    left = our_files(str(directory))
    figure = (
        f"{PROCESSES} processes x {OPERATIONS} operations in {seconds:.1f} s: {len(errors)} errors, "
        f"{torn} torn reads of {reads}, {overlaps} overlapping locked refreshes of "
        f"{sum(refreshes.values())}, {loose} files looser than 0600, at most {max_files} files "
        f"({len(left)} after a last sweep)"
    )
    print(figure)

    assert errors == [] and warnings == [], f"{figure}\n{errors[:5]}\n{warnings[:5]}"
    assert torn == 0 and loose == 0, figure
    assert overlaps == 0 and counted == refreshes, f"{figure}\nlost updates: {refreshes} vs {counted}"
    assert json.loads((directory / USER_FILE).read_text()) == USER_CONTENT, figure
    assert (directory / "README").exists(), figure
    # Unbounded, the rotations alone would leave two files each (~2 x 190).
    assert max_files <= 40, figure
    assert len(left) <= 2 * len(SHARED_KEYS), f"{figure}: {sorted(left)}"
    for name in left:
        path = directory / name
        assert stat.S_IMODE(path.lstat().st_mode) == 0o600, f"{name} {oct(path.lstat().st_mode)}"
        if name.endswith(".json"):
            assert is_whole(json.loads(path.read_text())), name
