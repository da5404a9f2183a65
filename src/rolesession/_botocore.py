"""Every place rolesession relies on botocore beyond its documented API.

Kept in one module so that a botocore change breaks one file, and
``tests/test_botocore_compat.py`` notices.

What is done here and why (numbers measured on a 2-core machine):

* **A shared data loader.** A fresh botocore session loads the service
  models and endpoint rules again (~8 MB and >100 ms for the first client).
  Every session rolesession creates registers one process-wide loader via
  the public ``register_component``. boto3 appends its own data path to the
  loader's ``search_paths`` on every ``boto3.Session()``; the shared loader
  keeps that list free of repeats so it does not grow per session.
* **Cheap session construction.** ``botocore.session.Session()`` registers
  ~120 built-in handlers, inspecting each one's signature. We do that once
  in a template and give every new session a copy of the template's event
  emitter (``event_hooks=`` + ``include_builtin_handlers=False``, both
  public constructor parameters).
* **Copy-on-write handler tables.** botocore copies a session's whole handler
  trie (~190 nodes, ~1.5 ms and ~120 kB) for every session and again for
  every client. `_CowTrie` makes that copy O(1); a registration copies only
  the few nodes on its own path.
* **Cheap handler registration.** boto3 registers 8 handlers per session and
  botocore a few per client, each checked with ``inspect.getfullargspec`` and
  aliased by a per-session memo that starts empty. `_Emitter` checks plain
  functions by their code flags; `_Aliaser` shares one memo.
* **Shared immutable components**: the endpoint resolver (``endpoints.json``)
  and the exceptions factory (one set of modelled exception classes per
  service, built on a client's first error), registered with botocore's
  ``_register_internal_component``. Both hold only data derived from the
  shared loader's models.

* **Where STS would be called** (`sts_endpoint`): an unsigned STS client
  made the way ``_sts`` makes them, asked for its ``meta.endpoint_url`` --
  botocore's own answer to the region, ``AWS_ENDPOINT_URL_STS`` /
  ``AWS_ENDPOINT_URL``, a profile's ``endpoint_url`` or ``services``
  section, FIPS and dual-stack. ``tests/test_botocore_compat.py`` checks it
  against the real clients'.

Not shared, deliberately: the config store, credential and token resolvers,
user-agent creator and response-parser factory (they are bound to one session
or mutated per client), and the client class (built from each session's own
``creating-client-class`` handlers, which a user may change per session).
"""

from __future__ import annotations

import copy
import inspect
import os
import types
from typing import Any

import botocore.errorfactory
import botocore.handlers
import botocore.hooks
import botocore.loaders
import botocore.regions
import botocore.session

from . import _state

# -- the data loader ------------------------------------------------------------


class _UniqueList(list):  # type: ignore[type-arg]
    """A search-path list that ignores an append of a path it already holds."""

    def append(self, item: Any) -> None:
        if item not in self:
            super().append(item)


class _SharedLoader(botocore.loaders.Loader):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._search_paths: list[str] = _UniqueList(self._search_paths)


# -- the event emitter ----------------------------------------------------------

# botocore's private handler trie; the stubs do not describe it.
_PrefixTrie: Any = botocore.hooks._PrefixTrie  # type: ignore[attr-defined]
_MIDDLE: int = botocore.hooks._MIDDLE  # type: ignore[attr-defined]


class _CowTrie(_PrefixTrie):  # type: ignore[misc]
    """botocore's handler trie, copied in O(1) and written copy-on-write.

    A copy shares every node. Each node is stamped with the epoch of the one
    trie allowed to change it in place; a copy gives both tries new epochs,
    so afterwards neither changes a node the other can see: a registration or
    removal first copies the nodes on its own path (a handful). Lookups are
    botocore's own ``prefix_search``, which only reads.
    """

    _root: dict[str, Any]

    def __init__(self) -> None:
        super().__init__()
        self._epoch = object()
        self._root["owner"] = self._epoch

    def __copy__(self) -> _CowTrie:
        twin = _CowTrie.__new__(_CowTrie)
        twin.__dict__ = self.__dict__.copy()
        twin._epoch = object()
        self._epoch = object()
        return twin

    def _own(self, node: dict[str, Any]) -> dict[str, Any]:
        if node.get("owner") is self._epoch:
            return node
        values = node["values"]
        return {
            "chunk": node["chunk"],
            "values": None if values is None else copy.copy(values),  # NodeList copies its lists
            "children": dict(node["children"]),
            "owner": self._epoch,
        }

    def _own_path(self, parts: list[str]) -> dict[str, Any]:
        """Make the nodes along ``parts`` this trie's own; return the last one."""
        node = self._root = self._own(self._root)
        for part in parts:
            child = node["children"].get(part)
            if child is None:
                child = {"chunk": part, "values": None, "children": {}, "owner": self._epoch}
            else:
                child = self._own(child)
            node["children"][part] = child  # ``node`` is ours: changing it is private
            node = child
        return node

    def append_item(self, key: str, value: Any, section: int = _MIDDLE) -> None:
        node = self._own_path(key.split("."))
        if node["values"] is None:
            node["values"] = botocore.hooks.NodeList([], [], [])
        node["values"][section].append(value)

    def remove_item(self, key: str, value: Any) -> None:
        parts = key.split(".")
        node: dict[str, Any] | None = self._root
        for part in parts:  # as botocore: a key not in the trie is a ValueError
            node = node["children"].get(part) if node is not None else None
            if node is None:
                raise ValueError(f"key is not in trie: {key}")
        self._own_path(parts)
        super().remove_item(key, value)


