"""A Lambda handler that chains execution role -> hub role -> target role, warm after the first call.

What it shows:

- The handler asks for its chain on every invocation, as the simplest code
  would: ``rolesession.chain([HUB_ROLE_ARN, target])``. Creating the sessions
  never calls STS; the first use does -- two AssumeRole calls, the hub's (from
  the execution role's credentials, which Lambda puts in the environment)
  and then the target's (from the hub's).
- Every warm invocation after that gets the very same sessions back and makes
  **no STS call**, until the credentials near their expiry and refresh
  themselves. A ``RefreshPolicy(on_event=...)`` hook counts the calls, so
  each invocation reports how many it made.
- The hook and every other argument are module-level objects: callables
  compare by identity, so a new ``lambda`` per invocation would be a new
  session each time.

Deploy it as ``lambda_chain.handler`` with ``HUB_ROLE_ARN`` and
``TARGET_ROLE_ARN`` in the function's environment; the execution role may
assume the hub role, which the target role trusts. An event may name another
target: ``{"role_arn": "arn:aws:iam::...:role/..."}``.

Try it on your machine (with credentials that may assume the hub role), one
JSON line per invocation::

    python examples/lambda_chain.py --invocations 100

Offline, against a local STS (``moto_server``)::

    AWS_ENDPOINT_URL=http://127.0.0.1:5000 python examples/lambda_chain.py
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from typing import Any

import rolesession

HUB_ROLE_ARN = os.environ.get("HUB_ROLE_ARN", "arn:aws:iam::111111111111:role/Hub")
TARGET_ROLE_ARN = os.environ.get("TARGET_ROLE_ARN", "arn:aws:iam::210987654321:role/Reporting")

_sts_calls = 0
_lock = threading.Lock()  # refreshes may report from a background thread


def _count(event: rolesession.RefreshEvent) -> None:
    """Count STS calls ("refreshed" or "failed"); "cache-hit" costs none."""
    global _sts_calls
    if event.outcome in ("refreshed", "failed"):
        with _lock:
            _sts_calls += 1


def sts_calls() -> int:
    with _lock:
        return _sts_calls


# One policy object for the life of the container: part of what makes a warm
# invocation's request equal to the first one's.
REFRESH = rolesession.RefreshPolicy(on_event=_count)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    before = sts_calls()
    target = rolesession.chain(
        [HUB_ROLE_ARN, event.get("role_arn", TARGET_ROLE_ARN)],
        duration=3600,  # AWS caps chained sessions at one hour anyway
        refresh=REFRESH,
    )
    # Anything you would do with a boto3.Session: target.client("s3"), ...
    identity = target.identity()  # the target role's identity, from STS's answer
    return {"account": identity["Account"], "arn": identity["Arn"], "sts_calls": sts_calls() - before}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Invoke the handler like a warm Lambda container would.")
    parser.add_argument("--invocations", type=int, default=20, help="how many invocations (default 20)")
    args = parser.parse_args(argv)
    for number in range(1, args.invocations + 1):
        print(json.dumps({"invocation": number, **handler({}, None)}), flush=True)
    print(f"{sts_calls()} STS calls in {args.invocations} invocations", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
