"""MFA codes and SAML assertions obtained by running the user's command (or asking).

Used by the CLI (``--mfa-command``, ``--saml-assertion-command``, the
prompt) and by profiles (``mfa_process``, the prompt).

The commands run without a shell (``shlex``-split), with the terminal's
stdin and stderr (so ``ykman`` can ask for a touch and a password manager
for its passphrase); only their stdout is read. Nothing they print is ever
logged or put in an error message: it is a secret.
"""

from __future__ import annotations

import getpass
import re
import shlex
import subprocess
from collections.abc import Callable

__all__ = ["CommandAssertion", "CommandError", "CommandMfaCode", "PromptMfaCode", "last_mfa_code"]

#: A person may have to touch a key or unlock a vault first.
COMMAND_TIMEOUT = 120.0

# "Standalone": not part of a longer number or word, so "ykman oath accounts
# code" lines ("AWS:alice  123456") and bare OTP output both work.
_MFA_CODE_RE = re.compile(r"(?<![0-9A-Za-z_])[0-9]{6}(?![0-9A-Za-z_])")


class CommandError(Exception):
    """The command could not give a secret; the message says why, never what it printed."""


def last_mfa_code(output: str) -> str | None:
    """The last standalone 6-digit number in ``output``, or ``None``."""
    codes = _MFA_CODE_RE.findall(output)
    return codes[-1] if codes else None


def split_command(command: str, option: str) -> list[str]:
    """``shlex``-split a command line given to ``option``; empty or unbalanced is an error."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise CommandError(f"{option}: cannot parse the command line ({exc})") from None
    if not argv:
        raise CommandError(f"{option}: the command is empty")
    return argv


def run_for_stdout(argv: list[str]) -> str:
    name = argv[0]
    try:
        done = subprocess.run(
            argv, stdout=subprocess.PIPE, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise CommandError(f"{name}: command not found") from None
    except PermissionError:
        raise CommandError(f"{name}: permission denied") from None
    except subprocess.TimeoutExpired:
        raise CommandError(f"{name} did not finish within {COMMAND_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise CommandError(f"{name} could not be run ({exc.strerror or type(exc).__name__})") from None
    if done.returncode != 0:
        raise CommandError(f"{name} exited with status {done.returncode}")
    return done.stdout


class CommandMfaCode:
    """A zero-argument callable running a command (``--mfa-command``, a profile's
    ``mfa_process``) for a fresh code at each STS call."""

    def __init__(self, command: str, option: str = "--mfa-command") -> None:
        self.argv = split_command(command, option)

    def __call__(self) -> str:
        code = last_mfa_code(run_for_stdout(self.argv))
        if code is None:
            raise CommandError(f"{self.argv[0]} printed no 6-digit MFA code")
        return code

    def __repr__(self) -> str:
        return f"CommandMfaCode({shlex.join(self.argv)!r})"


class PromptMfaCode:
    """Asks on the terminal, when ``--mfa-serial`` comes without ``--mfa-command``.

    ``interactive = True`` tells the refresh engine a person is asked: it
    never calls this from a background refresh, serving the credentials it
    holds until they expire. ``may_ask`` (set by the CLI) covers what the
    engine cannot see -- a later hop refreshing in the background reads this
    hop from a worker thread: while a command runs with the terminal, no
    prompt interrupts it unless it is left with no valid credentials.
    """

    interactive = True

    def __init__(self, serial: str, may_ask: Callable[[], bool] | None = None) -> None:
        self.serial = serial
        self.may_ask = may_ask

    def __call__(self) -> str:
        if self.may_ask is not None and not self.may_ask():
            raise CommandError(
                "not asking for the MFA code while the command runs and its credentials are valid"
            )
        code = getpass.getpass(f"MFA code for {self.serial}: ").strip()
        if last_mfa_code(code) != code:
            raise CommandError("the MFA code typed is not 6 digits")
        return code

    def __repr__(self) -> str:
        return f"PromptMfaCode({self.serial!r})"


class CommandAssertion:
    """A zero-argument callable running ``--saml-assertion-command`` for a fresh assertion.

    ``cache_identity`` is the command line: it stands for the caller in the
    cache key, so a file cache can serve the next invocation without
    running the command (and signing in) again.
    """

    def __init__(self, command: str) -> None:
        self.argv = split_command(command, "--saml-assertion-command")
        self.cache_identity = "saml-assertion-command:" + shlex.join(self.argv)

    def __call__(self) -> str:
        assertion = "".join(run_for_stdout(self.argv).split())
        if not assertion:
            raise CommandError(f"{self.argv[0]} printed no SAML assertion")
        return assertion

    def __repr__(self) -> str:
        return f"CommandAssertion({shlex.join(self.argv)!r})"
