"""The CLI's secret commands live in the library (``rolesession._secret_commands``):
profiles run ``mfa_process`` with them too."""

import getpass  # noqa: F401  (the prompt reads codes through it; tests replace it)

from .._secret_commands import (
    CommandAssertion,
    CommandError,
    CommandMfaCode,
    PromptMfaCode,
    last_mfa_code,
    run_for_stdout,
    split_command,
)

__all__ = [
    "CommandAssertion",
    "CommandError",
    "CommandMfaCode",
    "PromptMfaCode",
    "last_mfa_code",
    "run_for_stdout",
    "split_command",
]
