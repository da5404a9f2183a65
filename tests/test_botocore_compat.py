"""Every botocore internal that ``rolesession._botocore`` relies on, checked against botocore itself.

If botocore changes one of them, a test here fails with a name that says
which: the handler trie's node layout, the emitter's copy and kwargs check,
the aliaser's memo, the session's components, the loader's search paths.
Where possible the library's version is compared with botocore's own
behaviour rather than with hard-coded expectations.
"""

from __future__ import annotations

import copy
import functools
import inspect
import os

import boto3
import botocore.errorfactory
import botocore.hooks
import botocore.regions
import botocore.session
import pytest
from botocore.utils import EVENT_ALIASES
from hypothesis import given, settings
from hypothesis import strategies as st

from rolesession import _botocore

# -- the handler trie ---------------------------------------------------------------


def test_prefix_trie_node_layout_is_what_cow_trie_copies():
    trie = botocore.hooks._PrefixTrie()
    trie.append_item("a.b", "h", section=botocore.hooks._MIDDLE)
    root = trie._root
    assert set(root) == {"chunk", "children", "values"}
    node = root["children"]["a"]["children"]["b"]
    assert set(node) == {"chunk", "children", "values"}
    assert isinstance(node["values"], botocore.hooks.NodeList)
    assert node["values"].middle == ["h"] and node["chunk"] == "b"
    assert (botocore.hooks._FIRST, botocore.hooks._MIDDLE, botocore.hooks._LAST) == (0, 1, 2)
    copied = copy.copy(node["values"])  # NodeList.__copy__ copies its three lists
    assert copied == node["values"] and copied.middle is not node["values"].middle


def test_prefix_trie_api_the_cow_trie_overrides():
    for name in ("append_item", "remove_item", "prefix_search", "__copy__"):
        assert callable(getattr(botocore.hooks._PrefixTrie, name))
    params = list(inspect.signature(botocore.hooks._PrefixTrie.append_item).parameters)
    assert params == ["self", "key", "value", "section"]
    assert list(inspect.signature(botocore.hooks._PrefixTrie.remove_item).parameters) == [
        "self",
        "key",
        "value",
    ]


def test_cow_trie_copy_shares_nodes_until_written():
    trie = _botocore._CowTrie()
    for key in ("a.b.c", "a.b.d", "x.y"):
        trie.append_item(key, key)
    twin = copy.copy(trie)
    assert twin._root is trie._root  # O(1): nothing copied yet
    twin.append_item("a.b.c", "new")
    assert list(trie.prefix_search("a.b.c")) == ["a.b.c"]
    assert list(twin.prefix_search("a.b.c")) == ["new", "a.b.c"] or list(
        twin.prefix_search("a.b.c")
    ) == ["a.b.c", "new"]
    # Only the written path was copied: the untouched subtree is still shared.
    assert twin._root["children"]["x"] is trie._root["children"]["x"]
    assert twin._root["children"]["a"] is not trie._root["children"]["a"]
    trie.remove_item("x.y", "x.y")
    assert list(trie.prefix_search("x.y")) == [] and list(twin.prefix_search("x.y")) == ["x.y"]


def test_cow_trie_remove_of_a_missing_key_raises_like_botocore():
    ours, theirs = _botocore._CowTrie(), botocore.hooks._PrefixTrie()
    for trie in (ours, theirs):
        trie.append_item("a.b", "h")
        with pytest.raises(ValueError):
            trie.remove_item("a.zzz", "h")
        with pytest.raises(ValueError):
            trie.remove_item("nope", "h")


# Random sequences of emitter operations give the same handlers, in the same
# order, on botocore's emitter and on ours (with copies taken along the way).
_EVENTS = ["a", "a.b", "a.b.c", "a.*.c", "b.c", "a.x"]
_operation = st.one_of(
    st.tuples(st.sampled_from(["register", "register_first", "register_last"]),
              st.sampled_from(_EVENTS), st.integers(0, 5)),
    st.tuples(st.just("unregister"), st.sampled_from(_EVENTS), st.integers(0, 5)),
    st.tuples(st.just("unique"), st.sampled_from(_EVENTS), st.integers(0, 2)),
    st.tuples(st.just("copy"), st.just(""), st.integers(0, 1)),
)


def _handler(n: int):
    def handler(**kwargs):
        return n

    return handler


