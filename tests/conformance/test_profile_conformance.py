"""``from_profile`` against botocore-native resolution, request by request.

Every scenario of ``scenarios.py`` is resolved by ``boto3.Session(profile_name=X)``
and by ``rolesession.from_profile(X)``, each followed by an STS
``GetCallerIdentity`` through the session it returned; every outgoing request
is compared (see ``harness``). A scenario is "same", or shows exactly the
deliberate differences it names -- rows of the table in docs/profiles.md,
whose normalisers below undo them; anything else fails.

``CONFORMANCE_REPORT=<file>`` appends each scenario's verdict (one JSON line):
the counts same / documented / differ quoted in the docs come from it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

import rolesession
from helpers import JsonServer, sso_role_credentials
from rolesession.testing import reset

from .harness import (
    BOTOCORE_SESSION_NAME,
    MFA_CODE,
    Recorder,
    Run,
    Scenario,
    Sent,
    python,
    set_environment,
    write_files,
)
from .scenarios import CONTAINER_KEY, IMDS_KEY, SCENARIOS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "profiles.md"


# -- the two sides -------------------------------------------------------------------------------------


def run_native(scenario: Scenario, recorder: Recorder) -> Run:
    try:
        session = boto3.Session(profile_name=scenario.profile) if scenario.profile else boto3.Session()
        provider = session._session.get_component("credential_provider").get_provider("assume-role")
        provider._prompter = lambda prompt: MFA_CODE  # what the AWS CLI answers on a terminal
        session.client("sts").get_caller_identity()
    except Exception as exc:  # compared with the other side's outcome
        return Run(recorder.take(), "error", f"{type(exc).__name__}: {exc}")
    return Run(recorder.take(), "ok")


def run_library(scenario: Scenario, recorder: Recorder) -> Run:
    reset()
    try:
        session = rolesession.from_profile(scenario.profile, mfa_token=lambda: MFA_CODE)
        session.client("sts").get_caller_identity()
    except Exception as exc:
        return Run(recorder.take(), "error", f"{type(exc).__name__}: {exc}")
    return Run(recorder.take(), "ok")


# -- deliberate differences, each undone by its normaliser ---------------------------------------------


def _library_default_name() -> str:
    from rolesession._environment import default_session_name

    return default_session_name()


def _session_name(native: Run, library: Run, scenario: Scenario) -> tuple[Run, Run]:
    def named(run: Run, is_default: Callable[[str], bool]) -> Run:
        sent = []
        for s in run.sent:
            name = s.param("RoleSessionName")
            if name is not None and is_default(name):
                params = tuple((k, "<default>" if k == "RoleSessionName" else v) for k, v in s.params)
                s = s.replace(params=params)
            sent.append(s)
        return Run(sent, run.outcome, run.error)

    default = _library_default_name()
    botocore_default = named(native, lambda n: bool(BOTOCORE_SESSION_NAME.match(n)))
    return botocore_default, named(library, lambda n: n == default)


def _mfa_session(native: Run, library: Run, scenario: Scenario) -> tuple[Run, Run]:
    token_calls = [s for s in library.sent if s.operation == "GetSessionToken"]
    signer = {s.signer for s in token_calls}
    assert len(signer) == 1, "the MFA session difference: one GetSessionToken signed by the source"
    (source,) = signer
    library_sent = [
        s.replace(signer=source) if s.signer == "GetSessionToken" else s
        for s in library.sent
        if s.operation != "GetSessionToken"
    ]
    native_sent = [
        s.replace(params=tuple((k, v) for k, v in s.params if k not in ("SerialNumber", "TokenCode")))
        for s in native.sent
    ]
    return Run(native_sent, native.outcome), Run(library_sent, library.outcome)


def _chained_cap(native: Run, library: Run, scenario: Scenario) -> tuple[Run, Run]:
    sent = []
    for s in native.sent:
        duration = s.param("DurationSeconds")
        if s.signer.startswith("AssumeRole:") and duration is not None and int(duration) > 3600:
            s = s.replace(params=tuple((k, "3600" if k == "DurationSeconds" else v) for k, v in s.params))
        sent.append(s)
    return Run(sent, native.outcome), library


def _aws_vault(native: Run, library: Run, scenario: Scenario) -> tuple[Run, Run]:
    vault = re.compile(r"^(SourceIdentity|Tags\.|TransitiveTagKeys\.)")
    sent = [s.replace(params=tuple((k, v) for k, v in s.params if not vault.match(k))) for s in library.sent]
    return native, Run(sent, library.outcome)


def _web_identity_duration(native: Run, library: Run, scenario: Scenario) -> tuple[Run, Run]:
    sent = [
        s.replace(params=tuple((k, v) for k, v in s.params if k != "DurationSeconds"))
        if s.operation == "AssumeRoleWithWebIdentity"
        else s
        for s in library.sent
    ]
    return native, Run(sent, library.outcome)


def _same_places(native: Run, library: Run, differs: Callable[[Sent, Sent], bool]) -> tuple[Run, Run]:
    """The library's requests moved to the host and region botocore chose, where ``differs`` says so."""
    assert len(native.sent) == len(library.sent), "the same requests, to other places"
    sent = [
        lib.replace(host=nat.host, region=nat.region) if differs(nat, lib) else lib
        for nat, lib in zip(native.sent, library.sent, strict=True)
    ]
    return native, Run(sent, library.outcome)


