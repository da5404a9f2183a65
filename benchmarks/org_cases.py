"""Org fan-out: discovery + one call per (account, region), against botocove's pattern, in one run.

Ours: `rolesession.org_accounts` (the walk and every account's tags) then
`rolesession.fan_out(accounts, fn, role_name=..., regions=[2 regions])`,
``fn`` making an STS client and calling GetCallerIdentity. The baseline is
botocove's pattern: ``ListAccounts``, then for each account an AssumeRole
and, for each region, a new ``boto3.Session`` from those credentials, its
client and the same call. The baseline is slow, so it runs on a sample of
the accounts (said in the notes); both are reported per account. Memory is
what stays allocated per account with its sessions and clients kept
(tracemalloc, a few accounts each side). Organizations and STS are moto
in-process. Run alone: ``python benchmarks/org_cases.py [--accounts N]``.
"""

from __future__ import annotations

import gc
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parent))

import rolesession
from measure import Log, Result, traced
from rolesession._organizations import clear_cache
from rolesession.testing import StsRecorder

REGIONS = ["eu-west-1", "us-east-2"]
ROLE = "OrganizationAccountAccessRole"


def _build(accounts: int) -> list[str]:
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    ous = []
    for i in range(4):
        ou = client.create_organizational_unit(ParentId=root, Name=f"ou-{i}")["OrganizationalUnit"]["Id"]
        ous.append(
            client.create_organizational_unit(ParentId=ou, Name=f"ou-{i}-a")["OrganizationalUnit"]["Id"]
        )
    ids = []
    for n in range(accounts):
        made = client.create_account(AccountName=f"acct-{n}", Email=f"a{n}@example.com")
        account = made["CreateAccountStatus"]["AccountId"]
        client.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ous[n % len(ous)])
        ids.append(account)
    return ids


def _call(session: Any) -> Any:
    client = session.client("sts")
    return client, client.get_caller_identity()["Account"]


def _ours(
    workers: int, keep: bool, limit: int | None = None, discover: bool = True
) -> tuple[list[Any], Counter[str]]:
    rolesession.testing.reset()  # STS clients made under the recorder, no credentials cached
    with StsRecorder() as sts:
        accounts = rolesession.org_accounts(refresh=discover)[:limit]
        results = rolesession.fan_out(
            accounts,
            (lambda s: (s, *_call(s))) if keep else (lambda s: _call(s)[1]),
            role_name=ROLE,
            regions=REGIONS,
            max_workers=workers,
        )
        assumed = Counter(c.params["RoleArn"] for c in sts.calls if c.operation == "AssumeRole")
    errors = [r.error for r in results if r.error]
    if errors:
        raise RuntimeError(f"fan_out failed: {errors[0]!r}")
    return [r.value for r in results], assumed


def _botocove(sample: int | None, workers: int, keep: bool) -> list[Any]:
    source = boto3.Session()
    org = source.client("organizations")
    accounts = [
        a["Id"]
        for page in org.get_paginator("list_accounts").paginate()
        for a in page["Accounts"]
        if a["Status"] == "ACTIVE"
    ][:sample]
    sts = source.client("sts")

    def one(account: str) -> list[Any]:
        arn = f"arn:aws:iam::{account}:role/{ROLE}"
        creds = sts.assume_role(RoleArn=arn, RoleSessionName="botocove")["Credentials"]
        kept = []
        for region in REGIONS:
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=region,
            )
            client, who = _call(session)
            kept.append((session, client, who) if keep else who)
        return kept

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, accounts))


def org_fan_out(quick: bool, log: Log, accounts: int | None = None) -> tuple[Result, Result, Result]:
    n = accounts or (60 if quick else 1000)
    sample = min(n, 12 if quick else 40)
    workers = 8
    clear_cache()
    with mock_aws():
        log(f"org fan-out: building an organization of {n} accounts in moto")
        _build(n)
        _ours(2, False)  # warm: models, template session
        _botocove(1, 1, False)
        log(f"org fan-out: ours over {n} accounts x {len(REGIONS)} regions")
        gc.collect()
        started = time.perf_counter()
        values, assumed = _ours(workers, False)
        ours_t = (time.perf_counter() - started) / n
        log(f"org fan-out: botocove's pattern over {sample} accounts x {len(REGIONS)} regions")
        gc.collect()
        started = time.perf_counter()
        _botocove(sample, workers, False)
        base_t = (time.perf_counter() - started) / sample
        log("org fan-out: memory per account with sessions and clients kept (tracemalloc)")
        few = 6
        rolesession.testing.reset()
        clear_cache()
        with traced() as used:
            kept_base = _botocove(few, 1, True)
            base_m = used() / few
        del kept_base
        # Discovery is paid once for the whole organization: its share per
        # account is what the cached account list keeps over all of them.
        clear_cache()
        with traced() as used:
            rolesession.org_accounts(refresh=True)
            discovery_m = used() / (n + 1)
        with traced() as used:
            kept_ours, _ = _ours(1, True, limit=4 * few, discover=False)
            ours_m = used() / (4 * few) + discovery_m
        del kept_ours
    one_each = (
        len(values) == (n + 1) * len(REGIONS) and set(assumed.values()) == {1} and len(assumed) == n + 1
    )
    time_ratio, mem_ratio = base_t / ours_t, base_m / ours_m
    note = (
        f"{n} member accounts (+ the management account) x {len(REGIONS)} regions, {workers} threads each "
        f"side; ours includes discovery (org_accounts: the walk and every account's tags); the baseline ran "
        f"on a sample of {sample} accounts (it is slow) after ListAccounts"
    )
    return (
        Result(
            "org-fanout-time",
            f"org fan-out, {n} accounts x {len(REGIONS)} regions: discovery + a call per (account, region), "
            "time per account",
            "botocove's pattern: a new `boto3.Session` per account and region",
            ours_t * 1e3,
            base_t * 1e3,
            "ms",
            "≥ 10x faster",
            time_ratio,
            time_ratio >= 10,
            [note],
        ),
        Result(
            "org-fanout-memory",
            "org fan-out: memory per account (sessions + clients kept, 2 regions)",
            "botocove's pattern",
            ours_m / 1024,
            base_m / 1024,
            "KiB",
            "≥ 40x less memory",
            mem_ratio,
            mem_ratio >= 40,
            [
                f"tracemalloc: {few} accounts (baseline), {4 * few} (ours), sequential; ours adds the "
                f"accounts org_accounts keeps, {discovery_m / 1024:.1f} KiB per account ({n + 1} accounts)"
            ],
        ),
        Result(
            "org-fanout-assume",
            "org fan-out: AssumeRole calls per account (2 regions)",
            "—",
            max(assumed.values(), default=0),
            1.0,
            "calls",
            "1 AssumeRole per account",
            None,
            one_each,
            [f"{sum(assumed.values())} AssumeRole calls for {len(assumed)} accounts"],
        ),
    )


CASES = (org_fan_out,)


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from measure import isolate_environment

    isolate_environment()
    for result in org_fan_out(
        args.quick, lambda line: print(line, file=sys.stderr, flush=True), args.accounts
    ):
        ratio = f"  ratio {result.ratio:.1f}" if result.ratio else ""
        print(f"{result.key}: ours {result.ours:.3f} {result.unit}, baseline {result.baseline:.3f}{ratio}, "
              f"passed={result.passed}  {'; '.join(result.notes)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
