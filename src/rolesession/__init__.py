"""rolesession: self-refreshing ``boto3.Session`` objects from AWS STS role assumption.

>>> import rolesession
>>> s = rolesession.assume_role("arn:aws:iam::123456789012:role/Auditor")
>>> s.client("s3").list_buckets()  # credentials fetched now, refreshed forever
"""

from __future__ import annotations

import typing
from typing import Any

from ._api import (
    assume_role,
    assume_role_chain,
    assume_role_with_saml,
    assume_role_with_web_identity,
    build_role_arn,
    chain,
    from_profile,
    mfa_session,
    role_arn,
    session_from_recipe,
)
from ._cache import CredentialCache, MemoryCache, default_cache
from ._default_chain import from_environment, install, uninstall
from ._errors import (
    AssumeRoleError,
    CredentialRefreshError,
    InvalidParameterError,
    RoleSessionError,
    SourceCredentialsError,
    StsError,
    TokenError,
)
from ._policy import Policy
from ._recipe import Recipe
from ._refresh import RefreshEvent, RefreshPolicy
from ._session import RoleSession

if typing.TYPE_CHECKING:  # for type checkers and the API docs; imported lazily at run time
    from ._fanout import FanOutResult, fan_out
    from ._file_cache import FileCache

__version__ = "0.1.0.dev0"

__all__ = [
    "AssumeRoleError",
    "CredentialCache",
    "CredentialRefreshError",
    "FanOutResult",
    "FileCache",
    "InvalidParameterError",
    "MemoryCache",
    "Policy",
    "Recipe",
    "RefreshEvent",
    "RefreshPolicy",
    "RoleSession",
    "RoleSessionError",
    "SourceCredentialsError",
    "StsError",
    "TokenError",
    "assume_role",
    "assume_role_chain",
    "assume_role_with_saml",
    "assume_role_with_web_identity",
    "build_role_arn",
    "chain",
    "default_cache",
    "fan_out",
    "from_environment",
    "from_profile",
    "install",
    "mfa_session",
    "role_arn",
    "session_from_recipe",
    "uninstall",
]

# Public classes carry the public module's name, so a pickle (of a session's recipe, an error,
# a cache, a policy) names ``rolesession.X``, never a private module that may move.
for _public in (
    CredentialCache, MemoryCache, CredentialRefreshError, InvalidParameterError, RoleSessionError,
    SourceCredentialsError, StsError, TokenError, Policy, Recipe, RefreshEvent,
    RefreshPolicy, RoleSession, session_from_recipe,
):  # fmt: skip
    _public.__module__ = __name__
del _public


def __getattr__(name: str) -> Any:
    # Loaded on first use to keep ``import rolesession`` light.
    if name == "FileCache":
        from ._file_cache import FileCache

        FileCache.__module__ = __name__  # as the classes above
        return FileCache
    if name in ("fan_out", "FanOutResult"):
        from . import _fanout as fanout

        return getattr(fanout, name)
    raise AttributeError(f"module 'rolesession' has no attribute {name!r}")
