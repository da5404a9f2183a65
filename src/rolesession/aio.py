"""Async sessions for aiobotocore and aioboto3, on rolesession's one engine.

The entry points take the same parameters as the synchronous ones and check
them the same way; each returns an `AioRoleSession`, an aiobotocore
``AioSession`` whose clients sign with credentials that refresh themselves::

    from rolesession import aio

    session = aio.assume_role("arn:aws:iam::123456789012:role/Reader")
    async with session.create_client("s3") as s3:
        await s3.list_buckets()

    import aioboto3
    async with aioboto3.Session(botocore_session=session).client("sts") as sts:
        await sts.get_caller_identity()

An async session is a view of the synchronous `RoleSession` with the same
recipe: one engine, one cache, one warm-session registry for both. Its read
(``await credentials.get_frozen_credentials()``) never blocks the event
loop: valid held credentials are returned at once (a due refresh runs in
the background, on the engine's worker threads, which no reader awaits);
with nothing valid, the coroutines of one event loop share one fetch, run
off the loop (STS, file-cache I/O and token files included). Token,
assertion and MFA providers may be plain or ``async`` callables; an async
one runs on the loop of the session's readers.

``import rolesession`` never imports this module or aiobotocore; install the
``aio`` extra (in a checkout: ``pip install '.[aio]'``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as _dt
import inspect
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import aiobotocore.session
import boto3
import botocore.config
from botocore.credentials import ReadOnlyCredentials

from . import _api, _botocore, _default_chain
from ._cache import DEFAULT_CACHE, CacheArg
from ._credentials import to_datetime
from ._errors import TokenError
from ._keywords import (
    CommonHopKeywords,
    Duration,
    PolicyKeywords,
    PolicyLike,
    RequestKeywords,
    TokenKeywords,
)
from ._redaction import protect_botocore_loggers
from ._refresh import RefreshPolicy, SessionCredentials
from ._session import RoleSession, _RejectionRetry
from ._sources import ByIdentity

if TYPE_CHECKING:
    from typing_extensions import Required, Unpack

__all__ = [
    "AioRoleSession",
    "AioSessionCredentials",
    "assume_role",
    "assume_role_with_saml",
    "assume_role_with_web_identity",
    "assume_root",
    "chain",
    "from_environment",
    "from_profile",
    "mfa_session",
    "scope_down",
]

T = TypeVar("T")

#: How long a provider coroutine may run when a worker thread asks for it.
PROVIDER_TIMEOUT = 120.0
#: Threads for calls that wait on STS (fetches with nothing valid, ``identity``, ``refresh``).
FETCH_THREADS = 32


# -- off the loop ------------------------------------------------------------------------------

_executor_lock = threading.Lock()
_executor: tuple[int, concurrent.futures.ThreadPoolExecutor] | None = None


def _off_the_loop(loop: asyncio.AbstractEventLoop, call: Callable[[], T]) -> asyncio.Future[T]:
    """Run a blocking call that may wait for STS on rolesession's own threads.

    Never on the loop's default executor: that one is the loop's
    ``getaddrinfo`` (every new aiohttp connection resolves its host there)
    and holds ``min(32, cores + 4)`` threads -- six on two cores. Ten cold
    sessions waiting for a hanging STS took them all, and every connection
    of every client on the loop, warm sessions' included, waited 16 s to
    resolve its host name.
    """
    return loop.run_in_executor(_fetch_executor(), call)


def _fetch_executor() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    pid = os.getpid()
    held = _executor
    if held is not None and held[0] == pid:
        return held[1]
    with _executor_lock:  # first use, or a forked child: threads do not survive fork
        if _executor is None or _executor[0] != pid:
            _executor = (
                pid,
                concurrent.futures.ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="rolesession-aio"),
            )
        return _executor[1]


# -- credentials -----------------------------------------------------------------------------


class AioSessionCredentials:
    """aiobotocore's credentials interface over a session's engine.

    ``await get_frozen_credentials()`` is what every request of an async
    client awaits: a clock read and a compare while the held credentials
    are fresh.
    """

    method = "rolesession"

    def __init__(self, engine: SessionCredentials, providers: Iterable[LoopProvider] = ()) -> None:
        self._engine = engine
        self._providers = tuple(providers)
        # One fetch per event loop for all its waiting coroutines.
        self._fetches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Future[Any]] = (
            weakref.WeakKeyDictionary()
        )

    async def get_frozen_credentials(self) -> ReadOnlyCredentials:
        held = self._engine._held
        if time.time() < held.refresh_at:
            return held.frozen  # type: ignore[no-any-return]
        return await self._slow()

    async def _slow(self) -> ReadOnlyCredentials:
        loop = asyncio.get_running_loop()
        for provider in self._providers:
            provider.loop = loop  # an async provider runs on its readers' loop
        frozen = self._engine.held_frozen()
        if frozen is not None:
            return frozen
        fetch = self._fetches.get(loop)
        if fetch is None or fetch.done():
            # Off the loop: STS, the file cache and token files block.
            fetch = self._fetches[loop] = _off_the_loop(loop, self._engine.get_frozen_credentials)
        return await asyncio.shield(fetch)

    def get_deferred_property(self, name: str) -> Callable[[], Any]:
        """botocore asks this while making a client; aiobotocore then uses `get_account_id`."""

        def held() -> Any:  # never blocks the loop: what is held, if anything
            frozen = self._engine.held_frozen()
            return getattr(frozen, name, None) if frozen is not None else None

        return held

    async def get_account_id(self) -> str | None:
        return (await self.get_frozen_credentials()).account_id

    async def get_access_key(self) -> str:
        return str((await self.get_frozen_credentials()).access_key)

    async def get_secret_key(self) -> str:
        return str((await self.get_frozen_credentials()).secret_key)

    async def get_token(self) -> str | None:
        return (await self.get_frozen_credentials()).token

    def __repr__(self) -> str:
        return f"AioSessionCredentials({self._engine!r})"


#: Per session (weakly, as ``_outbound_tokens`` keeps its engines) and token request: one async
#: view of the token's engine, so every caller of a token shares its per-loop fetch.
_token_views: weakref.WeakKeyDictionary[RoleSession, dict[Any, AioSessionCredentials]] = (
    weakref.WeakKeyDictionary()
)
_token_views_lock = threading.Lock()


def _token_view(session: RoleSession, request: Any) -> AioSessionCredentials:
    from ._outbound_tokens import engine_for

    with _token_views_lock:
        views = _token_views.setdefault(session, {})
        view = views.get(request)
        if view is None:
            view = views[request] = AioSessionCredentials(engine_for(session, request))
        return view


class _Resolver:
    def __init__(self, credentials: AioSessionCredentials) -> None:
        self._credentials = credentials

    async def load_credentials(self) -> AioSessionCredentials:
        return self._credentials


class LoopProvider(ByIdentity):
    """A token, assertion or MFA provider that may be ``async``.

    The engine calls providers from worker threads; a coroutine function is
    run on the event loop of the session's most recent reader (and must
    finish within `PROVIDER_TIMEOUT`); with no such loop running, on a loop
    of its own. Compares by the wrapped callable's identity, as every
    provider does.
    """

    __slots__ = ("loop",)

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(fn)
        self.loop: asyncio.AbstractEventLoop | None = None

    def __call__(self) -> Any:
        result = self.fn()
        if not inspect.isawaitable(result):
            return result
        loop = self.loop
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            _close(result)
            raise TokenError("an async provider cannot be waited for on its own event loop's thread")
        if loop is None or loop.is_closed() or not loop.is_running():
            return asyncio.run(_awaited(result))
        return asyncio.run_coroutine_threadsafe(_awaited(result), loop).result(PROVIDER_TIMEOUT)

    def __reduce__(self) -> tuple[Any, ...]:
        return (LoopProvider, (self.fn,))


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _close(awaitable: Any) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


def _loop_provider(value: Any) -> Any:
    """Wrap a callable provider so that it may be ``async`` (strings and ``None`` pass through)."""
    if value is None or isinstance(value, (str, LoopProvider)) or not callable(value):
        return value
    return LoopProvider(value)


# -- sessions ---------------------------------------------------------------------------------


class AioRoleSession(aiobotocore.session.AioSession):  # type: ignore[misc]
    """An aiobotocore session for an assumed role, refreshing its own credentials.

    Made by the functions of this module. Use it like any ``AioSession``
    (``async with session.create_client("s3") as s3``) or hand it to
    ``aioboto3.Session(botocore_session=session)``. ``sync`` is the
    synchronous `RoleSession` it shares its engine with.
    """

    def __init__(self, sync: RoleSession) -> None:
        self._class_hooks: list[tuple[str, Any, Any, tuple[Any, ...]]] = []
        self._class_hooks_lock = threading.Lock()
        # A from_profile session's clients take that profile's settings (endpoints,
        # ca_bundle, retries ...), as the synchronous session's do; only the credentials are ours.
        super().__init__(profile=sync.describe().get("profile"))
        # The process-wide loader: models loaded once for sync and async clients, and a
        # search path list that does not grow by one per ``aioboto3.Session`` hand-over.
        self.register_component("data_loader", _botocore.shared_loader())
        self.sync = sync
        engine = sync.get_credentials()
        source = sync.recipe.source
        providers = [
            value
            for value in (getattr(source, name) for name in source.secret_fields())
            if isinstance(value, LoopProvider)
        ]
        self._credentials_view = AioSessionCredentials(engine, providers)
        self.register_component("credential_provider", _Resolver(self._credentials_view))
        retry = _RejectionRetry(engine)
        events = self.get_component("event_emitter")
        events.register_last("request-created", retry.note_signer, unique_id="rolesession-signer")
        events.register("needs-retry", retry.needs_retry, unique_id="rolesession-rejected")
        if sync.region_name:
            self.set_config_variable("region", sync.region_name)
        # Now, not only when STS is called: credentials served from the file cache
        # sign requests that botocore logs at DEBUG (the session token included).
        protect_botocore_loggers()

    def create_client(self, *args: Any, **kwargs: Any) -> Any:
        """aiobotocore's ``create_client`` (``async with session.create_client("s3") as s3``)."""
        context = super().create_client(*args, **kwargs)
        protect_botocore_loggers()  # a client's modules may create botocore loggers of their own
        return context

    def register(
        self, event_name: str, handler: Any, unique_id: Any = None, unique_id_uses_count: bool = False
    ) -> None:
        """botocore's ``register``, made idempotent for the hooks that build client classes.

        ``aioboto3.Session(botocore_session=session)`` registers its S3
        customisations on the session it is given; as the entry points hand
        out one session per request, doing that twice -- the hand-over
        written once per invocation -- registered them twice, and the second
        client failed (``RuntimeError: Cannot inject class attribute``). A
        hook for ``creating-client-class``/``creating-resource-class`` events
        that is already registered (the same function with the same bound
        values) is not registered again.
        """
        if unique_id is None and event_name.startswith(_CLASS_EVENTS):
            hook = _hook_identity(event_name, handler)
            if hook is not None:
                with self._class_hooks_lock:
                    if any(_same_hook(hook, seen) for seen in self._class_hooks):
                        return
                    self._class_hooks.append(hook)
        super().register(event_name, handler, unique_id, unique_id_uses_count)

    # -- what it is ---------------------------------------------------------------

    @property
    def role_arn(self) -> str | None:
        """The role this session assumes (``None`` for an MFA session)."""
        return self.sync.role_arn

    @property
    def parent(self) -> AioRoleSession | None:
        """The async view of the session this one is assumed from, if it is a rolesession one."""
        parent = self.sync.parent
        return _view(parent) if isinstance(parent, RoleSession) else None

    @property
    def region_name(self) -> str | None:
        return self.sync.region_name

    def describe(self) -> dict[str, Any]:
        """What this session asks STS for, never a secret (see `RoleSession.describe`)."""
        return self.sync.describe()

    async def get_credentials(self) -> AioSessionCredentials:
        """The credentials every client of this session signs with."""
        return self._credentials_view

    # -- credentials, off the loop ----------------------------------------------------

    async def identity(self) -> dict[str, str]:
        """``Arn``, ``Account`` and ``UserId`` of the assumed role, from STS's answer."""
        await self._credentials_view.get_frozen_credentials()
        return await _off_the_loop(asyncio.get_running_loop(), self.sync.identity)

    async def expiration(self) -> _dt.datetime:
        """When the credentials now held expire (tz-aware UTC)."""
        await self._credentials_view.get_frozen_credentials()
        return to_datetime(self.sync.get_credentials().current().expiry)

    async def refresh(self) -> None:
        """Call STS now, whatever the windows and backoff; raise if it fails."""
        await _off_the_loop(asyncio.get_running_loop(), self.sync.refresh)

    def invalidate(self) -> None:
        """Drop the held credentials and their cache entry."""
        self.sync.invalidate()

    async def environ(self) -> dict[str, str]:
        """Environment variables handing these credentials to a child process."""
        return await _off_the_loop(asyncio.get_running_loop(), self.sync.environ)

    async def credential_process(self) -> dict[str, Any]:
        """The ``credential_process`` Version 1 document."""
        return await _off_the_loop(asyncio.get_running_loop(), self.sync.credential_process)

    # -- outbound tokens -----------------------------------------------------------------

    async def web_identity_token(
        self, audience: str | Iterable[str], **kwargs: Unpack[TokenKeywords]
    ) -> str:
        """A GetWebIdentityToken JWT naming this session (see `RoleSession.web_identity_token`).

        The same per-identity cache and background renewal as the synchronous
        session's (one engine for both); a token that must be fetched is
        fetched off the loop. The token is a secret.
        """
        return await self.token_provider(audience, **kwargs)()

    def token_provider(
        self, audience: str | Iterable[str], **kwargs: Unpack[TokenKeywords]
    ) -> Callable[[], Awaitable[str]]:
        """A zero-argument coroutine function returning `web_identity_token` (parameters checked now).

        For async token suppliers, and the ``token=`` parameters of this
        module's entry points (async providers are awaited on the readers' loop).
        """
        from ._outbound_tokens import token_request

        # The token's own engine read as credentials are: a held token is a clock read and a
        # compare, and the coroutines of one loop share one fetch, off the loop.
        view = _token_view(self.sync, token_request(audience, **kwargs))

        async def token() -> str:
            await self._credentials_view.get_frozen_credentials()  # the signing credentials first
            return str((await view.get_frozen_credentials()).token)

        return token

    # -- more sessions -------------------------------------------------------------------

    def assume_role(self, role_arn: str, **kwargs: Unpack[AioHopKeywords]) -> AioRoleSession:
        """Chain one hop from this session (the keywords of `assume_role`)."""
        return _view(self.sync.assume_role(role_arn, **_async_ready(kwargs)))

    def scope_down(
        self, policy: PolicyLike | None = None, **kwargs: Unpack[AioScopeDownKeywords]
    ) -> AioRoleSession:
        """Scoped-down credentials from this session's (see `RoleSession.scope_down`)."""
        return scope_down(policy, source=self, **kwargs)

    def scoped(self, *, policy: Any = None, policy_arns: Iterable[str] | None = None) -> AioRoleSession:
        """The same role with exactly these session policies (see `RoleSession.scoped`)."""
        return _view(self.sync.scoped(policy=policy, policy_arns=policy_arns))

    def __reduce__(self) -> tuple[Any, ...]:
        return (_view, (self.sync,))

    def __repr__(self) -> str:
        return f"AioRoleSession(role_arn={self.role_arn!r}, region_name={self.region_name!r})"


