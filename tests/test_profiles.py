"""``from_profile``: role profiles of the shared AWS config through rolesession's engine.

Temporary config and credentials files (``AWS_CONFIG_FILE``,
``AWS_SHARED_CREDENTIALS_FILE``), moto for STS, the STS recorder to check
every outgoing request; loopback servers stand in for the ECS container
endpoint, the EC2 instance metadata service and the SSO portal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rolesession
import rolesession.testing
from helpers import JsonServer, sso_role_credentials
from rolesession import InvalidParameterError, RoleSession, TokenError
from rolesession.testing import StsRecorder

ACCOUNT = "123456789012"
HUB = f"arn:aws:iam::{ACCOUNT}:role/Hub"
MID = "arn:aws:iam::210987654321:role/Mid"
TOP = "arn:aws:iam::111122223333:role/Top"
BASE_KEY = "AKIABASEPROFILEKEY01"
MFA = f"arn:aws:iam::{ACCOUNT}:mfa/alice"


def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str, credentials: str = "") -> None:
    (tmp_path / "config").write_text(config)
    (tmp_path / "credentials").write_text(credentials)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


BASE = """
[default]
region = us-east-1
"""
BASE_CREDENTIALS = f"""
[base]
aws_access_key_id = {BASE_KEY}
aws_secret_access_key = base-secret-base-secret-base-secret-1234
"""


def role_profile(name: str, arn: str = HUB, source: str = "base", **keys: str) -> str:
    """A ``[profile name]`` section with ``role_arn``, ``source_profile`` and ``keys``."""
    lines = [f"[profile {name}]", f"role_arn = {arn}"]
    if source:
        lines.append(f"source_profile = {source}")
    lines += [f"{key} = {value}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def assume_roles(calls: StsRecorder) -> list[dict[str, Any]]:
    return [call.params for call in calls.calls if call.operation == "AssumeRole"]


def signer(session: RoleSession) -> str:
    parent = session.parent
    assert parent is not None
    return str(parent.get_credentials().get_frozen_credentials().access_key)


# -- chains and keys ----------------------------------------------------------------------------


def test_a_chain_of_three_profiles_honours_every_key(tmp_path, monkeypatch, sts_mock, sts_calls):
    write_config(
        tmp_path,
        monkeypatch,
        BASE
        + f"""
[profile hub]
role_arn = {HUB}
source_profile = base
role_session_name = hub-session
external_id = partner-42
duration_seconds = 1800
source_identity = alice
session_tags = team=data, env=prod
transitive_session_tags = team

[profile mid]
role_arn = {MID}
source_profile = hub
role_session_name = mid-session

[profile top]
role_arn = {TOP}
source_profile = mid
duration_seconds = 900
region = eu-central-1
""",
        BASE_CREDENTIALS,
    )
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # it would beat the profile's region, as in botocore
    session = rolesession.from_profile("top")
    assert sts_calls.count() == 0  # lazy
    assert session.identity()["Arn"].startswith("arn:aws:sts::111122223333:assumed-role/Top/")
    hub, mid, top = assume_roles(sts_calls)
    assert hub["RoleArn"] == HUB and hub["RoleSessionName"] == "hub-session"
    assert hub["ExternalId"] == "partner-42" and hub["DurationSeconds"] == 1800
    assert hub["SourceIdentity"] == "alice"
    assert hub["Tags"] == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "data"}]
    assert hub["TransitiveTagKeys"] == ["team"]
    assert mid["RoleArn"] == MID and mid["RoleSessionName"] == "mid-session" and "ExternalId" not in mid
    assert top["RoleArn"] == TOP and top["DurationSeconds"] == 900
    assert session.region_name == "eu-central-1"
    assert [s.role_arn for s in (session, session.parent, session.parent.parent)] == [TOP, MID, HUB]
    assert signer(session.parent.parent) == BASE_KEY  # the source profile's keys sign the first hop


def test_the_profile_defaults_to_aws_profile_then_default(tmp_path, monkeypatch, sts_mock, sts_calls):
    write_config(
        tmp_path,
        monkeypatch,
        f"[default]\nrole_arn = {HUB}\nsource_profile = base\n" + role_profile("other", MID),
        BASE_CREDENTIALS,
    )
    assert rolesession.from_profile().role_arn == HUB
    monkeypatch.setenv("AWS_PROFILE", "other")
    assert rolesession.from_profile().role_arn == MID


def test_the_same_profile_asked_again_is_the_same_session(tmp_path, monkeypatch, sts_mock, sts_calls):
    write_config(
        tmp_path, monkeypatch, f"[profile hub]\nrole_arn = {HUB}\nsource_profile = base\n", BASE_CREDENTIALS
    )
    first = rolesession.from_profile("hub")
    first.identity()
    assert rolesession.from_profile("hub") is first
    assert sts_calls.count() == 1


def test_the_profiles_sts_endpoint_settings_are_honoured(tmp_path, monkeypatch, sts_mock):
    write_config(
        tmp_path,
        monkeypatch,
        f"""
