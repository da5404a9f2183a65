"""MFA codes and SAML assertions obtained by running the user's command (or asking).

Public as `mfa_from_command`, `mfa_prompt` and `saml_from_command` (with
`SecretCommandError`); used by profiles (``mfa_process``, the prompt) and by
the CLI (``--mfa-command``, ``--saml-assertion-command``, the prompt).

The commands run without a shell (``shlex``-split); only their stdout is
read. Nothing they print is ever logged or put in an error message: it is
a secret.

* In the foreground (the main thread, not a background refresh) a command
  has the terminal's stdin and stderr, so ``ykman`` can ask for a touch and
  a password manager for its passphrase.
* Anywhere else -- a background refresh, the ``exec --server`` endpoint's
  threads -- its stdin is ``/dev/null``: the terminal belongs to whatever
  runs there (``exec``'s command), and a helper must not read the answer a
  person typed for it. It runs in a process group of its own, killed when
  the read ends.
* Its output is read up to a bound (`MFA_OUTPUT_LIMIT`,
  `SAML_OUTPUT_LIMIT`): beyond it the command is killed and fails.
* The read ends when the command has exited and `EXIT_GRACE` has passed,
  even if a grandchild it left in the background still holds stdout open.
"""

from __future__ import annotations

import getpass
import os
import re
import selectors
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from . import _workers as workers
from ._errors import RoleSessionError
from ._validation import check_mfa_serial, check_str, fail

__all__ = [
    "CommandAssertion", "CommandMfaCode", "PromptMfaCode", "SecretCommandError", "TooMuchOutput",
    "last_mfa_code", "mfa_from_command", "mfa_prompt", "read_bounded", "saml_from_command",
]  # fmt: skip

#: A person may have to touch a key or unlock a vault first.
COMMAND_TIMEOUT = 120.0
#: What an MFA command may print: a code, perhaps in a list of accounts
#: (``ykman oath accounts code``). ``yes 123456`` is stopped here.
MFA_OUTPUT_LIMIT = 64 * 1024
#: A SAML assertion is at most 100,000 characters (STS's limit); a command
#: may wrap its base64 in lines, so a little more is read before failing.
SAML_OUTPUT_LIMIT = 128 * 1024
#: After the command exits, how long output from what it left behind (a
#: grandchild holding stdout) is still read before the read ends.
EXIT_GRACE = 0.5

# "Standalone": not part of a longer number or word, so "ykman oath accounts
# code" lines ("AWS:alice  123456") and bare OTP output both work.
_MFA_CODE_RE = re.compile(r"(?<![0-9A-Za-z_])[0-9]{6}(?![0-9A-Za-z_])")


class SecretCommandError(RoleSessionError):
    """A command run for a secret (`mfa_from_command`, `saml_from_command`, a profile's
    ``mfa_process``) or the terminal prompt (`mfa_prompt`) could not give one.

    The message says why (not found, exit status, too much output, no code
    printed, timed out), never what the command printed: that is a secret.
    Raised by the provider when it is called; the library, calling it for an
    STS request, raises `TokenError` with this error as its ``__cause__``.

    Example:
        ```python
        provider = rolesession.mfa_from_command("false")
        try:
            provider()
        except rolesession.SecretCommandError as exc:
            print(exc)  # false exited with status 1
        ```
    """


class TooMuchOutput(SecretCommandError):
    """The command printed more than it may (`read_bounded`'s ``limit``)."""


def last_mfa_code(output: str) -> str | None:
    """The last standalone 6-digit number in ``output``, or ``None``."""
    codes = _MFA_CODE_RE.findall(output)
    return codes[-1] if codes else None


def split_command(command: object, parameter: str) -> list[str]:
    """``shlex``-split the command line given as ``parameter``.

    Not a string, empty or unbalanced: `InvalidParameterError` naming ``parameter``.
    """
    text = check_str(command, parameter)
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise fail(parameter, f"cannot parse the command line ({exc})") from None
    if not argv:
        raise fail(parameter, "the command is empty")
    return argv


def in_foreground() -> bool:
    """Whether a command run now may have the terminal: the main thread, outside a background refresh."""
    return threading.current_thread() is threading.main_thread() and not workers.in_background()


