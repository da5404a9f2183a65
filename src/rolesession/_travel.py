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
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

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
    for provider in _providers(source):
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


def _providers(source: Source) -> list[ByIdentity]:
    values = [getattr(source, name, None) for name in ("mfa_token", "token", "assertion")]
    return [v for v in values if isinstance(v, ByIdentity)]


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
    token = shipped.get("mfa_token")
    if isinstance(token, str):
        raise fail("session", "cannot be pickled: it holds a static MFA code; pass a callable")
    if token is not None:
        try:
            pickle.dumps(token)
        except Exception as exc:
            raise fail("session", "cannot be pickled: its MFA code provider cannot be pickled") from exc
    return name, shipped


def _received_cache(cache: Any) -> Any:
    if cache == _DEFAULT or cache is DEFAULT_CACHE:
        return default_cache()
    return cache

