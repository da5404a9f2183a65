"""``fan_out``: run one function in many roles (accounts) at once, never stopping at a failure.

Each entry gets its own lazily-assumed `RoleSession`; everything that goes
wrong for an entry -- an invalid ARN, AssumeRole refused, ``fn`` raising --
is recorded in that entry's `FanOutResult` while the others carry on. On a
thread pool (the default) sessions share the process's STS clients, models
and credential cache; with ``executor=`` the work travels as plain data
(role ARN, keywords, ``fn``) and each worker builds its own session.
"""

from __future__ import annotations

import itertools
import json
import pickle
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

from ._api import assume_role
from ._cache import DEFAULT_CACHE, check_cache, default_cache
from ._requests import HOP_KEYWORDS, assume_role_recipe, check_assume_role_keywords, check_source
from ._session import RoleSession, session_for
from ._validation import (
    MAX_POLICY_ARNS,
    MAX_TRANSITIVE_TAG_KEYS,
    bounded,
    check_instance,
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
        role_arn: the entry as given.
        value: what ``fn`` returned (``None`` if it failed).
        error: the exception (``None`` on success): an
            `rolesession.InvalidParameterError` for an invalid ARN, an
            `rolesession.AssumeRoleError` when STS refused, or whatever ``fn``
            raised.
        seconds: wall time spent on this entry (session, STS and ``fn``).

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

    @property
    def ok(self) -> bool:
        """``True`` when ``fn`` returned without raising."""
        return self.error is None

    @property
    def account(self) -> str | None:
        """The 12-digit account of ``role_arn`` (``None`` if it is not a role ARN)."""
        parts = str(self.role_arn).split(":")
        return parts[4] if len(parts) > 5 and len(parts[4]) == 12 and parts[4].isdigit() else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record for reports: role, account, ok, value, error, seconds.

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
    role_arns: Iterable[str],
    fn: Callable[[RoleSession], T],
    *,
    source: boto3.Session | None = None,
    max_workers: int = 16,
    executor: Executor | None = None,
    progress: bool = False,
    **assume_kwargs: Unpack[HopKeywords],
) -> list[FanOutResult[T]]:
    """Call ``fn(session)`` in every role of ``role_arns``; one result per entry, in order.

    Each entry is assumed with `rolesession.assume_role` (``source`` and
    ``assume_kwargs`` apply to all) and handed to ``fn``. Sessions are lazy:
    STS is called when ``fn`` first uses the session, so a refused
    AssumeRole and an exception in ``fn`` both end up in that entry's
    ``error``; one entry's failure never stops the others. Duplicated ARNs
    get a result each (and share one session while its credentials are
    cached).

    Args:
        role_arns: role ARNs (an invalid one becomes that entry's
            `rolesession.InvalidParameterError`), at most `MAX_ENTRIES`
            (1,000,000); any iterable, read no further than that.
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
            ``session_name``, ``policy``, ``external_id``, ``region``, ...).
            ``policy_arns`` and ``transitive_tag_keys`` are read once (at most
            one item past their limits) and handed to every entry.

    Returns:
        One `FanOutResult` per entry of ``role_arns``, in the same order.

    Example:
        ```python
        results = rolesession.fan_out(arns, lambda s: s.client("sts").get_caller_identity()["Account"])
        failed = [r for r in results if r.error]
        ```

    Raises:
        InvalidParameterError: ``role_arns``, ``fn``, ``max_workers``,
            ``executor``, ``source`` or any of ``assume_kwargs`` is invalid, or
            ``cache`` cannot be shipped to ``executor`` -- raised before any
            work starts.
    """
    arns = _check_arns(role_arns)
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
    kwargs, checked = _check_assume_kwargs(source, dict(assume_kwargs), shipped=executor is not None)

    bar = _Progress(len(arns), sys.stderr) if progress else None
    if executor is not None:
        return _run_on(executor, arns, fn, kwargs, bar)
    pool = ThreadPoolExecutor(
        max_workers=max(1, min(max_workers, len(arns))), thread_name_prefix="rolesession-fan-out"
    )
    try:
        return _run_on(pool, arns, fn, checked, bar, local=True)
    finally:
        # On Ctrl-C, do not start the entries still queued.
        pool.shutdown(wait=True, cancel_futures=True)


