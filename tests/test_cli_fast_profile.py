"""``assume --profile NAME`` answered from the hand-out memo, without boto3, only where certain.

The memo of a ``--profile`` run lists the entries the full path itself read
and wrote (its keys are computed by ``from_profile`` alone), under a key over
the arguments, the ``AWS_*`` variables and the shared files as they are on
disk. Only a role profile walking to static keys, with nothing on the way
that may answer differently next time (a helper, SSO, web identity,
``credential_source``) or needs a person (MFA), gets one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rolesession import FileCache
from rolesession.cli import fast

ROLE = "arn:aws:iam::123456789012:role/ProfileFast"
ROLE2 = "arn:aws:iam::123456789012:role/ProfileFastNext"
KEY = "AKIABASEPROFILEKEY01"
SECRET = "base-secret-base-secret-base-secret-1234"
CREDENTIALS = f"[base]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
ONE_HOP = f"[profile admin]\nrole_arn = {ROLE}\nsource_profile = base\nregion = eu-west-1\n"
TWO_HOPS = (
    f"[profile hub]\nrole_arn = {ROLE}\nsource_profile = base\n"
    f"[profile target]\nrole_arn = {ROLE2}\nsource_profile = hub\nrole_session_name = fast\n"
)

RUN = (
    "import json, sys\n"
    "from rolesession.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "print(json.dumps(sorted(m for m in ('boto3', 'botocore') if m in sys.modules)), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


@pytest.fixture
def files(monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    config, credentials = Path(os.environ["AWS_CONFIG_FILE"]), Path(os.environ["AWS_SHARED_CREDENTIALS_FILE"])
    credentials.write_text(CREDENTIALS, encoding="utf-8")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)  # the profile is the source
    return config, credentials


def cli(*argv: str) -> tuple[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", RUN, *argv], capture_output=True, text=True, timeout=120, env=dict(os.environ)
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stderr.strip().splitlines()[-1])
    return done.stdout, loaded


def memos() -> list[dict[str, Any]]:
    directory = Path(os.environ["XDG_CACHE_HOME"]) / "rolesession"
    found = (FileCache().get(p.stem) for p in directory.glob("*.json"))
    return [entry for entry in found if entry is not None and "HandOut" in entry]


@pytest.mark.parametrize(
    ("config", "profile", "more"),
    [
        pytest.param(ONE_HOP, "admin", (), id="one-hop"),
        pytest.param(TWO_HOPS, "target", ("--format", "env", "--region", "us-east-1"), id="two-hops"),
        pytest.param(ONE_HOP, "admin", (ROLE2, "--session-name", "chained"), id="role-arns-chain-on"),
    ],
)
def test_a_static_key_role_profile_is_answered_from_the_memo(
    moto_server: str, files: tuple[Path, Path], config: str, profile: str, more: tuple[str, ...]
) -> None:
    files[0].write_text(config, encoding="utf-8")
    argv = ["assume", "--profile", profile, "--sts-endpoint-url", moto_server, "--format", "json", *more]
    full, loaded = cli(*argv)
    assert loaded == ["boto3", "botocore"]
    [memo] = memos()
    assert memo["Credentials"]["SecretAccessKey"] == ""
    cached, loaded = cli(*argv)
    assert loaded == []
    assert cached == full


def test_rotated_keys_in_the_credentials_file_are_a_miss(moto_server: str, files: tuple[Path, Path]) -> None:
    files[0].write_text(ONE_HOP, encoding="utf-8")
    argv = ["assume", "--profile", "admin", "--sts-endpoint-url", moto_server, "--format", "json"]
    held, _ = cli(*argv)
    files[1].write_text(CREDENTIALS.replace(KEY, "AKIAROTATEDPROFILE01"), encoding="utf-8")
    answer, loaded = cli(*argv)
    assert loaded == ["boto3", "botocore"]
    assert json.loads(answer)["AccessKeyId"] != json.loads(held)["AccessKeyId"]  # another caller


def test_a_changed_config_file_is_a_miss(moto_server: str, files: tuple[Path, Path]) -> None:
    files[0].write_text(ONE_HOP, encoding="utf-8")
    argv = ["assume", "--profile", "admin", "--sts-endpoint-url", moto_server, "--format", "env"]
    cli(*argv)
    files[0].write_text(ONE_HOP.replace("eu-west-1", "eu-central-1"), encoding="utf-8")
    answer, loaded = cli(*argv)
    assert loaded == ["boto3", "botocore"]  # another file: another key, the full path answers
    assert "AWS_ACCESS_KEY_ID=" in answer


def test_a_helper_as_the_source_gets_no_memo(
    moto_server: str, files: tuple[Path, Path], tmp_path: Path
) -> None:
    helper = tmp_path / "helper.py"
    document = {"Version": 1, "AccessKeyId": KEY, "SecretAccessKey": SECRET}
    helper.write_text(f"import json; print(json.dumps({document!r}))", encoding="utf-8")
    files[0].write_text(
        f"[profile proc]\ncredential_process = {sys.executable} {helper}\n"
        f"[profile viaproc]\nrole_arn = {ROLE}\nsource_profile = proc\n",
        encoding="utf-8",
    )
    argv = ["assume", "--profile", "viaproc", "--sts-endpoint-url", moto_server, "--format", "json"]
    cli(*argv)
    assert memos() == []
    _, loaded = cli(*argv)
    assert loaded == ["boto3", "botocore"]


@pytest.mark.parametrize(
    "line",
    [
        "mfa_serial = arn:aws:iam::123456789012:mfa/alice",
        "credential_source = Environment",
        "web_identity_token_file = /tmp/token",
        "sso_session = corp",
    ],
)
def test_profiles_that_may_answer_otherwise_or_ask_a_person_are_not_certain(
    files: tuple[Path, Path], line: str
) -> None:
    files[0].write_text(ONE_HOP + line + "\n", encoding="utf-8")
    assert fast._static_role_profile("admin") is False
    files[0].write_text(ONE_HOP, encoding="utf-8")
    assert fast._static_role_profile("admin") is True


def test_an_entry_refreshed_during_the_run_gets_no_memo(
    moto_server: str,
    files: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two sets of credentials under one key in one run (a refresh behind the hand-out): the next
    hop's key may be another one now -- no memo."""
    from rolesession.cli import main

    files[0].write_text(TWO_HOPS, encoding="utf-8")
    argv = ["assume", "--profile", "target", "--sts-endpoint-url", moto_server, "--format", "json"]
    monkeypatch.setattr(fast, "_TOUCHED", {})
    monkeypatch.setattr(fast, "_HANDED_OUT", [])
    real = fast._touch

    def touch_twice(key: Any, entry: Any) -> None:
        real(key, entry)
        fast._TOUCHED.setdefault(key, set()).add("ASIASOMEOTHERKEY0001")

    monkeypatch.setattr(fast, "_touch", touch_twice)
    assert main(argv) == 0
    capsys.readouterr()
    assert memos() == []


def test_the_profiles_region_is_the_one_the_full_path_printed(
    moto_server: str, files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    files[0].write_text(ONE_HOP, encoding="utf-8")
    argv = ["assume", "--profile", "admin", "--sts-endpoint-url", moto_server, "--format", "env"]
    full, _ = cli(*argv)
    assert "AWS_REGION=eu-west-1" in full
    cached, loaded = cli(*argv)
    assert (cached, loaded) == (full, [])
