"""The command line teaches itself: examples, exit codes, environment, cache location, docs link."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rolesession.cli import main
from rolesession.cli.parser import parse_args

ROLE = "arn:aws:iam::123456789012:role/Reader"


def help_text(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "rolesession", *argv, "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_main_help_has_examples_exit_codes_environment_cache_and_docs(tmp_path):
    text = help_text()
    expected = ["examples:", "rolesession assume", "rolesession exec", "exit codes:", "  3  no source"]
    expected += ["environment:", "AWS_PROFILE", "AWS_REGION", "XDG_CACHE_HOME", "documentation: https://"]
    for part in expected:
        assert part in text, part
    cache_home = tmp_path / "xdg"
    done = subprocess.run(
        [sys.executable, "-m", "rolesession", "--help"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "XDG_CACHE_HOME": str(cache_home)},
    )  # fmt: skip
    assert str(cache_home / "rolesession") in done.stdout  # where this machine's cache is


@pytest.mark.parametrize("command", ["assume", "exec", "whoami"])
def test_every_subcommand_shows_examples_and_exit_codes(command):
    text = help_text(command)
    assert "examples:" in text and f"rolesession {command}" in text.split("examples:")[1]
    assert "exit codes:" in text and "documentation: https://" in text


def test_whoami_lists_only_the_options_it_uses():
    text = help_text("whoami")
    for used in ("--profile", "--region", "--session-name", "--mfa-serial", "--external-id", "--no-cache"):
        assert used in text
    unused_options = ["--duration", "--policy", "--policy-arn", "--tag", "--source-identity"]
    for unused in [*unused_options, "--format", "--server"]:
        assert unused not in text, unused
    assert main(["whoami", ROLE, "--duration", "900"]) == 2  # refused, not silently ignored


def test_verbose_is_taken_before_or_after_the_command():
    assert parse_args(["-v", "whoami"]).verbose is True
    assert parse_args(["whoami", "-v"]).verbose is True
    assert parse_args(["whoami"]).verbose is False
    assert parse_args(["-v", "assume", ROLE]).verbose is True
    assert parse_args(["-v", "exec", ROLE, "--", "true"]).verbose is True


def test_verbose_before_the_command_logs_the_sts_calls(moto_server):
    done = subprocess.run(
        [sys.executable, "-m", "rolesession", "-v", "assume", ROLE, "--sts-endpoint-url", moto_server,
         "--no-cache"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "AssumeRole" in done.stderr and ROLE in done.stderr
