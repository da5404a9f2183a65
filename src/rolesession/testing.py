"""A test kit for code that uses rolesession.

`StsRecorder` sees every STS call rolesession makes -- whatever STS answers
them (moto, a local server, AWS) -- records the operation and its
parameters, and can make calls fail, hang or slow down. `reset()` gives the
process a fresh start: no warm sessions, no cached credentials, no STS
clients.

```python
from moto import mock_aws
import rolesession
from rolesession.testing import StsRecorder, reset

with mock_aws(), StsRecorder() as sts:
    session = rolesession.assume_role("arn:aws:iam::123456789012:role/Reader")
    session.identity()
    assert sts.count("AssumeRole") == 1
reset()
```

It hooks into the STS clients the library makes (botocore events on each new
client), never into the library's functions.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from botocore.exceptions import ClientError, EndpointConnectionError

from . import _state
from ._credentials import to_epoch

__all__ = ["StsCall", "StsRecorder", "forget_sessions", "reset", "sts_clients", "warm_session_count"]


def reset() -> None:
    """Start afresh, as a new process would.

    Forgets warm sessions, cached credentials (a new default cache), STS
    clients and default sources, and what the process learnt once: its
    default session name (``<user>@<host>`` is looked up again) and whether
    it already warned about clock skew or about secrets a pickled session
    carries.

    Example:
        ```python
        from rolesession.testing import reset

        session = rolesession.assume_role(arn)
        reset()  # as if in a new process: the next request makes a new session
        assert rolesession.assume_role(arn) is not session
        ```
    """
    _state.reset()


def forget_sessions() -> None:
    """Forget warm sessions only: the next request makes a new session, as a new process
    would, and finds what the caches hold.

    Example:
        ```python
        from rolesession.testing import forget_sessions

        cache = rolesession.MemoryCache()
        first = rolesession.assume_role(arn, cache=cache)
        first.identity()  # one AssumeRole; the credentials are cached
        forget_sessions()
        again = rolesession.assume_role(arn, cache=cache)  # a new session ...
        assert again is not first and again.identity() == first.identity()  # ... served from the cache
        ```
    """
    with _state.state.lock:
        if _state.state.sessions is not None:
            _state.state.sessions.clear()


def warm_session_count() -> int:
    """How many sessions the warm-session registry holds now (bounded by the default cache's size).

    Example:
        ```python
        from rolesession.testing import reset, warm_session_count

        reset()
        rolesession.assume_role(arn)
        rolesession.assume_role(arn)  # the same request: the same session
        assert warm_session_count() == 1
        ```
    """
    with _state.state.lock:
        return len(_state.state.sessions or ())


class StsCall(NamedTuple):
    """One STS call: its operation (``"AssumeRole"``) and its parameters as the library passed them.

    Example:
        ```python
        from rolesession.testing import StsRecorder

        with StsRecorder() as sts:
            rolesession.assume_role(arn, duration=900).identity()
        call = sts.calls[0]  # an StsCall
        assert call.operation == "AssumeRole" and call.params["DurationSeconds"] == 900
        ```
    """

    operation: str
    params: dict[str, Any]


class StsRecorder:
    """Records every STS call rolesession makes; can make them fail, hang or slow down.

    Use as a context manager (or `install` / `uninstall`). Only STS clients
    made while it is installed see it, so installing it empties the
    library's pool of STS clients.

    Attributes:
        calls: every `StsCall`, in order.
        issued: access key id -> expiration (epoch seconds) of every
            credential set STS returned.
        delay: seconds of real sleep before each call.
        during: a function run inside each call (e.g. to move a frozen clock on).
        clock_skew: seconds STS's clock runs ahead of ours (negative: behind).
            Answers carry STS's time: their ``Date`` header and the
            ``Expiration`` of the credentials they return are shifted by it
            (``issued`` records the shifted expiration).
        date_header: when set, replaces the ``Date`` header of every answer
            (``""``: the answer has none).
        edit_answer: a function given each parsed STS answer to change in
            place (an answer STS never gives, e.g. one without ``Credentials``).

    Example:
        ```python
        from rolesession.testing import StsRecorder

        with StsRecorder() as sts:
            sts.refuse("AccessDenied", roles=[arn])
            try:
                rolesession.assume_role(arn).identity()
            except rolesession.AssumeRoleError as exc:
                assert exc.code == "AccessDenied"
            assert sts.count("AssumeRole") == 1
        ```
    """

    def __init__(self) -> None:
        self.calls: list[StsCall] = []
        self.issued: dict[str, float] = {}
        self.delay = 0.0
        self.during: Callable[[], None] | None = None
        self.clock_skew = 0.0
        self.date_header: str | None = None
        self.edit_answer: Callable[[dict[str, Any]], None] | None = None
        self._error: BaseException | None = None
        self._role_errors: dict[str, BaseException] = {}
        self._once: list[BaseException] = []
        self._gate: threading.Event | None = None
        self._lock = threading.Lock()
        self._hooks: list[tuple[str, Callable[..., Any]]] = [
            ("before-parameter-build.sts", self._before_call),
            ("after-call.sts", self._after_call),
        ]

    # -- installing -----------------------------------------------------------------

    def install(self) -> StsRecorder:
        """Start recording (new STS clients get the hooks)."""
        with _state.state.lock:
            _state.sts_client_hooks.extend(self._hooks)
        _forget_sts_clients()
        return self

    def uninstall(self) -> None:
        """Stop recording; release any call held by `block`."""
        with _state.state.lock:
            for hook in self._hooks:
                if hook in _state.sts_client_hooks:
                    _state.sts_client_hooks.remove(hook)
        if self._gate is not None:
            self._gate.set()
        _forget_sts_clients()

    def __enter__(self) -> StsRecorder:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()

    # -- what happened ----------------------------------------------------------------

    def count(self, operation: str | None = None) -> int:
        """How many calls were made (of ``operation`` only, if given)."""
        with self._lock:
            return sum(1 for call in self.calls if operation in (None, call.operation))

    def params(self, index: int = -1) -> dict[str, Any]:
        """The parameters of call ``index`` (default: the last)."""
        with self._lock:
            return self.calls[index].params

    # -- faults -------------------------------------------------------------------------

    def fail_with(self, error: BaseException | None, *, roles: Iterable[str] | None = None) -> None:
        """Every call from now on raises ``error`` (``None``: calls succeed again).

        With ``roles``, only calls for those role ARNs do (others are unaffected).
        """
        if roles is None:
            self._error = error
            return
        with self._lock:
            for role in roles:
                if error is None:
                    self._role_errors.pop(role, None)
                else:
                    self._role_errors[role] = error

    def fail_once(self, error: BaseException) -> None:
        """The next call raises ``error`` (queued after earlier ones)."""
        with self._lock:
            self._once.append(error)

    def outage(self, *, roles: Iterable[str] | None = None) -> None:
        """STS cannot be reached: calls raise botocore's ``EndpointConnectionError``."""
        self.fail_with(EndpointConnectionError(endpoint_url="https://sts.amazonaws.com/"), roles=roles)

    def refuse(
        self,
        code: str,
        message: str = "refused",
        operation: str = "AssumeRole",
        *,
        roles: Iterable[str] | None = None,
    ) -> None:
        """STS answers calls with the error ``code`` (e.g. ``"AccessDenied"``), for ``roles`` or all."""
        self.fail_with(ClientError({"Error": {"Code": code, "Message": message}}, operation), roles=roles)

    def block(self) -> threading.Event:
        """Make calls wait (a hanging STS) until the returned event is set."""
        self._gate = threading.Event()
        return self._gate

    # -- the hooks ----------------------------------------------------------------------------

    def _before_call(self, params: dict[str, Any], model: Any, **kwargs: Any) -> None:
        with self._lock:
            self.calls.append(StsCall(model.name, dict(params)))
        gate = self._gate
        if gate is not None and not gate.wait(60):
            raise RuntimeError("a test left an STS call blocked for 60 s")
        if self.delay:
            time.sleep(self.delay)
        if self.during is not None:
            self.during()
        # Decided after the wait: a fault set while a call hangs applies to it.
        with self._lock:
            failure = self._once.pop(0) if self._once else self._role_errors.get(params.get("RoleArn", ""))
            failure = failure or self._error
        if failure is not None:
            raise failure

    def _after_call(self, parsed: Any = None, **kwargs: Any) -> None:
        if not isinstance(parsed, dict):
            return
        self._set_stss_clock(parsed)
        if self.edit_answer is not None:
            self.edit_answer(parsed)
        credentials = parsed.get("Credentials")
        if isinstance(credentials, dict) and "AccessKeyId" in credentials:
            with self._lock:
                self.issued[credentials["AccessKeyId"]] = to_epoch(credentials["Expiration"])

    def _set_stss_clock(self, parsed: dict[str, Any]) -> None:
        headers = parsed.get("ResponseMetadata", {}).get("HTTPHeaders")
        if self.clock_skew:
            if isinstance(headers, dict):
                headers["date"] = email.utils.formatdate(time.time() + self.clock_skew, usegmt=True)
            credentials = parsed.get("Credentials")
            if isinstance(credentials, dict) and isinstance(credentials.get("Expiration"), _dt.datetime):
                credentials["Expiration"] += _dt.timedelta(seconds=self.clock_skew)
        if self.date_header is not None and isinstance(headers, dict):
            if self.date_header:
                headers["date"] = self.date_header
            else:
                headers.pop("date", None)


def sts_clients() -> list[Any]:
    """The STS clients the library holds now (to look at their endpoint and config).

    Example:
        ```python
        from rolesession.testing import reset, sts_clients

        reset()
        rolesession.assume_role(arn, region="eu-west-1").identity()
        assert [c.meta.region_name for c in sts_clients()] == ["eu-west-1"]
        ```
    """
    state = _state.state
    with state.lock:
        clients = [client for table in state.signed_clients.values() for client in table.values()]
        return clients + list((state.unsigned_clients or {}).values())


def _forget_sts_clients() -> None:
    state = _state.state
    with state.lock:
        state.signed_clients.clear()
        if state.unsigned_clients is not None:
            state.unsigned_clients.clear()
