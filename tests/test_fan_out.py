"""fan_out(): one result per entry in input order, failures in their entry, executors, progress."""

from __future__ import annotations

import functools
import inspect
import itertools
import multiprocessing
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import rolesession
import rolesession.testing
from helpers import (
    ACCOUNT,
    OTHER_ACCOUNT,
    ROLE,
    ROLE_B,
    ROLE_C,
    THIRD_ACCOUNT,
    RecordingCache,
    access_key,
)
from rolesession import (
    AssumeRoleError,
    FanOutResult,
    FileCache,
    InvalidParameterError,
    MemoryCache,
    RoleSession,
    fan_out,
)
from rolesession.testing import sts_clients


def _account(session: RoleSession) -> str:
    return session.client("sts").get_caller_identity()["Account"]


# -- results ------------------------------------------------------------------------


def test_one_result_per_entry_in_input_order_duplicates_included(sts_mock):
    arns = [ROLE_C, ROLE, ROLE_B, ROLE, ROLE_C]
    results = fan_out(arns, _account)
    assert [r.role_arn for r in results] == arns
    assert [r.value for r in results] == [THIRD_ACCOUNT, ACCOUNT, OTHER_ACCOUNT, ACCOUNT, THIRD_ACCOUNT]
    assert all(r.error is None and r.ok for r in results)
    assert all(isinstance(r.seconds, float) and r.seconds >= 0 for r in results)
    assert all(isinstance(r, FanOutResult) for r in results)


def test_order_holds_when_entries_finish_out_of_order(sts_mock):
    release = {ROLE: threading.Event(), ROLE_B: threading.Event()}

    def slow_first(session: RoleSession) -> str:
        if session.role_arn == ROLE:
            assert release[ROLE].wait(10)  # ROLE finishes only after ROLE_B did
        else:
            release[ROLE].set()
        return session.role_arn

    results = fan_out([ROLE, ROLE_B], slow_first, max_workers=2)
    assert [r.value for r in results] == [ROLE, ROLE_B]


def test_empty_input_gives_an_empty_list(sts_calls):
    assert fan_out([], _account) == []
    assert sts_calls.count() == 0


def test_accepts_any_iterable_of_arns(sts_mock):
    results = fan_out((arn for arn in [ROLE, ROLE_B]), _account)
    assert [r.value for r in results] == [ACCOUNT, OTHER_ACCOUNT]


def test_assume_kwargs_apply_to_every_entry(sts_mock, sts_calls):
    fan_out([ROLE, ROLE_B], _account, session_name="audit-run", duration=900, external_id="ext-123")
    assert sts_calls.count("AssumeRole") == 2
    for i in range(2):
        params = sts_calls.params(i)
        assert params["RoleSessionName"] == "audit-run"
        assert params["DurationSeconds"] == 900
        assert params["ExternalId"] == "ext-123"


def test_duplicates_share_one_session_and_one_sts_call(sts_mock, sts_calls):
    results = fan_out([ROLE, ROLE, ROLE], lambda s: (s, _account(s)), max_workers=1)
    sessions = {id(r.value[0]) for r in results}
    assert len(sessions) == 1
    assert sts_calls.count("AssumeRole") == 1


def test_roles_are_assumed_from_source(sts_mock, sts_calls):
    hub = rolesession.assume_role(ROLE)
    results = fan_out([ROLE_B, ROLE_C], lambda s: (s.parent, _account(s)), source=hub)
    assert [r.value for r in results] == [(hub, OTHER_ACCOUNT), (hub, THIRD_ACCOUNT)]
    assert sts_calls.count("AssumeRole") == 3  # the hub once, then each target from it


def test_sessions_are_lazy_fn_decides_whether_sts_is_called(sts_mock, sts_calls):
    results = fan_out([ROLE, ROLE_B], lambda s: s.role_arn)
    assert [r.value for r in results] == [ROLE, ROLE_B]
    assert sts_calls.count() == 0


def test_result_pickles_and_is_frozen():
    result = FanOutResult(ROLE, {"a": 1}, None, 0.5)
    assert pickle.loads(pickle.dumps(result)) == result
    with pytest.raises(AttributeError):
        result.value = 2  # type: ignore[misc]
    failed = FanOutResult(ROLE, None, InvalidParameterError("x", parameter="role_arn"), 0.0)
    back = pickle.loads(pickle.dumps(failed))
    assert not back.ok and isinstance(back.error, InvalidParameterError)
    assert back.error.parameter == "role_arn"


# -- error isolation ------------------------------------------------------------------