def run_for_stdout(argv: list[str], *, limit: int = MFA_OUTPUT_LIMIT, foreground: bool | None = None) -> str:
    """Run ``argv`` and return what it printed (at most ``limit`` bytes), if it exited with 0.

    ``foreground`` (default: `in_foreground`) gives it the terminal's stdin;
    otherwise its stdin is ``/dev/null`` and it runs in a process group of
    its own, killed with what it started when the read ends.
    """
    name = argv[0]
    if foreground is None:
        foreground = in_foreground()
    try:
        process = subprocess.Popen(
            argv, stdin=None if foreground else subprocess.DEVNULL, stdout=subprocess.PIPE,
            **({} if foreground else _own_process_group()),
        )  # fmt: skip
    except FileNotFoundError:
        raise SecretCommandError(f"{name}: command not found") from None
    except PermissionError:
        raise SecretCommandError(f"{name}: permission denied") from None
    except OSError as exc:
        raise SecretCommandError(f"{name} could not be run ({exc.strerror or type(exc).__name__})") from None
    deadline = time.monotonic() + COMMAND_TIMEOUT
    try:
        output = read_bounded(process, name, limit, deadline)
        status = process.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise SecretCommandError(f"{name} did not finish within {COMMAND_TIMEOUT:.0f} s") from None
    finally:
        _end(process, group=not foreground)
    if status != 0:
        raise SecretCommandError(f"{name} exited with status {status}")
    return output.decode("utf-8", "replace")


def _own_process_group() -> dict[str, Any]:
    if sys.platform == "win32":
        return {}
    if sys.version_info >= (3, 11):
        return {"process_group": 0}
    return {"preexec_fn": os.setpgrp}  # pragma: no cover - Python 3.10


def read_bounded(process: subprocess.Popen[bytes], name: str, limit: int, deadline: float) -> bytes:
    """Read stdout until EOF, or the command's exit plus `EXIT_GRACE`; at most ``limit`` bytes.

    Raises `TooMuchOutput` when the command prints more than ``limit``, and
    ``subprocess.TimeoutExpired`` at ``deadline`` (``time.monotonic()``).
    (``rolesession cache`` reads its helpers the same way, in ``cli/process_cache.py``.)
    """
    assert process.stdout is not None
    if sys.platform == "win32":  # no select() on pipes: a plain bounded read
        data = process.stdout.read(limit + 1)
        if len(data) > limit:
            raise TooMuchOutput(f"{name} printed more than {limit} bytes: not a secret it may give")
        return data
    fd = process.stdout.fileno()
    chunks: list[bytes] = []
    size = 0
    exited: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if exited is None and process.poll() is not None:
                exited = now
            if exited is not None and now >= exited + EXIT_GRACE:
                break  # what it left running holds stdout: what it printed itself is here
            if now >= deadline:
                raise subprocess.TimeoutExpired(process.args, deadline - now)
            # Short waits: the command's exit is noticed even while a grandchild keeps the pipe open.
            if not selector.select(min(0.05, deadline - now)):
                continue
            data = os.read(fd, 65536)
            if not data:
                break
            size += len(data)
            if size > limit:
                raise TooMuchOutput(f"{name} printed more than {limit} bytes: not a secret it may give")
            chunks.append(data)
    return b"".join(chunks)


def _end(process: subprocess.Popen[bytes], *, group: bool) -> None:
    """Kill the command if it still runs (and, with ``group``, everything it started); reap it."""
    if group and sys.platform != "win32":
        with suppress(OSError):  # the whole group is gone already
            os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.kill()
    process.wait()
    assert process.stdout is not None
    process.stdout.close()


class CommandMfaCode:
    """A zero-argument callable running a command (`mfa_from_command`, ``--mfa-command``,
    a profile's ``mfa_process``) for a fresh code at each STS call."""

    def __init__(self, command: str, option: str = "command") -> None:
        self.argv = split_command(command, option)

    def __call__(self) -> str:
        code = last_mfa_code(run_for_stdout(self.argv))
        if code is None:
            raise SecretCommandError(f"{self.argv[0]} printed no 6-digit MFA code")
        return code

    def __repr__(self) -> str:
        return f"CommandMfaCode({shlex.join(self.argv)!r})"


class PromptMfaCode:
    """Asks on the terminal (`mfa_prompt`; a profile's ``mfa_serial`` without ``mfa_process``).

    ``interactive = True`` tells the refresh engine a person is asked: it
    never calls this from a background refresh, serving the credentials it
    holds until they expire.
    """

    interactive = True

    def __init__(self, serial: str) -> None:
        self.serial = serial

    def __call__(self) -> str:
        code = getpass.getpass(f"MFA code for {self.serial}: ").strip()
        if last_mfa_code(code) != code:
            raise SecretCommandError("the MFA code typed is not 6 digits")
        return code

    def __repr__(self) -> str:
        return f"PromptMfaCode({self.serial!r})"


