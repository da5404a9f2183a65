"""SPEC "CLI" and CLI-side "Security" statements no other test file pins down."""

from __future__ import annotations

import hmac
import importlib.metadata
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import rolesession.cli
from helpers import ROLE
from rolesession.cli import main
from rolesession.cli.server import CredentialServer
from rolesession.testing import StsRecorder

CHILD = "import os; print(os.environ['AWS_ACCESS_KEY_ID'], os.environ['AWS_CREDENTIAL_EXPIRATION'])"


def test_the_rolesession_command_is_installed() -> None:
    """SPEC: "CLI (`rolesession`, also `python -m rolesession`)"."""
    [entry] = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == "rolesession"]
    assert entry.load() is rolesession.cli.main
    script = Path(sys.executable).parent / "rolesession"
    assert script.exists(), "the console script is missing from the environment"
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.startswith("rolesession ")


def test_the_endpoint_compares_the_token_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """SPEC: "requires a random 256-bit token in the Authorization header (raw ...;
    constant-time compare)"."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    with CredentialServer(lambda: {"AccessKeyId": "ASIAFAKE"}) as server:
        for token, status in (("wrong", 403), (server.token, 200)):
            request = urllib.request.Request(server.url, headers={"Authorization": token})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    assert response.status == status
            except urllib.error.HTTPError as exc:
                assert exc.code == status
    assert compared == [(b"wrong", server.token.encode()), (server.token.encode(), server.token.encode())]


def test_exec_refreshes_credentials_with_less_than_15_minutes_left_before_handing_them_out(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder, capfd: pytest.CaptureFixture[str]
) -> None:
    """SPEC: consumers of "environment variables" refresh with botocore's fixed windows, so
    ``exec`` refreshes first when less than 15 minutes are left."""
    assert main(["assume", ROLE, "--format", "json"]) == 0
    first = json.loads(capfd.readouterr().out)
    frozen.tick(1800)  # 30 min left: the cached set is handed out as it is
    assert main(["exec", ROLE, "--", sys.executable, "-c", CHILD]) == 0
    key, expiration = capfd.readouterr().out.split()
    assert (key, expiration) == (first["AccessKeyId"], first["Expiration"])
    assert sts_calls.count() == 1
    frozen.tick(1000)  # 13 min left: a child's botocore would call its provider at every request
    assert main(["exec", ROLE, "--", sys.executable, "-c", CHILD]) == 0
    key, _ = capfd.readouterr().out.split()
    assert key != first["AccessKeyId"]
    assert sts_calls.count() == 2


def test_exec_runs_the_command_with_the_same_environment_plus_the_credentials(
    sts_mock: None, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_SETTING", "kept")
    child = "import json, os; print(json.dumps(dict(os.environ)))"
    assert main(["exec", ROLE, "--region", "eu-west-3", "--", sys.executable, "-c", child]) == 0
    env = json.loads(capfd.readouterr().out)
    assert env["APP_SETTING"] == "kept"
    assert (
        env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
        and env["AWS_ACCESS_KEY_ID"] != os.environ["AWS_ACCESS_KEY_ID"]
    )
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-3"
    assert {"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION"} <= set(env)