class _Emitter(botocore.hooks.HierarchicalEmitter):
    """botocore's emitter on a `_CowTrie`, with a cheap ``**kwargs`` check.

    botocore checks that every handler accepts ``**kwargs`` with
    ``inspect.getfullargspec`` (~20 us each). For a plain Python function or
    method without a ``__signature__`` that is exactly its code's
    ``CO_VARKEYWORDS`` flag; anything else gets botocore's own check.
    """

    def __init__(self) -> None:
        super().__init__()
        self._handlers = _CowTrie()

    def _verify_accept_kwargs(self, func: Any) -> bool | None:
        target = getattr(func, "__func__", func)  # a bound method's function
        if (
            isinstance(target, types.FunctionType)
            and "__signature__" not in target.__dict__
            and target.__code__.co_flags & inspect.CO_VARKEYWORDS
        ):
            return None
        return super()._verify_accept_kwargs(func)  # type: ignore[misc,no-any-return]


# An event name aliases the same way in every session (botocore's global
# EVENT_ALIASES); botocore works each one out again in every new session and
# client (~50 us a name).
_alias_memo: dict[str, str] = {}


class _Aliaser(botocore.hooks.EventAliaser):
    """botocore's event aliaser with the default aliases and one shared memo."""

    def __init__(self, event_emitter: Any) -> None:
        super().__init__(event_emitter)
        self._alias_name_cache = _alias_memo

    def __copy__(self) -> _Aliaser:
        return _Aliaser(copy.copy(self._emitter))  # type: ignore[attr-defined]


# -- sessions -------------------------------------------------------------------

_loader: _SharedLoader | None = None
_endpoint_resolver: botocore.regions.EndpointResolver | None = None
_exceptions_factory = botocore.errorfactory.ClientExceptionsFactory()
_template: botocore.session.Session | None = None
_template_handlers = -1


def shared_loader() -> botocore.loaders.Loader:
    """The process-wide data loader every rolesession-made session uses."""
    global _loader
    if _loader is None:
        with _state.state.botocore_lock:
            if _loader is None:
                try:
                    data_path = botocore.session.Session(
                        include_builtin_handlers=False
                    ).get_config_variable("data_path")
                except Exception:  # e.g. AWS_PROFILE names a missing profile
                    data_path = os.environ.get("AWS_DATA_PATH")
                extra = data_path.split(":") if data_path else []
                _loader = _SharedLoader(extra_search_paths=extra)
    return _loader


def shared_endpoint_resolver() -> botocore.regions.EndpointResolver:
    """One resolver over the shared loader's ``endpoints.json`` (as botocore builds it)."""
    global _endpoint_resolver
    if _endpoint_resolver is None:
        loader = shared_loader()
        endpoints, path = loader.load_data_with_path("endpoints")
        resolver = botocore.regions.EndpointResolver(
            endpoints, uses_builtin_data=loader.is_builtin_path(path)
        )
        with _state.state.botocore_lock:
            if _endpoint_resolver is None:
                _endpoint_resolver = resolver
    return _endpoint_resolver


def shared_exceptions_factory() -> botocore.errorfactory.ClientExceptionsFactory:
    """The factory of modelled exception classes all library-made clients share."""
    return _exceptions_factory


def _template_session() -> botocore.session.Session:
    global _template, _template_handlers
    # Tools such as moto add to botocore's built-in handlers at import time;
    # a template made before that would miss them.
    count = len(botocore.handlers.BUILTIN_HANDLERS)
    if _template is None or _template_handlers != count:
        with _state.state.botocore_lock:
            if _template is None or _template_handlers != count:
                _template = botocore.session.Session(event_hooks=_Emitter())
                _template_handlers = count
    return _template


