"""``RoleCredentials``: one set of temporary credentials and where they came from.

This is the unit the refresh engine holds and the caches store. Its
``to_entry()`` form is the STS response (``Credentials`` and
``AssumedRoleUser``) plus the receipt time, as the AWS CLI cache stores it.

The file format is read here and in ``_file_cache`` alone, on the command
line's cached path too: this module imports neither ``dataclasses`` nor
``typing`` at run time (a ``credential_process`` pays for every import).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping

from ._limits import default_advisory

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ENTRY_VERSION = 1
#: A clock more than a day off is not a skew to correct: such an entry is foreign.
MAX_SKEW = 86400.0


def _is_time(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond any float
        return False


def to_epoch(value: _dt.datetime | str) -> float:
    """Epoch seconds of an aware datetime or an ISO-8601 string."""
    if isinstance(value, str):
        value = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value.timestamp()


def to_datetime(epoch: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)


def to_iso(epoch: float) -> str:
    """``2026-11-22T10:00:00Z``: the form AWS SDKs parse in every consumer."""
    return to_datetime(epoch).strftime("%Y-%m-%dT%H:%M:%SZ")


class RoleCredentials:
    """Temporary credentials with their expiry, receipt time and identity.

    What `RoleSession.credentials` hands out. ``expiry`` is when they expire
    on this host's clock (``expiration``: on STS's), ``lifetime`` what they
    were issued for; ``arn``/``account`` those of the assumed-role user. The
    repr never shows the secret key or token.

    Example:
        ```python
        creds = rolesession.assume_role(arn).credentials()
        print(creds.access_key, creds.expiry - creds.received)
        ```
    """

    access_key: str
    secret_key: str
    token: str
    expiration: float  # epoch seconds
    received: float  # epoch seconds; lifetime = expiration - received
    arn: str  # of the assumed-role user
    user_id: str  # AssumedRoleId
    source_identity: str | None
    #: STS's clock minus ours when they were received (0 when within the
    #: ``Date`` header's precision): lifetime and time left are judged on STS's clock.
    skew: float

    # A frozen, slotted value, as ``@dataclass(frozen=True, slots=True)`` made it (same
    # fields, order, equality, hash and pickle state), written out: importing
    # ``dataclasses`` costs the command line's cached path ~20 ms.
    __slots__ = _FIELDS = (
        "access_key", "secret_key", "token", "expiration", "received", "arn", "user_id",
        "source_identity", "skew",
    )  # fmt: skip
    __match_args__ = _FIELDS

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        token: str,
        expiration: float,
        received: float,
        arn: str = "",
        user_id: str = "",
        source_identity: str | None = None,
        skew: float = 0.0,
    ) -> None:
        values = (access_key, secret_key, token, expiration, received, arn, user_id, source_identity, skew)
        for name, value in zip(self._FIELDS, values, strict=True):
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._FIELDS)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: RoleCredentials are frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: RoleCredentials are frozen")

    def __getstate__(self) -> list[Any]:
        return list(self._values())  # what the dataclass pickled: older pickles load

    def __setstate__(self, state: list[Any]) -> None:
        for name, value in zip(self._FIELDS, state, strict=True):
            object.__setattr__(self, name, value)

    @property
    def account(self) -> str:
        parts = self.arn.split(":")
        return parts[4] if len(parts) > 5 else ""

    @property
    def lifetime(self) -> float:
        """Seconds they were issued for, on STS's clock."""
        return self.expiration - self.skew - self.received

    @property
    def expiry(self) -> float:
        """When they expire on this host's clock (``expiration`` is STS's)."""
        return self.expiration - self.skew

    def hand_out_until(self, minimum: float = 0.0) -> float:
        """Until when reading these hands them out as they are: epoch seconds on this host's clock.

        Until then they have at least ``minimum`` seconds left and the default
        `RefreshPolicy` starts no refresh (its advisory mark; its jitter only
        delays one). What the command line's cached paths check before they
        hand credentials out without the full library.

        Example:
            ```python
            if time.time() <= creds.hand_out_until(15 * 60):
                ...  # 15 minutes left at least, and no refresh due
            ```
        """
        return self.expiry - max(minimum, default_advisory(self.lifetime))

    def environ(self, region: str | None = None) -> dict[str, str]:
        """The environment variables handing these credentials to a child process.

        ``AWS_CREDENTIAL_EXPIRATION`` is on this host's clock. The region
        variables only when a region is configured: an empty ``AWS_REGION``
        would be no better than none, and an invented one would silently
        send the child's requests somewhere the user never chose.
        """
        env = {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_SESSION_TOKEN": self.token,
            "AWS_CREDENTIAL_EXPIRATION": to_iso(self.expiry),
        }
        if region:
            env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = region
        return env

    def __repr__(self) -> str:
        return (
            f"RoleCredentials(access_key={self.access_key!r}, arn={self.arn!r}, "
            f"expiration={to_iso(self.expiration)!r})"
        )

    @classmethod
    def from_response(
        cls, response: Mapping[str, Any], received: float, skew: float = 0.0
    ) -> RoleCredentials:
        """Build from an STS ``AssumeRole*`` response (parsed by botocore)."""
        creds = response["Credentials"]
        # GetScopedCredentials names the (unchanged) caller in SessionInfo.
        user = response.get("AssumedRoleUser") or response.get("SessionInfo") or {}
        return cls(
            access_key=creds["AccessKeyId"],
            secret_key=creds["SecretAccessKey"],
            token=creds["SessionToken"],
            expiration=to_epoch(creds["Expiration"]),
            received=received,
            arn=user.get("Arn", ""),
            user_id=user.get("AssumedRoleId") or user.get("ScopedSessionId", ""),
            source_identity=response.get("SourceIdentity"),
            skew=skew,
        )

    def to_entry(self) -> dict[str, Any]:
        """The JSON-serialisable cache entry."""
        entry: dict[str, Any] = {
            "Version": ENTRY_VERSION,
            "Credentials": {
                "AccessKeyId": self.access_key,
                "SecretAccessKey": self.secret_key,
                "SessionToken": self.token,
                "Expiration": to_iso(self.expiration),
            },
            "AssumedRoleUser": {"Arn": self.arn, "AssumedRoleId": self.user_id},
            "ReceivedAt": self.received,
        }
        if self.source_identity:
            entry["SourceIdentity"] = self.source_identity
        if self.skew:
            entry["ClockSkew"] = self.skew
        return entry

    @classmethod
    def from_entry(cls, entry: object) -> RoleCredentials | None:
        """Parse a cache entry; ``None`` for anything corrupt or foreign."""
        try:
            if not isinstance(entry, Mapping) or entry.get("Version") != ENTRY_VERSION:
                return None
            received = entry["ReceivedAt"]
            skew = entry.get("ClockSkew", 0.0)
            if not (_is_time(received) and _is_time(skew) and abs(skew) <= MAX_SKEW):
                return None
            creds = cls.from_response(entry, float(received), float(skew))
            fields = (creds.access_key, creds.secret_key, creds.token, creds.arn, creds.user_id)
            if not all(isinstance(f, str) for f in fields) or creds.expiry <= creds.received:
                return None
            return creds
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
            return None
