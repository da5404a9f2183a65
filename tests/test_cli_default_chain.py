"""The command line with no role: it serves what `rolesession.from_environment()` finds.

``assume`` and ``exec`` without a ROLE_ARN (and without ``--profile`` naming
a role profile) hand out the default chain's credentials on the engine --
e.g. a ``credential_process`` or SSO profile handed to a child that only
knows the container endpoint. Run as a user runs them: ``python -m
rolesession`` in a subprocess, with the environment the autouse fixture
prepared (fake source keys, no AWS files of the user's).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from default_chain_fakes import ProcessHelper
from helpers import SOURCE_KEY


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rolesession", *args], capture_output=True, text=True, timeout=120,
        env=env, check=False,
    )  # fmt: skip


@pytest.fixture
def helper_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProcessHelper:
    """``[profile helper]`` with a counting ``credential_process`` and no role."""
    helper = ProcessHelper(tmp_path / "helper")
    config = tmp_path / "config"
    config.write_text(f"[profile helper]\ncredential_process = {helper.command}\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    return helper


def test_assume_without_a_role_hands_out_the_environments_keys():
    done = cli("assume", "--format", "json", "--no-cache")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["AccessKeyId"] == SOURCE_KEY


def test_assume_with_a_profile_that_has_no_role_serves_its_credential_process(helper_profile):
    done = cli("assume", "--profile", "helper", "--format", "credential-process")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["Version"] == 1 and document["AccessKeyId"] == "ASIAPROCESSKEY0000"
    assert helper_profile.runs == 1
    again = cli("assume", "--profile", "helper", "--format", "credential-process")
    assert json.loads(again.stdout)["AccessKeyId"] == "ASIAPROCESSKEY0000"
    assert helper_profile.runs == 1  # the second run was served by the file cache


def test_exec_server_without_a_role_hands_a_profiles_helper_credentials_to_the_child(helper_profile):
    child = (
        "import boto3; s = boto3.Session(); c = s.get_credentials(); "
        "print(c.method, c.get_frozen_credentials().access_key, s.region_name)"
    )
    done = cli("exec", "--server", "--profile", "helper", "--", sys.executable, "-c", child,
               env={k: v for k, v in os.environ.items() if k != "AWS_DEFAULT_REGION"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The child knows only the container endpoint (and the profile's region), never the helper.
    assert done.stdout.split() == ["container-role", "ASIAPROCESSKEY0000", "eu-west-1"]
    assert helper_profile.runs == 1


@pytest.mark.parametrize("option", [["--duration", "1h"], ["--sts-endpoint-url", "http://127.0.0.1:9"]])
def test_role_options_without_a_role_exit_2_naming_them(option):
    done = cli("assume", *option)
    assert done.returncode == 2
    assert option[0] in done.stderr and "ROLE_ARN" in done.stderr
