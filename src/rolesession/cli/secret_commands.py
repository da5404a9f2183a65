"""The CLI's secret commands: the library's public providers, named by the CLI's options.

``--mfa-command`` and ``--saml-assertion-command`` run through
`rolesession.mfa_from_command` and `rolesession.saml_from_command` (the
library runs a profile's ``mfa_process`` the same way); the prompt is
`rolesession.mfa_prompt` held back by the CLI's own rule (`HeldPrompt`).
"""

from __future__ import annotations

import getpass  # noqa: F401  (the prompt reads codes through it; tests replace it)
from collections.abc import Callable

from rolesession import (
    InvalidParameterError,
    SecretCommandError,
    mfa_from_command,
    mfa_prompt,
    saml_from_command,
)

from .errors import UsageError

__all__ = ["CommandError", "HeldPrompt", "mfa_command", "saml_assertion_command"]

#: What a secret command's failure is (the name ``cli/`` has used for it).
CommandError = SecretCommandError


def mfa_command(command: str) -> Callable[[], str]:
    """``--mfa-command``'s code provider; a command line that cannot be split is a usage error."""
    return _provider(mfa_from_command, command, "--mfa-command")


def saml_assertion_command(command: str) -> Callable[[], str]:
    """``--saml-assertion-command``'s assertion provider (its command line keys the cache)."""
    return _provider(saml_from_command, command, "--saml-assertion-command")


def _provider(make: Callable[[str], Callable[[], str]], command: str, flag: str) -> Callable[[], str]:
    try:
        return make(command)
    except InvalidParameterError as exc:
        raise UsageError(f"{flag}: {exc.reason}") from None


class HeldPrompt:
    """`rolesession.mfa_prompt`, asked only when ``may_ask()`` says so.

    ``interactive = True`` tells the refresh engine a person is asked (never
    from a background refresh). ``may_ask`` covers what the engine cannot
    see -- a later hop refreshing in the background reads this hop from a
    worker thread: while ``exec``'s command runs with the terminal, no prompt
    interrupts it unless it is left with no valid credentials.
    """

    interactive = True

    def __init__(self, serial: str, may_ask: Callable[[], bool]) -> None:
        self.serial = serial
        self.may_ask = may_ask
        self._prompt = mfa_prompt(serial)

    def __call__(self) -> str:
        if not self.may_ask():
            raise SecretCommandError(
                "not asking for the MFA code while the command runs and its credentials are valid"
            )
        return self._prompt()

    def __repr__(self) -> str:
        return f"HeldPrompt({self.serial!r})"
