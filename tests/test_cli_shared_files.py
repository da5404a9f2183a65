"""``exec``'s command signs as the role whatever the user's ``~/.aws`` files hold (SPEC "Meeting
the user's setup": "under `exec`, `exec --server` ... the child's SDK cannot find the user's own
credentials in the shared files"; `exec --imds` too).

Each test runs the CLI as a user does and a *real* boto3 child against the loopback moto
server, and asks the child which key signed. The user's files hold a ``[default]`` with static
keys, a ``[default]`` ``credential_process``, an SSO ``[default]``, or a ``[profile x]`` named by
``AWS_PROFILE``; the child must see the role's credentials and the profile's other settings.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import ACCOUNT, ROLE, SOURCE_KEY
from rolesession.cli.shared_files import child_settings, is_credential_key, render

USER_KEY = "AKIAUSERDEFAULTKEY01"

CHILD = """
import json, os, stat, sys
import boto3
session = boto3.Session()
credentials = session.get_credentials()
config = os.environ["AWS_CONFIG_FILE"]
report = {
    "method": credentials.method,
    "access_key": credentials.get_frozen_credentials().access_key,
    "arn": session.client("sts", endpoint_url=sys.argv[1], region_name="us-east-1")
        .get_caller_identity()["Arn"],
    "region": session.region_name,
    "max_attempts": session._session.get_config_variable("max_attempts"),
    "s3_endpoint": session.client("s3", region_name="us-east-1").meta.endpoint_url,
    "profile_variables": [k for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE") if k in os.environ],
    "config": open(config).read(),
    "credentials": open(os.environ["AWS_SHARED_CREDENTIALS_FILE"]).read(),
    "modes": [stat.S_IMODE(os.stat(p).st_mode) for p in
              (config, os.environ["AWS_SHARED_CREDENTIALS_FILE"], os.path.dirname(config))],
}
print(json.dumps(report))
"""

#: The settings every scenario's profile also holds: the child must keep them.
SETTINGS = "max_attempts = 7\nservices = local\n"
SERVICES = "\n[services local]\ns3 =\n  endpoint_url = http://127.0.0.1:9\n"


def helper_script(tmp_path: Path) -> str:
    """A ``credential_process`` handing out the user's key; leaves a marker when it runs."""
    script = tmp_path / "helper.py"
    document = {"Version": 1, "AccessKeyId": USER_KEY, "SecretAccessKey": "user-secret"}
    script.write_text(
        f"open({str(tmp_path / 'helper-ran')!r}, 'w').close()\nprint({json.dumps(document)!r})\n"
    )
    return shlex.join([sys.executable, str(script)])


def user_files(scenario: str, tmp_path: Path) -> dict[str, str]:
    """Write the user's ~/.aws files for ``scenario``; the environment that goes with them."""
    config, credentials, env = "", "", {}
    keys = f"aws_access_key_id = {USER_KEY}\naws_secret_access_key = user-secret\n"
    if scenario == "default-keys":
        credentials = f"[default]\n{keys}"
        config = f"[default]\nregion = eu-west-2\n{SETTINGS}{SERVICES}"
    elif scenario == "default-credential-process":
        helper = helper_script(tmp_path)
        config = f"[default]\ncredential_process = {helper}\nregion = eu-west-2\n{SETTINGS}{SERVICES}"
    elif scenario == "default-sso":
        config = (
            "[default]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Admin\n"
            f"region = eu-west-2\n{SETTINGS}{SERVICES}"
            "\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\n"
        )
    elif scenario == "profile-x":
        config = f"[profile x]\n{keys}region = eu-west-2\n{SETTINGS}{SERVICES}\n[default]\n{keys}"
        env["AWS_PROFILE"] = "x"
    (tmp_path / "aws-config").write_text(config)
    (tmp_path / "aws-credentials").write_text(credentials)
    env["AWS_CONFIG_FILE"] = str(tmp_path / "aws-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "aws-credentials")
    return env


def run_exec(moto_server: str, tmp_path: Path, env: dict[str, str], *options: str) -> dict[str, Any]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    base = {k: v for k, v in os.environ.items() if k not in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    done = subprocess.run(
        [sys.executable, "-m", "rolesession", "exec", ROLE, "--sts-endpoint-url", moto_server, "--no-cache",
         *options, "--", sys.executable, str(script), moto_server],
        capture_output=True, text=True, timeout=120, env={**base, **env}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


METHODS = {"--server": "container-role", "--imds": "iam-role", "": "env"}


@pytest.mark.parametrize("mode", ["--server", "--imds", ""], ids=["server", "imds", "environment"])
@pytest.mark.parametrize(
    "scenario", ["default-keys", "default-credential-process", "default-sso", "profile-x"]
)
def test_the_child_signs_as_the_role_whatever_the_users_files_hold(
    scenario: str, mode: str, moto_server: str, tmp_path: Path
) -> None:
    env = user_files(scenario, tmp_path)
    report = run_exec(moto_server, tmp_path, env, *([mode] if mode else []))
    assert report["method"] == METHODS[mode]
    assert report["access_key"].startswith("ASIA")
    assert report["access_key"] not in (USER_KEY, SOURCE_KEY)
    assert report["arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/")
    assert not (tmp_path / "helper-ran").exists()  # the user's credential_process never ran
    # The profile's other settings are the child's still; no key leading to credentials is.
    assert report["max_attempts"] == 7
    assert report["s3_endpoint"] == "http://127.0.0.1:9"
    assert report["profile_variables"] == []
    for secret in (USER_KEY, "user-secret", "credential_process", "sso_", "aws_access_key_id"):
        assert secret not in report["config"]
    assert report["credentials"] == ""
    assert report["modes"] == [0o600, 0o600, 0o700]


def test_the_files_are_removed_when_the_child_ends(moto_server: str, tmp_path: Path) -> None:
    env = user_files("default-keys", tmp_path)
    script = tmp_path / "where.py"
    script.write_text("import os; print(os.environ['AWS_CONFIG_FILE'])")
    done = subprocess.run(
        [sys.executable, "-m", "rolesession", "exec", ROLE, "--sts-endpoint-url", moto_server, "--no-cache",
         "--", sys.executable, str(script)],
        capture_output=True, text=True, timeout=120, env={**os.environ, **env}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    config = Path(done.stdout.strip())
    assert config.name == "config" and config != tmp_path / "aws-config"
    assert not config.parent.exists()


def test_the_profile_option_names_the_settings_the_child_gets(moto_server: str, tmp_path: Path) -> None:
    (tmp_path / "aws-config").write_text(
        "[default]\nregion = eu-west-2\nmax_attempts = 2\n"
        "[profile src]\naws_access_key_id = AKIASRCSRCSRCSRCSRC1\naws_secret_access_key = s\n"
        "region = ap-southeast-2\nmax_attempts = 7\nservices = local\n" + SERVICES
    )
    env = {
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no"),
    }
    report = run_exec(moto_server, tmp_path, env, "--profile", "src", "--server")
    assert report["arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/Reader/")
    assert report["region"] == "ap-southeast-2" and report["max_attempts"] == 7
    assert "AKIASRC" not in report["config"]


@pytest.mark.parametrize(
    ("key", "credential"),
    [("aws_access_key_id", True), ("aws_session_token", True), ("credential_process", True),
     ("credential_source", True), ("role_arn", True), ("source_profile", True), ("sso_session", True),
     ("sso_start_url", True), ("web_identity_token_file", True), ("mfa_serial", True),
     ("mfa_process", True), ("external_id", True), ("login_session", True), ("region", False),
     ("endpoint_url", False), ("ca_bundle", False), ("max_attempts", False), ("retry_mode", False),
     ("use_fips_endpoint", False), ("s3", False), ("services", False), ("sts_regional_endpoints", False)],
)  # fmt: skip
def test_which_keys_lead_to_credentials(key: str, credential: bool) -> None:
    assert is_credential_key(key) is credential


def test_settings_are_read_as_botocore_merges_the_two_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "c").write_text("[profile p]\nregion = eu-west-1\ns3 =\n  addressing_style = path\n")
    (tmp_path / "k").write_text(
        "[p]\naws_access_key_id = AKIAX\naws_secret_access_key = y\nregion = eu-north-1\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "c"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "k"))
    settings, services = child_settings("p")
    assert settings == {"region": "eu-north-1", "s3": {"addressing_style": "path"}}
    assert services == {}
    assert render(settings, services) == "[default]\nregion = eu-north-1\ns3 =\n  addressing_style = path\n"
    assert child_settings("nosuch") == ({}, {})


def test_env_output_unsets_the_profile_variables_the_shell_has(
    sts_mock: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rolesession.cli import main

    (tmp_path / "aws-config").write_text(
        f"[profile x]\naws_access_key_id = {USER_KEY}\naws_secret_access_key = user-secret\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_PROFILE", "x")
    assert main(["assume", ROLE, "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1] == "unset AWS_PROFILE"
    shell = subprocess.run(
        ["sh", "-c", 'eval "$1"; printf "%s|%s\\n" "${AWS_PROFILE-unset}" "$AWS_ACCESS_KEY_ID"', "sh", out],
        capture_output=True, text=True, check=True, env={**os.environ, "AWS_PROFILE": "x"},
    )  # fmt: skip
    profile, key = shell.stdout.strip().split("|")
    assert profile == "unset" and key.startswith("ASIA")
    monkeypatch.delenv("AWS_PROFILE")
    assert main(["assume", ROLE, "--no-cache"]) == 0
    assert "unset" not in capsys.readouterr().out  # nothing to unset: export lines only
