"""Console sign-in URLs: RoleSession.console_url, rolesession.console_url and `rolesession console`."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Iterator
from typing import Any
from unittest import mock

import boto3
import pytest

import rolesession
from helpers import ROLE
from rolesession._console import FEDERATION_ENDPOINTS, _partition
from rolesession.cli import main
from sts_fake import FederationFake, StsFake


@pytest.fixture
def federation(monkeypatch: pytest.MonkeyPatch) -> Iterator[FederationFake]:
    server = FederationFake()
    monkeypatch.setenv("ROLESESSION_FEDERATION_URL", f"{server.url}/federation")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def fake() -> Iterator[StsFake]:
    with StsFake() as server:
        yield server


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()}


def test_role_session_url_trades_its_credentials(fake: StsFake, federation: FederationFake) -> None:
    session = rolesession.assume_role(ROLE, sts_endpoint_url=fake.url)
    url = session.console_url(
        destination="https://console.aws.amazon.com/s3/", issuer="https://example.com", duration=3600
    )
    frozen = session.get_credentials().get_frozen_credentials()
    assert federation.sessions == [
        {"sessionId": frozen.access_key, "sessionKey": frozen.secret_key, "sessionToken": frozen.token}
    ]
    assert federation.durations == [3600]
    assert url.startswith(f"{federation.url}/federation?")
    assert query_of(url) == {
        "Action": "login",
        "Destination": "https://console.aws.amazon.com/s3/",
        "Issuer": "https://example.com",
        "SigninToken": federation.tokens[0],
    }
    assert fake.calls["GetFederationToken"] == 0


def test_user_keys_go_through_get_federation_token(sts_mock: None, federation: FederationFake) -> None:
    url = rolesession.console_url(boto3.Session(region_name="us-east-1"), duration=7200)
    given = federation.sessions[0]
    assert given["sessionId"] != boto3.Session().get_credentials().access_key  # not the user's own key
    assert given["sessionToken"]
    assert federation.durations == [None]  # the endpoint refuses SessionDuration for federation tokens
    assert query_of(url)["Destination"] == "https://console.aws.amazon.com/"


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"duration": 899}, "duration"),
        ({"duration": 43201}, "duration"),
        ({"duration": "1h"}, "duration"),
        ({"destination": "http://console.aws.amazon.com/"}, "destination"),
        ({"destination": "console"}, "destination"),
        ({"issuer": ""}, "issuer"),
        ({"federation_url": "ftp://x"}, "federation_url"),
    ],
)
def test_bad_input_fails_before_any_request(
    federation: FederationFake, kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(rolesession.InvalidParameterError) as raised:
        rolesession.console_url(**kwargs)
    assert raised.value.parameter == parameter
    assert federation.requests == []


def test_partition_endpoints() -> None:
    assert FEDERATION_ENDPOINTS[_partition("arn:aws-us-gov:sts::1:assumed-role/R/s")] == (
        "https://signin.amazonaws-us-gov.com/federation"
    )
    assert FEDERATION_ENDPOINTS[_partition("arn:aws-cn:sts::1:assumed-role/R/s")] == (
        "https://signin.amazonaws.cn/federation"
    )
    assert FEDERATION_ENDPOINTS[_partition("arn:aws:sts::1:assumed-role/R/s")] == (
        "https://signin.aws.amazon.com/federation"
    )


def test_refused_exchange_names_no_secret(fake: StsFake, monkeypatch: pytest.MonkeyPatch) -> None:
    server = FederationFake()
    server.answer = lambda *a: (400, "nope")  # type: ignore[method-assign]
    monkeypatch.setenv("ROLESESSION_FEDERATION_URL", f"{server.url}/federation")
    session = rolesession.assume_role(ROLE, sts_endpoint_url=fake.url)
    try:
        with pytest.raises(rolesession.AssumeRoleError) as raised:
            session.console_url()
    finally:
        server.close()
    frozen = session.get_credentials().get_frozen_credentials()
    assert raised.value.code == "FederationError"
    assert raised.value.__cause__ is None  # the request URL (with the secret) is not chained
    text = str(raised.value) + repr(raised.value)
    assert frozen.secret_key not in text and urllib.parse.quote_plus(frozen.secret_key) not in text


def test_url_never_logged(
    fake: StsFake, federation: FederationFake, log_records: pytest.LogCaptureFixture
) -> None:
    logging.getLogger("urllib3").setLevel(logging.DEBUG)
    url = rolesession.assume_role(ROLE, sts_endpoint_url=fake.url).console_url()
    text = "\n".join(r.getMessage() for r in log_records.records)
    assert "console sign-in URL" in text
    assert query_of(url)["SigninToken"] not in text


def test_cli_console_print(
    fake: StsFake, federation: FederationFake, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "console",
            ROLE,
            "--sts-endpoint-url",
            fake.url,
            "--print",
            "--destination",
            "https://console.aws.amazon.com/ec2/",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert query_of(out.strip())["SigninToken"] == federation.tokens[0]
    assert query_of(out.strip())["Destination"] == "https://console.aws.amazon.com/ec2/"


def test_cli_console_opens_the_browser(
    fake: StsFake, federation: FederationFake, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock.patch("webbrowser.open", return_value=True) as opened:
        code = main(["console", ROLE, "--sts-endpoint-url", fake.url])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == ""  # the URL is a credential: not printed unless asked
    (url,), _ = opened.call_args
    assert query_of(url)["SigninToken"] == federation.tokens[0]