_HANDLERS = [_handler(n) for n in range(6)]


@settings(max_examples=150, deadline=None)
@given(st.lists(_operation, max_size=25))
def test_cow_emitter_behaves_like_botocores_emitter(ops):
    stock, ours = botocore.hooks.HierarchicalEmitter(), _botocore._Emitter()
    stock_copies, our_copies = [], []
    for op, event, n in ops:
        if op == "copy":
            # Keep the copies and keep writing to the originals: a copy must not see it.
            stock_copies.append(copy.copy(stock))
            our_copies.append(copy.copy(ours))
            if n:  # and sometimes continue on the copy instead
                stock, ours = stock_copies[-1], our_copies[-1]
            continue
        outcomes = []
        for emitter in (stock, ours):
            try:
                if op == "unregister":
                    emitter.unregister(event, _HANDLERS[n])
                elif op == "unique":
                    emitter.register(event, _HANDLERS[n], unique_id=f"u{n}")
                else:
                    getattr(emitter, op)(event, _HANDLERS[n])
                outcomes.append(None)
            except Exception as exc:  # botocore's own quirks must be ours too
                outcomes.append(type(exc))
        assert outcomes[0] == outcomes[1]
    for a, b in [(stock, ours), *zip(stock_copies, our_copies, strict=True)]:
        for event in ["a.b.c", "a.q.c", "b.c", "a.x", "a"]:
            assert [h(**{}) for h in a._handlers.prefix_search(event)] == [
                h(**{}) for h in b._handlers.prefix_search(event)
            ]


def test_emitter_copy_keeps_the_class_and_shares_the_trie():
    emitter = _botocore._Emitter()
    emitter.register("a.b", _HANDLERS[0])
    twin = copy.copy(emitter)  # botocore's HierarchicalEmitter.__copy__
    assert type(twin) is _botocore._Emitter and type(twin._handlers) is _botocore._CowTrie
    assert twin._handlers._root is emitter._handlers._root
    assert twin._unique_id_handlers == emitter._unique_id_handlers


# -- the kwargs check -----------------------------------------------------------------


def test_emitter_checks_kwargs_in_verify_accept_kwargs():
    assert callable(botocore.hooks.BaseEventHooks._verify_accept_kwargs)
    stock = botocore.hooks.HierarchicalEmitter()
    with pytest.raises(ValueError, match="must accept keyword arguments"):
        stock.register("a", lambda x: None)


def _no_kwargs(a, b=1):
    return a


def _with_kwargs(a=1, **kwargs):
    return a


class _Callable:
    def __call__(self, **kwargs):
        return 1


class _Handlers:
    def method(self, **kwargs):
        return 1

    def bad_method(self, x):
        return x


def _signed(**kwargs):
    return 1


_signed.__signature__ = inspect.Signature([inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD)])


@pytest.mark.parametrize(
    "handler",
    [
        _no_kwargs,
        _with_kwargs,
        _Callable(),
        _Handlers().method,
        _Handlers().bad_method,
        functools.partial(_with_kwargs, 2),
        functools.partial(_no_kwargs, 2),
        _signed,
        lambda **kw: None,
        lambda x: None,
        print,
    ],
)
def test_fast_kwargs_check_agrees_with_botocore(handler):
    def outcome(emitter):
        try:
            emitter.register("a.b", handler)
        except ValueError:
            return "rejected"
        return "accepted"

    assert outcome(_botocore._Emitter()) == outcome(botocore.hooks.HierarchicalEmitter())


# -- the aliaser ------------------------------------------------------------------------


def test_aliaser_memo_attribute_and_results_match_botocore():
    stock = botocore.hooks.EventAliaser(botocore.hooks.HierarchicalEmitter())
    assert isinstance(stock._alias_name_cache, dict) and stock._event_aliases is EVENT_ALIASES
    ours = _botocore._Aliaser(_botocore._Emitter())
    names = [f"before-call.{old}.Op" for old in list(EVENT_ALIASES)[:20]] + [
        "needs-retry.sts.AssumeRole",
        "creating-client-class.s3",
        "before-parameter-build.api.sagemaker",
    ]
    for name in names:
        assert ours._alias_event_name(name) == stock._alias_event_name(name)
    twin = copy.copy(ours)
    assert type(twin) is _botocore._Aliaser and twin._alias_name_cache is ours._alias_name_cache
    assert twin._emitter is not ours._emitter and type(twin._emitter) is _botocore._Emitter