def new_session(profile: str | None = None) -> botocore.session.Session:
    """A botocore session with the built-in handlers and the shared components.

    Costs an O(1) copy of the template's emitter rather than ~120 handler
    registrations; its clients share models, endpoint data and exception
    classes with every other session the library made. ``profile``: the
    shared-config profile its settings come from (``None``: botocore's own
    choice, ``AWS_DEFAULT_PROFILE``/``AWS_PROFILE`` or ``default``).
    """
    template = _template_session()
    emitter = copy.copy(template._original_handler)  # type: ignore[attr-defined]
    session = botocore.session.Session(event_hooks=emitter, include_builtin_handlers=False, profile=profile)
    # botocore wraps ``event_hooks`` in an aliaser of its own; ours shares the memo.
    aliaser = _Aliaser(emitter)
    session._events = aliaser  # type: ignore[attr-defined]
    session.register_component("event_emitter", aliaser)
    session.register_component("data_loader", shared_loader())
    session._register_internal_component(  # type: ignore[attr-defined]
        "endpoint_resolver", shared_endpoint_resolver()
    )
    session._register_internal_component(  # type: ignore[attr-defined]
        "exceptions_factory", _exceptions_factory
    )
    return session


#: What botocore reads to place an STS client, besides the arguments and the config file.
_ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_STS_REGIONAL_ENDPOINTS",
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_DATA_PATH",
)  # fmt: skip
_endpoints: dict[Any, str | None] = {}


def sts_endpoint(
    region: str, endpoint_url: str | None, config: Any, profile: str | None = None
) -> str | None:
    """The URL botocore resolves for an STS client made as ``_sts`` makes them (``None``: unknown).

    Built like ``_sts._new_client`` -- the same session, the same
    ``sts_regional_endpoints`` rule (regional unless a profile is used),
    ``config`` (the user's ``sts_config``) -- but unsigned and never used
    for a call. ``None`` when botocore cannot make the client (a missing
    profile, say): the real call then reports it in its own words. A client
    costs ~2 ms, so answers are remembered per arguments, endpoint variables
    and config file (its path, size and modification time).
    """
    from ._keys import config_key

    variables = tuple(os.environ.get(name) for name in _ENDPOINT_VARIABLES)
    try:
        stat = os.stat(os.path.expanduser(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"))
        seen: Any = (stat.st_size, stat.st_mtime_ns)
    except OSError:
        seen = None
    key = (region, endpoint_url, config_key(config), profile, variables, seen)
    with _state.state.botocore_lock:
        if key in _endpoints:
            return _endpoints[key]
    url = _resolve_sts_endpoint(region, endpoint_url, config, profile)
    with _state.state.botocore_lock:
        if len(_endpoints) >= 64:
            _endpoints.clear()
        _endpoints[key] = url
    return url


def _resolve_sts_endpoint(
    region: str, endpoint_url: str | None, config: Any, profile: str | None
) -> str | None:
    import botocore.config
    from botocore import UNSIGNED

    unsigned = botocore.config.Config(signature_version=UNSIGNED)
    try:
        session = new_session(profile)
        if profile is None:
            session.set_config_variable("sts_regional_endpoints", "regional")
        client = session.create_client(
            "sts",
            region_name=region,
            endpoint_url=endpoint_url,
            config=unsigned if config is None else config.merge(unsigned),
        )
    except Exception:
        return None
    return str(client.meta.endpoint_url)


def provider_credentials(loaded: Any) -> dict[str, Any]:
    """What a botocore credential provider's ``load()`` returned, as its metadata dict.

    ``{"access_key", "secret_key", "token", "expiry_time"}`` (``expiry_time``
    ``None`` for credentials that do not expire), read *without* botocore's
    own refresh: the public properties of ``RefreshableCredentials`` run its
    fixed 15-minute advisory window, which fetches again at once for
    15-minute credentials (a second ``credential_process`` run). So the held
    fields are read directly, and a deferred or already expired set
    (``DeferredRefreshableCredentials`` of SSO, a login session's cached
    set) is fetched once through its own ``refresh_using``.
    """
    from botocore.credentials import RefreshableCredentials

    if isinstance(loaded, RefreshableCredentials):
        held: Any = loaded  # botocore's held fields, private
        expiry = held._expiry_time  # None: deferred, nothing fetched yet
        if expiry is None or expiry <= _utc_now():
            return dict(held._refresh_using())
        return {
            "access_key": held._access_key,
            "secret_key": held._secret_key,
            "token": held._token,
            "expiry_time": expiry,
        }
    frozen = loaded.get_frozen_credentials()
    return {"access_key": frozen.access_key, "secret_key": frozen.secret_key, "token": frozen.token,
            "expiry_time": None}  # fmt: skip


def _utc_now() -> Any:
    import datetime

    return datetime.datetime.now(datetime.timezone.utc)
