"""Sessions that travel: a `RoleSession` pickled as its recipe, rebuilt in another process.

What travels is the chain of credential sources (roles and parameters) and
the refresh policies -- never credentials, never a static secret. The root
is the receiving process's default credential chain, or the profile a
`from_profile` session was built from; the cache is the receiver's default
cache (or ``None``, or a persistent cache that pickles itself, such as a
`FileCache`). The rebuilt session is lazy: the worker's first use assumes
the roles with its own credentials, and identical recipes in one process
share one session (the warm-session registry), so a thousand tasks on one
worker make one STS call per role.

What a recipe does carry may still be sensitive: a callable provider
travels with its state (a TOTP-seeded MFA callable ships its seed), and an
``sts_config`` with a proxy URL ships the proxy's user name and password.
Pickling such a recipe logs one WARNING per process for each of the two
kinds (docs/security.md).
"""

from __future__ import annotations

import logging
import pickle
import urllib.parse
from typing import TYPE_CHECKING, Any

from . import _state
from ._cache import DEFAULT_CACHE, default_cache
from ._sources import (
    AssumeRoleSource,
    ByIdentity,
    SamlSource,
    SessionTokenSource,
    Source,
    WebIdentitySource,
)
from ._validation import fail

if TYPE_CHECKING:
    from ._session import RoleSession

__all__ = ["rebuild", "recipe_of"]

logger = logging.getLogger("rolesession")

#: The two kinds of secret a recipe may carry, and what the WARNING says about each.
_CARRIED = {
    "callable": (
        "a pickled rolesession session carries its {what} provider, {name}, with all its state "
        "(a TOTP-seeded MFA callable ships its seed): unpickle it only where that secret may go"
    ),
    "proxy": (
        "a pickled rolesession session carries its sts_config, whose proxy URL holds a user name "
        "and password: unpickle it only where that password may go"
    ),
}
#: How a pickled cache says "the receiver's default".
_DEFAULT = "default"

Hop = tuple[Source, Any, Any]  # (source, cache, refresh policy)


def recipe_of(session: RoleSession) -> tuple[Any, list[Hop]]:
    """``(root, hops)`` for pickling ``session``; `InvalidParameterError` if it cannot travel."""
    from ._session import RoleSession

    hops: list[Hop] = []
    current: Any = session
    while isinstance(current, RoleSession):
        profile = getattr(current, "_profile_recipe", None)
        if profile is not None:  # a from_profile() session: the worker resolves the profile itself
            root: Any = ("profile", _shippable_profile(profile))
            break
        fetcher = current._fetcher
        source, cache = _shippable_source(fetcher.source), _shippable_cache(fetcher.cache)
        _warn_of_carried_secrets(source)
        hops.append((source, cache, current._refresh_policy))
        current = fetcher.parent
    else:
        if current is not None:
            raise fail(
                "session",
                f"cannot be pickled: its root source is an explicit {type(current).__name__}, whose "
                "credentials cannot travel; build it from the default credential chain (source=None) "
                "or a profile (rolesession.from_profile), which every worker resolves for itself",
            )
        root = ("default",)
    hops.reverse()
    return root, hops


def rebuild(root: Any, hops: list[Hop]) -> RoleSession:
    """The receiving side: a lazy session for the recipe, shared with identical ones."""
    from ._requests import Recipe
    from ._session import session_for

    parent: Any = None
    if root[0] == "profile":
        from ._profiles import resolve_profile

        name, kwargs = root[1]
        parent = resolve_profile(name, **{**kwargs, "cache": _received_cache(kwargs.get("cache"))})
    session: Any = parent
    for source, cache, refresh in hops:
        session = session_for(Recipe(source, parent, _received_cache(cache), refresh))
        parent = session
    return session  # type: ignore[no-any-return]


# -- what may travel -----------------------------------------------------------------------------


def _shippable_source(source: Source) -> Source:
    static = _static_secret(source)
    if static is not None:
        raise fail(
            "session",
            f"cannot be pickled: it holds a static {static}, which is never sent twice; pass a "
            "callable that returns a fresh one (a module-level function pickles)",
        )
    for _, provider in _named_providers(source):
        try:
            pickle.dumps(provider)
        except Exception as exc:
            raise fail(
                "session",
                f"cannot be pickled: its {type(provider.fn).__name__} provider cannot be pickled "
                f"({type(exc).__name__}); use a module-level function or a picklable callable object",
            ) from exc
    return source


def _static_secret(source: Source) -> str | None:
    if isinstance(source, (AssumeRoleSource, SessionTokenSource)) and isinstance(source.mfa_token, str):
        return "MFA code"
    if isinstance(source, SamlSource) and isinstance(source.assertion, str):
        return "SAML assertion"
    if isinstance(source, WebIdentitySource) and isinstance(source.token, str):
        return "web identity token (pass token_file= or a callable)"
    return None


def _shippable_cache(cache: Any) -> Any:
    if cache is None:
        return None
    if cache is default_cache() or not getattr(cache, "persistent", True):
        return _DEFAULT  # in-memory caches stay home: the receiver uses its own default
    try:
        pickle.dumps(cache)
    except Exception as exc:
        raise fail(
            "session",
            f"cannot be pickled: its {type(cache).__name__} cache cannot be pickled ({type(exc).__name__})",
        ) from exc
    return cache


def _shippable_profile(profile: tuple[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    name, kwargs = profile
    shipped = {**kwargs, "cache": _shippable_cache(kwargs.get("cache"))}
    if callable(shipped.get("mfa_token")):
        _warn_once("callable", what="MFA code", name=_name_of(shipped["mfa_token"]))
    if _proxy_has_credentials(shipped.get("sts_config")):
        _warn_once("proxy")
    token = shipped.get("mfa_token")
    if isinstance(token, str):
        raise fail("session", "cannot be pickled: it holds a static MFA code; pass a callable")
    if token is not None:
        try:
            pickle.dumps(token)
        except Exception as exc:
            raise fail("session", "cannot be pickled: its MFA code provider cannot be pickled") from exc
    return name, shipped


def _warn_of_carried_secrets(source: Source) -> None:
    for what, provider in _named_providers(source):
        _warn_once("callable", what=what, name=_name_of(provider.fn))
    if _proxy_has_credentials(getattr(source, "sts_config", None)):
        _warn_once("proxy")


def _named_providers(source: Source) -> list[tuple[str, ByIdentity]]:
    named = (("mfa_token", "MFA code"), ("token", "web identity token"), ("assertion", "SAML assertion"))
    found = [(what, getattr(source, name, None)) for name, what in named]
    return [(what, value) for what, value in found if isinstance(value, ByIdentity)]


def _name_of(fn: Any) -> str:
    fn = getattr(fn, "fn", fn)  # a wrapped provider: the user's callable
    return str(getattr(fn, "__qualname__", None) or type(fn).__qualname__)


def _proxy_has_credentials(config: Any) -> bool:
    proxies = getattr(config, "proxies", None)
    if not isinstance(proxies, dict):
        return False
    for url in proxies.values():
        try:
            parts = urllib.parse.urlsplit(str(url))
            if parts.username or parts.password:
                return True
        except ValueError:
            continue
    return False


def _warn_once(kind: str, **details: str) -> None:
    """One WARNING per process for each kind of secret a pickled recipe carries (never the secret)."""
    warned = _state.state.pickle_warned
    with _state.state.lock:
        if kind in warned:
            return
        warned.add(kind)
    logger.warning(_CARRIED[kind].format(**details))


def _received_cache(cache: Any) -> Any:
    if cache == _DEFAULT or cache is DEFAULT_CACHE:
        return default_cache()
    return cache