# -- the session --------------------------------------------------------------------------


def test_session_internals_the_library_sets():
    session = botocore.session.Session(event_hooks=_botocore._Emitter(), include_builtin_handlers=False)
    assert isinstance(session._events, botocore.hooks.EventAliaser)
    assert session.get_component("event_emitter") is session._events
    assert session._original_handler is session._events._emitter
    assert isinstance(session._get_internal_component("endpoint_resolver"), botocore.regions.EndpointResolver)
    assert isinstance(
        session._get_internal_component("exceptions_factory"), botocore.errorfactory.ClientExceptionsFactory
    )
    resolver = object()
    session._register_internal_component("endpoint_resolver", resolver)
    assert session._get_internal_component("endpoint_resolver") is resolver


def test_new_session_has_botocores_builtin_handlers_in_botocores_order():
    ours = _botocore.new_session()
    stock = botocore.session.Session()
    events = {spec[0] for spec in botocore.handlers.BUILTIN_HANDLERS}
    for event in sorted(events):
        name = event.replace("*", "any")
        assert list(ours._original_handler._handlers.prefix_search(name)) == list(
            stock._original_handler._handlers.prefix_search(name)
        ), event
    assert ours.get_component("event_emitter") is ours._events
    assert type(ours._events) is _botocore._Aliaser


def test_new_session_events_register_and_emit_through_the_public_api():
    session = _botocore.new_session()
    other = _botocore.new_session()
    seen = []
    session.register("rolesession-test.sts", lambda **kw: seen.append(kw["event_name"]))
    session.get_component("event_emitter").emit("rolesession-test.sts.GetCallerIdentity")
    other.get_component("event_emitter").emit("rolesession-test.sts.GetCallerIdentity")
    assert seen == ["rolesession-test.sts.GetCallerIdentity"]


def test_clients_get_a_copy_of_the_session_emitter():
    session = _botocore.new_session()
    session.set_credentials("AKIAIOSFODNN7EXAMPLE", "secret")
    one = session.create_client("sts", region_name="us-east-1")
    two = session.create_client("sts", region_name="us-east-1")
    seen = []
    one.meta.events.register("rolesession-test.sts", lambda **kw: seen.append("one"))
    two.meta.events.emit("rolesession-test.sts.GetCallerIdentity")
    session.get_component("event_emitter").emit("rolesession-test.sts.GetCallerIdentity")
    one.meta.events.emit("rolesession-test.sts.GetCallerIdentity")
    assert seen == ["one"]
    assert type(one.meta.events) is _botocore._Aliaser


def test_template_is_rebuilt_when_builtin_handlers_change(monkeypatch):
    before = _botocore._template_session()
    extra = ("rolesession-test.template", lambda **kw: "extra")
    monkeypatch.setattr(botocore.handlers, "BUILTIN_HANDLERS", [*botocore.handlers.BUILTIN_HANDLERS, extra])
    session = _botocore.new_session()
    assert _botocore._template_session() is not before
    assert list(session._original_handler._handlers.prefix_search("rolesession-test.template")) == [extra[1]]


# -- the loader and shared components ----------------------------------------------------


def test_loader_keeps_search_paths_in_a_private_list():
    loader = _botocore.shared_loader()
    assert loader.search_paths is loader._search_paths
    assert type(loader._search_paths) is _botocore._UniqueList


def test_boto3_appends_its_data_path_once_not_per_session():
    loader = _botocore.shared_loader()
    boto3.Session(botocore_session=_botocore.new_session())
    count = len(loader.search_paths)
    for _ in range(5):
        boto3.Session(botocore_session=_botocore.new_session())
    assert len(loader.search_paths) == count
    assert any(path.endswith(os.path.join("boto3", "data")) for path in loader.search_paths)


def test_shared_endpoint_resolver_is_built_like_botocores():
    stock = botocore.session.Session()._get_internal_component("endpoint_resolver")
    ours = _botocore.shared_endpoint_resolver()
    assert type(ours) is type(stock)
    assert ours.construct_endpoint("sts", "eu-west-1") == stock.construct_endpoint("sts", "eu-west-1")
    assert ours.get_available_partitions() == stock.get_available_partitions()
    assert ours.uses_builtin_data == stock.uses_builtin_data