def test_assume_role_failure_lands_in_that_entry_only(sts_mock, sts_calls):
    sts_calls.refuse("AccessDenied", roles=[ROLE_B])
    results = fan_out([ROLE, ROLE_B, ROLE_C], _account)
    assert [r.value for r in results] == [ACCOUNT, None, THIRD_ACCOUNT]
    error = results[1].error
    assert isinstance(error, AssumeRoleError) and error.code == "AccessDenied"
    assert error.role_arn == ROLE_B
    assert results[0].ok and results[2].ok and not results[1].ok


def test_fn_failure_lands_in_that_entry_only(sts_mock):
    def picky(session: RoleSession) -> str:
        account = _account(session)
        if account == OTHER_ACCOUNT:
            raise KeyError("no such thing")
        return account

    results = fan_out([ROLE, ROLE_B, ROLE_C], picky)
    assert [r.value for r in results] == [ACCOUNT, None, THIRD_ACCOUNT]
    assert isinstance(results[1].error, KeyError)


def test_invalid_arn_is_that_entrys_error_not_raised(sts_mock, sts_calls):
    results = fan_out([ROLE, "arn:aws:iam::12345:role/Short", None, ROLE_B], _account)
    assert [r.value for r in results] == [ACCOUNT, None, None, OTHER_ACCOUNT]
    for bad in results[1:3]:
        assert isinstance(bad.error, InvalidParameterError) and bad.error.parameter == "role_arn"
    assert results[2].role_arn is None  # the entry as given
    assert sts_calls.count("AssumeRole") == 2


def test_all_entries_invalid_still_checks_kwargs_and_reports_each():
    results = fan_out(["nope", "also-nope"], _account)
    assert [type(r.error) for r in results] == [InvalidParameterError, InvalidParameterError]
    with pytest.raises(InvalidParameterError) as info:
        fan_out(["nope"], _account, duration=5)
    assert info.value.parameter == "duration"


# -- invalid parameters raise before any work -------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"duration": 60}, "duration"),
        ({"session_name": "x"}, "session_name"),
        ({"policy": "{not json"}, "policy"),
        ({"tags": {"k": 1}}, "tags"),
        ({"mfa_serial": "arn:aws:iam::123456789012:mfa/me"}, "mfa_token"),
        ({"region": "Not A Region"}, "region"),
        ({"cache": object()}, "cache"),
        ({"refresh": 5}, "refresh"),
        ({"role_arn": ROLE}, "role_arn"),
        ({"bogus": 1}, "bogus"),
        ({"max_workers": 0}, "max_workers"),
        ({"max_workers": True}, "max_workers"),
        ({"executor": "threads"}, "executor"),
        ({"progress": "yes"}, "progress"),
        ({"source": "me"}, "source"),
    ],
)
def test_invalid_parameters_raise_before_any_work(sts_calls, kwargs, parameter):
    called = []
    with pytest.raises(InvalidParameterError) as info:
        fan_out([ROLE, ROLE_B], lambda s: called.append(s), **kwargs)
    assert info.value.parameter == parameter
    assert called == [] and sts_calls.count() == 0


def test_fn_and_targets_are_checked(sts_calls):
    with pytest.raises(InvalidParameterError) as info:
        fan_out([ROLE], "not callable")  # type: ignore[arg-type]
    assert info.value.parameter == "fn"
    with pytest.raises(InvalidParameterError) as info:
        fan_out(ROLE, _account)
    assert info.value.parameter == "targets"
    with pytest.raises(InvalidParameterError) as info:
        fan_out(42, _account)  # type: ignore[arg-type]
    assert info.value.parameter == "targets"


def test_source_is_refused_with_an_executor(sts_calls):
    with ThreadPoolExecutor(1) as pool, pytest.raises(InvalidParameterError) as info:
        fan_out([ROLE], _account, source=boto3.Session(), executor=pool)
    assert info.value.parameter == "source"
    assert "executor" in str(info.value)


def test_keywords_are_checked_once_even_when_no_entry_is_a_valid_arn(sts_mock, sts_calls):
    with pytest.raises(InvalidParameterError) as info:
        fan_out(["not-an-arn"], lambda s: None, duration=5)
    assert info.value.parameter == "duration"
    results = fan_out(["not-an-arn"], lambda s: None, duration=900)
    assert results[0].error.parameter == "role_arn"
    assert sts_calls.count() == 0


# -- executors ---------------------------------------------------------------------------


