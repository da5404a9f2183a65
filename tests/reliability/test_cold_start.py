"""Identical concurrent first requests share one fetch and one `RoleSession`.

SPEC "Reliability additions": identical concurrent requests (same
parameters, same source, same cache) share one first fetch and, while cached,
one `RoleSession` object -- for ``assume_role``, ``chain``, ``scoped()`` and
duplicates in ``fan_out`` alike; parameters compare by value
(``botocore.config.Config`` included), callables by identity, hashable or not.

STS is slowed to 200 ms so the 32 barrier-synchronised threads really overlap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import rolesession
from helpers import ROLE, ROLE_B
from tokens import make_jwt

from .faultproxy import FaultProxy, real_clock
from .harness import STS_CONFIG, short_sts_config

THREADS = 32
POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::reports/*"}],
}


def together(
    make: Callable[[int], rolesession.RoleSession], threads: int = THREADS
) -> tuple[list[Any], float]:
    """Run ``make(i)`` in ``threads`` threads released at once; read credentials from each result.

    Returns ``(session, frozen credentials)`` pairs (sessions kept alive, so
    identities are meaningful) and the wall time of the whole burst.
    """
    gate = threading.Barrier(threads)

    def one(i: int) -> tuple[rolesession.RoleSession, Any]:
        gate.wait()
        session = make(i)
        return session, session.get_credentials().get_frozen_credentials()

    started = real_clock()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(one, range(threads)))
    return results, real_clock() - started


def distinct(objects: list[Any]) -> int:
    return len({id(o) for o in objects})


@pytest.mark.parametrize("configs", ["one-config-object", "equal-config-objects"])
def test_concurrent_assume_role_makes_one_sts_call_and_one_session(
    fault_proxy: FaultProxy, configs: str
) -> None:
    fault_proxy.slow(0.2, action="AssumeRole")
    # Equal options, a new object per thread: must count as the same request.
    config = (lambda: STS_CONFIG) if configs == "one-config-object" else short_sts_config

    results, took = together(
        lambda _: rolesession.assume_role(ROLE, sts_endpoint_url=fault_proxy.url, sts_config=config())
    )

    calls = fault_proxy.count("AssumeRole")
    sessions = distinct([s for s, _ in results])
    keys = {c.access_key for _, c in results}
    detail = (
        f"{calls} AssumeRole, {sessions} sessions, {len(keys)} keys for {THREADS} threads in {took:.2f} s"
    )
    assert calls == 1, detail
    assert sessions == 1, detail
    assert len(keys) == 1, detail
    print(f"[cold start/{configs}] {detail}")


def test_concurrent_chain_makes_one_call_per_hop_and_one_session(fault_proxy: FaultProxy) -> None:
    fault_proxy.slow(0.2, action="AssumeRole")

    results, took = together(
        lambda _: rolesession.chain([ROLE, ROLE_B], sts_endpoint_url=fault_proxy.url, sts_config=STS_CONFIG)
    )

    calls = fault_proxy.count("AssumeRole")
    sessions = distinct([s for s, _ in results])
    detail = f"{calls} AssumeRole for 2 hops, {sessions} sessions for {THREADS} threads in {took:.2f} s"
    assert fault_proxy.count("AssumeRole", role=ROLE) == 1, detail
    assert fault_proxy.count("AssumeRole", role=ROLE_B) == 1, detail
    assert sessions == 1, detail


def test_concurrent_scoped_with_equal_policies_makes_one_call_and_one_session(
    fault_proxy: FaultProxy, assume: Callable[..., rolesession.RoleSession]
) -> None:
    base = assume(ROLE)
    base.get_credentials().get_frozen_credentials()
    fault_proxy.slow(0.2, action="AssumeRole")

    # Each thread builds its own policy dict: equal by value, never the same object.
    results, took = together(lambda _: base.scoped(policy={**POLICY, "Statement": list(POLICY["Statement"])}))

    calls = fault_proxy.count("AssumeRole") - 1
    sessions = distinct([s for s, _ in results])
    detail = f"{calls} AssumeRole for scoped(), {sessions} sessions for {THREADS} threads in {took:.2f} s"
    assert calls == 1, detail
    assert sessions == 1, detail
    assert all(s is not base for s, _ in results)
    policies = {r.role for r in fault_proxy.records if r.action == "AssumeRole"}
    assert policies == {ROLE}


def test_fan_out_duplicates_share_one_assume_role(fault_proxy: FaultProxy) -> None:
    fault_proxy.slow(0.2, action="AssumeRole")

    results = rolesession.fan_out(
        [ROLE] * 8,
        lambda s: (s, s.get_credentials().get_frozen_credentials().access_key),
        max_workers=8,
        sts_endpoint_url=fault_proxy.url,
        sts_config=STS_CONFIG,
    )

    assert [r.error for r in results] == [None] * 8
    values = [r.value for r in results]
    assert fault_proxy.count("AssumeRole") == 1, (
        f"{fault_proxy.count('AssumeRole')} AssumeRole for 8 duplicates"
    )
    assert len({key for _, key in values}) == 1
    assert distinct([s for s, _ in values]) == 1


def test_equal_sts_configs_return_the_same_session_while_cached(fault_proxy: FaultProxy) -> None:
    first = rolesession.assume_role(ROLE, sts_endpoint_url=fault_proxy.url, sts_config=short_sts_config())
    first.get_credentials().get_frozen_credentials()

    again = rolesession.assume_role(ROLE, sts_endpoint_url=fault_proxy.url, sts_config=short_sts_config())

    assert again is first
    assert fault_proxy.count("AssumeRole") == 1


class _UnhashableToken:
    """A token provider that cannot be hashed (it defines ``__eq__`` only)."""

    def __init__(self) -> None:
        self.token = make_jwt()
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.token

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = None  # type: ignore[assignment]


def test_an_unhashable_callable_token_compares_by_identity(fault_proxy: FaultProxy) -> None:
    provider = _UnhashableToken()
    fault_proxy.slow(0.2, action="AssumeRoleWithWebIdentity")

    results, _ = together(
        lambda _: rolesession.assume_role_with_web_identity(
            ROLE, token=provider, sts_endpoint_url=fault_proxy.url, sts_config=STS_CONFIG
        ),
        threads=16,
    )

    calls = fault_proxy.count("AssumeRoleWithWebIdentity")
    sessions = distinct([s for s, _ in results])
    assert calls == 1, f"{calls} AssumeRoleWithWebIdentity for 16 threads"
    assert sessions == 1
    assert provider.calls == 1

    other = rolesession.assume_role_with_web_identity(
        ROLE, token=_UnhashableToken(), sts_endpoint_url=fault_proxy.url, sts_config=STS_CONFIG
    )
    assert other is not results[0][0], "another callable is another caller"
