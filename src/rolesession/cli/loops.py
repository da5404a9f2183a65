"""A ``credential_process`` that runs ``rolesession`` resolving through itself.

With ``AWS_PROFILE=x`` exported and profile ``x`` configured as
``credential_process = rolesession assume ROLE ...`` (no ``--profile``), the
CLI resolves its source credentials through the default chain, which is
profile ``x``, whose credential_process runs the CLI again: without a guard,
processes fork without end, each waiting for the next.

The guard: before a run resolves source credentials through a profile, it
adds the profile to the ``ROLESESSION_RESOLVING_PROFILES`` environment
variable, which the ``credential_process`` children botocore spawns inherit.
A run that finds the profile it is about to resolve already listed there
exits 3 naming the loop, and the run above it, seeing that in botocore's
error, says the same.

``rolesession cache -- COMMAND`` records its helper's command line the same
way: a helper that resolves the very profile whose ``credential_process``
runs it would otherwise wait for its own lock (or, with ``--no-cache``,
fork without end); the inner run exits 3 naming the command.

For a role profile (``--profile prod`` with ``role_arn`` and
``source_profile = base``) the profile recorded is the root of its walk,
``base``: its credentials are the ones botocore resolves, perhaps by running
a ``credential_process``, while the role hops are rolesession's own.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import CliError

TYPE_CHECKING = False  # no argparse at run time: the cached ``exec`` reads `outer_environment`
if TYPE_CHECKING:
    import argparse

__all__ = ["VARIABLE", "explain", "outer_environment", "resolving", "resolving_helper", "source_profile"]

VARIABLE = "ROLESESSION_RESOLVING_PROFILES"
EXIT_NO_SOURCE = 3
# In every loop message; how the run above recognises its child's refusal.
_MARKER = "resolving its source credentials runs rolesession again"
_PREFIX = "rolesession: error: "
#: How a ``cache`` helper's command line is listed in the variable (no profile looks like it).
_HELPER = "cache -- "

# What the variable held when the outermost `resolving` block began, for
# the command ``exec`` runs (it is not part of the loop).
_outer: list[str | None] = []


def source_profile(args: argparse.Namespace) -> str | None:
    """The profile whose credentials botocore resolves for this run, or ``None``.

    That is the profile ``--profile`` names (else the default chain's), or,
    for a role profile, the root of its ``source_profile`` walk. ``None``
    when the first hop signs in with a token (web identity, SAML), the
    default chain stops at the environment's keys before any profile, or a
    role profile's walk ends at a ``credential_source`` or a token file.
    """
    if getattr(args, "web_identity_token_file", None) or getattr(args, "saml_assertion_command", None):
        return None
    if args.profile is not None:
        name = str(args.profile)
    elif os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return None  # the chain's first provider; no profile is read
    else:
        # botocore's order: AWS_DEFAULT_PROFILE, then AWS_PROFILE, then "default".
        name = os.environ.get("AWS_DEFAULT_PROFILE") or os.environ.get("AWS_PROFILE") or "default"
    from .profiles import walk

    return walk(name).root


def _listed() -> list[str]:
    text = os.environ.get(VARIABLE, "")
    if not text:
        return []
    from urllib.parse import unquote  # (~2.5 ms: only when a run above listed something)

    return [unquote(item) for item in text.split(",") if item]


def loop_message(listed: list[str], profile: str) -> str:
    chain = " -> ".join(repr(p) for p in [*listed[listed.index(profile) :], profile])
    return (
        f"profile {profile!r} loops: {_MARKER} through the same profile ({chain}); pass "
        "--profile <a profile with the real source credentials> in the credential_process "
        "command line that runs rolesession"
    )


def helper_loop_message(command: str) -> str:
    return (
        f"the credential_process helper {command!r} loops: {_MARKER} (rolesession cache) with the "
        "same helper; give the helper a profile whose credentials do not come from this "
        "credential_process"
    )


@contextmanager
def resolving(profile: str | None) -> Iterator[None]:
    """Record ``profile`` for the children of this block; exit 3 if it is already recorded."""
    listed = _listed()
    if profile is not None and profile in listed:
        raise CliError(loop_message(listed, profile), exit_code=EXIT_NO_SOURCE)
    with _recording(profile, listed):
        yield


@contextmanager
def resolving_helper(argv: list[str]) -> Iterator[None]:
    """Record a ``cache`` helper's command line for its children; exit 3 if it is already recorded."""
    command = shlex.join(argv)
    listed = _listed()
    if _HELPER + command in listed:
        raise CliError(helper_loop_message(command), exit_code=EXIT_NO_SOURCE)
    with _recording(_HELPER + command, listed):
        yield


@contextmanager
def _recording(item: str | None, listed: list[str]) -> Iterator[None]:
    """Add ``item`` to the variable for the block (the children it starts inherit it)."""
    before = os.environ.get(VARIABLE)
    _outer.append(before)
    if item is not None:
        from urllib.parse import quote

        os.environ[VARIABLE] = ",".join(quote(p, safe="") for p in [*listed, item])
    try:
        yield
    finally:
        _outer.pop()
        # A program calling ``main()`` in process gets its environment back.
        if before is None:
            os.environ.pop(VARIABLE, None)
        else:
            os.environ[VARIABLE] = before


def outer_environment(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the variable as this run found it (for a command ``exec`` runs)."""
    if not _outer:
        return env
    before = _outer[0]
    if before is None:
        env.pop(VARIABLE, None)
    else:
        env[VARIABLE] = before
    return env


def explain(exc: BaseException) -> str | None:
    """The loop line when ``exc`` comes from a ``credential_process`` child that found a loop."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for line in str(current).splitlines():
            if _MARKER in line:
                return line[line.index(_PREFIX) + len(_PREFIX) :] if _PREFIX in line else line
        current = current.__cause__ or current.__context__
    return None