def test_thread_pool_executor_runs_the_work_and_max_workers_is_ignored(sts_mock):
    threads: set[str] = set()

    def where(session: RoleSession) -> str:
        threads.add(threading.current_thread().name)
        return _account(session)

    with ThreadPoolExecutor(2, thread_name_prefix="custom-pool") as pool:
        results = fan_out([ROLE, ROLE_B, ROLE_C, "bad"], where, executor=pool, max_workers=50)
        assert pool.submit(int, "7").result() == 7  # the caller's executor is left running
    assert [r.value for r in results] == [ACCOUNT, OTHER_ACCOUNT, THIRD_ACCOUNT, None]
    assert isinstance(results[3].error, InvalidParameterError)
    assert threads and all(name.startswith("custom-pool") for name in threads)


def test_default_pool_uses_at_most_max_workers_threads(sts_mock):
    threads: set[str] = set()
    lock = threading.Lock()

    def where(session: RoleSession) -> None:
        with lock:
            threads.add(threading.current_thread().name)

    fan_out([ROLE, ROLE_B, ROLE_C] * 4, where, max_workers=2)
    assert 1 <= len(threads) <= 2
    assert all(name.startswith("rolesession-fan-out") for name in threads)


def test_a_broken_executor_fails_entries_not_the_call():
    pool = ThreadPoolExecutor(1)
    pool.shutdown()
    results = fan_out([ROLE, ROLE_B], _account, executor=pool)
    assert [type(r.error) for r in results] == [RuntimeError, RuntimeError]


def _identity_over_http(endpoint: str, session: RoleSession) -> tuple[str, int]:
    client = session.client("sts", endpoint_url=endpoint)
    return client.get_caller_identity()["Account"], os.getpid()


def _raise_unpicklable(session: RoleSession) -> None:
    class Unpicklable(Exception):  # a class pickle cannot name
        pass

    raise Unpicklable("made in a worker")


def _raise_value_error(session: RoleSession) -> None:
    raise ValueError(f"failed in {session.role_arn}")


def test_process_pool_against_a_moto_server(moto_server):
    fn = functools.partial(_identity_over_http, moto_server)
    with ProcessPoolExecutor(2) as pool:
        results = fan_out(
            [ROLE, "arn:aws:iam::bad", ROLE_B, ROLE],
            fn,
            executor=pool,
            sts_endpoint_url=moto_server,
            region="us-east-1",
            session_name="fan-out-test",
        )
    assert [r.role_arn for r in results] == [ROLE, "arn:aws:iam::bad", ROLE_B, ROLE]
    assert [r.value[0] if r.value else None for r in results] == [ACCOUNT, None, OTHER_ACCOUNT, ACCOUNT]
    assert all(r.value[1] != os.getpid() for r in results if r.value)  # ran in the workers
    bad = results[1].error
    assert isinstance(bad, InvalidParameterError) and bad.parameter == "role_arn"


def test_process_pool_errors_come_back_picklable(moto_server):
    with ProcessPoolExecutor(1) as pool:
        plain = fan_out([ROLE], _raise_value_error, executor=pool, sts_endpoint_url=moto_server)
        odd = fan_out([ROLE], _raise_unpicklable, executor=pool, sts_endpoint_url=moto_server)
        lam = fan_out([ROLE], lambda s: 1, executor=pool)  # pickle cannot ship a lambda
    assert isinstance(plain[0].error, ValueError) and ROLE in str(plain[0].error)
    assert isinstance(odd[0].error, RuntimeError) and "Unpicklable: made in a worker" in str(odd[0].error)
    assert lam[0].error is not None and lam[0].value is None


def _raise_by_role(session: RoleSession) -> None:
    class Local(Exception):  # a class pickle cannot name
        pass

    modelled = type("NoSuchEntityException", (ClientError,), {})  # as botocore makes them, at run time
    raise {
        ROLE: Local("details"),
        ROLE_B: modelled({"Error": {"Code": "NoSuchEntity", "Message": "gone"}}, "GetRole"),
        ROLE_C: KeyError("k"),
    }[session.role_arn]


def test_errors_that_cannot_be_pickled_get_a_stand_in():
    with ProcessPoolExecutor(1) as pool:
        results = fan_out([ROLE, ROLE_B, ROLE_C], _raise_by_role, executor=pool)
    local, modelled, plain = (r.error for r in results)
    assert type(local) is RuntimeError and "Local: details" in str(local)
    # botocore's modelled errors (classes made at run time) come back as ClientError.
    assert isinstance(modelled, ClientError) and modelled.response["Error"]["Code"] == "NoSuchEntity"
    assert type(plain) is KeyError and plain.args == ("k",)  # what pickles comes back as it is


# -- progress -------------------------------------------------------------------------------


