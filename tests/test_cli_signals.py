"""``rolesession exec`` passes signals on to its command and never orphans it (SPEC "Reliability
additions": "`exec` forwards SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGWINCH and never
orphans its child").

The CLI runs as a user runs it, against the loopback moto server, in a new
session (no controlling terminal: every signal it gets was sent to it alone).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import ROLE
from rolesession.cli import child as cli_child

FORWARDED = ["SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGHUP", "SIGQUIT", "SIGINT", "SIGTERM"]

RECORDER = r"""
import os, signal, sys, time
path, names = sys.argv[1], sys.argv[2:]

def record(signum, frame):
    with open(path, "a") as f:
        f.write(signal.Signals(signum).name + "\n")

for name in names:
    signal.signal(getattr(signal, name), record)
with open(path, "a") as f:
    f.write(f"ready {os.getpid()}\n")
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    time.sleep(0.02)
    with open(path) as f:
        seen = f.read().split()
    if all(name in seen for name in names):
        sys.exit(0)
sys.exit(9)
"""


def wait_for(condition: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie nobody reaped has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def cli_exec(moto_server: str, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(*command: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "rolesession", "exec", ROLE, "--sts-endpoint-url", moto_server,
             "--no-cache", "--", *command],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def test_exec_forwards_every_signal_to_its_command(
    cli_exec: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    record = tmp_path / "signals"
    cli = cli_exec(sys.executable, "-c", RECORDER, str(record), *FORWARDED)
    assert wait_for(lambda: record.exists() and "ready" in record.read_text()), cli.stderr

    received = []
    for name in FORWARDED:
        os.kill(cli.pid, getattr(signal, name))
        got = wait_for(lambda: name in record.read_text().split(), 10)  # noqa: B023
        received.append((name, got))
    assert received == [(name, True) for name in FORWARDED]
    _, err = cli.communicate(timeout=30)
    assert cli.returncode == 0  # the command's exit code: it decided when to exit
    assert "Traceback" not in err


def test_a_killed_cli_takes_its_command_along(
    cli_exec: Callable[..., subprocess.Popen[str]], tmp_path: Path
) -> None:
    record = tmp_path / "signals"
    cli = cli_exec(sys.executable, "-c", RECORDER, str(record), "SIGUSR1")  # ignores nothing
    assert wait_for(lambda: record.exists() and "ready" in record.read_text())
    child = int(record.read_text().split()[1])
    assert running(child)
    cli.kill()  # SIGKILL: no handler of ours runs
    cli.wait(10)
    assert wait_for(lambda: not running(child), 5), "the command outlived the CLI"


def test_a_cli_failing_while_the_command_runs_ends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    children: list[subprocess.Popen[bytes]] = []
    real_wait = subprocess.Popen.wait

    def failing_wait(self: subprocess.Popen[bytes], timeout: float | None = None) -> int:
        if timeout is None and not children:
            children.append(self)
            raise RuntimeError("the CLI failed while the command ran")
        return real_wait(self, timeout)

    monkeypatch.setattr(subprocess.Popen, "wait", failing_wait)
    with pytest.raises(RuntimeError):
        cli_child.run_command([sys.executable, "-c", "import time; time.sleep(60)"], dict(os.environ))
    [child] = children
    assert child.returncode == -signal.SIGTERM  # terminated, and reaped


def test_a_command_ignoring_sigterm_is_killed_when_the_cli_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_child, "TERMINATE_GRACE", 0.5)
    children: list[subprocess.Popen[bytes]] = []
    real_wait = subprocess.Popen.wait

    def failing_wait(self: subprocess.Popen[bytes], timeout: float | None = None) -> int:
        if timeout is None and not children:
            children.append(self)
            time.sleep(0.5)  # let it install its handler
            raise RuntimeError("the CLI failed while the command ran")
        return real_wait(self, timeout)

    monkeypatch.setattr(subprocess.Popen, "wait", failing_wait)
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    with pytest.raises(RuntimeError):
        cli_child.run_command([sys.executable, "-c", stubborn], dict(os.environ))
    assert children[0].returncode == -signal.SIGKILL


# -- SIGINT, SIGQUIT and SIGWINCH from a terminal --------------------------------------------------

IN_A_TERMINAL = r"""
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:  # a session leader, the pty its controlling terminal, in its foreground group
    from rolesession.cli.child import from_terminal_possible
    print("foreground:", from_terminal_possible(), flush=True)
    os._exit(0)
out = b""
while True:
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
os.waitpid(pid, 0)
sys.stdout.write(out.decode())
"""


def test_terminal_signals_are_passed_on_only_when_they_cannot_have_come_from_the_terminal() -> None:
    done = subprocess.run([sys.executable, "-c", IN_A_TERMINAL], capture_output=True, text=True,
                          timeout=30, check=True)  # fmt: skip
    assert "foreground: True" in done.stdout  # Ctrl-C reached the command too: not passed on
    check = "from rolesession.cli.child import from_terminal_possible as f; print(f())"
    alone = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True, text=True, timeout=30, check=True, start_new_session=True,
    )  # fmt: skip
    assert alone.stdout.strip() == "False"  # no terminal: whoever sent it meant us alone
    assert set(cli_child.TERMINAL_SIGNALS) == {"SIGINT", "SIGQUIT", "SIGWINCH"}


def test_a_signal_arriving_as_the_command_starts_is_passed_on(monkeypatch: pytest.MonkeyPatch) -> None:
    real_popen = subprocess.Popen

    def popen_then_signal(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        os.kill(os.getpid(), signal.SIGUSR1)  # before run_command has the child: held
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", popen_then_signal)
    ours: list[int] = []  # were it not taken over, the signal would land here, not kill pytest
    previous = signal.signal(signal.SIGUSR1, lambda signum, _: ours.append(signum))
    try:
        code = cli_child.run_command([sys.executable, "-c", "import time; time.sleep(5)"], dict(os.environ))
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert code == 128 + signal.SIGUSR1  # passed on at once: killed by SIGUSR1's default action
    assert ours == []
