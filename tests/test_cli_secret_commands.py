"""Secret commands (``--mfa-command``, ``--saml-assertion-command``, ``mfa_process``) stay in their lane.

Away from the foreground they get ``/dev/null`` for stdin (never the
answer a person typed for ``exec``'s command); their output is read up to
a bound; and a grandchild holding their stdout open does not hold the read.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import ACCOUNT, ROLE
from rolesession import SecretCommandError, mfa_from_command, saml_from_command
from rolesession.cli import main
from rolesession.testing import StsRecorder

MFA_SERIAL = f"arn:aws:iam::{ACCOUNT}:mfa/alice"
#: Prints the first line of its stdin, or 111111 when stdin is empty (``/dev/null``).
READS_STDIN = shlex.join(
    [sys.executable, "-c", "import sys; print(sys.stdin.readline().strip() or '111111')"]
)


def in_thread(fn: Any) -> Any:
    """``fn()``'s result or exception, called from a thread other than the main one."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    assert not thread.is_alive()
    if "error" in box:
        raise box["error"]
    return box["result"]


def test_away_from_the_foreground_a_command_reads_dev_null_not_the_terminal() -> None:
    # A process whose stdin holds what a person typed (for exec's command, say).
    program = textwrap.dedent(
        f"""
        import json, threading
        from rolesession import mfa_from_command
        provider = mfa_from_command({READS_STDIN!r})
        away = []
        thread = threading.Thread(target=lambda: away.append(provider()))
        thread.start(); thread.join()
        print(json.dumps({{"away": away[0], "foreground": provider()}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], input="999999\n", capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The thread's command saw /dev/null; the main thread's kept stdin (prompts work there).
    assert json.loads(done.stdout) == {"away": "111111", "foreground": "999999"}


def test_a_background_refresh_is_away_from_the_foreground(monkeypatch: pytest.MonkeyPatch) -> None:
    from rolesession import _secret_commands, _workers

    assert _secret_commands.in_foreground()
    monkeypatch.setattr(_workers, "in_background", lambda: True)
    assert not _secret_commands.in_foreground()


def test_a_flood_of_output_is_cut_at_the_bound_and_fails() -> None:
    # 14 MB of valid-looking codes (a ``yes 123456``): the command is killed at 64 KiB.
    flood = shlex.join(
        [sys.executable, "-c", "import sys\nfor _ in range(2_000_000): sys.stdout.write('123456\\n')"]
    )
    with pytest.raises(SecretCommandError, match="more than 65536 bytes") as info:
        mfa_from_command(flood)()
    assert "123456" not in str(info.value)
    with pytest.raises(SecretCommandError, match="more than 65536 bytes"):
        in_thread(mfa_from_command(flood))


def test_yes_is_stopped_at_the_bound(tmp_path: Path) -> None:
    with pytest.raises(SecretCommandError, match="more than"):
        in_thread(mfa_from_command("yes 123456"))


def test_a_saml_command_may_print_a_full_assertion_but_not_more() -> None:
    # STS takes assertions up to 100,000 characters; wrapped base64 is a little longer.
    wrapped = "\\n".join(["QUFB" * 19] * 1300)  # 98,800 characters in 1,300 lines of 76
    fits = shlex.join([sys.executable, "-c", f"print('{wrapped}')"])
    assert len(saml_from_command(fits)()) == 98_800
    too_long = shlex.join([sys.executable, "-c", "print('QUFB' * 60_000)"])
    with pytest.raises(SecretCommandError, match="more than 131072 bytes"):
        saml_from_command(too_long)()


def grandchild_program(pid_file: Path) -> str:
    """A helper that prints its code and leaves a grandchild holding its stdout for 5 minutes."""
    return shlex.join([sys.executable, "-c", textwrap.dedent(
        f"""
        import subprocess, sys
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        open({str(pid_file)!r}, "w").write(str(sleeper.pid))
        print("123456", flush=True)
        """
    )])  # fmt: skip


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes (reaped by init later).
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(sys.platform == "win32", reason="process groups")
def test_a_grandchild_holding_stdout_does_not_hold_the_read(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    started = time.monotonic()
    # Away from the foreground: the command's process group is killed with it.
    assert in_thread(mfa_from_command(grandchild_program(pid_file))) == "123456"
    assert time.monotonic() - started < 120  # the grandchild sleeps 300 s (load-proof bound)
    grandchild = int(pid_file.read_text())
    for _ in range(200):
        if not alive(grandchild):
            break
        time.sleep(0.05)
    assert not alive(grandchild)


@pytest.mark.skipif(sys.platform == "win32", reason="process groups")
def test_in_the_foreground_a_grandchild_does_not_hold_the_read_either(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    started = time.monotonic()
    try:
        assert mfa_from_command(grandchild_program(pid_file))() == "123456"
        assert time.monotonic() - started < 120
    finally:  # in the terminal's process group, it is left running: end it here
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), 9)


def test_a_flooding_mfa_command_is_a_token_error_exit_5(
    sts_mock: None, sts_calls: StsRecorder, capsys: pytest.CaptureFixture[str]
) -> None:
    flood = shlex.join([sys.executable, "-c", "print('123456\\n' * 100_000)"])
    code = main(["assume", ROLE, "--mfa-serial", MFA_SERIAL, "--mfa-command", flood, "--no-cache"])
    err = capsys.readouterr().err
    assert code == 5
    assert "more than 65536 bytes" in err and err.count("\n") == 1
    assert sts_calls.count() == 0


def test_the_cli_prompt_holds_back_while_it_may_not_ask(monkeypatch: pytest.MonkeyPatch) -> None:
    import getpass

    from rolesession.cli.secret_commands import HeldPrompt

    asked: list[str] = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or "654321")
    allowed = [False]
    prompt = HeldPrompt(MFA_SERIAL, lambda: allowed[0])
    assert prompt.interactive  # the engine never asks it from a background refresh
    with pytest.raises(SecretCommandError, match="not asking for the MFA code while the command runs"):
        prompt()
    assert asked == []  # the terminal was left to exec's command
    allowed[0] = True
    assert prompt() == "654321" and asked == [f"MFA code for {MFA_SERIAL}: "]


def test_a_bad_command_line_is_a_usage_error_naming_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["assume", ROLE, "--mfa-serial", MFA_SERIAL, "--mfa-command", "otp 'unbalanced"])
    assert code == 2
    assert "--mfa-command: cannot parse the command line" in capsys.readouterr().err