[profile hub]
role_arn = {HUB}
source_profile = base
services = local
use_fips_endpoint = true

[services local]
sts =
  endpoint_url = http://127.0.0.1:4566
""",
        BASE_CREDENTIALS,
    )
    session = rolesession.from_profile("hub")
    # botocore resolves the profile's endpoint for every client: the hops' (tests/conformance)
    # and the session's own.
    assert session.describe()["profile"] == "hub" and session.describe()["sts_endpoint_url"] is None
    assert session.client("sts").meta.endpoint_url == "http://127.0.0.1:4566"
    explicit = rolesession.from_profile("hub", sts_endpoint_url="http://127.0.0.1:5000")
    assert explicit.describe()["sts_endpoint_url"] == "http://127.0.0.1:5000"


def test_a_role_profile_may_be_its_own_source_when_it_holds_keys(tmp_path, monkeypatch, sts_mock, sts_calls):
    write_config(
        tmp_path,
        monkeypatch,
        f"[profile self]\nrole_arn = {HUB}\nsource_profile = self\n",
        f"[self]\naws_access_key_id = {BASE_KEY}\naws_secret_access_key = s3cr3t-s3cr3t-s3cr3t-s3cr3t\n",
    )
    session = rolesession.from_profile("self")
    session.identity()
    assert signer(session) == BASE_KEY


# -- rejected before any STS call ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "profile", "parameter", "words"),
    [
        ("[profile plain]\nregion = eu-west-1\n", "plain", "profile", "boto3.Session(profile_name='plain')"),
        ("", "missing", "profile", "not configured"),
        (
            role_profile("a", HUB, "b") + role_profile("b", MID, "a"),
            "a",
            "[profile b] source_profile",
            "a -> b -> a",
        ),
        (role_profile("a", source="nowhere"), "a", "[profile a] source_profile", "nowhere"),
        (role_profile("a", source="b") + "[profile b]\nregion = eu-west-1\n", "a",
         "[profile a] source_profile", "the source profile 'b' must have credentials"),
        (role_profile("a", source="", credential_source="Laptop"), "a",
         "[profile a] credential_source", "Lap"),
        (
            f"[profile a]\nrole_arn = {HUB}\nsource_profile = base\ncredential_source = Environment\n",
            "a",
            "[profile a] credential_source",
            "cannot go with source_profile",
        ),
        (f"[profile a]\nrole_arn = {HUB}\n", "a", "[profile a] role_arn", "needs a source"),
        (role_profile("a", "not-an-arn"), "a", "[profile a] role_arn", "not an IAM role ARN"),
        (f"[profile a]\nrole_arn = {HUB}\nsource_profile = base\nduration_seconds = soon\n", "a",
         "[profile a] duration_seconds", "not a number"),
        (f"[profile a]\nrole_arn = {HUB}\nsource_profile = base\nduration_seconds = 60\n", "a",
         "[profile a] duration_seconds", "900-43200"),
        (f"[profile a]\nrole_arn = {HUB}\nsource_profile = base\nsession_tags = team\n", "a",
         "[profile a] session_tags", "key=value"),
        (f"[profile a]\nrole_arn = {HUB}\nsource_profile = base\nexternal_id = x\n", "a",
         "[profile a] external_id", "2-1224"),
        (role_profile("a", region="Mars 1"), "a", "[profile a] region",
         "region"),
        (
            f"[profile a]\nrole_arn = {HUB}\nsource_profile = base\nsession_tags = team=data\n"
            "transitive_session_tags = cost\n",
            "a",
            "[profile a] transitive_session_tags",
            "not among the keys",
        ),
    ],
)  # fmt: skip
def test_bad_profiles_are_rejected_naming_the_profile_and_key(
    tmp_path, monkeypatch, sts_mock, sts_calls, config, profile, parameter, words
):
    write_config(tmp_path, monkeypatch, config, BASE_CREDENTIALS)
    monkeypatch.delenv("AWS_DEFAULT_REGION")  # it would beat a profile's bad region
    with pytest.raises(InvalidParameterError) as info:
        rolesession.from_profile(profile)
    assert info.value.parameter == parameter
    assert words in str(info.value)
    assert sts_calls.count() == 0


def test_the_callers_own_bad_keywords_are_named_as_such(tmp_path, monkeypatch):
    write_config(
        tmp_path, monkeypatch, f"[profile a]\nrole_arn = {HUB}\nsource_profile = base\n", BASE_CREDENTIALS
    )
    bad = [({"region": "nowhere"}, "region"), ({"profile": 7}, "profile"), ({"refresh": 3}, "refresh")]
    for kwargs, parameter in [*bad, ({"mfa_token": "12345"}, "mfa_token")]:
        kwargs = {"profile": "a", **kwargs}
        with pytest.raises(InvalidParameterError) as info:
            rolesession.from_profile(**kwargs)
        assert info.value.parameter == parameter


# -- credential_source and web identity ---------------------------------------------------------------


def test_a_source_profile_with_static_keys_ends_the_walk_at_any_depth(
    tmp_path, monkeypatch, sts_mock, sts_calls
):
    # botocore's rule: keys win over the source profile's own role_arn (it is not assumed).
    write_config(
        tmp_path,
        monkeypatch,
        role_profile("top", TOP, "mid") + role_profile("mid", MID, "hub") + role_profile("hub", HUB, "base"),
        BASE_CREDENTIALS.replace("[base]", "[hub]") + BASE_CREDENTIALS,
    )
    session = rolesession.from_profile("top")
    session.identity()
    assert [p["RoleArn"] for p in assume_roles(sts_calls)] == [MID, TOP]
    assert signer(session.parent) == BASE_KEY  # hub's own keys sign mid's role, hub's role is never assumed


def test_the_command_lines_walk_ends_where_from_profiles_does():
    from rolesession.cli.profiles import walk

    keys = {"aws_access_key_id": BASE_KEY, "aws_secret_access_key": "s"}
    profiles = {
        "top": {"role_arn": TOP, "source_profile": "hub"},
        "hub": {"role_arn": HUB, "source_profile": "base", **keys},
        "base": keys,
    }
    found = walk("top", profiles)
    assert [name for name, _ in found.hops] == ["top"] and found.root == "hub"


def test_without_a_source_profiles_credentials_nothing_else_signs(tmp_path, monkeypatch, sts_mock, sts_calls):
    server = JsonServer({("GET", "/creds"): _temporary_credentials("ASIAFROMTHECONTAINER")})
    try:
        write_config(tmp_path, monkeypatch, role_profile("a", HUB, "b") + "[profile b]\nregion = eu-west-1\n")
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{server.url}/creds")
        with pytest.raises(InvalidParameterError, match="source profile 'b' must have credentials"):
            rolesession.from_profile("a")
        assert sts_calls.count() == 0 and server.requests == []
    finally:
        server.close()


def test_the_named_profile_configures_every_client_whatever_aws_profile_says(
    tmp_path, monkeypatch, sts_mock, sts_calls
):
    write_config(
        tmp_path,
        monkeypatch,
        "[default]\nendpoint_url = https://sts.default.example.test\n\n"
        + role_profile("fips", HUB, use_fips_endpoint="true", region="us-east-2"),
        BASE_CREDENTIALS,
    )
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_PROFILE", "nosuch")  # `aws --profile fips` works with it set: so must we
    session = rolesession.from_profile("fips")
    sts_calls.outage()  # moto does not serve FIPS hosts: the hop's client is made, its call fails
    with pytest.raises(rolesession.AssumeRoleError):
        session.identity()
    assert session.client("sts").meta.endpoint_url == "https://sts-fips.us-east-2.amazonaws.com"
    hop_clients = rolesession.testing.sts_clients()
    assert [c.meta.endpoint_url for c in hop_clients] == ["https://sts-fips.us-east-2.amazonaws.com"]


def test_web_identity_ignores_what_botocore_ignores_with_one_warning(
    tmp_path, monkeypatch, sts_mock, sts_calls, caplog
):
    from tokens import make_jwt

    (tmp_path / "token").write_text(make_jwt())
    write_config(
        tmp_path,
        monkeypatch,
        role_profile("pod", HUB, "base", web_identity_token_file=str(tmp_path / "token"), external_id="x-1",
                     mfa_serial=MFA),
        BASE_CREDENTIALS,
    )
    with caplog.at_level("WARNING", logger="rolesession"):
        session = rolesession.from_profile("pod")
    session.identity()
    (call,) = sts_calls.calls
    assert call.operation == "AssumeRoleWithWebIdentity" and "ExternalId" not in call.params
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "[profile pod] web_identity_token_file: source_profile, external_id, mfa_serial ignored, "
        "as botocore ignores them"
    ]


def test_credential_source_environment(tmp_path, monkeypatch, sts_mock, sts_calls):
    write_config(tmp_path, monkeypatch, f"[profile env]\nrole_arn = {HUB}\ncredential_source = Environment\n")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMTHEENVIRONMT")
    session = rolesession.from_profile("env")
    session.identity()
    assert signer(session) == "AKIAFROMTHEENVIRONMT"


def _temporary_credentials(key: str, minutes: int = 60) -> dict[str, str]:
    expiration = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)
    return {
        "AccessKeyId": key,
        "SecretAccessKey": "container-secret-container-secret-123",
        "Token": "container-token",
        "Expiration": expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def test_credential_source_ecs_container(tmp_path, monkeypatch, sts_mock, sts_calls):
    server = JsonServer({("GET", "/creds"): _temporary_credentials("ASIAFROMTHECONTAINER")})
    try:
        write_config(
            tmp_path, monkeypatch, f"[profile ecs]\nrole_arn = {HUB}\ncredential_source = EcsContainer\n"
        )
        monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"{server.url}/creds")
        session = rolesession.from_profile("ecs")
        session.identity()
        assert signer(session) == "ASIAFROMTHECONTAINER"
    finally:
        server.close()


def test_credential_source_ec2_instance_metadata(tmp_path, monkeypatch, sts_mock, sts_calls):
    credentials = {**_temporary_credentials("ASIAFROMTHEINSTANCE1"), "Code": "Success"}
    server = JsonServer(
        {
            ("PUT", "/latest/api/token"): "imds-session-token",
            ("GET", "/latest/meta-data/iam/security-credentials/"): "InstanceRole",
            ("GET", "/latest/meta-data/iam/security-credentials/InstanceRole"): credentials,
        }
    )
    try:
        write_config(
            tmp_path,
            monkeypatch,
            f"[profile ec2]\nrole_arn = {HUB}\ncredential_source = Ec2InstanceMetadata\n",
        )
        monkeypatch.delenv("AWS_EC2_METADATA_DISABLED")
        monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url + "/")
        session = rolesession.from_profile("ec2")
        session.identity()
        assert signer(session) == "ASIAFROMTHEINSTANCE1"
    finally:
        server.close()


def test_a_web_identity_profile(tmp_path, monkeypatch, sts_mock, sts_calls):
    from tokens import make_jwt

    token = make_jwt()
    (tmp_path / "token").write_text(token)
    write_config(
        tmp_path,
        monkeypatch,
        role_profile("pod", HUB, "", web_identity_token_file=str(tmp_path / "token"), role_session_name="pod")
        + role_profile("onward", MID, "pod"),
    )
    session = rolesession.from_profile("onward")
    session.identity()
    operations = [call.operation for call in sts_calls.calls]
    assert operations == ["AssumeRoleWithWebIdentity", "AssumeRole"]
    assert sts_calls.calls[0].params["WebIdentityToken"] == token
    assert sts_calls.calls[0].params["RoleSessionName"] == "pod"


# -- SSO -------------------------------------------------------------------------------------------------


@pytest.fixture
def sso_portal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[JsonServer]:
    """A fake IAM Identity Center portal (``GET /federation/credentials``) and a cached SSO token."""
    issued: list[str] = []

    def credentials() -> dict[str, Any]:
        key = f"ASIASSOPORTALKEY{len(issued):04d}"
        issued.append(key)
        return sso_role_credentials(key)

    server = JsonServer({("GET", "/federation/credentials"): credentials})
    home = tmp_path / "home"
    cache = home / ".aws" / "sso" / "cache"
    cache.mkdir(parents=True)
    name = hashlib.sha1(b"corp").hexdigest()
    (cache / f"{name}.json").write_text(
        json.dumps(
            {
                "startUrl": "https://corp.awsapps.com/start",
                "region": "us-east-1",
                "accessToken": "sso-access-token",
                "expiresAt": "2099-01-01T00:00:00Z",
            }
        )
    )
    monkeypatch.setenv("HOME", str(home))
    # botocore works out its SSO token cache directory from HOME once, at import.
    import botocore.credentials
    import botocore.tokens

    monkeypatch.setattr(botocore.credentials.SSOProvider, "_SSO_TOKEN_CACHE_DIR", str(cache))
    monkeypatch.setattr(botocore.tokens.SSOTokenProvider, "_SSO_TOKEN_CACHE_DIR", str(cache))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSO", server.url)
    try:
        yield server
    finally:
        server.close()


def test_an_sso_sourced_chain_refreshes(tmp_path, monkeypatch, sts_mock, sts_calls, sso_portal, frozen):
    write_config(
        tmp_path,
        monkeypatch,
        f"""