def _aws_region(native: Run, library: Run, scenario: Scenario) -> tuple[Run, Run]:
    region = scenario.env["AWS_REGION"]
    return _same_places(native, library, lambda nat, lib: lib.region == region != nat.region)


def _no_region(native: Run, library: Run, scenario: Scenario) -> tuple[Run, Run]:
    # botocore with no region calls STS's global endpoint (signing for us-east-1); the library
    # calls the partition's default region's endpoint, signing for that same region.
    def global_vs_regional(nat: Sent, lib: Sent) -> bool:
        return nat.host == "sts.amazonaws.com" and nat.region == "us-east-1" and lib.region == "us-east-1"

    return _same_places(native, library, global_vs_regional)


def _validation(native: Run, library: Run, scenario: Scenario) -> tuple[Run, Run]:
    assert library.outcome == "error" and not library.sent, "refused before any request"
    assert "InvalidParameterError" in library.error
    return native, native


NORMALISERS: dict[str, Callable[[Run, Run, Scenario], tuple[Run, Run]]] = {
    "session-name": _session_name,
    "mfa-session": _mfa_session,
    "chained-cap": _chained_cap,
    "aws-vault": _aws_vault,
    "web-identity-duration": _web_identity_duration,
    "aws-region": _aws_region,
    "no-region": _no_region,
    "validation": _validation,
}


def verdict(native: Run, library: Run, scenario: Scenario) -> str:
    """``"same"``, ``"documented"`` (only the named differences), or ``"differ"``."""
    if native.sent == library.sent and native.outcome == library.outcome:
        return "same"
    for name in scenario.documented:
        try:
            native, library = NORMALISERS[name](native, library, scenario)
        except AssertionError:
            return "differ"
    if native.sent == library.sent and native.outcome == library.outcome and scenario.documented:
        return "documented"
    return "differ"


# -- the fakes a scenario needs ---------------------------------------------------------------------------


def _expiring(key: str) -> dict[str, str]:
    expiration = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    return {
        "AccessKeyId": key,
        "SecretAccessKey": "fake-secret-fake-secret-fake-secret-1",
        "Token": "fake-token",
        "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _sso_credentials(recorder: Recorder) -> Callable[[], dict[str, Any]]:
    serial = iter(range(10_000))

    def answer() -> dict[str, Any]:
        key = f"ASIACONFORMSSO{next(serial):06d}"
        recorder.label(key, "sso:Dev")
        return sso_role_credentials(key)

    return answer


@pytest.fixture
def fakes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Scenario, Recorder], dict[str, str]]]:
    servers: list[JsonServer] = []

    def start(scenario: Scenario, recorder: Recorder) -> dict[str, str]:
        urls = {"tmp": str(tmp_path), "python": python()}
        if "container" in scenario.fakes:
            recorder.label(CONTAINER_KEY, "container")
            servers.append(JsonServer({("GET", "/creds"): _expiring(CONTAINER_KEY)}))
            urls["container"] = servers[-1].url
        if "imds" in scenario.fakes:
            recorder.label(IMDS_KEY, "instance")
            servers.append(
                JsonServer(
                    {
                        ("PUT", "/latest/api/token"): "imds-session-token",
                        ("GET", "/latest/meta-data/iam/security-credentials/"): "InstanceRole",
                        ("GET", "/latest/meta-data/iam/security-credentials/InstanceRole"): {
                            **_expiring(IMDS_KEY),
                            "Code": "Success",
                        },
                    }
                )
            )
            urls["imds"] = servers[-1].url
        if {"sso", "sso-legacy"} & set(scenario.fakes):
            servers.append(JsonServer({("GET", "/federation/credentials"): _sso_credentials(recorder)}))
            urls["sso"] = servers[-1].url
            home = tmp_path / "home"
            cache = home / ".aws" / "sso" / "cache"
            cache.mkdir(parents=True)
            key = b"corp" if "sso" in scenario.fakes else b"https://corp.awsapps.com/start"
            token = {
                "startUrl": "https://corp.awsapps.com/start",
                "region": "us-east-1",
                "accessToken": "sso-access-token",
                "expiresAt": "2099-01-01T00:00:00Z",
            }
            (cache / f"{hashlib.sha1(key).hexdigest()}.json").write_text(json.dumps(token))
            monkeypatch.setenv("HOME", str(home))
            # botocore works out its SSO token cache directory from HOME once, at import.
            import botocore.credentials
            import botocore.tokens

            monkeypatch.setattr(botocore.credentials.SSOProvider, "_SSO_TOKEN_CACHE_DIR", str(cache))
            monkeypatch.setattr(botocore.tokens.SSOTokenProvider, "_SSO_TOKEN_CACHE_DIR", str(cache))
        return urls

    try:
        yield start
    finally:
        for server in servers:
            server.close()


