"""Per-tenant credentials from one role: ``scoped()`` sessions limited to the tenant's S3 prefix.

What it shows:

- A service runs under one role that may read and write a whole bucket. For
  each tenant it asks ``service.scoped(policy=tenant_policy(bucket, tenant))``:
  credentials for the same role, narrowed by a *session policy* to
  ``s3://BUCKET/<tenant>/``. AWS allows a request only if the role's policies
  *and* the session policy allow it, so a tenant's credentials cannot reach
  another tenant's objects, whatever the role may do.
- The policy is built with ``rolesession.Policy`` and checked against STS's
  limits (2048 characters packed, the allowed characters) before any call;
  a prefix wildcard keeps it small however many objects a tenant has.
- ``scoped()`` re-assumes the role from the service's own source, so it adds
  no hop (no one-hour cap). Each tenant's session is cached under a key that
  includes the policy: asking again for a tenant returns the same session
  with no STS call, and two tenants never share credentials.

For each tenant, in two rounds, it writes ``<tenant>/hello.txt`` with the
tenant's credentials, lists the tenant's prefix, and tries to list the next
tenant's prefix, printing one JSON line::

    {"round": 1, "tenant": "acme", "wrote": "acme/hello.txt", "listed": ["acme/hello.txt"],
     "other_tenant": "denied", "same_session": false, "sts_calls": 1}

On AWS, ``other_tenant`` is ``"denied"`` (AccessDenied). moto, the
local AWS the tests use, does not evaluate session policies, so there it is
``"allowed"``; the tests check instead the session policy each tenant's
AssumeRole carried.

Usage (the bucket exists; the role may use it and trusts your credentials)::

    python examples/tenant_scoped.py --role-arn arn:aws:iam::123456789012:role/JobRunner \\
        --bucket customer-data acme globex

Offline, against a local STS and S3 (``moto_server``, the bucket created first)::

    AWS_ENDPOINT_URL=http://127.0.0.1:5000 python examples/tenant_scoped.py acme globex
"""

from __future__ import annotations

import argparse
import json
import threading
from typing import Any

from botocore.exceptions import ClientError

import rolesession
from rolesession import Policy

_sts_calls = 0
_lock = threading.Lock()


def _count(event: rolesession.RefreshEvent) -> None:
    global _sts_calls
    if event.outcome in ("refreshed", "failed"):
        with _lock:
            _sts_calls += 1


def sts_calls() -> int:
    with _lock:
        return _sts_calls


def tenant_policy(bucket: str, tenant: str) -> Policy:
    """Objects under ``<tenant>/`` and listing that prefix: nothing else."""
    objects = f"arn:aws:s3:::{bucket}/{tenant}/*"
    return Policy.allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], objects).allow(
        "s3:ListBucket", f"arn:aws:s3:::{bucket}", conditions={"StringLike": {"s3:prefix": f"{tenant}/*"}}
    )


def work_for(
    service: rolesession.RoleSession, bucket: str, tenant: str, other: str
) -> tuple[rolesession.RoleSession, dict[str, Any]]:
    """One job for ``tenant``, done with that tenant's credentials only."""
    session = service.scoped(policy=tenant_policy(bucket, tenant))
    s3 = session.client("s3")
    key = f"{tenant}/hello.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=f"hello from {tenant}\n".encode())
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{tenant}/").get("Contents", [])]
    try:  # listing is refused whether or not the other tenant has objects yet
        s3.list_objects_v2(Bucket=bucket, Prefix=f"{other}/")
        probe = "allowed"
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        probe = "denied" if code == "AccessDenied" else str(code)
    return session, {"tenant": tenant, "wrote": key, "listed": listed, "other_tenant": probe}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Per-tenant scoped sessions over one role.")
    parser.add_argument("tenants", nargs="+", help="tenant names (S3 prefixes)")
    parser.add_argument("--role-arn", default="arn:aws:iam::123456789012:role/JobRunner")
    parser.add_argument("--bucket", default="customer-data")
    args = parser.parse_args(argv)
    service = rolesession.assume_role(
        args.role_arn, session_name="job-runner", refresh=rolesession.RefreshPolicy(on_event=_count)
    )
    # Each tenant's job probes the next tenant's prefix (the last one's, the first's).
    others = args.tenants[1:] + args.tenants[:1]
    sessions: dict[str, rolesession.RoleSession] = {}
    for round_ in (1, 2):
        for tenant, other in zip(args.tenants, others, strict=True):
            before = sts_calls()
            session, line = work_for(service, args.bucket, tenant, other)
            line["same_session"] = sessions.get(tenant) is session
            line["sts_calls"] = sts_calls() - before
            sessions[tenant] = session
            print(json.dumps({"round": round_, **line}), flush=True)
    print(f"{sts_calls()} STS calls for {len(args.tenants)} tenants in 2 rounds", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
