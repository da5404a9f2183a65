"""The default ``RoleSessionName`` (no boto3, no botocore: the CLI's cached path uses it too)."""

from __future__ import annotations

import getpass
import os
import re
import socket

from . import _state

__all__ = ["default_session_name", "sanitize_session_name"]

_INVALID = re.compile(r"[^A-Za-z0-9_+=,.@-]")


def _user_at_host() -> str:
    state = _state.state
    if state.user_at_host is None:
        try:
            user = getpass.getuser()
        except Exception:  # no user name in containers without a passwd entry
            user = str(os.getuid()) if hasattr(os, "getuid") else "user"
        state.user_at_host = f"{user}@{socket.gethostname()}"
    return state.user_at_host


def sanitize_session_name(raw: str) -> str:
    """Make any string a valid ``RoleSessionName`` (2-64 of ``[\\w+=,.@-]``)."""
    name = _INVALID.sub("-", raw)[:64]
    return name if len(name) >= 2 else (name + "--")[:2]


def default_session_name() -> str:
    """``AWS_ROLE_SESSION_NAME``; else the Lambda function name; else ``user@host``."""
    raw = (
        os.environ.get("AWS_ROLE_SESSION_NAME")
        or os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        or _user_at_host()
    )
    return sanitize_session_name(raw)
