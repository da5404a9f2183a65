"""A reachability audit on a Dask cluster: can we act in every account? Each worker assumes the roles itself.

    python examples/distributed/dask_audit.py tcp://scheduler:8786 111122223333 210987654321

Every entry travels as plain data (role ARN, keywords, ``fn``); each worker
assumes the role from its own default credential chain and keeps the session
for the next entries and calls. One JSON line per account on stdout.
"""

from __future__ import annotations

import sys
from typing import Any

import rolesession


def whoami(session: rolesession.RoleSession) -> str:
    """What is checked in each account: who we are there (any API call of yours fits)."""
    return str(session.client("sts").get_caller_identity()["Arn"])


def audit(executor: Any, accounts: list[str], role: str = "Auditor") -> list[rolesession.FanOutResult[str]]:
    arns = [rolesession.role_arn(account, role) for account in accounts]
    return rolesession.fan_out(arns, whoami, executor=executor, session_name="security-audit")


def main(scheduler: str, accounts: list[str]) -> int:
    from dask.distributed import Client

    with Client(scheduler) as client:
        results = audit(client.get_executor(), accounts)
    for result in results:
        print(result.to_json())
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
