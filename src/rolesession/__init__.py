"""rolesession: self-refreshing ``boto3.Session`` objects from AWS STS role assumption.

>>> import rolesession
>>> s = rolesession.assume_role("arn:aws:iam::123456789012:role/Auditor")
>>> s.client("s3").list_buckets()  # credentials fetched now, refreshed forever
"""

from __future__ import annotations

TYPE_CHECKING = False  # ``typing`` is not imported at run time: ``rolesession --version`` pays for it
if TYPE_CHECKING:  # for type checkers and the API docs; imported on first use at run time
    from typing import Any

    from ._api import (
        assume_role,
        assume_role_chain,
        assume_role_with_saml,
        assume_role_with_web_identity,
        assume_root,
        build_role_arn,
        chain,
        from_profile,
        mfa_session,
        role_arn,
        scope_down,
        session_from_recipe,
    )
    from ._cache import CredentialCache, MemoryCache, default_cache
    from ._console import console_url
    from ._credentials import RoleCredentials
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
    from ._fanout import FanOutResult, fan_out
    from ._file_cache import FileCache
    from ._handout import cached_chain, cached_credentials
    from ._identity import caller_identity
    from ._organizations import Account, OrganizationsError, org_accounts
    from ._policy import Policy
    from ._recipe import Recipe
    from ._refresh import RefreshEvent, RefreshPolicy
    from ._secret_commands import SecretCommandError, mfa_from_command, mfa_prompt, saml_from_command
    from ._session import RoleSession
    from ._sources import HopParameter, hop_parameters

__version__ = "0.1.0.dev0"

__all__ = [
    "Account",
    "AssumeRoleError",
    "CredentialCache",
    "CredentialRefreshError",
    "FanOutResult",
    "FileCache",
    "HopParameter",
    "InvalidParameterError",
    "MemoryCache",
    "OrganizationsError",
    "Policy",
    "Recipe",
    "RefreshEvent",
    "RefreshPolicy",
    "RoleCredentials",
    "RoleSession",
    "RoleSessionError",
    "SecretCommandError",
    "SourceCredentialsError",
    "StsError",
    "TokenError",
    "assume_role",
    "assume_role_chain",
    "assume_role_with_saml",
    "assume_role_with_web_identity",
    "assume_root",
    "build_role_arn",
    "cached_chain",
    "cached_credentials",
    "caller_identity",
    "chain",
    "console_url",
    "default_cache",
    "fan_out",
    "from_environment",
    "from_profile",
    "hop_parameters",
    "install",
    "mfa_from_command",
    "mfa_prompt",
    "mfa_session",
    "org_accounts",
    "role_arn",
    "saml_from_command",
    "scope_down",
    "session_from_recipe",
    "uninstall",
]


#: Where each public name lives. ``import rolesession`` imports none of them (nor boto3):
#: the command line's cached answers need neither (SPEC "CLI", fast path).
_HOMES = {
    "cached_chain": "_handout", "cached_credentials": "_handout",
    "assume_role": "_api", "assume_role_with_saml": "_api", "assume_role_with_web_identity": "_api",
    "chain": "_api", "from_profile": "_api", "mfa_session": "_api", "role_arn": "_api",
    "assume_role_chain": "_api", "build_role_arn": "_api", "session_from_recipe": "_api",
    "assume_root": "_api", "scope_down": "_api",
    "CredentialCache": "_cache", "MemoryCache": "_cache", "default_cache": "_cache",
    "RoleCredentials": "_credentials",
    "console_url": "_console",
    "from_environment": "_default_chain", "install": "_default_chain", "uninstall": "_default_chain",
    "AssumeRoleError": "_errors", "CredentialRefreshError": "_errors", "InvalidParameterError": "_errors",
    "RoleSessionError": "_errors", "SourceCredentialsError": "_errors", "TokenError": "_errors",
    "StsError": "_errors",
    "FanOutResult": "_fanout", "fan_out": "_fanout",
    "Account": "_organizations", "OrganizationsError": "_organizations", "org_accounts": "_organizations",
    "FileCache": "_file_cache",
    "caller_identity": "_identity",
    "Policy": "_policy",
    "Recipe": "_recipe",
    "RefreshEvent": "_refresh", "RefreshPolicy": "_refresh",
    "RoleSession": "_session",
    "SecretCommandError": "_secret_commands", "mfa_from_command": "_secret_commands",
    "mfa_prompt": "_secret_commands", "saml_from_command": "_secret_commands",
    "HopParameter": "_sources", "hop_parameters": "_sources",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    # PEP 562: a public name is imported on first use, then kept as a module attribute.
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'rolesession' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