class CommandAssertion:
    """A zero-argument callable running a command (`saml_from_command`,
    ``--saml-assertion-command``) for a fresh assertion.

    ``cache_identity`` is the command line: it stands for the caller in the
    cache key, so a file cache can serve the next invocation without
    running the command (and signing in) again.
    """

    def __init__(self, command: str, option: str = "command") -> None:
        self.argv = split_command(command, option)
        self.cache_identity = "saml-assertion-command:" + shlex.join(self.argv)

    def __call__(self) -> str:
        assertion = "".join(run_for_stdout(self.argv, limit=SAML_OUTPUT_LIMIT).split())
        if not assertion:
            raise SecretCommandError(f"{self.argv[0]} printed no SAML assertion")
        return assertion

    def __repr__(self) -> str:
        return f"CommandAssertion({shlex.join(self.argv)!r})"


# -- the public providers ------------------------------------------------------------------


def mfa_from_command(command: str) -> Callable[[], str]:
    """An MFA code provider that runs ``command`` for a fresh code at each STS call.

    Pass it as ``mfa_token=`` (`assume_role`, `mfa_session`, `from_profile`):
    what a profile's ``mfa_process`` and the CLI's ``--mfa-command`` do. The
    command runs without a shell (``shlex``-split); the code is the last
    standalone 6-digit number it prints, so ``ykman oath accounts code`` and
    password-manager OTP commands work as they are. In the foreground (the
    main thread) it has the terminal, so a key can ask for a touch; anywhere
    else its stdin is ``/dev/null``. What it prints is read up to 64 KiB and
    120 s, and never logged or put in a message.

    Args:
        command: the command line, e.g. ``"ykman oath accounts code -s AWS:alice"``.

    Returns:
        A zero-argument callable returning a 6-digit code; it raises
        `SecretCommandError` when the command cannot give one.

    Raises:
        InvalidParameterError: ``command`` is not a string, is empty or cannot
            be split (unbalanced quotes); nothing runs yet.

    Example:
        ```python
        session = rolesession.assume_role(
            arn, mfa_serial=serial, mfa_token=rolesession.mfa_from_command("ykman oath accounts code -s AWS")
        )
        ```
    """
    return CommandMfaCode(command)


def mfa_prompt(serial: str) -> Callable[[], str]:
    """An MFA code provider that asks on the terminal (``getpass``), once per STS call.

    The refresh engine knows a person is asked: it never calls this provider
    from a background refresh, and serves the credentials it holds until they
    expire. What a profile's ``mfa_serial`` without ``mfa_process`` does on a
    terminal.

    Args:
        serial: the MFA device (serial number or ARN) the prompt names.

    Returns:
        A zero-argument callable returning the 6 digits typed; it raises
        `SecretCommandError` when what was typed is not 6 digits.

    Raises:
        InvalidParameterError: ``serial`` is not a valid MFA device serial number or ARN.

    Example:
        ```python
        session = rolesession.mfa_session(serial, rolesession.mfa_prompt(serial))
        ```
    """
    return PromptMfaCode(check_mfa_serial(serial, "serial"))


def saml_from_command(command: str) -> Callable[[], str]:
    """A SAML assertion provider that runs ``command`` for a fresh base64 SAML response.

    Pass it as ``assertion=`` to `assume_role_with_saml`: what the CLI's
    ``--saml-assertion-command`` does. The command runs without a shell; its
    output, whitespace removed, is the assertion (read up to 128 KiB and
    120 s, never logged). The command line stands for the caller in the
    cache key, so a `FileCache` serves the next process without running the
    command (and signing in) again.

    Args:
        command: the command line printing the assertion.

    Returns:
        A zero-argument callable returning the assertion; it raises
        `SecretCommandError` when the command cannot give one.

    Raises:
        InvalidParameterError: ``command`` is not a string, is empty or cannot
            be split; nothing runs yet.

    Example:
        ```python
        session = rolesession.assume_role_with_saml(
            arn, principal_arn, assertion=rolesession.saml_from_command("saml2aws-print --base64")
        )
        ```
    """
    return CommandAssertion(command)


SecretCommandError.__module__ = "rolesession"
