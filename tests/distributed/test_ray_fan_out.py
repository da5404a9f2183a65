"""fan_out on Ray (a local instance of two CPUs) through `distsupport.RayExecutor`.

Ray has no ``concurrent.futures.Executor``; `RayExecutor` is the few lines it
takes (an ``ObjectRef`` becomes a ``concurrent.futures.Future`` with
``.future()``). Skipped where Ray is not installed (the main ``.venv``);
``make distributed`` runs it in ``.venv-dist``.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Iterator

import pytest

# Read by Ray when it is imported: keep every Ray process on loopback (by
# default Ray advertises the host's first network address) and send no usage
# statistics anywhere.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
ray = pytest.importorskip("ray")
pytest.register_assert_rewrite("distsupport")

from distsupport import (  # noqa: E402
    RayExecutor,
    environment,
    fresh_accounts,
    mixed_run,
    role,
    token,
    warm_second_run,
    worker_environment,
)

import rolesession  # noqa: E402
from helpers import SOURCE_KEY  # noqa: E402
from reliability.faultproxy import FaultProxy  # noqa: E402


@pytest.fixture(scope="module")
def sts_proxy(moto_server: str) -> Iterator[FaultProxy]:
    """The counting proxy every worker (and the caller) reaches STS through."""
    proxy = FaultProxy(moto_server).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def ray_local(sts_proxy: FaultProxy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    env = worker_environment(sts_proxy.url, tmp_path_factory.mktemp("ray-workers"))
    with environment(env):
        ray.init(
            address="local",  # a new local instance, never one already running
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": env},
        )
        try:
            assert ray.util.get_node_ip_address() == "127.0.0.1"
            yield
        finally:
            ray.shutdown()


@pytest.fixture
def executor(ray_local: None) -> Iterator[RayExecutor]:
    with RayExecutor() as pool:
        yield pool


@pytest.fixture(autouse=True)
def through_proxy(aws_env: None, sts_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean proxy per test; the caller's STS clients would reach it too (and be seen)."""
    sts_proxy.clear()
    sts_proxy.reset_records()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts_proxy.url)


def test_every_entry_gets_its_result_and_one_sts_call_per_worker_per_role(
    executor: RayExecutor, sts_proxy: FaultProxy
) -> None:
    first = mixed_run(executor, sts_proxy, caller_key=SOURCE_KEY)
    warm_second_run(executor, sts_proxy, first)


def test_fn_runs_once_per_entry(executor: RayExecutor) -> None:
    # Ray tasks are never deduplicated (unlike Dask's pure=True default).
    arns = [role(a) for a in fresh_accounts(2)] * 3
    results = rolesession.fan_out(arns, token, executor=executor)
    assert all(r.ok for r in results) and len({r.value for r in results}) == len(arns)


def test_closures_and_lambdas_travel(executor: RayExecutor) -> None:
    # Ray ships functions with cloudpickle (a ProcessPoolExecutor's pickle cannot ship these).
    suffix = "-seen"
    arns = [role(a) for a in fresh_accounts(2)]
    results = rolesession.fan_out(arns, lambda s: s.role_arn + suffix, executor=executor)
    assert [r.value for r in results] == [arn + suffix for arn in arns]


# -- the adapter itself ----------------------------------------------------------------------


def test_ray_executor_is_a_concurrent_futures_executor(executor: RayExecutor) -> None:
    future = executor.submit(divmod, 17, 5)
    assert isinstance(future, concurrent.futures.Future)
    assert future.result(timeout=60) == (3, 2)
    failing = executor.submit(divmod, 1, 0)
    with pytest.raises(ZeroDivisionError):  # Ray's task error is also the task's exception type
        failing.result(timeout=60)
    assert list(executor.map(pow, [2, 3], [3, 2])) == [8, 9]


def test_ray_executor_refuses_work_after_shutdown(ray_local: None) -> None:
    pool = RayExecutor()
    done = pool.submit(os.getpid)
    pool.shutdown(wait=True)
    assert done.done() and done.result() != os.getpid()
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(os.getpid)
    # fan_out turns a refused submission into that entry's error, never raises.
    [result] = rolesession.fan_out([role(fresh_accounts(1)[0])], token, executor=pool)
    assert isinstance(result.error, RuntimeError)


# -- pickled sessions ----------------------------------------------------------------------------


def test_pickled_sessions_travel_to_ray_tasks_and_refresh_there(
    ray_local: None, sts_proxy: FaultProxy
) -> None:
    from distsupport import assume_role_calls, refresh_inside, travelled

    target = role(fresh_accounts(1)[0])
    session = rolesession.assume_role(target)
    seen = ray.get([ray.remote(travelled).remote(session) for _ in range(6)])
    by_worker: dict[int, set[tuple[int, str]]] = {}
    for pid, session_id, key in seen:
        by_worker.setdefault(pid, set()).add((session_id, key))
    assert all(len(pairs) == 1 for pairs in by_worker.values())
    assert len(assume_role_calls(sts_proxy)[target]) == len(by_worker)
    assert SOURCE_KEY not in assume_role_calls(sts_proxy)[target]

    sts_proxy.expire_in(8, action="AssumeRole")
    short = rolesession.assume_role(role(fresh_accounts(1)[0]), duration=900)
    pid, first, renewed = ray.get(ray.remote(refresh_inside).remote(short), timeout=60)
    assert renewed != first


def test_a_session_that_cannot_travel_says_why_before_ray_ships_it(ray_local: None) -> None:
    import boto3

    session = rolesession.assume_role(role(fresh_accounts(1)[0]), source=boto3.Session())
    with pytest.raises(Exception, match="cannot be pickled"):
        ray.get(ray.remote(token).remote(session), timeout=30)
