"""The CLI exports only a region it was given or found configured (SPEC "Meeting the user's setup":
"No region is invented ... the CLI exports only a region it was given or found configured").

With no ``--region``, no ``AWS_REGION``/``AWS_DEFAULT_REGION`` and no profile region, the
``env`` output, ``exec``'s command and ``exec --server``'s command get no region variable (plain
boto3 would have ``region_name None`` there too); given one, they all get it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROLE

REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")
CHILD = (
    "import json, os, boto3; print(json.dumps({'env': {k: os.environ[k] for k in "
    "('AWS_REGION', 'AWS_DEFAULT_REGION') if k in os.environ}, 'boto3': boto3.Session().region_name}))"
)


def cli(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rolesession", *argv], capture_output=True, text=True, timeout=120,
        env=env, check=False,
    )  # fmt: skip


@pytest.fixture
def no_region(tmp_path: Path) -> dict[str, str]:
    """The environment with no region anywhere (no variable, no profile region)."""
    env = {k: v for k, v in os.environ.items() if k not in REGION_VARIABLES}
    (tmp_path / "aws-config").write_text("[default]\noutput = json\n")
    env["AWS_CONFIG_FILE"] = str(tmp_path / "aws-config")
    return env


def exported(stdout: str) -> dict[str, str]:
    values = {}
    for line in stdout.splitlines():
        word, *rest = shlex.split(line)
        if word == "export":
            name, _, value = rest[0].partition("=")
            values[name] = value
    return values


def test_env_output_has_no_region_when_none_is_configured(
    moto_server: str, no_region: dict[str, str]
) -> None:
    done = cli("assume", ROLE, "--sts-endpoint-url", moto_server, env=no_region)
    assert done.returncode == 0, done.stderr
    values = exported(done.stdout)
    assert values["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert not set(REGION_VARIABLES) & set(values)  # not us-east-1, not empty


@pytest.mark.parametrize(
    ("given", "extra_env"),
    [
        (["--region", "eu-west-3"], {}),
        ([], {"AWS_REGION": "eu-west-3"}),
        ([], {"AWS_DEFAULT_REGION": "eu-west-3"}),
    ],
)
def test_env_output_exports_a_region_given_or_configured(
    given: list[str], extra_env: dict[str, str], moto_server: str, no_region: dict[str, str]
) -> None:
    done = cli("assume", ROLE, "--sts-endpoint-url", moto_server, *given, env={**no_region, **extra_env})
    assert done.returncode == 0, done.stderr
    values = exported(done.stdout)
    assert values["AWS_REGION"] == values["AWS_DEFAULT_REGION"] == "eu-west-3"


def test_a_profile_region_is_exported(moto_server: str, no_region: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "aws-config").write_text("[default]\nregion = ap-south-1\n")
    done = cli("assume", ROLE, "--sts-endpoint-url", moto_server, env=no_region)
    assert done.returncode == 0, done.stderr
    assert exported(done.stdout)["AWS_REGION"] == "ap-south-1"


@pytest.mark.parametrize("server", [[], ["--server"], ["--imds"]], ids=["environment", "server", "imds"])
def test_exec_children_get_no_invented_region(
    server: list[str], moto_server: str, no_region: dict[str, str]
) -> None:
    done = cli("exec", ROLE, "--sts-endpoint-url", moto_server, *server, "--", sys.executable, "-c", CHILD,
               env=no_region)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"env": {}, "boto3": None}
    with_region = cli("exec", ROLE, "--sts-endpoint-url", moto_server, "--region", "eu-west-3", *server, "--",
                      sys.executable, "-c", CHILD, env=no_region)  # fmt: skip
    assert with_region.returncode == 0, with_region.stderr
    assert json.loads(with_region.stdout) == {
        "env": {"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "eu-west-3"},
        "boto3": "eu-west-3",
    }


def test_json_and_credential_process_output_carry_no_region(
    moto_server: str, no_region: dict[str, str]
) -> None:
    for fmt in ("json", "credential-process"):
        done = cli("assume", ROLE, "--sts-endpoint-url", moto_server, "--format", fmt, env=no_region)
        assert done.returncode == 0, done.stderr
        assert "region" not in done.stdout.lower()
