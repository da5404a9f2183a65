"""Support for the distributed-engine tests: worker environments, the work shipped, a Ray executor.

This directory has no ``conftest.py`` and no ``__init__.py`` on purpose:
without a package, a second ``conftest.py`` would shadow ``tests/conftest.py``
(both import as ``conftest``), and as a package named ``distributed`` it would
shadow Dask's own ``distributed``. The fixtures live in the test modules,
built from the helpers here; the top-level ``tests/conftest.py`` fixtures
(``aws_env``, ``moto_server``) apply as everywhere.

Workers are separate processes started by the engine. They get their
environment explicitly (`worker_environment`): fake source credentials of
their own (``WORKER_KEY``), no AWS config files, and ``AWS_ENDPOINT_URL_STS``
pointing at a counting proxy in front of the moto server -- the library's STS
clients and ``fn``'s own clients honour it. The test process signs with a
different key (``tests/conftest.py``'s ``SOURCE_KEY``) and points at the same
proxy, so any STS call the caller made would show up there under its key.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import random
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# The Ray executor is the documented recipe, examples/distributed/ray_executor.py, run as users copy it.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "distributed"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for workers importing this module
from ray_executor import RayExecutor  # noqa: F401  (re-exported for the Ray tests)

from helpers import refresh_inside  # noqa: F401  (re-exported for the engine tests)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

#: The workers' source credentials: not the test process's, so that the proxy
#: can tell who signed an AssumeRole.
WORKER_KEY = "AKIAROLESESSIONWORKR"
WORKER_SECRET = "worker/K7MDENG/bPxRfiCYEXAMPLEKEYworker0"

_accounts = iter(range(400000000000, 500000000000, 1000))


def fresh_accounts(count: int) -> list[str]:
    """``count`` 12-digit accounts no earlier test used.

    Engine workers outlive a test, and with them their warm sessions: each
    test asks for roles the workers have never seen.
    """
    first = next(_accounts)
    return [f"{first + i:012d}" for i in range(count)]


def role(account: str, name: str = "Auditor") -> str:
    return f"arn:aws:iam::{account}:role/{name}"


def worker_environment(sts_url: str, scratch: Path) -> dict[str, str]:
    """Everything a worker needs to assume roles through ``sts_url`` and nothing of the caller's."""
    scratch.mkdir(parents=True, exist_ok=True)
    paths = [str(HERE)]  # so workers can import this module (the work shipped refers to it)
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    return {
        "AWS_ACCESS_KEY_ID": WORKER_KEY,
        "AWS_SECRET_ACCESS_KEY": WORKER_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(scratch / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL_STS": sts_url,
        "XDG_CACHE_HOME": str(scratch / "xdg-cache"),
        "PYTHONPATH": os.pathsep.join(paths),
    }


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``os.environ`` without any ``AWS_*`` of the caller's, plus ``values``; restored after.

    Engines start their workers from the current environment: a developer's
    ``AWS_PROFILE`` or session token must not reach them.
    """
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


# -- the work shipped to workers (importable by name there) -------------------------------


def whoami(session: Any) -> tuple[int, str, str]:
    """(worker pid, access key the session signs with, account STS says it is in)."""
    key = session.get_credentials().get_frozen_credentials().access_key
    account = session.client("sts").get_caller_identity()["Account"]
    return os.getpid(), key, account


def caller_arn(session: Any) -> str:
    """The ARN STS says the session's credentials are (names the role session)."""
    return str(session.client("sts").get_caller_identity()["Arn"])


def token(session: Any) -> str:
    """A value no other call returns: tells whether ``fn`` ran for an entry (no AWS call)."""
    return uuid.uuid4().hex


class Refused(Exception):
    """What `whoami_except` raises for its account."""


def whoami_except(account: str) -> Callable[[Any], tuple[int, str, str]]:
    """`whoami`, raising `Refused` for one account (after its session assumed the role)."""
    return _WhoamiExcept(account)


class _WhoamiExcept:
    def __init__(self, account: str) -> None:
        self.account = account

    def __call__(self, session: Any) -> tuple[int, str, str]:
        pid, key, account = whoami(session)
        if account == self.account:
            raise Refused(f"fn refused account {account}")
        return pid, key, account


# -- Ray -----------------------------------------------------------------------------------





# -- what the proxy saw ----------------------------------------------------------------------


def assume_role_calls(proxy: Any) -> dict[str, list[str | None]]:
    """Role ARN -> the access keys that signed each AssumeRole the proxy saw for it."""
    calls: dict[str, list[str | None]] = {}
    for record in proxy.records:
        if record.action == "AssumeRole" and record.role is not None:
            calls.setdefault(record.role, []).append(record.access_key)
    return calls


def signed_by(proxy: Any, key: str) -> int:
    """Requests (any action) the proxy saw signed with ``key``."""
    return sum(1 for record in proxy.records if record.access_key == key)


# -- the scenario both engines run -------------------------------------------------------------


def mixed_run(executor: concurrent.futures.Executor, proxy: Any, caller_key: str) -> list[Any]:
    """fan_out over good, duplicated, refused, invalid and fn-failing entries; checks every promise.

    Three roles four times each, one role STS refuses (AccessDenied), one
    entry that is no ARN, one account whose ``fn`` raises. Returns the
    results for further checks.
    """
    import rolesession

    accounts = fresh_accounts(5)
    good = [role(a) for a in accounts[:3]]
    denied, refused = role(accounts[3]), role(accounts[4])
    arns: list[str] = [*good * 4, denied, "not-a-role-arn", refused]
    random.Random(7).shuffle(arns)
    # The proxy answers STS's own AccessDenied (HTTP 403) for this role; no secret is in an AssumeRole.
    proxy.echo_secrets("AccessDenied", action="AssumeRole", role=denied)

    results = rolesession.fan_out(arns, whoami_except(accounts[4]), executor=executor)

    # Every entry has its result, in input order.
    assert [r.role_arn for r in results] == arns
    by_arn: dict[str, list[Any]] = {}
    for r in results:
        by_arn.setdefault(r.role_arn, []).append(r)
    for arn in good:
        for r in by_arn[arn]:
            assert r.ok, r.error
            assert r.value[2] == arn.split(":")[4]
    # Failures land in their own entries, as the exceptions the caller can catch.
    [denied_result] = by_arn[denied]
    assert isinstance(denied_result.error, rolesession.AssumeRoleError)
    assert (denied_result.error.code, denied_result.error.role_arn) == ("AccessDenied", denied)
    [invalid] = by_arn["not-a-role-arn"]
    assert isinstance(invalid.error, rolesession.InvalidParameterError)
    assert invalid.error.parameter == "role_arn"
    [failed] = by_arn[refused]
    assert isinstance(failed.error, Refused) and accounts[4] in str(failed.error)

    # Only workers ran the work.
    assert all(r.value[0] != os.getpid() for r in results if r.ok)
    # One AssumeRole per worker per role: as many calls as worker processes
    # that ran the role, each process signing all its entries with one key.
    calls = assume_role_calls(proxy)
    for arn in good:
        keys_by_pid: dict[int, set[str]] = {}
        for r in by_arn[arn]:
            keys_by_pid.setdefault(r.value[0], set()).add(r.value[1])
        assert all(len(keys) == 1 for keys in keys_by_pid.values()), keys_by_pid
        assert len(calls[arn]) == len(keys_by_pid), (arn, calls[arn], keys_by_pid)
    assert len(calls[denied]) == len(calls[refused]) == 1
    assert set(calls) == {*good, denied, refused}
    # ...all signed with the workers' source credentials; the caller's never reached STS.
    assert {key for keys in calls.values() for key in keys} == {WORKER_KEY}
    assert signed_by(proxy, caller_key) == 0
    return results


def warm_second_run(executor: concurrent.futures.Executor, proxy: Any, first: list[Any]) -> None:
    """The same roles again: a worker that assumed a role already makes no new call for it."""
    import rolesession

    good = sorted({r.role_arn for r in first if r.ok})
    known = {(r.value[0], r.role_arn): r.value[1] for r in first if r.ok}
    before = assume_role_calls(proxy)

    results = rolesession.fan_out(good * 4, whoami, executor=executor)

    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    new_pairs = {(r.value[0], r.role_arn) for r in results} - set(known)
    for r in results:
        if (r.value[0], r.role_arn) in known:
            assert r.value[1] == known[r.value[0], r.role_arn]  # the worker's warm session
    after = assume_role_calls(proxy)
    made = sum(len(after.get(arn, [])) - len(before.get(arn, [])) for arn in good)
    assert made == len(new_pairs)



# -- pickled sessions in workers ---------------------------------------------------------------


def travelled(session: Any) -> tuple[int, int, str]:
    """Run in a worker on a pickled session: (pid, id of the session there, its access key)."""
    return os.getpid(), id(session), session.get_credentials().get_frozen_credentials().access_key
