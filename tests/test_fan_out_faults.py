"""fan_out() under faults: BaseExceptions from fn, caches that cannot travel, unbounded input.

SPEC "Reliability additions": any exception from ``fn``, ``SystemExit``
included, lands in that entry's ``error``; with an ``executor``, a ``cache``
that cannot be shipped is an ``InvalidParameterError`` before any work;
iterables given as parameters are read only up to the largest valid size.
"""

from __future__ import annotations

import functools
import itertools
import multiprocessing
import os
import pickle
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import pytest

import rolesession
from helpers import ACCOUNT, OTHER_ACCOUNT, ROLE, ROLE_B, ROLE_C, THIRD_ACCOUNT, RecordingCache
from rolesession import FileCache, InvalidParameterError, MemoryCache, RoleSession, fan_out

POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"


def _account(session: RoleSession) -> str:
    return session.client("sts").get_caller_identity()["Account"]


class _Fatal(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt."""


# -- BaseExceptions from fn ------------------------------------------------------------------


@pytest.mark.parametrize("exc", [SystemExit(3), _Fatal("boom"), GeneratorExit()])
def test_a_base_exception_from_fn_is_that_entrys_error(sts_mock, exc):
    def fn(session: RoleSession) -> str:
        if session.role_arn == ROLE_B:
            raise exc
        return _account(session)

    results = fan_out([ROLE, ROLE_B, ROLE_C], fn, max_workers=2)
    assert [r.value for r in results] == [ACCOUNT, None, THIRD_ACCOUNT]
    assert results[1].error is exc and not results[1].ok
    assert results[0].ok and results[2].ok


def test_keyboard_interrupt_from_fn_still_stops_the_run(sts_mock):
    def fn(session: RoleSession) -> str:
        if session.role_arn == ROLE_B:
            raise KeyboardInterrupt
        return _account(session)

    with pytest.raises(KeyboardInterrupt):
        fan_out([ROLE, ROLE_B, ROLE_C], fn, max_workers=1)


def test_keyboard_interrupt_does_not_start_queued_entries(sts_mock):
    started: list[str] = []
    lock = threading.Lock()

    def fn(session: RoleSession) -> None:
        with lock:
            started.append(session.role_arn)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fan_out([ROLE] * 50, fn, max_workers=1)
    assert len(started) < 50


# -- caches and executors --------------------------------------------------------------------


class _CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(2)
        self.submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> Future[Any]:  # type: ignore[override]
        self.submitted += 1
        return super().submit(*args, **kwargs)


class _LockedCache(RecordingCache):
    """A working cache whose lock pickle refuses."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


@pytest.mark.parametrize("cache", [MemoryCache(), _LockedCache()], ids=["MemoryCache", "holds-a-lock"])
def test_a_cache_that_cannot_be_shipped_is_refused_before_any_work(sts_calls, cache):
    called: list[RoleSession] = []
    with _CountingExecutor() as pool, pytest.raises(InvalidParameterError) as info:
        fan_out([ROLE, ROLE_B], called.append, executor=pool, cache=cache)
    assert info.value.parameter == "cache"
    assert type(cache).__name__ in str(info.value) and "FileCache" in str(info.value)
    assert pool.submitted == 0 and called == [] and sts_calls.count() == 0


def test_an_unshippable_cache_is_fine_without_an_executor(sts_mock):
    cache = MemoryCache()
    results = fan_out([ROLE, ROLE_B], _account, cache=cache)
    assert [r.value for r in results] == [ACCOUNT, OTHER_ACCOUNT]


@pytest.mark.parametrize("which", ["default", "explicit default", "none", "file"])
def test_shippable_caches_run_with_an_executor(sts_mock, tmp_path, which):
    kwargs: dict[str, Any] = {
        "default": {},
        "explicit default": {"cache": rolesession.default_cache()},
        "none": {"cache": None},
        "file": {"cache": FileCache(tmp_path / "cache")},
    }[which]
    with _CountingExecutor() as pool:
        results = fan_out([ROLE, ROLE_B], _account, executor=pool, **kwargs)
    assert [r.value for r in results] == [ACCOUNT, OTHER_ACCOUNT]
    assert pool.submitted == 2


class _PicklingExecutor(_CountingExecutor):
    """Ships each job as a process pool would: pickled."""

    def submit(self, *args: Any, **kwargs: Any) -> Future[Any]:  # type: ignore[override]
        pickle.dumps((args, kwargs))  # a MemoryCache (it holds a lock) would fail here
        return super().submit(*args, **kwargs)


def test_the_process_default_cache_is_not_shipped(sts_mock):
    with _PicklingExecutor() as pool:
        results = fan_out([ROLE], _account, executor=pool, cache=rolesession.default_cache())
    assert pool.submitted == 1 and [r.value for r in results] == [ACCOUNT]  # the worker's own default


def _identity_and_pid(endpoint: str, session: RoleSession) -> tuple[str, int]:
    client = session.client("sts", endpoint_url=endpoint)
    return client.get_caller_identity()["Account"], os.getpid()


def _exit_in_worker(session: RoleSession) -> None:
    raise SystemExit(f"gave up on {session.role_arn}")


def test_a_spawned_process_pool_ships_a_file_cache_and_refuses_a_memory_cache(moto_server, tmp_path):
    directory = tmp_path / "shared-cache"
    fn = functools.partial(_identity_and_pid, moto_server)
    common = {"sts_endpoint_url": moto_server, "region": "us-east-1"}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        with pytest.raises(InvalidParameterError) as info:
            fan_out([ROLE, ROLE_B], fn, executor=pool, cache=MemoryCache(), **common)
        assert info.value.parameter == "cache"
        shipped = fan_out([ROLE, ROLE_B], fn, executor=pool, cache=FileCache(directory), **common)
        default = fan_out([ROLE], fn, executor=pool, **common)
        explicit = fan_out([ROLE], fn, executor=pool, cache=rolesession.default_cache(), **common)
        exited = fan_out([ROLE, ROLE_B], _exit_in_worker, executor=pool, cache=None, **common)
    assert [r.value[0] if r.value else r.error for r in shipped] == [ACCOUNT, OTHER_ACCOUNT]
    assert all(r.value[1] != os.getpid() for r in shipped if r.value)  # ran in the worker
    # The worker wrote the credentials into the caller's file cache: it got that cache.
    assert len(list(directory.glob("*.json"))) == 2
    assert [r.value[0] if r.value else r.error for r in default + explicit] == [ACCOUNT, ACCOUNT]
    # SystemExit in a worker process is that entry's error too, and the pool lives on.
    assert [type(r.error) for r in exited] == [SystemExit, SystemExit]
    assert ROLE_B in str(exited[1].error)


# -- bounded input ---------------------------------------------------------------------------


def test_an_endless_role_arns_iterable_is_refused_after_the_limit(sts_calls):
    counter = itertools.count()
    with pytest.raises(InvalidParameterError) as info:
        fan_out((ROLE for _ in counter), _account)
    assert info.value.parameter == "role_arns"
    assert next(counter) == 1_000_000 + 1  # read one past the limit (a million entries), then stopped
    assert sts_calls.count() == 0


def test_role_arns_that_raise_while_read_are_an_invalid_parameter(sts_calls):
    def failing() -> Iterator[str]:
        yield ROLE
        raise OSError("inventory unavailable")

    with pytest.raises(InvalidParameterError) as info:
        fan_out(failing(), _account)
    assert info.value.parameter == "role_arns"
    assert isinstance(info.value.__cause__, OSError)
    assert sts_calls.count() == 0


def test_one_shot_iterables_in_assume_kwargs_reach_every_entry(sts_mock, sts_calls):
    # The up-front check must not use up a generator that the entries then find empty.
    fan_out(
        [ROLE, ROLE_B],
        _account,
        policy_arns=(arn for arn in [POLICY_ARN]),
        tags={"team": "audit"},
        transitive_tag_keys=iter(["team"]),
    )
    assert sts_calls.count("AssumeRole") == 2
    for i in range(2):
        assert sts_calls.params(i)["PolicyArns"] == [{"arn": POLICY_ARN}]
        assert sts_calls.params(i)["TransitiveTagKeys"] == ["team"]


@pytest.mark.parametrize("name", ["policy_arns", "transitive_tag_keys"])
def test_endless_iterables_in_assume_kwargs_are_refused_before_any_work(sts_calls, name):
    item = POLICY_ARN if name == "policy_arns" else "team"
    with pytest.raises(InvalidParameterError) as info:
        fan_out([ROLE], _account, tags={"team": "audit"}, **{name: itertools.repeat(item)})
    assert info.value.parameter == name
    assert sts_calls.count() == 0