def test_exceptions_factory_caches_per_service_name():
    factory = botocore.errorfactory.ClientExceptionsFactory()
    assert factory._client_exceptions_cache == {}
    session = _botocore.new_session()
    model = session.get_service_model("sts")
    assert factory.create_client_exceptions(model) is factory.create_client_exceptions(model)


def test_read_only_credentials_carry_an_account_id() -> None:
    """The frozen credentials handed to botocore fill ``account_id`` (botocore >= 1.37)."""
    from botocore.credentials import ReadOnlyCredentials

    assert "account_id" in ReadOnlyCredentials._fields
    frozen = ReadOnlyCredentials("AKIA", "secret", "token", "123456789012")
    assert frozen.account_id == "123456789012"


def test_provider_credentials_reads_what_a_provider_loaded_without_botocores_refresh():
    import datetime as dt

    from botocore.credentials import Credentials, DeferredRefreshableCredentials, RefreshableCredentials

    expiry = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=14)  # inside botocore's own window
    metadata = {"access_key": "ASIALOADED", "secret_key": "s", "token": "t"}
    metadata["expiry_time"] = expiry.isoformat()
    calls: list[int] = []

    def fetch() -> dict[str, str]:
        calls.append(1)
        return {**metadata, "access_key": "ASIAFETCHED"}

    loaded = RefreshableCredentials.create_from_metadata(metadata, fetch, "custom-process")
    assert _botocore.provider_credentials(loaded)["access_key"] == "ASIALOADED" and calls == []
    deferred = DeferredRefreshableCredentials(fetch, "sso")
    assert _botocore.provider_credentials(deferred)["access_key"] == "ASIAFETCHED" and calls == [1]
    static = _botocore.provider_credentials(Credentials("AKIASTATIC", "s"))
    assert (static["access_key"], static["expiry_time"]) == ("AKIASTATIC", None)


# -- where STS would be called --------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "region"),
    [
        ({}, "eu-west-1"),
        ({"AWS_STS_REGIONAL_ENDPOINTS": "legacy"}, "us-east-1"),
        ({"AWS_ENDPOINT_URL_STS": "https://sts.amazonaws.com"}, "eu-west-1"),
        ({"AWS_ENDPOINT_URL": "https://sts.amazonaws.com"}, "eu-west-1"),
        ({"AWS_ENDPOINT_URL_STS": "https://sts.amazonaws.com", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"},
         "eu-west-1"),
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, "us-east-1"),
        ({"AWS_USE_DUALSTACK_ENDPOINT": "true"}, "us-east-1"),
        ({}, "cn-north-1"),
    ],
)  # fmt: skip
def test_sts_endpoint_is_where_the_librarys_sts_clients_call(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], region: str
) -> None:
    from rolesession import _sts

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = _sts._new_client(None, region, None, None)
    assert _botocore.sts_endpoint(region, None, None) == client.meta.endpoint_url
    given = "https://sts.eu-central-1.amazonaws.com"
    assert _botocore.sts_endpoint(region, given, None) == given == _sts._new_client(
        None, region, given, None
    ).meta.endpoint_url


def test_sts_endpoint_is_none_when_botocore_cannot_make_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    assert _botocore.sts_endpoint("eu-west-1", None, None) is None


def test_sts_endpoint_answers_are_remembered_until_the_config_changes(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    config = tmp_path / "config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    config.write_text("[default]\nendpoint_url = https://sts.amazonaws.com\n")
    made = []
    real = _botocore._resolve_sts_endpoint
    monkeypatch.setattr(_botocore, "_resolve_sts_endpoint", lambda *a: made.append(a) or real(*a))
    assert _botocore.sts_endpoint("eu-west-1", None, None) == "https://sts.amazonaws.com"
    assert _botocore.sts_endpoint("eu-west-1", None, None) == "https://sts.amazonaws.com"
    assert len(made) == 1
    config.write_text("[default]\nregion = eu-west-1\n")  # another size: another answer
    assert _botocore.sts_endpoint("eu-west-1", None, None) == "https://sts.eu-west-1.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "https://sts.amazonaws.com")
    assert _botocore.sts_endpoint("eu-west-1", None, None) == "https://sts.amazonaws.com"
    assert len(made) == 3