# -- the suite ------------------------------------------------------------------------------------------


def run_both(scenario: Scenario, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_server: str,
             fakes: Callable[[Scenario, Recorder], dict[str, str]]) -> tuple[Run, Run]:
    recorder = Recorder(moto_server)
    recorder.install(monkeypatch)
    recorder.label(scenario_key := "AKIACONFORMSOURCE001", "static:source")
    del scenario_key
    values = fakes(scenario, recorder)
    env = write_files(scenario, tmp_path, values)
    set_environment(monkeypatch, env)
    if scenario.fakes and "HOME" in os.environ and {"sso", "sso-legacy"} & set(scenario.fakes):
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
    recorder.throttle = scenario.throttle
    native = run_native(scenario, recorder)
    recorder.throttle = scenario.throttle
    library = run_library(scenario, recorder)
    return native, library


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_from_profile_sends_what_botocore_sends(scenario, tmp_path, monkeypatch, moto_server, fakes):
    native, library = run_both(scenario, tmp_path, monkeypatch, moto_server, fakes)
    result = verdict(native, library, scenario)
    report = os.environ.get("CONFORMANCE_REPORT")
    if report:
        with open(report, "a") as f:
            f.write(json.dumps({"id": scenario.id, "verdict": result}) + "\n")
    expected = "documented" if scenario.documented else "same"
    assert result == expected, _explain(native, library)


def _explain(native: Run, library: Run) -> str:
    lines = [f"botocore ({native.outcome}) {native.error[:300]}"]
    lines += [f"  {s}" for s in native.sent]
    lines += [f"rolesession ({library.outcome}) {library.error[:300]}"]
    lines += [f"  {s}" for s in library.sent]
    return "\n".join(lines)


def test_there_are_at_least_sixty_scenarios_with_unique_names():
    assert len(SCENARIOS) >= 60
    assert len({s.id for s in SCENARIOS}) == len(SCENARIOS)


def documented_rows() -> dict[str, str]:
    """The table of docs/profiles.md's "Where rolesession differs from botocore": id -> measured."""
    text = DOCS.read_text()
    section = text.split("## Where rolesession differs from botocore", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z-]+)` \|.*\| ([^|]+) \|$", section, re.M)
    return {name: measured.strip() for name, measured in rows}


def test_the_docs_table_lists_exactly_the_documented_differences():
    """docs/profiles.md's table of deliberate differences and the suite's expectations agree."""
    rows = documented_rows()
    measured = {name for name, how in rows.items() if how == "yes"}
    used = {name for s in SCENARIOS for name in s.documented}
    assert used <= measured, f"documented in the suite but not in docs/profiles.md: {sorted(used - measured)}"
    assert set(NORMALISERS) == measured, "each measured row has its normaliser, and each normaliser its row"
    assert used == measured, f"measured rows no scenario shows: {sorted(measured - used)}"
    assert f"resolves {len(SCENARIOS)} configurations" in " ".join(DOCS.read_text().split())
