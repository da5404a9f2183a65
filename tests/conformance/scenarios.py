"""The profile scenarios of the differential suite (see ``harness`` and ``test_profile_conformance``).

Each is "same" (no ``documented``) or names the rows of the table of
deliberate differences in docs/profiles.md that explain what differs.
"""

from __future__ import annotations

from .harness import Scenario

SRC = "AKIACONFORMSOURCE001"
OTHER = "AKIACONFORMOTHER0001"
DEFAULT_KEY = "AKIACONFORMDEFAULT01"
ENV_KEY = "AKIACONFORMENVIRON01"
PROCESS_KEY = "ASIACONFORMPROCESS01"
CONTAINER_KEY = "ASIACONFORMCONTAINER"
IMDS_KEY = "ASIACONFORMINSTANCE1"
SECRET = "conform-secret-conform-secret-conform-12"


def role(n: int, account: str = "111111111111") -> str:
    return f"arn:aws:iam::{account}:role/R{n}"


def section(name: str, **keys: str) -> str:
    header = "[default]" if name == "default" else f"[profile {name}]"
    return "\n".join([header, *(f"{k} = {v}" for k, v in keys.items())]) + "\n\n"


def creds(name: str, key: str = SRC, **more: str) -> str:
    lines = [f"[{name}]", f"aws_access_key_id = {key}", f"aws_secret_access_key = {SECRET}"]
    lines += [f"{k} = {v}" for k, v in more.items()]
    return "\n".join(lines) + "\n\n"


def hop(name: str, n: int, source: str = "base", **keys: str) -> str:
    values = {"role_arn": role(n), "role_session_name": f"s{n}"}
    if source:
        values["source_profile"] = source
    values.update(keys)
    return section(name, **values)


def chain(depth: int, **top: str) -> str:
    """``p1`` .. ``p<depth>``: ``p1`` from ``base``, each next from the previous."""
    text = ""
    for n in range(1, depth + 1):
        text += hop(f"p{n}", n, "base" if n == 1 else f"p{n - 1}", **(top if n == depth else {}))
    return text


