"""Constants and small helpers shared by the tests (fixtures live in conftest.py).

Import as ``from helpers import ROLE, ...``: ``tests/`` is on ``sys.path``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable
from typing import Any

import boto3

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
THIRD_ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Reader"
ROLE_B = f"arn:aws:iam::{OTHER_ACCOUNT}:role/Hub"
ROLE_C = f"arn:aws:iam::{THIRD_ACCOUNT}:role/Target"
# Not moto's default identity key (AKIAIOSFODNN7EXAMPLE): a test of who signed must not pass by accident.
SOURCE_KEY = "AKIAROLESESSIONTEST1"
SOURCE_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
MFA_SERIAL = "arn:aws:iam::123456789012:mfa/alice"
#: What ``RoleSession.environ()`` (and ``rolesession assume``) hands a child process.
ENV_NAMES = {
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
}


def access_key(session: boto3.Session) -> str:
    """The access key id a client of ``session`` signs with now (fetching if needed)."""
    return str(session.get_credentials().get_frozen_credentials().access_key)


def to_epoch(value: str) -> float:
    """Seconds since the epoch of an ISO 8601 time as STS and the CLI print it."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def to_iso(epoch: float) -> str:
    """An epoch time as the library logs and prints it (``2026-03-01T12:00:00Z``)."""
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class RecordingCache:
    """A cache that says it is persistent (like a file cache) and records every write."""

    persistent = True

    def __init__(self) -> None:
        self.data: dict[Hashable, dict[str, Any]] = {}
        self.sets: list[Hashable] = []

    def get(self, key: Hashable) -> dict[str, Any] | None:
        return self.data.get(key)

    def set(self, key: Hashable, entry: dict[str, Any]) -> None:
        self.sets.append(key)
        self.data[key] = entry

    def delete(self, key: Hashable) -> None:
        self.data.pop(key, None)

    def clear(self) -> None:
        self.data.clear()