#: Events whose handlers inject attributes into a client or resource class: running one twice fails.
_CLASS_EVENTS = ("creating-client-class", "creating-resource-class")


def _hook_identity(event_name: str, handler: Any) -> tuple[str, Any, Any, tuple[Any, ...]] | None:
    """What makes two registrations the same hook: event, code, bound object, closure values.

    boto3's ``lazy_call`` makes a new closure per call, so identity alone
    cannot tell a repeat; its code and the values it closes over can.
    ``None`` for a handler without Python code (nothing is deduplicated then).
    """
    function = getattr(handler, "__func__", handler)
    code = getattr(function, "__code__", None)
    if code is None:
        return None
    try:
        cells = tuple(cell.cell_contents for cell in (function.__closure__ or ()))
    except ValueError:  # an empty cell
        return None
    return event_name, code, getattr(handler, "__self__", None), cells


def _same_hook(a: tuple[str, Any, Any, tuple[Any, ...]], b: tuple[str, Any, Any, tuple[Any, ...]]) -> bool:
    if a[0] != b[0] or a[1] is not b[1] or a[2] is not b[2] or len(a[3]) != len(b[3]):
        return False
    try:
        return all(x is y or bool(x == y) for x, y in zip(a[3], b[3], strict=True))
    except Exception:  # a value that cannot be compared: treat as different
        return False


