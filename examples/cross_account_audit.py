"""Audit many AWS accounts at once with ``fan_out`` and write a JSON-lines report.

What it shows:

- ``rolesession.fan_out`` runs one function in the same role of every
  account -- ``role_arn(account, role_name)`` -- on a thread pool, assumed
  from the default credential chain or from a hub role (``--hub``).
- Nothing that goes wrong in one account stops the others: a role missing in
  an account, or one whose trust policy does not allow the caller, is an
  ``AssumeRoleError`` with ``code == "AccessDenied"`` in that account's result,
  and the audit carries on.
- The report has one JSON line per account, in the order given::

      {"account": "111122223333", "ok": true, "value": {"root_mfa": true, "users": 4}, "seconds": 0.41}
      {"account": "222222222222", "ok": false, "error": {"type": "AssumeRoleError",
       "code": "AccessDenied", "message": "..."}, "seconds": 0.12}

  Error messages never hold a secret. The exit status is 0 when every
  account was audited and 1 when some were not (all of them are in the
  report either way).

Usage (the audit role needs ``iam:GetAccountSummary``)::

    python examples/cross_account_audit.py 111122223333 210987654321 > report.jsonl
    python examples/cross_account_audit.py --role-name SecurityAudit \\
        --hub arn:aws:iam::111111111111:role/AuditHub --output report.jsonl 111122223333 ...

Offline, against a local STS and IAM (``moto_server``)::

    AWS_ENDPOINT_URL=http://127.0.0.1:5000 python examples/cross_account_audit.py 111122223333 210987654321
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from botocore.exceptions import ClientError

import rolesession


def audit(session: rolesession.RoleSession) -> dict[str, Any]:
    """Runs in each account: anything you would do with a boto3.Session."""
    summary = session.client("iam").get_account_summary()["SummaryMap"]
    return {"root_mfa": summary["AccountMFAEnabled"] == 1, "users": summary["Users"]}


def error_fields(error: BaseException) -> dict[str, Any]:
    """What a report says about a failure: its type, its AWS error code if any, its message."""
    code = getattr(error, "code", None)
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code")
    return {"type": type(error).__name__, "code": code, "message": str(error)}


def report_line(account: str, result: rolesession.FanOutResult[dict[str, Any]]) -> dict[str, Any]:
    line: dict[str, Any] = {"account": account, "ok": result.ok}
    if result.error is None:
        line["value"] = result.value
    else:
        line["error"] = error_fields(result.error)
    line["seconds"] = round(result.seconds, 3)
    return line


def run_audit(
    accounts: list[str], arns: list[str], hub: str | None, out: TextIO
) -> list[rolesession.FanOutResult[dict[str, Any]]]:
    source = rolesession.assume_role(hub, session_name="security-audit") if hub else None
    results = rolesession.fan_out(
        arns,
        audit,
        source=source,
        session_name="security-audit",  # shows up in CloudTrail of every account
        duration=900,  # the audit is short; so are its credentials
    )
    for account, result in zip(accounts, results, strict=True):
        out.write(json.dumps(report_line(account, result)) + "\n")
    return results


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
    else:
        with open(path, "w", encoding="utf-8") as file:
            yield file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Audit accounts with fan_out; one JSON line per account.")
    parser.add_argument("accounts", nargs="+", metavar="ACCOUNT_ID", help="12-digit account ids")
    parser.add_argument(
        "--role-name", default="OrganizationAccountAccessRole", help="the role to assume in each account"
    )
    parser.add_argument("--hub", metavar="ROLE_ARN", help="assume every role from this one (default: none)")
    parser.add_argument("--output", metavar="FILE", help="write the report here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        arns = [rolesession.role_arn(account, args.role_name) for account in args.accounts]
    except rolesession.InvalidParameterError as exc:
        parser.error(str(exc))
    with _output(args.output) as out:
        results = run_audit(args.accounts, arns, args.hub, out)
    failed = sum(1 for r in results if not r.ok)
    print(f"{len(results) - failed} accounts audited, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