REGION = section("base", region="us-east-1")
BASE = creds("base")
TOKEN_FILE = {"token": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhcHAifQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWc"}
WEB = {"web_identity_token_file": "{tmp}/token"}
PROCESS = {
    "proc.py": "import json\nprint(json.dumps({'Version': 1, 'AccessKeyId': '"
    + PROCESS_KEY
    + "', 'SecretAccessKey': 'process-secret-process-secret-1234', 'SessionToken': 'tok', "
    "'Expiration': '2099-01-01T00:00:00Z'}))\n"
}
SSO_SESSION = "[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n\n"


def S(id: str, profile: str | None, config: str, credentials: str = BASE, **kw: object) -> Scenario:
    return Scenario(id, profile, config, credentials, **kw)  # type: ignore[arg-type]


ENV_REGION = {"AWS_DEFAULT_REGION": "eu-west-1"}

SCENARIOS: list[Scenario] = [
    # -- chains of depth 1-4 ----------------------------------------------------------------
    S("chain-depth-1", "p1", chain(1), env=ENV_REGION),
    S("chain-depth-2", "p2", chain(2), env=ENV_REGION),
    S("chain-depth-3", "p3", chain(3), env=ENV_REGION),
    S("chain-depth-4", "p4", chain(4), env=ENV_REGION),
    S("chain-default-session-name", "a", section("a", role_arn=role(1), source_profile="base"),
      env=ENV_REGION, documented=("session-name",)),
    S("chain-source-keys-in-config-file", "p2",
      chain(2) + section("base", aws_access_key_id=SRC, aws_secret_access_key=SECRET), "", env=ENV_REGION),
    S("chain-source-in-both-files", "p1",
      chain(1) + section("base", aws_access_key_id=OTHER, aws_secret_access_key=SECRET), env=ENV_REGION),
    S("chain-role-profile-in-credentials-file", "p1", "",
      BASE + f"[p1]\nrole_arn = {role(1)}\nsource_profile = base\nrole_session_name = s1\n", env=ENV_REGION),
    # -- the static-key stop ------------------------------------------------------------------
    S("static-keys-stop-at-depth-1", "a",
      hop("a", 1, "b") + hop("b", 2, "c"), creds("b") + creds("c", OTHER), env=ENV_REGION),
    S("static-keys-stop-at-depth-2", "a",
      hop("a", 1, "b") + hop("b", 2, "c") + hop("c", 3, "d"), creds("c") + creds("d", OTHER), env=ENV_REGION),
    S("static-keys-stop-keys-in-config", "a",
      hop("a", 1, "b") + hop("b", 2, "c", aws_access_key_id=SRC, aws_secret_access_key=SECRET),
      creds("c", OTHER), env=ENV_REGION),
    S("self-reference-top", "a", hop("a", 1, "a"), creds("a"), env=ENV_REGION),
    S("self-reference-at-depth", "a", hop("a", 1, "b") + hop("b", 2, "b"), creds("b"), env=ENV_REGION),
    S("self-reference-without-keys", "a", hop("a", 1, "a"), "", env=ENV_REGION),
    S("loop", "a", hop("a", 1, "b") + hop("b", 2, "a"), "", env=ENV_REGION),
    S("unknown-source-profile", "a", hop("a", 1, "nowhere"), "", env=ENV_REGION),
    # -- a source profile without credentials ------------------------------------------------
    S("source-without-credentials", "a", hop("a", 1, "b") + section("b", region="eu-west-1"), "",
      env=ENV_REGION),
    S("source-with-an-sso-session-only", "a",
      SSO_SESSION + hop("a", 1, "b") + section("b", sso_session="corp"), "", env=ENV_REGION),
    S("source-without-credentials-in-a-container", "a", hop("a", 1, "b") + section("b", region="eu-west-1"),
      "", env={**ENV_REGION, "AWS_CONTAINER_CREDENTIALS_FULL_URI": "{container}/creds"},
      fakes=("container",)),
    # -- credential_source -----------------------------------------------------------------------
    S("credential-source-environment", "a", hop("a", 1, "", credential_source="Environment"), "",
      env={**ENV_REGION, "AWS_ACCESS_KEY_ID": ENV_KEY, "AWS_SECRET_ACCESS_KEY": SECRET}),
    S("credential-source-environment-empty", "a", hop("a", 1, "", credential_source="Environment"), "",
      env=ENV_REGION),
    S("credential-source-ecs-full-uri", "a", hop("a", 1, "", credential_source="EcsContainer"), "",
      env={**ENV_REGION, "AWS_CONTAINER_CREDENTIALS_FULL_URI": "{container}/creds"}, fakes=("container",)),
    S("credential-source-ecs-token", "a", hop("a", 1, "", credential_source="EcsContainer"), "",
      env={**ENV_REGION, "AWS_CONTAINER_CREDENTIALS_FULL_URI": "{container}/creds",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN": "Basic abc"}, fakes=("container",)),
    S("credential-source-eks-pod-identity", "a", hop("a", 1, "", credential_source="EcsContainer"), "",
      env={**ENV_REGION, "AWS_CONTAINER_CREDENTIALS_FULL_URI": "{container}/creds",
           "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "{tmp}/eks-token"},
      files={"eks-token": "eks-pod-identity-token"}, fakes=("container",)),
    S("credential-source-ec2-instance-metadata", "a",
      hop("a", 1, "", credential_source="Ec2InstanceMetadata"), "",
      env={**ENV_REGION, "AWS_EC2_METADATA_DISABLED": "", "AWS_EC2_METADATA_SERVICE_ENDPOINT": "{imds}/"},
      fakes=("imds",)),
    S("credential-source-under-a-chain", "top",
      hop("top", 2, "a") + hop("a", 1, "", credential_source="Environment"), "",
      env={**ENV_REGION, "AWS_ACCESS_KEY_ID": ENV_KEY, "AWS_SECRET_ACCESS_KEY": SECRET}),
    S("credential-source-unknown", "a", hop("a", 1, "", credential_source="Somewhere"), "", env=ENV_REGION),
    S("credential-source-with-source-profile", "a", hop("a", 1, "base", credential_source="Environment"),
      env=ENV_REGION),
    # -- web identity --------------------------------------------------------------------------
    S("web-identity", "w", hop("w", 1, "", **WEB), "", env=ENV_REGION, files=TOKEN_FILE),
    S("web-identity-default-session-name", "w", section("w", role_arn=role(1), **WEB), "", env=ENV_REGION,
      files=TOKEN_FILE, documented=("session-name",)),
    S("web-identity-under-a-chain", "a", hop("a", 2, "w") + hop("w", 1, "", **WEB), "", env=ENV_REGION,
      files=TOKEN_FILE),
    S("web-identity-with-external-id", "w", hop("w", 1, "", external_id="x-1", **WEB), "", env=ENV_REGION,
      files=TOKEN_FILE),
    S("web-identity-with-mfa-serial", "w",
      hop("w", 1, "", mfa_serial="arn:aws:iam::111111111111:mfa/alice", **WEB), "", env=ENV_REGION,
      files=TOKEN_FILE),
    S("web-identity-with-source-profile", "w", hop("w", 1, "base", **WEB), env=ENV_REGION, files=TOKEN_FILE),
    S("web-identity-with-duration", "w", hop("w", 1, "", duration_seconds="1800", **WEB), "",
      env=ENV_REGION, files=TOKEN_FILE, documented=("web-identity-duration",)),
    # -- external_id, duration_seconds ----------------------------------------------------------
    S("external-id-top", "p1", chain(1, external_id="partner-1"), env=ENV_REGION),
    S("external-id-middle", "p3", chain(2, external_id="partner-2") + hop("p3", 3, "p2"), env=ENV_REGION),
    S("duration-first-hop", "p1", chain(1, duration_seconds="900"), env=ENV_REGION),
    S("duration-first-hop-long", "p1", chain(1, duration_seconds="7200"), env=ENV_REGION),
    S("duration-chained-hop-long", "p2", chain(2, duration_seconds="7200"), env=ENV_REGION,
      documented=("chained-cap",)),
    S("duration-not-a-number", "p1", chain(1, duration_seconds="abc"), env=ENV_REGION,
      documented=("validation",)),
    # -- MFA -------------------------------------------------------------------------------------
    S("mfa-over-long-term-keys", "p1", chain(1, mfa_serial="arn:aws:iam::111111111111:mfa/alice"),
      env=ENV_REGION, documented=("mfa-session",)),
    S("mfa-on-a-chained-hop", "p2", chain(2, mfa_serial="arn:aws:iam::111111111111:mfa/alice"),
      env=ENV_REGION),
    S("mfa-over-temporary-keys", "p1", chain(1, mfa_serial="arn:aws:iam::111111111111:mfa/alice"),
      creds("base", aws_session_token="temporary-token"), env=ENV_REGION),
    # -- aws-vault's keys -----------------------------------------------------------------------
    S("aws-vault-keys", "p1", chain(1, source_identity="alice", session_tags="team=data"), env=ENV_REGION,
      documented=("aws-vault",)),
    # -- region precedence -----------------------------------------------------------------------
    S("region-from-profile", "p1", chain(1, region="eu-central-1")),
    S("region-aws-default-region-beats-profile", "p1", chain(1, region="eu-central-1"),
      env={"AWS_DEFAULT_REGION": "ap-southeast-2"}),
    S("region-aws-region-beats-profile", "p1", chain(1, region="eu-central-1"),
      env={"AWS_REGION": "ap-southeast-2"}, documented=("aws-region",)),
    S("region-aws-region-and-default-region", "p1", chain(1),
      env={"AWS_REGION": "ap-southeast-2", "AWS_DEFAULT_REGION": "eu-west-1"}, documented=("aws-region",)),
    S("region-none-configured", "p1", chain(1), documented=("no-region",)),
    S("region-only-on-the-source-profile", "p1", chain(1) + section("base", region="eu-west-2"),
      documented=("no-region",)),
    S("region-only-on-default", "p1", chain(1) + section("default", region="eu-west-2"),
      documented=("no-region",)),
    S("region-on-the-middle-profile", "p2", hop("p1", 1, region="eu-west-2") + hop("p2", 2, "p1"),
      documented=("no-region",)),
    # -- endpoints ---------------------------------------------------------------------------------
    S("endpoint-url-in-profile", "p2", chain(2, endpoint_url="https://sts.proxy.example.test"),
      env=ENV_REGION),
    S("endpoint-services-section", "p2",
      chain(2, services="corp") + "[services corp]\nsts =\n  endpoint_url = https://sts.corp.example.test\n\n",
      env=ENV_REGION),
    S("endpoint-env-beats-services-section", "p1",
      chain(1, services="corp") + "[services corp]\nsts =\n  endpoint_url = https://sts.corp.example.test\n\n",
      env={**ENV_REGION, "AWS_ENDPOINT_URL_STS": "https://sts.env.example.test"}),
    S("endpoint-env-beats-profile", "p1", chain(1, endpoint_url="https://sts.proxy.example.test"),
      env={**ENV_REGION, "AWS_ENDPOINT_URL_STS": "https://sts.env.example.test"}),
    S("endpoint-global-env-beats-profile", "p1", chain(1, endpoint_url="https://sts.proxy.example.test"),
      env={**ENV_REGION, "AWS_ENDPOINT_URL": "https://all.env.example.test"}),
    S("endpoint-ignored-in-profile", "p1",
      chain(1, endpoint_url="https://sts.proxy.example.test", ignore_configured_endpoint_urls="true"),
      env=ENV_REGION),
    S("endpoint-ignored-by-env", "p1", chain(1, endpoint_url="https://sts.proxy.example.test"),
      env={**ENV_REGION, "AWS_ENDPOINT_URL_STS": "https://sts.env.example.test",
           "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}),
    S("endpoint-of-default-does-not-leak", "p1",
      chain(1) + section("default", endpoint_url="https://sts.default.example.test"), env=ENV_REGION),
    S("endpoint-fips-in-profile", "p2", chain(2, use_fips_endpoint="true"),
      env={"AWS_DEFAULT_REGION": "us-east-2"}),
    S("endpoint-dualstack-in-profile", "p1", chain(1, use_dualstack_endpoint="true"), env=ENV_REGION),
    S("endpoint-fips-env", "p1", chain(1),
      env={"AWS_DEFAULT_REGION": "us-west-2", "AWS_USE_FIPS_ENDPOINT": "true"}),
    S("sts-regional-endpoints-legacy-profile", "p1", chain(1, sts_regional_endpoints="legacy"),
      env={"AWS_DEFAULT_REGION": "us-east-1"}),
    S("sts-regional-endpoints-legacy-env", "p1", chain(1),
      env={"AWS_DEFAULT_REGION": "eu-west-1", "AWS_STS_REGIONAL_ENDPOINTS": "legacy"}),
    S("sts-regional-endpoints-regional", "p1", chain(1, sts_regional_endpoints="regional"),
      env={"AWS_DEFAULT_REGION": "us-east-1"}),
    # -- ca_bundle ---------------------------------------------------------------------------------
    S("ca-bundle-in-profile", "p2", chain(2, ca_bundle="{tmp}/corp-ca.pem"), env=ENV_REGION,
      files={"corp-ca.pem": "not a real bundle: never used on loopback\n"}),
    S("ca-bundle-env", "p1", chain(1), env={**ENV_REGION, "AWS_CA_BUNDLE": "{tmp}/env-ca.pem"},
      files={"env-ca.pem": "-\n"}),
    S("ca-bundle-env-beats-profile", "p1", chain(1, ca_bundle="{tmp}/corp-ca.pem"),
      env={**ENV_REGION, "AWS_CA_BUNDLE": "{tmp}/env-ca.pem"},
      files={"corp-ca.pem": "-\n", "env-ca.pem": "-\n"}),
    S("ca-bundle-of-default-does-not-leak", "p1", chain(1) + section("default", ca_bundle="{tmp}/d-ca.pem"),
      env=ENV_REGION, files={"d-ca.pem": "-\n"}),
    # -- retries -------------------------------------------------------------------------------------
    S("retries-max-attempts-in-profile", "p1", chain(1, max_attempts="2"), env=ENV_REGION, throttle=10),
    S("retries-standard-one-attempt", "p1", chain(1, retry_mode="standard", max_attempts="1"),
      env=ENV_REGION, throttle=10),
    S("retries-one-throttle-absorbed", "p1", chain(1), env=ENV_REGION, throttle=1),
    S("retries-max-attempts-env", "p1", chain(1), env={**ENV_REGION, "AWS_MAX_ATTEMPTS": "2"}, throttle=10),
    # -- which profile -------------------------------------------------------------------------------
    S("default-section", None, section("default", role_arn=role(1), source_profile="base",
                                        role_session_name="s1"), env=ENV_REGION),
    S("profile-default-section", None,
      section("default", role_arn=role(1), source_profile="base", role_session_name="s1").replace(
          "[default]", "[profile default]"),
      env=ENV_REGION),
    S("aws-profile", None, chain(2), env={**ENV_REGION, "AWS_PROFILE": "p2"}),
    S("aws-default-profile", None, chain(2), env={**ENV_REGION, "AWS_DEFAULT_PROFILE": "p2"}),
    S("aws-default-profile-beats-aws-profile", None, chain(2),
      env={**ENV_REGION, "AWS_PROFILE": "p1", "AWS_DEFAULT_PROFILE": "p2"}),
    S("aws-profile-names-a-missing-profile", "p1", chain(1), env={**ENV_REGION, "AWS_PROFILE": "nosuch"}),
    S("aws-profile-names-another-profile", "p1",
      chain(1) + section("other", endpoint_url="https://sts.other.example.test", region="ap-south-1"),
      env={"AWS_PROFILE": "other"}, documented=("no-region",)),
    S("environment-keys-do-not-sign-a-named-profile", "p1", chain(1),
      env={**ENV_REGION, "AWS_ACCESS_KEY_ID": ENV_KEY, "AWS_SECRET_ACCESS_KEY": SECRET}),
    # -- SSO and credential_process ------------------------------------------------------------------
    S("sso-session-source", "a",
      SSO_SESSION + section("sso", sso_session="corp", sso_account_id="111111111111", sso_role_name="Dev")
      + hop("a", 1, "sso"), "", env={**ENV_REGION, "AWS_ENDPOINT_URL_SSO": "{sso}"}, fakes=("sso",)),
    S("sso-legacy-source", "a",
      section("sso", sso_start_url="https://corp.awsapps.com/start", sso_region="us-east-1",
              sso_account_id="111111111111", sso_role_name="Dev")
      + hop("a", 1, "sso"), "", env={**ENV_REGION, "AWS_ENDPOINT_URL_SSO": "{sso}"}, fakes=("sso-legacy",)),
    S("sso-source-under-a-chain", "b",
      SSO_SESSION + section("sso", sso_session="corp", sso_account_id="111111111111", sso_role_name="Dev")
      + hop("a", 1, "sso") + hop("b", 2, "a"), "", env={**ENV_REGION, "AWS_ENDPOINT_URL_SSO": "{sso}"},
      fakes=("sso",)),
    S("credential-process-source", "a",
      hop("a", 1, "proc") + section("proc", credential_process="{python} {tmp}/proc.py"),
      "", env=ENV_REGION, files=PROCESS),
    S("credential-process-under-a-chain", "b",
      hop("b", 2, "a") + hop("a", 1, "proc") + section("proc", credential_process="{python} {tmp}/proc.py"),
      "", env=ENV_REGION, files=PROCESS),
]
