"""The public secret providers: `mfa_from_command`, `mfa_prompt`, `saml_from_command`, `SecretCommandError`.

What a profile's ``mfa_process`` and the CLI's ``--mfa-command``,
``--saml-assertion-command`` and prompt do, as library API (the commands'
lanes -- stdin, bounds, grandchildren -- are in ``test_cli_secret_commands.py``).
"""

from __future__ import annotations

import getpass
import pickle
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

import rolesession
from helpers import MFA_SERIAL, ROLE
from rolesession.testing import StsRecorder
from tokens import make_saml_response

PRINCIPAL = "arn:aws:iam::123456789012:saml-provider/ExampleIdP"


def printing(text: str) -> str:
    return shlex.join([sys.executable, "-c", f"print({text!r})"])


def test_mfa_from_command_sends_the_last_code_the_command_prints(
    sts_mock: None, sts_calls: StsRecorder
) -> None:
    provider = rolesession.mfa_from_command(printing("AWS:old  111111\nAWS:alice  424242"))
    session = rolesession.assume_role(ROLE, mfa_serial=MFA_SERIAL, mfa_token=provider, cache=None)
    session.identity()
    assert sts_calls.params(0)["TokenCode"] == "424242"


def test_mfa_from_command_is_asked_again_at_each_sts_call(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    script = (
        f"import pathlib; p = pathlib.Path({str(counter)!r}); "
        "n = int(p.read_text()) + 1 if p.exists() else 1; p.write_text(str(n)); print(f'{n:06d}')"
    )
    provider = rolesession.mfa_from_command(shlex.join([sys.executable, "-c", script]))
    assert [provider(), provider()] == ["000001", "000002"]


@pytest.mark.parametrize("command", ["", "   ", "otp 'unbalanced", 42, None])
def test_a_command_that_cannot_run_is_an_invalid_parameter_before_anything_runs(command: Any) -> None:
    for make in (rolesession.mfa_from_command, rolesession.saml_from_command):
        with pytest.raises(rolesession.InvalidParameterError) as info:
            make(command)
        assert info.value.parameter == "command"


def test_a_failing_command_is_a_secret_command_error_that_never_shows_the_output() -> None:
    with pytest.raises(rolesession.SecretCommandError, match="exited with status 3"):
        rolesession.mfa_from_command(shlex.join([sys.executable, "-c", "print('123456'); exit(3)"]))()
    with pytest.raises(rolesession.SecretCommandError, match="no 6-digit") as info:
        rolesession.mfa_from_command(printing("pin 98765432"))()
    assert "98765432" not in str(info.value)
    with pytest.raises(rolesession.SecretCommandError, match="command not found"):
        rolesession.saml_from_command("/nonexistent/saml-tool")()


def test_through_the_library_a_command_failure_is_a_token_error_caused_by_it(sts_mock: None) -> None:
    provider = rolesession.mfa_from_command("false")
    session = rolesession.assume_role(ROLE, mfa_serial=MFA_SERIAL, mfa_token=provider, cache=None)
    with pytest.raises(rolesession.TokenError) as info:
        session.identity()
    assert isinstance(info.value.__cause__, rolesession.SecretCommandError)


def test_secret_command_error_is_a_picklable_library_error() -> None:
    error = rolesession.SecretCommandError("otp exited with status 1")
    assert isinstance(error, rolesession.RoleSessionError)
    assert type(error).__module__ == "rolesession"
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is rolesession.SecretCommandError and str(again) == str(error)


def test_saml_from_command_gives_the_assertion_and_keys_the_cache_by_its_command_line(
    tmp_path: Path, sts_mock: None, sts_calls: StsRecorder
) -> None:
    response = make_saml_response(ROLE, PRINCIPAL)
    wrapped = "\n".join(response[i : i + 76] for i in range(0, len(response), 76))
    script = tmp_path / "saml.txt"
    script.write_text(wrapped)
    command = shlex.join([sys.executable, "-c", f"print(open({str(script)!r}).read())"])
    provider = rolesession.saml_from_command(command)
    assert provider() == response  # the base64 with its line breaks taken out
    assert getattr(provider, "cache_identity", "").endswith(command)
    cache = rolesession.MemoryCache()
    first = rolesession.assume_role_with_saml(ROLE, PRINCIPAL, assertion=provider, cache=cache)
    first.identity()
    # Another provider for the same command line is the same caller: served from the cache.
    again = rolesession.assume_role_with_saml(
        ROLE, PRINCIPAL, assertion=rolesession.saml_from_command(command), cache=cache
    )
    again.get_credentials().get_frozen_credentials()
    assert sts_calls.count("AssumeRoleWithSAML") == 1


def test_mfa_prompt_asks_on_the_terminal_and_checks_what_is_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    typed = iter(["123456 ", "12345"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or next(typed))
    provider = rolesession.mfa_prompt(MFA_SERIAL)
    assert getattr(provider, "interactive", False)  # never asked by a background refresh
    assert provider() == "123456"
    assert asked == [f"MFA code for {MFA_SERIAL}: "]
    with pytest.raises(rolesession.SecretCommandError, match="not 6 digits") as info:
        provider()
    assert "12345" not in str(info.value)


def test_mfa_prompt_checks_the_serial() -> None:
    with pytest.raises(rolesession.InvalidParameterError) as info:
        rolesession.mfa_prompt("short")
    assert info.value.parameter == "serial"


def test_a_prompt_is_not_used_by_a_background_refresh(
    monkeypatch: pytest.MonkeyPatch, sts_mock: None, frozen: Any, sts_calls: StsRecorder
) -> None:
    codes = iter(["111111", "222222"])
    monkeypatch.setattr(getpass, "getpass", lambda prompt: next(codes))
    prompt = rolesession.mfa_prompt(MFA_SERIAL)
    session = rolesession.mfa_session(MFA_SERIAL, prompt, duration=3600, cache=None)
    first = session.credentials()
    frozen.tick(3600 - 30 * 60)  # inside the advisory window: a background refresh would ask
    assert session.credentials(min_left=0) is first  # served as held; nobody was asked
    assert sts_calls.count("GetSessionToken") == 1
