"""Outbound web identity tokens: RoleSession.web_identity_token / token_provider, against the STS fake."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

import rolesession
from helpers import ROLE, concurrently
from rolesession._outbound_tokens import engine_for, token_request
from rolesession.cli import main
from sts_fake import StsFake


@pytest.fixture
def fake() -> Iterator[StsFake]:
    with StsFake(outbound_federation=True) as server:
        yield server


def session_on(fake: StsFake, **kwargs: Any) -> rolesession.RoleSession:
    return rolesession.assume_role(ROLE, sts_endpoint_url=fake.url, **kwargs)


def test_token_is_signed_by_sts_and_names_the_session(fake: StsFake) -> None:
    session = session_on(fake)
    for algorithm in ("RS256", "ES384"):
        token = session.web_identity_token(["api://one", "api://two"], algorithm=algorithm, duration=120)
        claims = fake.keys.verify(token)
        assert json.loads(_header(token))["alg"] == algorithm
        assert claims["aud"] == ["api://one", "api://two"]
        assert claims["sub"] == session.identity()["Arn"]
        assert claims["exp"] - claims["iat"] == 120
    assert fake.requests[-1]["SigningAlgorithm"] == "ES384"
    assert fake.requests[-1]["DurationSeconds"] == "120"


def _header(token: str) -> str:
    from sts_fake import b64url_decode

    return b64url_decode(token.split(".")[0]).decode()


def test_scope_subject_mode_and_tags_are_sent(fake: StsFake) -> None:
    token = session_on(fake).web_identity_token(
        "aud", scope="read write", subject_mode="OriginIdentity", tags={"team": "data"}
    )
    assert fake.keys.verify(token)["scope"] == "read write"
    sent = fake.requests[-1]
    assert sent["SubjectMode"] == "OriginIdentity"
    assert sent["Tags"] == [{"Key": "team", "Value": "data"}]


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"audience": []}, "audience"),
        ({"audience": [f"a{i}" for i in range(11)]}, "audience"),
        ({"audience": [""]}, "audience"),
        ({"audience": b"aud"}, "audience"),
        ({"audience": "a", "algorithm": "HS256"}, "algorithm"),
        ({"audience": "a", "duration": 59}, "duration"),
        ({"audience": "a", "duration": 3601}, "duration"),
        ({"audience": "a", "duration": 300.0}, "duration"),
        ({"audience": "a", "duration": True}, "duration"),
        ({"audience": "a", "scope": "a,b"}, "scope"),
        ({"audience": "a", "scope": "x" * 257}, "scope"),
        ({"audience": "a", "subject_mode": "Other"}, "subject_mode"),
        ({"audience": "a", "tags": {"k": "v\n"}}, "tags"),
        ({"audience": "a", "tags": [("k", "v")]}, "tags"),
        ({"audience": "a", "tags": {f"k{i}": "v" for i in range(51)}}, "tags"),
    ],
)
def test_bad_input_fails_before_any_call(fake: StsFake, kwargs: dict[str, Any], parameter: str) -> None:
    session = session_on(fake)
    with pytest.raises(rolesession.InvalidParameterError) as raised:
        session.web_identity_token(**kwargs)
    assert raised.value.parameter == parameter
    with pytest.raises(rolesession.InvalidParameterError):
        session.token_provider(**kwargs)
    assert fake.calls["GetWebIdentityToken"] == 0


def test_request_shape_matches_the_sts_model() -> None:
    """What the library sends is valid for botocore's own STS model (Stubber checks it)."""
    import boto3

    request = token_request(
        ["a", "b"], algorithm="ES384", duration=900, scope="s", subject_mode="AWSIdentity", tags={"k": "v"}
    )
    client = boto3.client("sts", region_name="us-east-1")
    with Stubber(client) as stub:
        import datetime as dt

        expires = dt.datetime.now(dt.timezone.utc)
        stub.add_response(
            "get_web_identity_token", {"WebIdentityToken": "t", "Expiration": expires}, request.params()
        )
        client.get_web_identity_token(**request.params())
        stub.assert_no_pending_responses()


def test_one_call_for_many_threads_and_sessions_on_one_cache(fake: StsFake, tmp_path: Path) -> None:
    cache = rolesession.FileCache(tmp_path / "cache")
    first = session_on(fake, cache=cache)
    tokens = concurrently(16, lambda: first.web_identity_token("aud"))
    # Another session of the same role on the same cache (as another process would be): the same token.
    other = rolesession.assume_role(
        ROLE,
        sts_endpoint_url=fake.url,
        cache=rolesession.FileCache(tmp_path / "cache"),
        session_name=first.session_name,
    )
    tokens.append(other.web_identity_token("aud"))
    assert len(set(tokens)) == 1
    assert fake.calls["GetWebIdentityToken"] == 1
    # Other parameters are another token.
    assert first.web_identity_token("aud", duration=600) != tokens[0]
    assert fake.calls["GetWebIdentityToken"] == 2


