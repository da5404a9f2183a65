"""``fan_out``: run one function in many roles (accounts) at once, never stopping at a failure.

Each entry gets its own lazily-assumed `RoleSession` (a role, or with
``task_policy=`` a root session of the account); everything that goes
wrong for an entry -- an invalid ARN, AssumeRole refused, ``fn`` raising --
is recorded in that entry's `FanOutResult` while the others carry on. On a
thread pool (the default) sessions share the process's STS clients, models
and credential cache; with ``executor=`` the work travels as plain data
(role ARN or account, keywords, ``fn``) and each worker builds its own session.
"""

from __future__ import annotations

import itertools
import json
import pickle
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TextIO, TypeVar

import boto3
import botocore.config

from ._api import assume_role, assume_root
from ._cache import DEFAULT_CACHE, check_cache, default_cache
from ._organizations import Account
from ._requests import (
    HOP_KEYWORDS,
    ROOT_KEYWORDS,
    assume_role_recipe,
    check_assume_role_keywords,
    check_assume_root_keywords,
    check_source,
    root_recipe,
)
from ._session import RoleSession, session_for
from ._validation import (
    MAX_POLICY_ARNS,
    MAX_TRANSITIVE_TAG_KEYS,
    bounded,
    check_instance,
    check_region,
    check_str,
    fail,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ._keywords import HopKeywords

__all__ = ["FanOutResult", "fan_out"]

T = TypeVar("T")

#: The most entries one call takes: far beyond any organisation's accounts, and
#: an endless iterable ends in an error instead of filling the memory.
MAX_ENTRIES = 1_000_000
# Keywords given as iterables: read once, bounded, so that every entry (and the
# up-front check) sees the same items -- a generator would be used up by the first.
_ITERABLE_KEYWORDS = {"policy_arns": MAX_POLICY_ARNS, "transitive_tag_keys": MAX_TRANSITIVE_TAG_KEYS}


@dataclass(frozen=True)
class FanOutResult(Generic[T]):
    """What happened for one entry of `rolesession.fan_out`.

    Attributes:
        role_arn: the entry as given; for an AssumeRoot entry (``task_policy=``), whose
            session has no role, the account's root principal
            ``arn:<partition>:iam::<account>:root`` (its ``identity()["Arn"]``), or the
            target as given if it is no account id.
        value: what ``fn`` returned (``None`` if it failed).
        error: the exception (``None`` on success): an
            `rolesession.InvalidParameterError` for an invalid ARN, an
            `rolesession.AssumeRoleError` when STS refused, or whatever ``fn``
            raised.
        seconds: wall time spent on this entry (session, STS and ``fn``).
        region: the region ``fn`` ran in when ``regions=`` was given, else ``None``.
        account_name: the account's name when the target was an `rolesession.Account`.
        ou_path: the account's OU path when the target was an `rolesession.Account`.

    Example:
        ```python
        results = rolesession.fan_out(arns, count_buckets)
        with open("report.jsonl", "w") as report:
            report.writelines(result.to_json() + "\n" for result in results)
        failed = [r.account for r in results if not r.ok]
        ```
    """

    role_arn: str
    value: T | None
    error: BaseException | None
    seconds: float
    region: str | None = None
    account_name: str | None = None
    ou_path: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """``True`` when ``fn`` returned without raising."""
        return self.error is None

    @property
    def account(self) -> str | None:
        """The 12-digit account of ``role_arn`` (``None`` if it is not a role or root ARN)."""
        parts = str(self.role_arn).split(":")
        return parts[4] if len(parts) > 5 and len(parts[4]) == 12 and parts[4].isdigit() else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record: role, account, account name, OU path, region, ok, value, error, seconds.

        ``value`` is kept when JSON can hold it, else shown with ``repr``;
        ``error`` is ``{"type", "message", "code"}`` (``code`` for STS
        refusals) or ``None``. Messages of rolesession's errors never hold
        secrets; ``fn``'s own exceptions are reported as they are.
        """
        error: dict[str, Any] | None = None
        if self.error is not None:
            error = {"type": type(self.error).__name__, "message": str(self.error)}
            code = getattr(self.error, "code", None)
            if isinstance(code, str):
                error["code"] = code
        return {
            "role_arn": self.role_arn,
            "account": self.account,
            "account_name": self.account_name,
            "ou_path": list(self.ou_path),
            "region": self.region,
            "ok": self.ok,
            "value": _json_ready(self.value),
            "error": error,
            "seconds": round(self.seconds, 6),
        }

    def to_json(self) -> str:
        """`to_dict` as one line of JSON (a JSON Lines report: one line per entry)."""
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)


def _json_ready(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def fan_out(
    targets: Iterable[str | Account],
    fn: Callable[[RoleSession], T],
    *,
    role_name: str | None = None,
    task_policy: str | None = None,
    regions: Iterable[str] | None = None,
    source: boto3.Session | None = None,
    max_workers: int = 16,
    executor: Executor | None = None,
    progress: bool = False,
    **assume_kwargs: Unpack[HopKeywords],
) -> list[FanOutResult[T]]:
    """Call ``fn(session)`` in every role of ``targets`` (and region); one result per run, in order.

    Each entry is assumed with `rolesession.assume_role` (``source`` and
    ``assume_kwargs`` apply to all) and handed to ``fn``. Sessions are lazy:
    STS is called when ``fn`` first uses the session, so a refused
    AssumeRole and an exception in ``fn`` both end up in that entry's
    ``error``; one entry's failure never stops the others. Duplicated ARNs
    get a result each (and share one session while its credentials are
    cached).

    With ``task_policy``, each entry is instead a root session of the
    account, `rolesession.assume_root(account, task_policy, source=source,
    ...)` -- a root-credential audit over an organization: targets are then
    account ids or `rolesession.Account` values, and each account gets one
    AssumeRoot whatever ``regions`` says. Each result's ``role_arn`` is then
    the account's root principal, ``arn:aws:iam::<account>:root``.

    Args:
        targets: role ARNs (an invalid one becomes that entry's
            `rolesession.InvalidParameterError`), 12-digit account ids or
            `rolesession.Account` values (both need ``role_name``), at most
            `MAX_ENTRIES` (1,000,000); any iterable, read no further than that.
        role_name: the role to assume in each account id or `Account` of
            ``targets`` (its ARN is built in the source's partition).
        task_policy: a root task (``IAMAuditRootUserCredentials``, ... or its
            ``root-task`` ARN, as for `rolesession.assume_root`): run ``fn`` in a
            root session of each account instead of a role. Not with
            ``role_name``; ``assume_kwargs`` are then those of ``assume_root``
            (``duration`` at most 900, by default 900; ``region``,
            ``sts_endpoint_url``, ``sts_config``, ``cache``, ``refresh``). A
            target that is not an account id or `Account` (a role ARN, say)
            becomes that entry's `rolesession.InvalidParameterError`.
        regions: run ``fn`` once per (target, region), with a session whose
            ``region_name`` is that region; every region of a target shares
            one AssumeRole. Results are ordered by target, then region.
        fn: called with each entry's `rolesession.RoleSession`; its return
            value is the entry's ``value``. Whatever it raises (``SystemExit``
            included) is that entry's ``error``; only ``KeyboardInterrupt``
            stops the run.
        source: the session every role is assumed from (``None``: the
            default credential chain). Must be ``None`` with ``executor``.
        max_workers: threads of the built-in pool (ignored with ``executor``).
        executor: any ``concurrent.futures.Executor`` -- a process pool or a
            distributed executor. The work is shipped as plain data (ARN,
            ``assume_kwargs``, ``fn``), which must therefore be picklable by
            that executor; each worker builds its own session from its own
            default credential chain. ``cache`` must pickle too: ``None``, a
            ``FileCache``, or the default (each worker then uses its own
            process's default cache); a ``MemoryCache`` cannot travel.
        progress: draw a progress bar on stderr.
        **assume_kwargs: keywords of `rolesession.assume_role` (``duration``,
            ``session_name``, ``policy``, ``external_id``, ``region``, ...), or of
            `rolesession.assume_root` with ``task_policy``.
            ``policy_arns`` and ``transitive_tag_keys`` are read once (at most
            one item past their limits) and handed to every entry.

    Returns:
        One `FanOutResult` per entry of ``targets`` (per entry and region with
        ``regions``), in the same order.

    Example:
        ```python
        results = rolesession.fan_out(arns, lambda s: s.client("sts").get_caller_identity()["Account"])
        failed = [r for r in results if r.error]
        ```

    Raises:
        InvalidParameterError: ``targets``, ``role_name``, ``task_policy``, ``regions``, ``fn``,
            ``max_workers``, ``executor``, ``source`` or any of ``assume_kwargs`` is invalid, or
            ``cache`` cannot be shipped to ``executor`` -- raised before any
            work starts.
    """
    if not callable(fn):
        raise fail("fn", f"expected a callable taking a RoleSession, got {type(fn).__name__}")
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise fail("max_workers", f"must be a positive int, got {max_workers!r}")
    check_instance(executor, "executor", Executor, "a concurrent.futures.Executor")
    if not isinstance(progress, bool):
        raise fail("progress", "must be True or False")
    if executor is not None and source is not None:
        raise fail(
            "source",
            "must be None with executor=: workers cannot receive a session; each one "
            "assumes the roles from its own default credential chain",
        )
    given = _check_targets(targets)
    if task_policy is None:
        entries = _entries(given, role_name, source)
    elif role_name is not None:
        raise fail(
            "role_name",
            "goes with AssumeRole; task_policy= runs AssumeRoot on each account, which assumes no "
            "role: pass one or the other",
        )
    wanted = _check_regions(regions)
    kwargs, checked = _check_assume_kwargs(
        source, dict(assume_kwargs), shipped=executor is not None, task_policy=task_policy
    )
    if task_policy is not None:
        entries = _root_entries(given, checked["fields"]["partition"])

    runs = [(entry, region) for entry in entries for region in wanted]
    bar = _progress(len(runs), sys.stderr) if progress else None
    if executor is not None:
        return _run_on(executor, entries, wanted, fn, kwargs, bar)
    pool = ThreadPoolExecutor(
        max_workers=max(1, min(max_workers, len(runs))), thread_name_prefix="rolesession-fan-out"
    )
    try:
        return _run_on(pool, entries, wanted, fn, checked, bar, local=True)
    finally:
        # On Ctrl-C, do not start the entries still queued.
        pool.shutdown(wait=True, cancel_futures=True)


# -- checks -----------------------------------------------------------------------


def _check_targets(targets: object) -> list[Any]:
    if isinstance(targets, (str, bytes, Account)) or not isinstance(targets, Iterable):
        raise fail(
            "targets", "expected an iterable of role ARNs, account ids or Accounts (a list, not a single one)"
        )
    return list(bounded(targets, MAX_ENTRIES, "targets", "entries"))


@dataclass(frozen=True)
class _Entry:
    """One target as plain, picklable data: the ARN to assume (or, ``root``, the account
    to AssumeRoot on) and what the results carry."""

    arn: Any
    name: str | None = None
    ou_path: tuple[str, ...] = ()
    root: bool = False
    partition: str = "aws"

    @property
    def key(self) -> Any:
        """What identifies the entry's session: one per ARN (or account: ``7`` and ``"000000000007"``)."""
        if self.root and self.account is not None:
            return (True, self.account)
        return (self.root, self.arn if isinstance(self.arn, str) else id(self.arn))

    @property
    def account(self) -> str | None:
        """An AssumeRoot entry's account id, when it is one."""
        if not self.root:
            return None
        if isinstance(self.arn, int) and not isinstance(self.arn, bool) and 0 <= self.arn < 10**12:
            return f"{self.arn:012d}"
        return self.arn if isinstance(self.arn, str) and _ACCOUNT_ID.fullmatch(self.arn) else None


def _entries(targets: list[Any], role_name: object, source: Any) -> list[_Entry]:
    """Each target as an `_Entry`; account ids and Accounts get ``role_name``'s ARN."""
    if role_name is not None:
        check_str(role_name, "role_name")
        if not _ROLE_NAME.fullmatch(str(role_name)):
            raise fail("role_name", f"{str(role_name)[:80]!r} is not an IAM role name (or path/name)")
    accounts = [t for t in targets if _is_account(t)]
    if accounts and role_name is None:
        raise fail("role_name", "is needed when targets holds account ids or Accounts (the role in each)")
    partition = _partition(source) if accounts else "aws"
    entries = []
    for target in targets:
        if isinstance(target, Account):
            arn = _arn(target.id, str(role_name), partition)
            entries.append(_Entry(arn, target.name, tuple(target.ou_path)))
        elif isinstance(target, str) and _ACCOUNT_ID.fullmatch(target):
            entries.append(_Entry(_arn(target, str(role_name), partition)))
        else:
            entries.append(_Entry(target))  # an ARN, checked (and failed, if bad) by its entry
    return entries


def _root_entries(targets: list[Any], partition: str) -> list[_Entry]:
    """Each target as an AssumeRoot `_Entry` on its account (checked when the entry runs)."""
    return [
        _Entry(t.id, t.name, tuple(t.ou_path), root=True, partition=partition)
        if isinstance(t, Account)
        else _Entry(t, root=True, partition=partition)
        for t in targets
    ]


_ACCOUNT_ID = re.compile(r"[0-9]{12}")


def _is_account(target: object) -> bool:
    return isinstance(target, Account) or (isinstance(target, str) and bool(_ACCOUNT_ID.fullmatch(target)))
_ROLE_NAME = re.compile(r"/?([\w+=,.@-]+/)*[\w+=,.@-]{1,64}")


def _arn(account: str, role_name: str, partition: str) -> str:
    from ._api import role_arn

    path, _, name = role_name.strip("/").rpartition("/")
    return role_arn(account, name, path=f"/{path}/" if path else "/", partition=partition)


def _partition(source: Any) -> str:
    """The partition of the source's region (or the configured one): ``aws`` when none is known."""
    from ._environment import configured_region

    region = configured_region(None, source)
    if not region:
        return "aws"
    session = source if isinstance(source, boto3.Session) else boto3.Session()
    return str(session.get_partition_for_region(region) or "aws")


def _check_regions(regions: object) -> tuple[str | None, ...]:
    """``(None,)`` without regions: one run per target in its session's own region."""
    if regions is None:
        return (None,)
    if isinstance(regions, (str, bytes)) or not isinstance(regions, Iterable):
        raise fail("regions", "expected a list of region names (a list, not a single string)")
    given = bounded(regions, 1000, "regions", "regions")
    checked = tuple(check_region(region, "regions") for region in given)
    if not checked:
        raise fail("regions", "is empty: give at least one region (or None)")
    if len(set(checked)) != len(checked):
        raise fail("regions", "names a region twice")
    return checked


def _check_assume_kwargs(
    source: Any, kwargs: dict[str, Any], *, shipped: bool, task_policy: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Raise what `assume_role` (with ``task_policy``: `assume_root`) would raise for these
    keywords, before any work.

    Returns the keywords to ship to an executor -- one-shot iterables read
    into tuples and, when ``shipped``, the process's default cache left out
    (each worker uses its own) -- and the same keywords checked, for the
    local pool (each entry then only checks its role ARN or account).
    """
    root = task_policy is not None
    unknown = sorted(set(kwargs) - (ROOT_KEYWORDS if root else HOP_KEYWORDS))
    if unknown and root and unknown[0] in HOP_KEYWORDS:
        raise fail(
            unknown[0],
            "is not a keyword of assume_root(): with task_policy= each entry is an AssumeRoot, "
            f"which takes no {unknown[0]}",
        )
    if unknown:
        raise fail(unknown[0], f"is not a keyword of {'assume_root' if root else 'assume_role'}()")
    if root and "duration" not in kwargs:
        kwargs["duration"] = DEFAULT_ROOT_DURATION  # assume_root's default: they share cache entries
    kwargs = {**kwargs, "sts_config": _patient(kwargs.get("sts_config"))}
    for name, limit in _ITERABLE_KEYWORDS.items():
        value = kwargs.get(name)
        if isinstance(value, Iterable) and not isinstance(value, (str, bytes, Mapping)):
            kwargs[name] = _read_once(value, limit, name)
    cache = kwargs.get("cache", DEFAULT_CACHE)
    if cache is not DEFAULT_CACHE:
        check_cache(cache, "cache")
    if shipped and cache is not DEFAULT_CACHE:
        if cache is default_cache():
            del kwargs["cache"]
        elif cache is not None:
            _check_shippable(cache)
    if root:
        # The same checks, in the same order, as assume_root() itself (its account aside).
        checked = check_assume_root_keywords(task_policy, source=check_source(source), **kwargs)
        return {**kwargs, "task_policy": task_policy}, checked
    # The same checks, in the same order, as assume_role() itself.
    checked = check_assume_role_keywords(source=check_source(source), **kwargs)
    return kwargs, checked


#: ``assume_root``'s default duration (seconds), also fan_out's with ``task_policy``.
DEFAULT_ROOT_DURATION = 900


#: fan_out's STS retries unless the caller's ``sts_config`` says otherwise:
#: thousands of AssumeRole calls meet STS's throttling, and the library's
#: interactive default (3 attempts) loses about 1 % of entries at 20 %
#: throttling; 10 standard-mode attempts lost none in the 10,000-account
#: benchmark (adaptive mode slowed the shared client to a crawl).
FAN_OUT_ATTEMPTS = 10


def _patient(user: Any) -> Any:
    """The caller's ``sts_config`` (checked later), with fan_out's retries unless it sets its own."""
    if user is not None and not isinstance(user, botocore.config.Config):
        return user  # assume_role's check reports it
    if user is not None and getattr(user, "retries", None):
        return user
    retries: Any = {"mode": "standard", "total_max_attempts": FAN_OUT_ATTEMPTS}
    patient = botocore.config.Config(retries=retries)
    return patient if user is None else patient.merge(user)


def _read_once(value: Iterable[Any], limit: int, name: str) -> tuple[Any, ...]:
    # One item past the limit, so that assume_role() reports "too many" in its own words.
    try:
        return tuple(itertools.islice(value, limit + 1))
    except Exception as exc:
        raise fail(name, f"could not be read ({type(exc).__name__})") from exc


def _check_shippable(cache: object) -> None:
    # The standard pickle is what a process pool uses, and what it ships every
    # executor ships (distributed ones use cloudpickle, a superset).
    try:
        pickle.dumps(cache)
    except Exception as exc:
        raise fail(
            "cache",
            f"a {type(cache).__name__} cannot be shipped to the executor's workers "
            f"({type(exc).__name__}); pass cache=None, a FileCache, or leave the default "
            "(each worker then uses its own process's default cache)",
        ) from exc


# -- running ----------------------------------------------------------------------


def _run_on(
    executor: Executor,
    entries: list[_Entry],
    regions: tuple[str | None, ...],
    fn: Callable[[RoleSession], T],
    kwargs: dict[str, Any],
    bar: _Bar | None,
    *,
    local: bool = False,
) -> list[FanOutResult[T]]:
    """Every (entry, region) run, in order: locally one task per run, remotely one per entry."""
    width = len(regions)
    results: list[FanOutResult[T] | None] = [None] * (len(entries) * width)
    futures: dict[Future[Any], int] = {}
    # Every submission unique: executors that key tasks by their arguments
    # (Dask's default pure=True) would otherwise run duplicate entries once.
    call = uuid.uuid4().hex
    sessions = _Sessions(kwargs) if local else None
    for index, entry in enumerate(entries):
        try:
            if sessions is not None:
                for offset, region in enumerate(regions):
                    futures[executor.submit(_run_local, entry, region, fn, sessions)] = index * width + offset
            else:
                task = (call, index)
                futures[executor.submit(_run_remote, entry, fn, kwargs, regions, task)] = index * width
        except Exception as exc:  # e.g. a broken or shut-down pool: this entry fails
            for offset, region in enumerate(regions):
                if results[index * width + offset] is None:
                    results[index * width + offset] = _result(entry, region, None, exc, 0.0)
                    if bar is not None:
                        bar.step(failed=True)
    try:
        for future in as_completed(futures):
            first = futures[future]
            index = first // width
            try:
                got = future.result()
                batch = got if isinstance(got, list) else [got]
            except Exception as exc:  # the executor could not run or return it (pickling, a dead worker)
                count = 1 if sessions is not None else width
                entry = entries[index]
                batch = [_result(entry, regions[(first + i) % width], None, exc, 0.0) for i in range(count)]
            for i, result in enumerate(batch):
                results[first + i] = result
                if bar is not None:
                    bar.step(failed=result.error is not None)
    finally:
        if bar is not None:
            bar.close()  # end the line, even on Ctrl-C
    return [r for r in results if r is not None]


def _result(
    entry: _Entry, region: str | None, value: Any, error: BaseException | None, seconds: float
) -> FanOutResult[Any]:
    shown = entry.arn
    if entry.root and entry.account is not None:
        shown = f"arn:{entry.partition}:iam::{entry.account}:root"
    return FanOutResult(shown, value, error, seconds, region, entry.name, entry.ou_path)


class _Sessions:
    """One session per ARN (or AssumeRoot account) for every region of it: one STS call per
    account, even with ``cache=None``."""

    def __init__(self, checked: dict[str, Any]) -> None:
        self._checked = checked
        self._lock = threading.Lock()
        self._sessions: dict[Any, RoleSession] = {}

    def get(self, entry: _Entry) -> RoleSession:
        key = entry.key
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                # Building a session makes no STS call (it is lazy): holding the lock is cheap.
                session = self._sessions[key] = session_for(_recipe(entry, self._checked))
            return session


def _recipe(entry: _Entry, checked: dict[str, Any]) -> Any:
    if not entry.root:
        return assume_role_recipe(entry.arn, checked)
    _check_root_target(entry)
    return root_recipe(entry.arn, checked)


def _check_root_target(entry: _Entry) -> None:
    if isinstance(entry.arn, str) and entry.arn.startswith("arn:"):
        raise fail(
            "account",
            f"{entry.arn[:100]!r} is an ARN; with task_policy= every target is an account "
            "(a 12-digit id or an Account) to run AssumeRoot on",
        )


def _run_local(entry: _Entry, region: str | None, fn: Callable[[RoleSession], T], sessions: _Sessions) -> Any:
    """One (entry, region) in this process: the entry's shared session, seen in ``region``."""
    return _run(entry, region, fn, lambda: in_region(sessions.get(entry), region))


def _run(
    entry: _Entry, region: str | None, fn: Callable[[RoleSession], T], session: Callable[[], RoleSession]
) -> FanOutResult[T]:
    started = time.perf_counter()
    try:
        value = fn(session())
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from one account's fn must not end the others
        return _result(entry, region, None, exc, time.perf_counter() - started)
    return _result(entry, region, value, None, time.perf_counter() - started)


def _run_remote(
    entry: _Entry,
    fn: Callable[[RoleSession], T],
    kwargs: dict[str, Any],
    regions: tuple[str | None, ...] = (None,),
    task: object = None,
) -> list[FanOutResult[T]]:
    """The unit of work an executor runs, wherever it runs it: plain data in and out.

    One entry, every region of it on one session (one AssumeRole, or
    AssumeRoot for a ``root`` entry: ``kwargs`` then hold ``task_policy``).
    ``task`` (the call and the entry's index) only makes each task unique.
    """
    held: list[RoleSession] = []

    def session(region: str | None) -> RoleSession:
        if not held:
            if entry.root:
                _check_root_target(entry)
                held.append(assume_root(entry.arn, **kwargs))
            else:
                held.append(assume_role(entry.arn, **kwargs))
        return in_region(held[0], region)

    results = []
    for region in regions:
        result = _run(entry, region, fn, lambda region=region: session(region))  # type: ignore[misc]
        if result.error is not None:
            result = _result(entry, region, None, _picklable(result.error), result.seconds)
        results.append(result)
    return results


def in_region(session: RoleSession, region: str | None) -> RoleSession:
    """``session`` seen in ``region``: the same credentials engine, another ``region_name``.

    The view shares the session's `SessionCredentials` (and so its refreshes
    and its single STS call); only its botocore session, whose default region
    is ``region``, is its own. ``None`` or the session's own region: the
    session itself.
    """
    return session if region is None else session.in_region(region)


def _picklable(exc: BaseException) -> BaseException:
    """``exc``, or a stand-in if it cannot travel back to the caller's process."""
    # Ours pickle, and botocore's modelled errors pickle as ``ClientError``;
    # an exception class defined inside a function, say, does not.
    try:
        pickle.dumps(exc)
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}")


# -- progress ---------------------------------------------------------------------


class _Bar:
    """What `_run_on` needs of a progress bar."""

    def step(self, *, failed: bool) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _progress(total: int, stream: TextIO) -> _Bar:
    """rich's bar on a terminal when the ``progress`` extra is installed, else a plain line."""
    if stream.isatty():
        try:
            import rich.progress  # noqa: F401  (the ``progress`` extra)
        except ImportError:
            pass
        else:
            return _RichBar(total, stream)
    return _Progress(total, stream)


class _RichBar(_Bar):
    """rich's progress bar: done / total, failed, rate, elapsed."""

    def __init__(self, total: int, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._failed = 0
        self._lock = threading.Lock()
        self._started = time.perf_counter()
        self._progress = Progress(
            TextColumn("fan_out"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed  {task.fields[rate]}"),
            TimeElapsedColumn(),
            console=Console(file=stream),
        )
        self._task = self._progress.add_task("fan_out", total=total, failed=0, rate="")
        self._progress.start()

    def step(self, *, failed: bool) -> None:
        with self._lock:
            self._failed += failed
            done = self._progress.tasks[0].completed + 1
            rate = done / max(time.perf_counter() - self._started, 1e-9)
            self._progress.update(self._task, advance=1, failed=self._failed, rate=f"{rate:.1f}/s")

    def close(self) -> None:
        self._progress.stop()


class _Progress(_Bar):
    """``[#######.............]  35/100  (2 failed)  12.5/s`` redrawn in place (no ``progress`` extra)."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = total
        self._stream = stream
        self._done = 0
        self._failed = 0
        self._started = time.perf_counter()
        self._lock = threading.Lock()
        self._draw()

    def step(self, *, failed: bool) -> None:
        with self._lock:
            self._done += 1
            self._failed += failed
            self._draw()

    def close(self) -> None:
        with self._lock:
            self._stream.write("\n")
            self._stream.flush()

    def _draw(self) -> None:
        filled = self.WIDTH * self._done // self._total if self._total else self.WIDTH
        line = f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self._done}/{self._total}"
        if self._failed:
            line += f"  ({self._failed} failed)"
        if self._done:
            line += f"  {self._done / max(time.perf_counter() - self._started, 1e-9):.1f}/s"
        self._stream.write(line)
        self._stream.flush()
