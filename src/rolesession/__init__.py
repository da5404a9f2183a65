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
    assume_role_with_saml,
    assume_role_with_web_identity,
    chain,
    from_profile,
    mfa_session,
    role_arn,
)
from ._cache import CredentialCache, MemoryCache, default_cache
from ._default_chain import from_environment, install, uninstall
from ._errors import (
    AssumeRoleError,
    CredentialRefreshError,
    InvalidParameterError,
    RoleSessionError,
    SourceCredentialsError,
    TokenError,
)
from ._policy import Policy
from ._refresh import RefreshEvent, RefreshPolicy
from ._session import RoleSession

if typing.TYPE_CHECKING:  # for type checkers and the API docs; imported lazily at run time
    from ._fanout import FanOutResult, fan_out
    from ._file_cache import FileCache
    from ._organizations import Account, OrganizationsError, org_accounts

__version__ = "0.1.0.dev0"

__all__ = [
    "Account",
    "AssumeRoleError",
    "CredentialCache",
    "CredentialRefreshError",
    "FanOutResult",
    "FileCache",
    "InvalidParameterError",
    "MemoryCache",
    "OrganizationsError",
    "Policy",
    "RefreshEvent",
    "RefreshPolicy",
    "RoleSession",
    "RoleSessionError",
    "SourceCredentialsError",
    "TokenError",
    "assume_role",
    "assume_role_with_saml",
    "assume_role_with_web_identity",
    "chain",
    "default_cache",
    "fan_out",
    "from_environment",
    "from_profile",
    "install",
    "mfa_session",
    "org_accounts",
    "role_arn",
    "uninstall",
]


def __getattr__(name: str) -> Any:
    # Loaded on first use to keep ``import rolesession`` light.
    if name == "FileCache":
        from ._file_cache import FileCache

        return FileCache
    if name in ("fan_out", "FanOutResult"):
        from . import _fanout as fanout

        return getattr(fanout, name)
    if name in ("org_accounts", "Account", "OrganizationsError"):
        from . import _organizations as organizations

        return getattr(organizations, name)
    raise AttributeError(f"module 'rolesession' has no attribute {name!r}")