[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1

[profile sso]
sso_session = corp
sso_account_id = {ACCOUNT}
sso_role_name = Engineer
region = us-east-1

[profile admin]
role_arn = {HUB}
source_profile = sso
duration_seconds = 900
""",
    )
    session = rolesession.from_profile("admin")
    credentials = session.get_credentials()
    first = credentials.get_frozen_credentials()
    assert signer(session) == "ASIASSOPORTALKEY0000"
    portal_calls = [r for r in sso_portal.requests if r[1].startswith("/federation/credentials")]
    assert len(portal_calls) == 1
    assert portal_calls[0][2].get("x-amz-sso_bearer_token") == "sso-access-token"
    assert "role_name=Engineer" in portal_calls[0][1] and f"account_id={ACCOUNT}" in portal_calls[0][1]
    frozen.tick(2 * 3600)  # the role's and the SSO credentials have both expired
    renewed = credentials.get_frozen_credentials()
    assert renewed != first
    assert [c.operation for c in sts_calls.calls] == ["AssumeRole", "AssumeRole"]
    portal_calls = [r for r in sso_portal.requests if r[1].startswith("/federation/credentials")]
    assert len(portal_calls) == 2  # botocore renewed the source from the portal
    assert signer(session) == "ASIASSOPORTALKEY0001"  # and the role was re-assumed with it


# -- MFA ------------------------------------------------------------------------------------------------


def mfa_config(roles: int = 5) -> str:
    profiles = "".join(
        f"\n[profile role{i}]\nrole_arn = arn:aws:iam::{ACCOUNT}:role/R{i}\nsource_profile = base\n"
        f"mfa_serial = {MFA}\nduration_seconds = 3600\n"
        for i in range(roles)
    )
    return BASE + profiles


def test_mfa_is_asked_once_for_five_roles_across_a_day_of_twelve_hour_sessions(
    tmp_path, monkeypatch, sts_mock, sts_calls, frozen
):
    write_config(tmp_path, monkeypatch, mfa_config(5), BASE_CREDENTIALS)
    asked: list[str] = []

    def code() -> str:
        asked.append(threading.current_thread().name)
        return f"{len(asked):06d}"

    sessions = [rolesession.from_profile(f"role{i}", mfa_token=code) for i in range(5)]
    for _hour in range(24):
        for session in sessions:
            credentials = session.get_credentials()
            credentials.get_frozen_credentials()
            credentials.wait_for_background()
            session.parent.get_credentials().wait_for_background()
        frozen.tick(3600)
    assert len(asked) == 2  # one code per 12-hour MFA session, whatever the number of roles
    tokens = [c for c in sts_calls.calls if c.operation == "GetSessionToken"]
    assert len(tokens) == 2 and {t.params["SerialNumber"] for t in tokens} == {MFA}
    assert all(t.params["DurationSeconds"] == 43200 for t in tokens)
    roles = assume_roles(sts_calls)
    assert roles and all("TokenCode" not in r and "SerialNumber" not in r for r in roles)
    assert all(r["DurationSeconds"] == 3600 for r in roles)  # not capped: not a chained session


def test_mfa_process_gives_the_code(tmp_path, monkeypatch, sts_mock, sts_calls):
    script = tmp_path / "otp.py"
    script.write_text("print('AWS:alice  424242')\n")
    write_config(
        tmp_path,
        monkeypatch,
        BASE + f"[profile p]\nrole_arn = {HUB}\nsource_profile = base\nmfa_serial = {MFA}\n"
        f"mfa_process = {sys.executable} {script}\n",
        BASE_CREDENTIALS,
    )
    rolesession.from_profile("p").identity()
    [token] = [c for c in sts_calls.calls if c.operation == "GetSessionToken"]
    assert token.params["TokenCode"] == "424242"


def test_an_mfa_process_that_cannot_be_split_is_named_once(tmp_path, monkeypatch, sts_mock, sts_calls):
    write_config(
        tmp_path,
        monkeypatch,
        BASE + f"[profile p]\nrole_arn = {HUB}\nsource_profile = base\nmfa_serial = {MFA}\n"
        "mfa_process = otp 'unbalanced\n",
        BASE_CREDENTIALS,
    )
    with pytest.raises(rolesession.InvalidParameterError) as info:
        rolesession.from_profile("p").identity()
    assert info.value.parameter == "[profile p] mfa_process"
    assert str(info.value).count("mfa_process") == 1 and "cannot parse the command line" in str(info.value)
    assert sts_calls.count() == 0


def test_without_any_code_source_a_token_error_says_how_to_give_one(
    tmp_path, monkeypatch, sts_mock, sts_calls
):
    write_config(tmp_path, monkeypatch, mfa_config(1), BASE_CREDENTIALS)
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # no terminal to ask on
    session = rolesession.from_profile("role0")  # built without asking
    with pytest.raises(TokenError) as info:
        session.identity()
    assert "mfa_token" in str(info.value) and "mfa_process" in str(info.value)
    assert sts_calls.count() == 0


def test_mfa_on_a_hop_whose_source_is_a_role_is_sent_with_assume_role(
    tmp_path, monkeypatch, sts_mock, sts_calls
):
    write_config(
        tmp_path,
        monkeypatch,
        BASE + f"[profile hub]\nrole_arn = {HUB}\nsource_profile = base\n"
        f"[profile guarded]\nrole_arn = {MID}\nsource_profile = hub\nmfa_serial = {MFA}\n",
        BASE_CREDENTIALS,
    )
    rolesession.from_profile("guarded", mfa_token=lambda: "135790").identity()
    assert [c.operation for c in sts_calls.calls] == ["AssumeRole", "AssumeRole"]
    hub, guarded = assume_roles(sts_calls)
    assert "TokenCode" not in hub and guarded["TokenCode"] == "135790" and guarded["SerialNumber"] == MFA