_views_lock = threading.Lock()


def _view(sync: RoleSession) -> AioRoleSession:
    """The async session over ``sync``: one per synchronous session, as the registry shares those."""
    with _views_lock:
        view = sync._aio_view
        if view is None:
            view = sync._aio_view = AioRoleSession(sync)
        assert isinstance(view, AioRoleSession)
        return view


def _async_ready(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    ready = dict(kwargs)
    for name in ("mfa_token", "token", "assertion"):
        if name in ready:
            ready[name] = _loop_provider(ready[name])
    return ready


# -- entry points ---------------------------------------------------------------------------------


class AioHopKeywords(CommonHopKeywords, total=False):
    """The keywords of `rolesession.aio.assume_role` but ``source``; ``mfa_token`` may be ``async``."""

    mfa_token: str | Callable[[], Any] | None


class AioAssumeRoleKeywords(AioHopKeywords, total=False):
    """`AioHopKeywords` and ``source``: a ``boto3.Session`` or an `AioRoleSession`."""

    source: boto3.Session | AioRoleSession | None


class AioWebIdentityKeywords(PolicyKeywords, total=False):
    """The keywords of `rolesession.aio.assume_role_with_web_identity` but ``role_arn``."""

    token: str | Callable[[], Any] | None
    token_file: str | os.PathLike[str] | None
    provider_id: str | None
    session_name: str | None


class AioSamlKeywords(PolicyKeywords, total=False):
    """The keywords of `rolesession.aio.assume_role_with_saml` but the two ARNs."""

    assertion: Required[str | Callable[[], Any]]


class AioScopeDownKeywords(RequestKeywords, total=False):
    """The keywords of `rolesession.aio.scope_down` but ``policy`` and ``source``."""

    duration: Duration | None
    description: str | None


class AioRootKeywords(RequestKeywords, total=False):
    """The keywords of `rolesession.aio.assume_root` but the account, task policy and source."""

    duration: Duration


def assume_role(role_arn: str, **kwargs: Unpack[AioAssumeRoleKeywords]) -> AioRoleSession:
    """`rolesession.assume_role` for aiobotocore: same parameters, same checks.

    ``mfa_token`` may be an ``async`` callable. ``source`` may be a
    ``boto3.Session`` (a `RoleSession` included) or an `AioRoleSession`.
    """
    given: dict[str, Any] = dict(kwargs)
    source = given.get("source")
    if isinstance(source, AioRoleSession):
        given["source"] = source.sync
    return _view(_api.assume_role(role_arn, **_async_ready(given)))


def assume_role_with_web_identity(
    role_arn: str | None = None, **kwargs: Unpack[AioWebIdentityKeywords]
) -> AioRoleSession:
    """`rolesession.assume_role_with_web_identity` for aiobotocore; ``token`` may be an ``async`` callable."""
    return _view(_api.assume_role_with_web_identity(role_arn, **_async_ready(kwargs)))


def assume_role_with_saml(
    role_arn: str, principal_arn: str, **kwargs: Unpack[AioSamlKeywords]
) -> AioRoleSession:
    """`rolesession.assume_role_with_saml` for aiobotocore; ``assertion`` may be an ``async`` callable."""
    return _view(_api.assume_role_with_saml(role_arn, principal_arn, **_async_ready(kwargs)))


def chain(
    steps: Iterable[str | Mapping[str, Any]],
    *,
    source: boto3.Session | AioRoleSession | None = None,
    **common: Unpack[AioHopKeywords],
) -> AioRoleSession:
    """`rolesession.chain` for aiobotocore."""
    if isinstance(source, AioRoleSession):
        source = source.sync
    ready = [_async_ready(step) if isinstance(step, Mapping) else step for step in steps]
    return _view(_api.chain(ready, source=source, **_async_ready(common)))


def from_profile(
    profile: str | None = None,
    *,
    mfa_token: str | Callable[[], Any] | None = None,
    region: str | None = None,
    sts_endpoint_url: str | None = None,
    sts_config: botocore.config.Config | None = None,
    cache: CacheArg = DEFAULT_CACHE,
    refresh: RefreshPolicy | None = None,
) -> AioRoleSession:
    """`rolesession.from_profile` for aiobotocore; ``mfa_token`` may be an ``async`` callable."""
    return _view(
        _api.from_profile(
            profile,
            mfa_token=_loop_provider(mfa_token),
            region=region,
            sts_endpoint_url=sts_endpoint_url,
            sts_config=sts_config,
            cache=cache,
            refresh=refresh,
        )
    )


def from_environment(
    *,
    profile: str | None = None,
    region: str | None = None,
    cache: CacheArg = DEFAULT_CACHE,
    refresh: RefreshPolicy | None = None,
) -> AioRoleSession:
    """`rolesession.from_environment` for aiobotocore-based code (aioboto3, s3fs ...).

    The same engine as the synchronous session: what botocore's default chain
    finds, refreshed in the background and never on the event loop.
    """
    return _view(
        _default_chain.from_environment(profile=profile, region=region, cache=cache, refresh=refresh)
    )


def mfa_session(
    mfa_serial: str,
    mfa_token: str | Callable[[], Any],
    *,
    duration: Duration = 43200,
    source: boto3.Session | AioRoleSession | None = None,
    region: str | None = None,
    sts_endpoint_url: str | None = None,
    sts_config: botocore.config.Config | None = None,
    cache: CacheArg = DEFAULT_CACHE,
    refresh: RefreshPolicy | None = None,
) -> AioRoleSession:
    """`rolesession.mfa_session` for aiobotocore; ``mfa_token`` may be an ``async`` callable."""
    if isinstance(source, AioRoleSession):
        source = source.sync
    return _view(
        _api.mfa_session(
            mfa_serial,
            _loop_provider(mfa_token),
            duration=duration,
            source=source,
            region=region,
            sts_endpoint_url=sts_endpoint_url,
            sts_config=sts_config,
            cache=cache,
            refresh=refresh,
        )
    )


def scope_down(
    policy: PolicyLike | None = None,
    *,
    source: boto3.Session | AioRoleSession | None = None,
    **kwargs: Unpack[AioScopeDownKeywords],
) -> AioRoleSession:
    """`rolesession.scope_down` for aiobotocore (``source`` may be an `AioRoleSession`)."""
    if isinstance(source, AioRoleSession):
        source = source.sync
    return _view(_api.scope_down(policy, source=source, **kwargs))


def assume_root(
    account: str | int,
    task_policy: str,
    *,
    source: boto3.Session | AioRoleSession | None = None,
    **kwargs: Unpack[AioRootKeywords],
) -> AioRoleSession:
    """`rolesession.assume_root` for aiobotocore (``source`` may be an `AioRoleSession`)."""
    if isinstance(source, AioRoleSession):
        source = source.sync
    return _view(_api.assume_root(account, task_policy, source=source, **kwargs))