def test_renewed_before_expiry(fake: StsFake, frozen: Any) -> None:
    session = session_on(fake)
    first = session.web_identity_token("aud", duration=60)
    frozen.tick(10)
    assert session.web_identity_token("aud", duration=60) == first  # held: no call
    # 7 s left: past the (jittered) start of the renewal window, before it is due (6 s left).
    frozen.tick(43)
    assert session.web_identity_token("aud", duration=60) == first  # still valid: served, no waiting
    engine_for(session, token_request("aud", duration=60)).wait_for_background(30)
    second = session.web_identity_token("aud", duration=60)
    assert second != first
    assert fake.keys.verify(second)["exp"] > fake.keys.verify(first)["exp"] - 1
    assert fake.calls["GetWebIdentityToken"] == 2


def test_a_token_serves_four_fifths_of_its_life_before_renewal(fake: StsFake, frozen: Any) -> None:
    """Windows relative to the token's own lifetime: renewed with a fifth of it left, due at a
    tenth; the credentials' minutes-wide windows would renew a 300 s token after 75 s."""
    events: list[rolesession.RefreshEvent] = []
    session = session_on(fake, refresh=rolesession.RefreshPolicy(on_event=events.append, jitter=False))
    session.get_credentials().get_frozen_credentials()  # the role's own credentials first
    before = len(events)
    first = session.web_identity_token("aud", duration=300)
    frozen.tick(239)  # 61 s left: outside the renewal window
    assert session.web_identity_token("aud", duration=300) == first
    engine_for(session, token_request("aud", duration=300)).wait_for_background(30)
    assert fake.calls["GetWebIdentityToken"] == 1
    frozen.tick(2)  # 59 s left: a fifth of 300 s, renewed in the background
    assert session.web_identity_token("aud", duration=300) == first
    engine_for(session, token_request("aud", duration=300)).wait_for_background(30)
    assert session.web_identity_token("aud", duration=300) != first
    assert fake.calls["GetWebIdentityToken"] == 2
    # The session's own policy still applies to tokens: its hook saw both calls.
    assert [e.operation for e in events[before:]].count("GetWebIdentityToken") == 2


def test_processes_share_one_token_through_a_file_cache(fake: StsFake, tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys, threading, rolesession
        cache = rolesession.FileCache({str(tmp_path / "shared")!r})
        session = rolesession.assume_role(
            {ROLE!r}, sts_endpoint_url={fake.url!r}, cache=cache, session_name="worker")
        tokens = []
        threads = [threading.Thread(target=lambda: tokens.append(session.web_identity_token("aud")))
                   for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(len(set(tokens)))
        """
    )
    env = {**os.environ}
    procs = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert outputs == ["1", "1", "1"]
    assert fake.calls["GetWebIdentityToken"] == 1


def test_outbound_federation_disabled_has_a_hint() -> None:
    with StsFake(outbound_federation=False) as fake:
        session = session_on(fake)
        with pytest.raises(rolesession.AssumeRoleError) as raised:
            session.web_identity_token("aud")
    assert raised.value.code == "OutboundWebIdentityFederationDisabledException"
    assert "enable-outbound-web-identity-federation" in str(raised.value)


def test_token_provider_feeds_assume_role_with_web_identity(fake: StsFake) -> None:
    session = session_on(fake)
    provider = session.token_provider("sts.amazonaws.com")
    assert provider() == session.web_identity_token("sts.amazonaws.com")
    assert provider() not in repr(provider)
    federated = rolesession.assume_role_with_web_identity(
        "arn:aws:iam::123456789012:role/External", token=provider, sts_endpoint_url=fake.url, cache=None
    )
    assert federated.identity()["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/External/")
    assert fake.calls["AssumeRoleWithWebIdentity"] == 1
    assert fake.calls["GetWebIdentityToken"] == 1


def test_token_never_logged(fake: StsFake, log_records: pytest.LogCaptureFixture) -> None:
    logging.getLogger("botocore").setLevel(logging.DEBUG)
    token = session_on(fake).web_identity_token("aud")
    text = "\n".join(r.getMessage() for r in log_records.records)
    assert "GetWebIdentityToken" in text
    for part in token.split("."):
        assert part not in text


def test_cli_token_prints_the_token(fake: StsFake, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "token",
            "--audience",
            "a1",
            "--audience",
            "a2",
            ROLE,
            "--sts-endpoint-url",
            fake.url,
            "--algorithm",
            "ES384",
            "--duration",
            "90",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    claims = fake.keys.verify(out.strip())
    assert claims["aud"] == ["a1", "a2"] and claims["exp"] - claims["iat"] == 90


def test_cli_token_bad_duration_is_a_usage_error(fake: StsFake, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["token", "--audience", "a", ROLE, "--sts-endpoint-url", fake.url, "--duration", "30"])
    assert code == 2
    assert "duration" in capsys.readouterr().err
    assert fake.calls["GetWebIdentityToken"] == 0
