"""fan_out on a real Dask cluster: a LocalCluster of two worker processes, ``client.get_executor()``.

Skipped where Dask is not installed (the main ``.venv``); ``make distributed``
runs it in ``.venv-dist``.

Most tests use ``get_executor(pure=False)``; the last one proves the default
(``pure=True``, which keys a task by its function and arguments) runs every
entry too: fan_out makes each submission unique.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

# "dask.distributed", not "distributed": where Dask is missing, this very
# directory would import as a namespace package named ``distributed``.
pytest.importorskip("dask.distributed")
pytest.register_assert_rewrite("distsupport")

from distsupport import (  # noqa: E402
    assume_role_calls,
    caller_arn,
    environment,
    fresh_accounts,
    mixed_run,
    role,
    token,
    warm_second_run,
    whoami,
    worker_environment,
)

import rolesession  # noqa: E402
from helpers import SOURCE_KEY  # noqa: E402
from reliability.faultproxy import FaultProxy  # noqa: E402

WORKERS = 2


@pytest.fixture(scope="module")
def sts_proxy(moto_server: str) -> Iterator[FaultProxy]:
    """The counting proxy every worker (and the caller) reaches STS through."""
    proxy = FaultProxy(moto_server).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="module")
def dask_client(sts_proxy: FaultProxy, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from dask.distributed import Client, LocalCluster

    env = worker_environment(sts_proxy.url, tmp_path_factory.mktemp("dask-workers"))
    with environment(env):
        cluster = LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            env=env,  # the nanny sets it in each worker, over what it inherited
        )
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()


@pytest.fixture(autouse=True)
def through_proxy(aws_env: None, sts_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean proxy per test; the caller's STS clients would reach it too (and be seen)."""
    sts_proxy.clear()
    sts_proxy.reset_records()
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", sts_proxy.url)


def test_workers_are_other_processes_with_their_own_environment(dask_client: Any) -> None:
    pids = dask_client.run(os.getpid)
    keys = dask_client.run(lambda: os.environ["AWS_ACCESS_KEY_ID"])
    assert len(pids) == WORKERS and os.getpid() not in pids.values()
    assert set(keys.values()) == {"AKIAROLESESSIONWORKR"} != {os.environ["AWS_ACCESS_KEY_ID"]}


def test_every_entry_gets_its_result_and_one_sts_call_per_worker_per_role(
    dask_client: Any, sts_proxy: FaultProxy
) -> None:
    executor = dask_client.get_executor(pure=False)
    first = mixed_run(executor, sts_proxy, caller_key=SOURCE_KEY)
    warm_second_run(executor, sts_proxy, first)
    worker_pids = set(dask_client.run(os.getpid).values())
    assert {r.value[0] for r in first if r.ok} <= worker_pids


def test_closures_and_lambdas_travel(dask_client: Any) -> None:
    # Dask ships functions with cloudpickle (a ProcessPoolExecutor's pickle cannot ship these).
    suffix = "-seen"
    arns = [role(a) for a in fresh_accounts(2)]
    results = rolesession.fan_out(
        arns, lambda s: s.role_arn + suffix, executor=dask_client.get_executor(pure=False)
    )
    assert [r.value for r in results] == [arn + suffix for arn in arns]


def test_each_worker_assumes_a_role_once_and_keeps_its_session(
    dask_client: Any, sts_proxy: FaultProxy
) -> None:
    # Each worker is given every role (an executor pinned to it), twice over.
    arns = [role(a) for a in fresh_accounts(3)]
    keys: dict[tuple[str, str], set[str]] = {}
    for address in dask_client.scheduler_info()["workers"]:
        executor = dask_client.get_executor(pure=False, workers=[address], allow_other_workers=False)
        for _ in range(2):
            results = rolesession.fan_out(arns * 3, whoami, executor=executor)
            assert all(r.ok for r in results), [r.error for r in results if not r.ok]
            for r in results:
                keys.setdefault((address, r.role_arn), set()).add(r.value[1])
    assert len(keys) == WORKERS * len(arns)
    assert all(len(k) == 1 for k in keys.values()), keys  # one session per worker and role...
    assert len(set.union(*keys.values())) == WORKERS * len(arns)  # ...not shared between workers
    calls = assume_role_calls(sts_proxy)
    assert {arn: len(calls[arn]) for arn in arns} == dict.fromkeys(arns, WORKERS)


