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

import dataclasses
import logging
import pickle
import urllib.parse
from typing import Any

from . import _state
from ._cache import DEFAULT_CACHE, default_cache
from ._errors import InvalidParameterError
from ._recipe import ProfileOrigin, Recipe
from ._sources import (
    AssumeRoleSource,
    ByIdentity,
    RootSource,
    SamlSource,
    ScopedSource,
    SessionTokenSource,
    Source,
    WebIdentitySource,
    by_identity,
    unwrap,
)
from ._validation import fail

__all__ = ["FORMAT", "VERSION", "Travelling", "recipe_data", "travelling"]

logger = logging.getLogger("rolesession")

#: What a pickled session's data says it is, and the version of its layout.
FORMAT = "rolesession.recipe"
VERSION = 1

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
#: The source class of each operation named in the data.
_SOURCES: dict[str, type[Source]] = {
    cls.operation: cls
    for cls in (AssumeRoleSource, WebIdentitySource, SamlSource, SessionTokenSource, ScopedSource, RootSource)
}


def recipe_data(recipe: Recipe) -> dict[str, Any]:
    """``recipe`` as versioned plain data (dicts, lists, str, int, None and public classes).

    Raises `InvalidParameterError` if it cannot travel; logs a WARNING per
    process for each kind of secret it carries.
    """
    hops: list[dict[str, Any]] = []
    root: dict[str, Any] = {"kind": "default"}
    current: Recipe | None = recipe
    while current is not None:
        if current.origin is not None:  # a from_profile() session: the worker resolves the profile itself
            name, keywords = _shippable_profile(current.origin)
            root = {"kind": "profile", "profile": name, "keywords": keywords}
            break
        source, cache = _shippable_source(current.source), _shippable_cache(current.cache)
        _warn_of_carried_secrets(source)
        hops.append(
            {"operation": source.operation, "parameters": _parameters(source), "cache": cache,
             "refresh": current.refresh}
        )  # fmt: skip
        parent = current.parent
        current = current.parent_recipe
        if current is None and parent is not None:
            raise fail(
                "session",
                f"cannot be pickled: its root source is an explicit {type(parent).__name__}, whose "
                "credentials cannot travel; build it from the default credential chain (source=None) "
                "or a profile (rolesession.from_profile), which every worker resolves for itself",
            )
    hops.reverse()
    return {"format": FORMAT, "version": VERSION, "root": root, "hops": hops}


@dataclasses.dataclass(frozen=True)
class Travelling:
    """Received data, checked: the profile to resolve first (or ``None``), then each hop's
    source, cache and refresh policy (the parent is the previous hop's session)."""

    profile: tuple[str, dict[str, Any]] | None
    hops: tuple[tuple[Source, Any, Any], ...]


def travelling(data: object) -> Travelling:
    """The receiving side: ``data`` (from `recipe_data`) checked and turned into sources."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidParameterError.of("data", f"is not a rolesession recipe (format {FORMAT!r})")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise InvalidParameterError.of(
            "data", f"has recipe version {version!r}; this rolesession reads versions 1 to {VERSION}"
        )
    root, hops = data.get("root"), data.get("hops")
    if not isinstance(root, dict) or not isinstance(hops, list):
        raise InvalidParameterError.of("data", "has no root and hops")
    profile = None
    if root.get("kind") == "profile":
        keywords = dict(root.get("keywords") or {})
        profile = (str(root["profile"]), {**keywords, "cache": _received_cache(keywords.get("cache"))})
    elif root.get("kind") != "default":
        raise InvalidParameterError.of("data", f"has an unknown root {root.get('kind')!r}")
    built = []
    for index, hop in enumerate(hops):
        cls = _SOURCES.get(str(hop.get("operation"))) if isinstance(hop, dict) else None
        if cls is None:
            raise InvalidParameterError.of(
                f"data.hops[{index}]", "names no STS operation this rolesession knows"
            )
        source = cls(**{name: _received(value) for name, value in hop["parameters"].items()})
        built.append((source, _received_cache(hop.get("cache")), hop.get("refresh")))
    return Travelling(profile, tuple(built))


def _parameters(source: Source) -> dict[str, Any]:
    # Every init field, providers unwrapped to the user's callable and tuples as lists.
    return {
        f.name: _plain(unwrap(getattr(source, f.name))) for f in dataclasses.fields(source) if f.init
    }


def _plain(value: Any) -> Any:
    return [_plain(item) for item in value] if isinstance(value, tuple) else value


def _received(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_received(item) for item in value)
    return by_identity(value)  # a callable provider compares by identity again


# -- what may travel -----------------------------------------------------------------------------


def _shippable_source(source: Source) -> Source:
    if _SOURCES.get(source.operation) is not type(source):
        # A source of this machine (a wrapped botocore provider) says itself why it cannot travel.
        pickle.dumps(source)
        raise fail("session", f"cannot be pickled: its {source.operation} source cannot travel")
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
    what = source.static_secret()
    if what == "web identity token":  # unlike a one-shot code, a better way exists
        return f"{what} (pass token_file= or a callable)"
    return what


def _shippable_cache(cache: Any) -> Any:
    if cache is None:
        return None
    if cache is DEFAULT_CACHE or cache is default_cache() or not getattr(cache, "persistent", True):
        return _DEFAULT  # in-memory caches stay home: the receiver uses its own default
    try:
        pickle.dumps(cache)
    except Exception as exc:
        raise fail(
            "session",
            f"cannot be pickled: its {type(cache).__name__} cache cannot be pickled ({type(exc).__name__})",
        ) from exc
    return cache


def _shippable_profile(origin: ProfileOrigin) -> tuple[str, dict[str, Any]]:
    name, kwargs = origin.profile, dict(origin.keywords)
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
    found = [(spec.secret, getattr(source, name)) for name, spec in source.table() if spec.secret]
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
