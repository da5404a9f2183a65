"""What the command line reads from the shared AWS config about a ``--profile``.

``--profile NAME`` naming a role profile (one that defines ``role_arn``) is
resolved by `rolesession.from_profile`; this module only answers the
questions the CLI must ask before that: is it a role profile, which
profile's credentials botocore resolves at the end of its walk (for the
recursion guard in `loops`), and which MFA devices its hops ask codes for.

Every answer here is lenient: a configuration `from_profile` would refuse
(a loop of ``source_profile``, an unknown profile) is reported by
`from_profile` itself, naming the profile and key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Walk", "configured_profiles", "walk"]

#: Keys that end a walk with credentials botocore does not read from a profile.
_NO_PROFILE_SOURCES = ("credential_source", "web_identity_token_file")
#: Either key makes a source profile a static-key source for botocore.
_STATIC_KEYS = ("aws_access_key_id", "aws_secret_access_key")


def configured_profiles() -> Mapping[str, Mapping[str, Any]]:
    """The profiles of the config and credentials files, as botocore reads them."""
    import botocore.exceptions
    import botocore.session

    try:
        profiles = botocore.session.Session().full_config.get("profiles", {})
    except botocore.exceptions.BotoCoreError:  # an unparsable file: boto3 reports it later
        return {}
    return profiles if isinstance(profiles, Mapping) else {}


@dataclass(frozen=True)
class Walk:
    """A profile's ``source_profile`` walk: its role profiles, outermost first, and its root."""

    #: The role profiles (name, values), from the named one inwards.
    hops: tuple[tuple[str, Mapping[str, Any]], ...]
    #: The profile whose credentials botocore resolves (static keys,
    #: ``credential_process``, SSO), or ``None`` when the walk ends at a
    #: ``credential_source`` or a web identity token file.
    root: str | None

    @property
    def is_role(self) -> bool:
        """Whether the named profile defines ``role_arn`` (`from_profile` resolves it)."""
        return bool(self.hops)

    def mfa_serials(self) -> set[str]:
        """The MFA devices of the hops that would ask for a code on the terminal (no ``mfa_process``)."""
        return {
            str(values["mfa_serial"])
            for _, values in self.hops
            if "mfa_serial" in values and "mfa_process" not in values
        }

    def has_mfa_process(self) -> bool:
        return any("mfa_serial" in values and "mfa_process" in values for _, values in self.hops)


def walk(name: str, profiles: Mapping[str, Mapping[str, Any]] | None = None) -> Walk:
    """Follow ``source_profile`` from ``name`` while profiles define ``role_arn``
    (and, as botocore, until a source profile with static keys).

    Where the walk cannot go on (a loop, a profile that is not configured,
    one that is its own source), the last profile reached is the root:
    resolving the chain fails there, with `from_profile`'s own error.
    """
    if profiles is None:
        profiles = configured_profiles()
    hops: list[tuple[str, Mapping[str, Any]]] = []
    current = name
    while True:
        values = profiles.get(current)
        if not isinstance(values, Mapping) or "role_arn" not in values:
            return Walk(tuple(hops), current)
        if any(current == seen for seen, _ in hops):
            return Walk(tuple(hops), current)
        hops.append((current, values))
        if any(key in values for key in _NO_PROFILE_SOURCES):
            return Walk(tuple(hops), None)
        source = values.get("source_profile")
        if not isinstance(source, str) or source == current:
            return Walk(tuple(hops), current)
        following = profiles.get(source)
        if isinstance(following, Mapping) and any(key in following for key in _STATIC_KEYS):
            # botocore's rule (and from_profile's): a source profile's own keys end the
            # walk, whatever else it defines -- its role_arn is not assumed.
            return Walk(tuple(hops), source)
        current = source
