"""``rolesession each``: one command per (account, region), with that role's credentials and region.

The accounts come from the organization (``--org``, through
`rolesession.org_accounts`) or from a list (``--accounts``). Every account is
assumed once, whatever the number of regions; each run gets the role's
credentials and its region in its environment, and -- as under ``exec`` --
shared config files of ours without the user's credentials. At most
``--max-workers`` commands run at once. Ctrl-C starts no new run and
forwards the signal to the running ones.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import rolesession

from .errors import UsageError

__all__ = ["add_parser", "run_each"]

_ACCOUNT_ID = re.compile(r"\d{12}")
#: What the child must not inherit: the user's own credentials and profile choice.
_OTHER_CREDENTIALS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
)


def add_parser(commands: Any, formatter: Any) -> None:
    """Register ``each`` on the subcommands of the ``rolesession`` parser."""
    each = commands.add_parser(
        "each",
        help="run a command in every account (of the organization) and region",
        usage="%(prog)s --role NAME (--org [--ou OU]... [--exclude ID]... | --accounts ID,ID | "
        "--accounts @FILE) [--regions R,R] [--max-workers N] [--format text|json] -- COMMAND [ARG ...]",
        formatter_class=formatter,
        description="Run COMMAND once per (account, region) with the role's credentials and region in "
        "its environment. Exit 0 only if every run exited 0 (1 otherwise).",
        epilog="examples:\n"
        "  rolesession each --role Auditor --org --regions eu-west-1,us-east-1 -- aws s3 ls\n"
        "  rolesession each --role Auditor --accounts @accounts.txt --format json -- ./check.py",
    )
    each.add_argument(
        "--role", required=True, metavar="NAME", help="the role (name or path/name) in each account"
    )
    each.add_argument("--org", action="store_true", help="every active account of the organization")
    each.add_argument(
        "--ou", action="append", default=[], metavar="OU", help="only under this OU (repeatable)"
    )
    each.add_argument(
        "--exclude", action="append", default=[], metavar="ID", help="leave out an account or OU (repeatable)"
    )
    each.add_argument(
        "--accounts", metavar="ID,ID|@FILE", help="these accounts (a file: one or more per line)"
    )
    each.add_argument("--regions", metavar="R,R", help="run once per region (default: the configured one)")
    each.add_argument("--max-workers", type=int, default=8, metavar="N", help="at most N at once (default 8)")
    each.add_argument("--format", choices=("text", "json"), default="text", dest="each_format")
    each.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log STS calls")


@dataclass
class _Run:
    account: str
    name: str
    region: str | None
    status: int | None = None
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == 0


def _targets(args: argparse.Namespace) -> list[tuple[str, str]]:
    """``(account id, name)`` of every account to run in."""
    if args.org == bool(args.accounts):
        raise UsageError("each needs exactly one of --org and --accounts")
    if (args.ou or args.exclude) and not args.org:
        raise UsageError("--ou and --exclude go with --org")
    if args.org:
        accounts = rolesession.org_accounts(ous=args.ou or None, exclude=args.exclude or None)
        return [(account.id, account.name) for account in accounts]
    text = args.accounts
    if text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as handle:
                text = handle.read()
        except OSError as exc:
            raise UsageError(f"--accounts: cannot read {text[1:]}: {exc.strerror}") from None
    ids = [item for line in text.splitlines() for item in re.split(r"[,\s]+", line.split("#")[0]) if item]
    for item in ids:
        if not _ACCOUNT_ID.fullmatch(item):
            raise UsageError(f"--accounts: {item!r} is not a 12-digit account id")
    if not ids:
        raise UsageError("--accounts names no account")
    return [(item, item) for item in dict.fromkeys(ids)]


def _regions(args: argparse.Namespace) -> list[str | None]:
    if not args.regions:
        return [None]
    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    if not regions:
        raise UsageError("--regions names no region")
    return list(dict.fromkeys(regions))


class _Runner:
    """Runs the commands, at most N at once; stops starting them on Ctrl-C."""

    def __init__(self, command: list[str], base_env: dict[str, str], role: str, emit: Callable[[_Run], None]):
        self._command = command
        self._base_env = base_env
        self._role = role
        self._emit = emit
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sessions: dict[str, rolesession.RoleSession] = {}
        self._running: set[subprocess.Popen[bytes]] = set()

    def _session(self, account: str) -> rolesession.RoleSession:
        with self._lock:  # one session -- one AssumeRole -- per account, whatever the regions
            session = self._sessions.get(account)
            if session is None:
                name, path = _split_role(self._role)
                arn = rolesession.role_arn(account, name, path=path)
                session = self._sessions[account] = rolesession.assume_role(
                    arn, session_name="rolesession-each"
                )
            return session

    def run(self, account: str, name: str, region: str | None) -> _Run | None:
        if self._stop.is_set():
            return None
        run = _Run(account, name, region)
        started = time.perf_counter()
        try:
            env = dict(self._base_env)
            env.update(self._session(account).environ())
            if region is not None:
                env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = region
            run.region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
            child = subprocess.Popen(
                self._command,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
        except rolesession.RoleSessionError as exc:
            run.stderr = f"rolesession: {exc}\n"
        except OSError as exc:
            run.stderr = f"rolesession: cannot run {self._command[0]}: {exc.strerror}\n"
        else:
            with self._lock:
                self._running.add(child)
            try:
                out, err = child.communicate()
            finally:
                with self._lock:
                    self._running.discard(child)
            run.status, run.stdout, run.stderr = (
                child.returncode,
                out.decode(errors="replace"),
                err.decode(errors="replace"),
            )
        run.seconds = time.perf_counter() - started
        self._emit(run)
        return run

    def interrupt(self) -> None:
        self._stop.set()
        with self._lock:
            running = list(self._running)
        for child in running:
            with contextlib.suppress(OSError):  # it has just ended
                child.send_signal(signal.SIGINT)


def _split_role(role: str) -> tuple[str, str]:
    path, _, name = role.strip("/").rpartition("/")
    return name, f"/{path}/" if path else "/"


def _printer(form: str) -> Callable[[_Run], None]:
    lock = threading.Lock()

    def emit(run: _Run) -> None:
        with lock:
            if form == "json":
                record = {
                    "account": run.account,
                    "account_name": run.name,
                    "region": run.region,
                    "status": run.status,
                    "stdout": run.stdout,
                    "stderr": run.stderr,
                    "seconds": round(run.seconds, 3),
                }
                sys.stdout.write(json.dumps(record) + "\n")
            else:
                prefix = f"{run.name} {run.region or '-'} | "
                sys.stdout.writelines(prefix + line + "\n" for line in run.stdout.splitlines())
                sys.stderr.writelines(prefix + line + "\n" for line in run.stderr.splitlines())
            sys.stdout.flush()
            sys.stderr.flush()

    return emit


def run_each(args: argparse.Namespace) -> int:
    """The ``each`` subcommand; returns the exit code."""
    from .shared_files import child_profile, isolated_files

    if args.max_workers < 1:
        raise UsageError("--max-workers must be at least 1")
    targets = _targets(args)
    regions = _regions(args)
    env = dict(os.environ)
    profile = child_profile(None, env)
    for name in _OTHER_CREDENTIALS:
        env.pop(name, None)
    runs = [(account, name, region) for account, name in targets for region in regions]
    results: list[_Run] = []
    started = time.perf_counter()
    interrupted = False
    with isolated_files(env, profile) as env:
        runner = _Runner(args.each_command, env, args.role, _printer(args.each_format))
        pool = ThreadPoolExecutor(max_workers=min(args.max_workers, len(runs)), thread_name_prefix="each")
        futures = [pool.submit(runner.run, *run) for run in runs]
        try:
            for future in futures:
                result = future.result()
                if result is not None:
                    results.append(result)
        except KeyboardInterrupt:
            interrupted = True
            runner.interrupt()
            for future in futures:
                if not future.cancel() and not future.cancelled():
                    result = future.result()
                    if result is not None:
                        results.append(result)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    failed = [r for r in results if not r.ok]
    summary = (
        f"each: {len(results)} of {len(runs)} runs in {time.perf_counter() - started:.1f} s, "
        f"{len(results) - len(failed)} succeeded, {len(failed)} failed"
    )
    if failed:
        summary += ": " + ", ".join(f"{r.name} {r.region or '-'}" for r in failed[:10])
        summary += " ..." if len(failed) > 10 else ""
    sys.stderr.write(summary + ("  (interrupted)\n" if interrupted else "\n"))
    if interrupted:
        return 130
    return 0 if not failed and len(results) == len(runs) else 1
