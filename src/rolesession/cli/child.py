"""Running ``exec``'s command: its exit code, forwarded signals, never an orphan."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from .errors import CliError

__all__ = ["FORWARDED", "TERMINAL_SIGNALS", "run_command"]

#: A child that ignores SIGTERM when the CLI fails gets SIGKILL this much later.
TERMINATE_GRACE = 5.0

#: Signals ``exec`` passes on to its command (those that exist on this platform).
FORWARDED = ("SIGINT", "SIGQUIT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2", "SIGWINCH")
#: Signals a terminal sends to its whole foreground process group: Ctrl-C,
#: Ctrl-\ and a window resize. The command is in our process group, so when
#: we are in the terminal's foreground group it got the signal as we did,
#: and passing it on would deliver it twice (a second Ctrl-C often means
#: "quit now" to a program that was shutting down cleanly).
TERMINAL_SIGNALS = ("SIGINT", "SIGQUIT", "SIGWINCH")


def run_command(command: list[str], env: dict[str, str]) -> int:
    """Run ``command``; its exit code (128 + N when killed by signal N).

    The command never outlives us: on Linux it gets SIGTERM when we die
    (even by SIGKILL), and if we fail while it runs we terminate it, then
    kill it.
    """
    # Handlers first: a signal arriving while the command starts is passed on
    # once it exists, instead of killing us and orphaning it.
    with _forwarding_signals() as forwarder:
        try:
            child = subprocess.Popen(command, env=env, preexec_fn=_parent_death_signal())
        except FileNotFoundError:
            raise CliError(f"cannot run {command[0]!r}: command not found") from None
        except OSError as exc:
            raise CliError(
                f"cannot run {command[0]!r}: {exc.strerror or type(exc).__name__}"
            ) from None
        try:
            forwarder.attach(child)
            status = child.wait()
        finally:
            _end(child)
    return 128 - status if status < 0 else status


def _end(child: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill, a command still running when we stop waiting for it."""
    if child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(TERMINATE_GRACE)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send the command SIGTERM when we die; ``None`` elsewhere.

    libc and ``prctl`` are looked up here, before the fork: the forked child
    of a threaded process should do as little as possible. The death signal
    is tied to the thread that forks, which is the main thread here.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def set_parent_death_signal() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # we died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return set_parent_death_signal


def from_terminal_possible() -> bool:
    """Whether we are in the foreground process group of our controlling terminal.

    Only then can a terminal-generated signal (Ctrl-C, Ctrl-\\, a resize)
    have reached us, and with us the command, which is in our group. No
    controlling terminal (a service, ``setsid``, CI), or a background job:
    the signal was sent to us alone (``kill``, a supervisor) and must be
    passed on.
    """
    try:
        fd = os.open("/dev/tty", os.O_RDONLY | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return False
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(fd)


class _Forwarder:
    """Passes signals to the command; holds those that arrive before it exists."""

    def __init__(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None
        self._pending: list[int] = []
        self._terminal = {getattr(signal, n) for n in TERMINAL_SIGNALS if hasattr(signal, n)}

    def attach(self, child: subprocess.Popen[bytes]) -> None:
        self._child = child
        while self._pending:
            self._send(self._pending.pop(0))

    def __call__(self, signum: int, _frame: Any) -> None:
        if signum in self._terminal and from_terminal_possible():
            return  # the command, in our process group, got it from the terminal too
        if self._child is None:
            self._pending.append(signum)
        else:
            self._send(signum)

    def _send(self, signum: int) -> None:
        assert self._child is not None
        with suppress(OSError):  # it has just exited
            self._child.send_signal(signum)


@contextmanager
def _forwarding_signals() -> Iterator[_Forwarder]:
    """Pass `FORWARDED` signals to the command and let it decide when to exit.

    We keep waiting for the command instead of dying first; its exit code
    becomes ours. `TERMINAL_SIGNALS` are passed on only when they cannot
    have come from the terminal (see `from_terminal_possible`). Handlers
    can only be set from the main thread; elsewhere (``main()`` called from
    a thread) signals keep their handlers.
    """
    forwarder = _Forwarder()
    if threading.current_thread() is not threading.main_thread():
        yield forwarder
        return
    signals = [getattr(signal, n) for n in FORWARDED if hasattr(signal, n)]
    previous = {s: signal.signal(s, forwarder) for s in signals}
    try:
        yield forwarder
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