def test_a_file_cache_shared_by_the_workers_makes_one_sts_call_per_role(
    dask_client: Any, sts_proxy: FaultProxy, tmp_path: Any
) -> None:
    # A FileCache travels as its directory; both worker processes use it, and
    # its per-key file lock makes each role's first fetch single-flight across them.
    cache = rolesession.FileCache(tmp_path / "shared-cache")
    arns = [role(a) for a in fresh_accounts(4)] * 6
    results = rolesession.fan_out(arns, whoami, executor=dask_client.get_executor(pure=False), cache=cache)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    calls = assume_role_calls(sts_proxy)
    assert {arn: len(calls[arn]) for arn in set(arns)} == dict.fromkeys(set(arns), 1)
    for arn in set(arns):  # every entry, whichever worker ran it, signed with the one set of credentials
        assert len({r.value[1] for r in results if r.role_arn == arn}) == 1


def test_assume_keywords_travel_with_the_work(
    dask_client: Any, sts_proxy: FaultProxy, moto_server: str
) -> None:
    # sts_endpoint_url given to fan_out overrides the workers' AWS_ENDPOINT_URL_STS for the library's calls.
    with FaultProxy(moto_server) as other:
        arns = [role(a) for a in fresh_accounts(3)]
        results = rolesession.fan_out(
            arns,
            caller_arn,
            executor=dask_client.get_executor(pure=False),
            sts_endpoint_url=other.url,
            session_name="dask-fan-out",
        )
        assert all(r.ok for r in results), [r.error for r in results if not r.ok]
        assert sorted(assume_role_calls(other)) == sorted(arns)
        assert [r.value for r in results] == [
            arn.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/") + "/dask-fan-out"
            for arn in arns
        ]
    assert assume_role_calls(sts_proxy) == {}


def test_fn_runs_once_per_entry_on_the_default_dask_executor(dask_client: Any) -> None:
    arns = [role(a) for a in fresh_accounts(2)] * 3
    results = rolesession.fan_out(arns, token, executor=dask_client.get_executor())
    assert all(r.ok for r in results)
    assert len({r.value for r in results}) == len(arns)  # fn ran for every entry


def test_the_documented_dask_example_audits_every_account(dask_client: Any, sts_proxy: FaultProxy) -> None:
    """examples/distributed/dask_audit.py, as docs/guides/distributed.md shows it, on the default executor."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "distributed"))
    from dask_audit import audit

    accounts = fresh_accounts(3)
    results = audit(dask_client.get_executor(), accounts)
    assert [r.account for r in results] == accounts and all(r.ok for r in results)
    for account, result in zip(accounts, results, strict=True):
        assert f":sts::{account}:assumed-role/Auditor/security-audit" in str(result.value)
    assert assume_role_calls(sts_proxy).keys() >= {role(a) for a in accounts}


# -- pickled sessions ----------------------------------------------------------------------------


def test_pickled_sessions_travel_to_dask_workers_and_refresh_there(
    dask_client: Any, sts_proxy: FaultProxy
) -> None:
    from distsupport import refresh_inside, travelled

    target = role(fresh_accounts(1)[0])
    session = rolesession.assume_role(target)  # lazy: the caller never fetches
    seen = dask_client.gather(dask_client.map(travelled, [session] * 8, pure=False))
    by_worker: dict[int, set[tuple[int, str]]] = {}
    for pid, session_id, key in seen:
        by_worker.setdefault(pid, set()).add((session_id, key))
    assert all(len(pairs) == 1 for pairs in by_worker.values())  # one session, one credential set per worker
    assert len(assume_role_calls(sts_proxy)[target]) == len(by_worker)  # one AssumeRole per worker
    assert SOURCE_KEY not in assume_role_calls(sts_proxy)[target]  # none signed by the caller

    sts_proxy.expire_in(8, action="AssumeRole")
    short = rolesession.assume_role(role(fresh_accounts(1)[0]), duration=900)
    pid, first, renewed = dask_client.submit(refresh_inside, short, pure=False).result(timeout=60)
    assert renewed != first  # the worker's copy refreshed itself


def test_a_session_that_cannot_travel_says_why_before_dask_ships_it(dask_client: Any) -> None:
    import boto3

    session = rolesession.assume_role(role(fresh_accounts(1)[0]), source=boto3.Session())
    with pytest.raises(Exception) as info:
        dask_client.submit(token, session).result(timeout=30)
    causes, error = [], info.value
    while error is not None:
        causes.append(error)
        error = error.__cause__ or error.__context__
    ours = [e for e in causes if isinstance(e, rolesession.InvalidParameterError)]
    assert ours and "explicit Session" in str(ours[0]) and ours[0].parameter == "session"
