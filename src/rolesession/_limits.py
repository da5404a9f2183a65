"""STS's limits, in one table: what every check and plausibility test measures against.

AWS documents these per operation (the ``DurationSeconds``, ``Policy``,
``WebIdentityToken`` and ``SAMLAssertion`` parameters of the STS API
reference). Validation refuses a request outside them before any STS call;
the file cache refuses an entry whose lifetime no STS operation issues.
Keeping them here means the two can never disagree again (they did: the
file cache capped lifetimes at 12 hours while `mfa_session` asks for up to
36, so long MFA sessions were never cached and every process asked for a
new code).
"""

from __future__ import annotations

TYPE_CHECKING = False  # no ``typing`` at run time: the command line's cached path reads this table
if TYPE_CHECKING:
    from typing import Final

__all__ = [
    "ASSERTION_LENGTH",
    "CHAINED_MAX_DURATION",
    "DEFAULT_DURATION",
    "DEFAULT_DURATIONS",
    "DURATIONS",
    "LONGEST_LIFETIME",
    "MAX_DURATION",
    "MAX_DURATIONS",
    "MIN_DURATION",
    "PACKED_POLICY_LIMIT",
    "SESSION_TOKEN_DEFAULT_DURATION",
    "SESSION_TOKEN_MAX_DURATION",
    "TOKEN_LENGTH",
    "default_advisory",
]

#: The shortest session any operation issues (15 minutes).
MIN_DURATION: Final = 900
#: AssumeRole, AssumeRoleWithWebIdentity and AssumeRoleWithSAML: up to 12 hours
#: (as far as the role's ``MaxSessionDuration`` allows).
MAX_DURATION: Final = 43_200
#: Role chaining (AssumeRole signed with role credentials): at most one hour.
CHAINED_MAX_DURATION: Final = 3_600
#: GetSessionToken for an IAM user: up to 36 hours.
SESSION_TOKEN_MAX_DURATION: Final = 129_600

#: STS's default when no ``DurationSeconds`` is sent: one hour for the role operations.
DEFAULT_DURATION: Final = 3_600
#: GetSessionToken's default (and ``mfa_session``'s): 12 hours.
SESSION_TOKEN_DEFAULT_DURATION: Final = 43_200

#: ``DurationSeconds`` each operation takes, (shortest, longest), by operation name.
#: The role operations' longest is further bounded by the role's ``MaxSessionDuration``.
DURATIONS: Final = {
    "AssumeRole": (MIN_DURATION, MAX_DURATION),
    "AssumeRoleWithWebIdentity": (MIN_DURATION, MAX_DURATION),
    "AssumeRoleWithSAML": (MIN_DURATION, MAX_DURATION),
    "GetSessionToken": (MIN_DURATION, SESSION_TOKEN_MAX_DURATION),
    "GetFederationToken": (MIN_DURATION, 129_600),
    # IAM Roles Anywhere-style scoped credentials: any length up to 36 hours.
    "GetScopedCredentials": (1, 129_600),
    # Root tasks in a member account: at most 15 minutes.
    "AssumeRoot": (0, 900),
    # An outbound JWT, not credentials: 1 minute to 1 hour.
    "GetWebIdentityToken": (60, 3_600),
}
#: What each operation issues when no ``DurationSeconds`` is sent.
DEFAULT_DURATIONS: Final = {
    "AssumeRole": DEFAULT_DURATION,
    "AssumeRoleWithWebIdentity": DEFAULT_DURATION,
    "AssumeRoleWithSAML": DEFAULT_DURATION,
    "GetSessionToken": SESSION_TOKEN_DEFAULT_DURATION,
    "GetFederationToken": 43_200,
    "AssumeRoot": 900,
}
#: The longest session each operation can issue, by operation name.
MAX_DURATIONS: Final = {operation: longest for operation, (_, longest) in DURATIONS.items()}
#: The longest lifetime any credentials from STS can have: a cached entry
#: living longer was not written from an STS answer.
LONGEST_LIFETIME: Final = max(MAX_DURATIONS.values())

#: A session policy plus its policy ARNs, packed: at most this many characters.
PACKED_POLICY_LIMIT: Final = 2_048
#: ``WebIdentityToken``: 4-20,000 characters.
TOKEN_LENGTH: Final = (4, 20_000)
#: ``SAMLAssertion`` (base64): 4-100,000 characters.
ASSERTION_LENGTH: Final = (4, 100_000)


def default_advisory(lifetime: float) -> float:
    """The default `RefreshPolicy`'s advisory window for credentials lasting ``lifetime`` seconds.

    5 minutes up to 20 minutes, 15 below 90 minutes, 60 otherwise; never more
    than three quarters of the lifetime (credentials due for refresh the
    moment they arrive would cost an STS call a read). One definition for the
    refresh engine and the CLI's cached path (which must not start one).
    """
    advisory = 300.0 if lifetime <= 1200 else 900.0 if lifetime < 5400 else 3600.0
    return min(advisory, lifetime * 0.75)