# -- checks -----------------------------------------------------------------------


def _check_arns(role_arns: object) -> list[Any]:
    if isinstance(role_arns, (str, bytes)) or not isinstance(role_arns, Iterable):
        raise fail("role_arns", "expected an iterable of role ARNs (a list, not a single string)")
    return list(bounded(role_arns, MAX_ENTRIES, "role_arns", "entries"))


def _check_assume_kwargs(
    source: Any, kwargs: dict[str, Any], *, shipped: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Raise what `assume_role` would raise for these keywords, before any work.

    Returns the keywords to ship to an executor -- one-shot iterables read
    into tuples and, when ``shipped``, the process's default cache left out
    (each worker uses its own) -- and the same keywords checked, for the
    local pool (each entry then only checks its role ARN).
    """
    unknown = sorted(set(kwargs) - HOP_KEYWORDS)
    if unknown:
        raise fail(unknown[0], "is not a keyword of assume_role()")
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
    # The same checks, in the same order, as assume_role() itself.
    checked = check_assume_role_keywords(source=check_source(source), **kwargs)
    return kwargs, checked


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
    arns: list[Any],
    fn: Callable[[RoleSession], T],
    kwargs: dict[str, Any],
    bar: _Progress | None,
    *,
    local: bool = False,
) -> list[FanOutResult[T]]:
    results: list[FanOutResult[T] | None] = [None] * len(arns)
    futures: dict[Future[FanOutResult[T]], int] = {}
    # Every submission unique: executors that key tasks by their arguments
    # (Dask's default pure=True) would otherwise run duplicate entries once.
    call = uuid.uuid4().hex
    for index, arn in enumerate(arns):
        try:
            if local:
                future = executor.submit(_run_local, arn, fn, kwargs)
            else:
                future = executor.submit(_run_remote, arn, fn, kwargs, (call, index))
            futures[future] = index
        except Exception as exc:  # e.g. a broken or shut-down pool: this entry fails
            results[index] = FanOutResult(arn, None, exc, 0.0)
            if bar is not None:
                bar.step(failed=True)
    try:
        for future in as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the executor could not run or return it (pickling, a dead worker)
                result = FanOutResult(arns[index], None, exc, 0.0)
            results[index] = result
            if bar is not None:
                bar.step(failed=result.error is not None)
    finally:
        if bar is not None:
            bar.close()  # end the line, even on Ctrl-C
    return [r for r in results if r is not None]


def _run_local(arn: Any, fn: Callable[[RoleSession], T], checked: dict[str, Any]) -> FanOutResult[T]:
    """One entry in this process: its ARN checked, its session, ``fn``."""
    return _run(arn, fn, lambda: session_for(assume_role_recipe(arn, checked)))


def _run(arn: Any, fn: Callable[[RoleSession], T], session: Callable[[], RoleSession]) -> FanOutResult[T]:
    started = time.perf_counter()
    try:
        value = fn(session())
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from one account's fn must not end the others
        return FanOutResult(arn, None, exc, time.perf_counter() - started)
    return FanOutResult(arn, value, None, time.perf_counter() - started)


def _run_remote(
    arn: Any, fn: Callable[[RoleSession], T], kwargs: dict[str, Any], entry: object = None
) -> FanOutResult[T]:
    """The unit of work an executor runs, wherever it runs it: plain data in and out.

    ``entry`` (the call and the entry's index) only makes each task unique.
    """
    result = _run(arn, fn, lambda: assume_role(arn, **kwargs))
    if result.error is not None:
        return FanOutResult(arn, None, _picklable(result.error), result.seconds)
    return result


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


class _Progress:
    """``[#######.............]  35/100  (2 failed)`` redrawn in place on a terminal stream."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO) -> None:
        self._total = total
        self._stream = stream
        self._done = 0
        self._failed = 0
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
        self._stream.write(line)
        self._stream.flush()
