"""Errors the command line itself raises, each with its exit code."""

from __future__ import annotations

__all__ = ["CliError", "UsageError"]


class CliError(Exception):
    """A failure of the command line itself; ``exit_code`` 5 unless a subclass says otherwise."""

    exit_code = 5

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(CliError):
    """Invalid command-line usage: exit code 2."""

    exit_code = 2