def test_progress_bar_on_stderr(sts_mock, capsys):
    fan_out([ROLE, ROLE_B, "bad"], _account, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.startswith("\r[") and err.endswith("\n")
    frames = err.rstrip("\n").split("\r")[1:]
    assert len(frames) == 4  # drawn at 0 and after each of the 3 entries
    assert frames[0].startswith("[" + "." * 30 + "] 0/3")
    assert frames[-1].startswith("[" + "#" * 30 + "] 3/3")
    assert "(1 failed)" in frames[-1]


def test_no_progress_output_by_default(sts_mock, capsys):
    fan_out([ROLE], _account)
    assert capsys.readouterr().err == ""


# -- packaging --------------------------------------------------------------------------------


def test_exported_lazily_from_the_package():
    assert "fan_out" in rolesession.__all__ and "FanOutResult" in rolesession.__all__
    assert callable(rolesession.fan_out) and rolesession.FanOutResult.__name__ == "FanOutResult"
    code = (
        "import sys, rolesession\n"
        "heavy = ('rolesession._fanout', 'rolesession.cli', 'rolesession._file_cache', 'moto', 'filelock',"
        " 'concurrent.futures.process')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
        "rolesession.fan_out\n"
        "print('rolesession._fanout' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "True"]


def test_the_shared_sts_client_has_a_connection_per_default_worker(sts_mock):
    # Every entry's AssumeRole goes through one shared STS client; a smaller
    # pool would make urllib3 discard (and re-open) connections under fan_out.
    fan_out([ROLE, ROLE_B], _account)
    assert sts_clients() and all(c.meta.config.max_pool_connections >= 16 for c in sts_clients())
    assert inspect.signature(fan_out).parameters["max_workers"].default == 16


POLICY_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"


class _Fatal(BaseException):
    """A BaseException that is neither SystemExit nor KeyboardInterrupt."""


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


class _PicklingExecutor(_CountingExecutor):
    """Ships each job as a process pool would: pickled."""

    def submit(self, *args: Any, **kwargs: Any) -> Future[Any]:  # type: ignore[override]
        pickle.dumps((args, kwargs))  # a MemoryCache (it holds a lock) would fail here
        return super().submit(*args, **kwargs)


def _identity_and_pid(endpoint: str, session: RoleSession) -> tuple[str, int]:
    client = session.client("sts", endpoint_url=endpoint)
    return client.get_caller_identity()["Account"], os.getpid()


def _exit_in_worker(session: RoleSession) -> None:
    raise SystemExit(f"gave up on {session.role_arn}")



# -- faults, shipping caches, bounded input --------------------------------------------------------


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


def test_the_process_default_cache_is_not_shipped(sts_mock):
    with _PicklingExecutor() as pool:
        results = fan_out([ROLE], _account, executor=pool, cache=rolesession.default_cache())
    assert pool.submitted == 1 and [r.value for r in results] == [ACCOUNT]  # the worker's own default


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


def test_an_endless_role_arns_iterable_is_refused_after_the_limit(sts_calls):
    counter = itertools.count()
    with pytest.raises(InvalidParameterError) as info:
        fan_out((ROLE for _ in counter), _account)
    assert info.value.parameter == "targets"
    assert next(counter) == 1_000_000 + 1  # read one past the limit (a million entries), then stopped
    assert sts_calls.count() == 0


def test_role_arns_that_raise_while_read_are_an_invalid_parameter(sts_calls):
    def failing() -> Iterator[str]:
        yield ROLE
        raise OSError("inventory unavailable")

    with pytest.raises(InvalidParameterError) as info:
        fan_out(failing(), _account)
    assert info.value.parameter == "targets"
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


# -- duplicates and timing -------------------------------------------------------------------------


def test_duplicates_in_fan_out_make_one_call(sts_mock, sts_calls):
    sts_calls.delay = 0.1
    results = rolesession.fan_out([ROLE] * 8, access_key, max_workers=8)
    assert all(r.ok for r in results) and sts_calls.count() == 1


def test_fan_out_seconds_is_the_wall_time_each_entry_took(sts_mock: None, frozen: Any) -> None:
    def work(session: RoleSession) -> str:
        frozen.tick(7 if session.role_arn == ROLE else 2)
        if session.role_arn == ROLE_C:
            raise RuntimeError("failed after two seconds")
        return session.role_arn

    results = rolesession.fan_out([ROLE, ROLE_B, ROLE_C, "not-an-arn"], work, max_workers=1)
    assert [r.seconds for r in results[:3]] == pytest.approx([7.0, 2.0, 2.0])
    assert results[2].error is not None and results[3].seconds == pytest.approx(0.0)
