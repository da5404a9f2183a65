"""The CLI's secret commands live in the library (``rolesession._secret_commands``):
profiles run ``mfa_process`` with them too.

This module is the one place ``cli/`` reaches them (``tests/test_cli_imports.py``
allows no other private import): they have no public form yet.
"""

import getpass  # noqa: F401  (the prompt reads codes through it; tests replace it)

from .._secret_commands import (
    CommandAssertion,
    CommandError,
    CommandMfaCode,
    PromptMfaCode,
    TooMuchOutput,
    last_mfa_code,
    read_bounded,
    run_for_stdout,
    split_command,
)

__all__ = [
    "CommandAssertion",
    "CommandError",
    "CommandMfaCode",
    "PromptMfaCode",
    "TooMuchOutput",
    "last_mfa_code",
    "read_bounded",
    "run_for_stdout",
    "split_command",
]
