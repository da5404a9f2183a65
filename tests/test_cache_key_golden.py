"""Cache keys are a persistent format: pinned, byte for byte.

A `FileCache` and the CLI's cache outlive a release: if the key of the same
request changed, every user's cached credentials would silently be missed
and fetched again (one MFA prompt, one SAML login each). These digests were
computed by the code before the parameter table (`_sources` field metadata)
existed; any change to how a source's key material is built must keep them.
The keys are computed the way the fetcher does (`Fetcher._key`):
``_keys.key_for(source.key_material(duration), source.caller(signer_key))``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import botocore.config
import pytest

from rolesession import _keys
from rolesession._sources import AssumeRoleSource, SamlSource, SessionTokenSource, WebIdentitySource

ARN = "arn:aws:iam::111122223333:role/golden"
SIGNER = "AKIAGOLDENSIGNER0001"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.golden-token.signature"
ASSERTION = "PHNhbWxwOlJlc3BvbnNlPmdvbGRlbjwvc2FtbHA6UmVzcG9uc2U+"


def _token_file(tmp_path: Path) -> str:
    path = tmp_path / "token"
    path.write_text("  " + TOKEN + "\n", encoding="utf-8")
    return str(path)


def _sources(tmp_path: Path) -> dict[str, tuple[Any, int | None]]:
    """Representative sources of all four operations, with the duration the fetcher asks."""
    return {
        "assume_role_minimal": (
            AssumeRoleSource(role_arn=ARN, region=None, partition="aws", session_name="golden"),
            None,
        ),
        "assume_role_full": (
            AssumeRoleSource(
                role_arn=ARN,
                region="eu-west-1",
                partition="aws",
                session_name="golden-full",
                duration=7200,
                policy='{"Statement":[{"Action":"s3:GetObject","Effect":"Allow","Resource":"*"}],"Version":"2012-10-17"}',
                policy_arns=("arn:aws:iam::aws:policy/b", "arn:aws:iam::aws:policy/a"),
                sts_endpoint_url="https://sts.eu-west-1.amazonaws.com",
                profile="dev",
                sts_config=botocore.config.Config(retries={"max_attempts": 2}),
                tags=(("team", "blue"), ("cost", "42")),
                transitive_tag_keys=("team", "cost"),
                external_id="ext-123456",
                source_identity="alice",
                mfa_serial="arn:aws:iam::111122223333:mfa/alice",
                mfa_token="123456",
            ),
            7200,
        ),
        "assume_role_chained_cap": (
            AssumeRoleSource(
                role_arn="arn:aws-cn:iam::111122223333:role/cn", region="cn-north-1",
                partition="aws-cn", session_name="golden", duration=7200,
            ),
            3600,
        ),
        "web_identity_token": (
            WebIdentitySource(
                role_arn=ARN, region="us-west-2", partition="aws", session_name="web", token=TOKEN,
                provider_id="www.amazon.com", duration=900,
            ),
            900,
        ),
        "web_identity_file": (
            WebIdentitySource(
                role_arn=ARN, region=None, partition="aws", session_name="web-file",
                token_file=_token_file(tmp_path),
            ),
            None,
        ),
        "web_identity_named_callable": (
            WebIdentitySource(
                role_arn=ARN, region=None, partition="aws", session_name="web-named",
                token=_Named("oidc:ci"),
            ),
            None,
        ),
        "saml": (
            SamlSource(
                role_arn=ARN, region=None, partition="aws",
                principal_arn="arn:aws:iam::111122223333:saml-provider/idp",
                assertion=ASSERTION, policy_arns=("arn:aws:iam::aws:policy/ReadOnlyAccess",),
            ),
            None,
        ),
        "session_token_default": (
            SessionTokenSource(
                role_arn=None, region=None, partition="aws",
                mfa_serial="arn:aws:iam::111122223333:mfa/alice", mfa_token="123456",
            ),
            None,
        ),
        "session_token_duration": (
            SessionTokenSource(
                role_arn=None, region="eu-central-1", partition="aws", duration=129_600,
                mfa_serial="GAHT12345678",
            ),
            129_600,
        ),
    }


class _Named:
    """A token callable that names the caller it stands for (the CLI's commands do)."""

    def __init__(self, name: str) -> None:
        self.cache_identity = name

    def __call__(self) -> str:
        return TOKEN


GOLDEN = {
    "assume_role_minimal": "7a6e944cfb5a2a8534de3a56afda0c2c5054be84cad032b8c58a63b3124d1d00",
    "assume_role_full": "6df6d8bf3e11a97f1967bf2724f1f1828472ce0e0b2efc6e4101ad6fb2fb08a0",
    "assume_role_chained_cap": "1c49b83e14be17c9b0533bc7007fb9678bdfab04980c7a2f65fb9163de6e2437",
    "web_identity_token": "b08ba6f8ab6f0899ab6fe2d7bca15b55a797dbb4d004c753d95e5037253ed771",
    "web_identity_file": "9fa813689101fb8c7b993e7689a58e960cd38465d670def762c490d9046fed31",
    "web_identity_named_callable": "e73239bba71e9df7730c2e1906b932bef985cf73343ba0085b16e56507db682d",
    "saml": "86fb5a76e27f0dfb876be99f29e3b34a7e6f9f847a1995ada96d363013915e6e",
    "session_token_default": "e47773526973c730cfe33918158401fe61718af27ba155e2e7e66ed781f346a6",
    "session_token_duration": "126cf3693b70ba4e037fddc2d7ccffd85fc1505cd702130279046665c27333e7",
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_cache_keys_are_byte_identical_to_the_pinned_ones(name: str, tmp_path: Path) -> None:
    source, duration = _sources(tmp_path)[name]
    caller = source.caller(SIGNER if source.signed else None)
    key = _keys.key_for(source.key_material(duration), caller, persistent=True)
    assert _keys.is_key(key)
    assert key == GOLDEN[name]
