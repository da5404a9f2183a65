"""Cache keys: what identifies one set of credentials, and who the caller is.

A key is a SHA-256 over canonical JSON of the request's key material (each
credential source says what it asks STS for: operation, role, session name,
duration, policies, tags, ... -- see ``Source.key_material``) and the
caller's identity:

* AssumeRole (and GetSessionToken): the access key id of the credentials that
  sign the call;
* web identity and SAML with a static token/assertion or a token file: a
  SHA-256 of the whole token or assertion (never an unverified claim in it);
* a callable token or assertion: the callable itself -- such entries live in
  memory caches only -- unless it names the caller it stands for with a
  ``cache_identity`` string (the CLI's commands do), which other processes
  recognise too.

Two different callers never share an entry. Persistent caches only ever see
hex digests (`is_key`), which the file cache uses as file names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Mapping

TYPE_CHECKING = False  # no ``typing`` at run time: the command line's cached path computes keys
if TYPE_CHECKING:
    from hashlib import sha256
    from typing import Any

    from botocore.config import Config
else:  # CPython's own SHA-256: hashlib's digests without loading OpenSSL (~4 ms of a cached CLI run)
    try:
        from _sha2 import sha256  # Python 3.12+
    except ImportError:
        try:
            from _sha256 import sha256
        except ImportError:  # a build without it (OpenSSL only)
            from hashlib import sha256

__all__ = [
    "KEY_PATTERN",
    "CallerIdentity",
    "cache_key",
    "caller_of_secret",
    "config_key",
    "digest",
    "is_key",
    "key_for",
]

#: What stands for the caller: a string (any cache), or a callable object
#: (in-process caches only).
CallerIdentity = Hashable

#: A key a persistent cache sees: a SHA-256 hex digest (the file cache's file names).
KEY_PATTERN = "[0-9a-f]{64}"
_KEY_RE = re.compile(KEY_PATTERN)


def cache_key(material: Mapping[str, Any], caller: str) -> str:
    """SHA-256 over canonical JSON of the key material and the caller's identity."""
    canonical = json.dumps(
        {**material, "caller": caller}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return sha256(canonical.encode("utf-8")).hexdigest()


def is_key(key: object) -> bool:
    """Whether ``key`` is a key a persistent cache may store (a SHA-256 hex digest)."""
    return isinstance(key, str) and _KEY_RE.fullmatch(key) is not None


def digest(secret: str) -> str:
    """The caller identity standing for a static secret: its SHA-256."""
    return sha256(secret.encode("utf-8")).hexdigest()


def caller_of_secret(provider: str | Callable[[], Any]) -> CallerIdentity:
    """The caller a token or assertion stands for.

    A string: its digest. A callable naming its caller (``cache_identity``):
    a digest of that name. Any other callable: the callable itself.
    """
    if isinstance(provider, str):
        return digest(provider)
    named = getattr(provider, "cache_identity", None)
    if isinstance(named, str) and named:
        return "named-callable:" + digest(named)
    return provider


def key_for(material: Mapping[str, Any], caller: CallerIdentity, *, persistent: bool) -> Hashable | None:
    """The key for ``material`` asked by ``caller``; ``None`` when it may not be cached.

    A callable caller identifies itself only within this process: its key
    holds the object itself, and persistent caches never see it.
    """
    if isinstance(caller, str):
        return cache_key(material, caller)
    if persistent:
        return None
    return (cache_key(material, "callable"), caller)


def config_key(config: Config | None) -> Hashable:
    """A hashable value standing for a ``Config``'s options: equal options, equal keys.

    botocore's ``Config`` compares by identity; a user passing an equal
    ``Config`` built per call must still get the warm session and the shared
    client back.
    """
    if config is None:
        return None
    # The class of the instance, not an import: this module loads without botocore.
    names = sorted(type(config).OPTION_DEFAULTS)
    return tuple((name, _freeze(getattr(config, name, None))) for name in names)


def _freeze(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return ("map", tuple(sorted((str(k), _freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("seq", tuple(_freeze(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", frozenset(_freeze(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value  # type: ignore[no-any-return]
