"""MFA codes and SAML assertions obtained by running the user's command (or asking).

Used by the CLI (``--mfa-command``, ``--saml-assertion-command``, the
prompt) and by profiles (``mfa_process``, the prompt).

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

__all__ = [
    "CommandAssertion", "CommandError", "CommandMfaCode", "PromptMfaCode", "TooMuchOutput", "last_mfa_code",
    "read_bounded",
]

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


class CommandError(Exception):
    """The command could not give a secret; the message says why, never what it printed."""


class TooMuchOutput(CommandError):
    """The command printed more than it may (`read_bounded`'s ``limit``)."""


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
        raise CommandError(f"{name}: command not found") from None
    except PermissionError:
        raise CommandError(f"{name}: permission denied") from None
    except OSError as exc:
        raise CommandError(f"{name} could not be run ({exc.strerror or type(exc).__name__})") from None
    deadline = time.monotonic() + COMMAND_TIMEOUT
    try:
        output = read_bounded(process, name, limit, deadline)
        status = process.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        raise CommandError(f"{name} did not finish within {COMMAND_TIMEOUT:.0f} s") from None
    finally:
        _end(process, group=not foreground)
    if status != 0:
        raise CommandError(f"{name} exited with status {status}")
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
    Also used for ``rolesession cache``'s helpers.
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
        assertion = "".join(run_for_stdout(self.argv, limit=SAML_OUTPUT_LIMIT).split())
        if not assertion:
            raise CommandError(f"{self.argv[0]} printed no SAML assertion")
        return assertion

    def __repr__(self) -> str:
        return f"CommandAssertion({shlex.join(self.argv)!r})"
