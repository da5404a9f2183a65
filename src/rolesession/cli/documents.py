"""The documents the CLI hands credentials out in: one definition for every path.

Plain formatting of a `rolesession.RoleCredentials` (no boto3, no botocore):
the cached fast path and the full path print the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shlex

TYPE_CHECKING = False  # no ``typing`` at run time: the cached path prints these
if TYPE_CHECKING:
    from typing import Any

    from rolesession import RoleCredentials, RoleSession

__all__ = ["HAND_OUT_MINIMUM", "credentials_object", "document", "env_lines", "environ", "hand_out", "iso"]


def iso(epoch: float) -> str:
    """``2026-11-22T10:00:00Z``: the form AWS SDKs parse in every consumer."""
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def environ(creds: RoleCredentials, region: str | None) -> dict[str, str]:
    """The variables handing ``creds`` to a child (`RoleCredentials.environ`)."""
    return creds.environ(region)


def credentials_object(creds: RoleCredentials) -> dict[str, Any]:
    """STS's ``Credentials`` object."""
    return {
        "AccessKeyId": creds.access_key,
        "SecretAccessKey": creds.secret_key,
        "SessionToken": creds.token,
        "Expiration": iso(creds.expiry),
    }


def env_lines(creds: RoleCredentials, region: str | None) -> str:
    """``export`` lines for ``eval``; and ``unset`` of the profile variables the shell has.

    A profile named in ``AWS_PROFILE`` would otherwise stay beside the role's
    keys: botocore lets the keys win (measured), but a tool that honours
    the profile first would sign as it.
    """
    lines = [f"export {k}={shlex.quote(v)}" for k, v in environ(creds, region).items()]
    named = [name for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") if name in os.environ]
    if named:
        lines.append("unset " + " ".join(named))
    return "\n".join(lines)


def document(creds: RoleCredentials, region: str | None, form: str) -> str:
    """What ``assume --format FORM`` prints."""
    if form == "env":
        return env_lines(creds, region)
    if form == "json":
        return json.dumps(credentials_object(creds), indent=2)
    return json.dumps({"Version": 1, **credentials_object(creds)})


#: Consumers (botocore's credential_process, container and environment
#: providers) refresh 15 minutes before expiry, and every request once
#: inside that window: credentials are refreshed before being handed out
#: with less than this left (when a fresh set would last longer).
HAND_OUT_MINIMUM = 15 * 60


def hand_out(session: RoleSession, *, wait: bool) -> RoleCredentials:
    """The session's credentials for a consumer that refreshes with botocore's fixed windows.

    With less than `HAND_OUT_MINIMUM` left (and a fresh set lasting longer),
    the engine makes one refresh attempt under its own rules -- never while
    backing off, never two at once, one WARNING per failure episode: a
    one-shot command waits for it (``wait=True``); the ``exec --server``
    endpoint starts it in the background and answers with what is held.
    Raises `CredentialRefreshError` only when nothing valid can be had.
    """
    return session.credentials(HAND_OUT_MINIMUM, wait=wait)
