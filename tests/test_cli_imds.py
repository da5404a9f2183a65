"""``rolesession exec --imds``: the loopback EC2 instance-metadata endpoint (IMDSv2).

The endpoint is tested directly (the token rules, 401/404, our token's TTL,
the document botocore's ``InstanceMetadataFetcher`` reads, the refresh
served in the background under freezegun) and end to end: a real boto3
child whose only way to credentials is the instance-metadata provider gets
the role's from it.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.utils import InstanceMetadataFetcher

import rolesession
from helpers import OTHER_ACCOUNT, ROLE, exec_boto3_child, to_epoch
from rolesession.cli.commands import build_session
from rolesession.cli.imds import BEFORE_IMDS, MAX_TOKENS, MetadataServer, imds_document, serve_metadata
from rolesession.cli.parser import parse_args
from rolesession.testing import StsRecorder

TOKEN_PATH = "/latest/api/token"
LISTING = "/latest/meta-data/iam/security-credentials/"
TTL = "X-aws-ec2-metadata-token-ttl-seconds"
DOCUMENT = imds_document("ASIAFAKEFAKEFAKEFAKE", "fake-secret", "fake-token", 1893456000.0, 1893452400.0)
EC2_FIELDS = {"Code", "LastUpdated", "Type", "AccessKeyId", "SecretAccessKey", "Token", "Expiration"}


def call(
    server: MetadataServer, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, str, Any]:
    """``(status, body, response headers)`` of one request to ``server``."""
    host, port = server.address
    request = urllib.request.Request(f"http://{host}:{port}{path}", method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), exc.headers


def token(server: MetadataServer, ttl: int = 21600) -> str:
    status, body, _ = call(server, "PUT", TOKEN_PATH, {TTL: str(ttl)})
    assert status == 200
    return body


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[MetadataServer]:
    with MetadataServer(lambda: dict(DOCUMENT), "Reader") as running:
        yield running


# -- the endpoint ---------------------------------------------------------------------------


def test_a_token_then_the_role_name_then_its_credentials(server: MetadataServer) -> None:
    status, issued, headers = call(server, "PUT", TOKEN_PATH, {TTL: "300"})
    assert status == 200 and len(issued) >= 40
    assert headers[TTL] == "300"  # echoed, as EC2 does
    assert call(server, "GET", LISTING, {"X-aws-ec2-metadata-token": issued})[:2] == (200, "Reader")
    status, body, headers = call(server, "GET", LISTING + "Reader", {"X-aws-ec2-metadata-token": issued})
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == DOCUMENT
    assert set(DOCUMENT) == EC2_FIELDS
    assert DOCUMENT["Code"] == "Success" and DOCUMENT["Type"] == "AWS-HMAC"
    assert DOCUMENT["Expiration"] == "2030-01-01T00:00:00Z"
    assert DOCUMENT["LastUpdated"] == "2029-12-31T23:00:00Z"


def test_every_token_is_new_and_random(server: MetadataServer) -> None:
    tokens = {token(server) for _ in range(5)}
    assert len(tokens) == 5
    with MetadataServer(lambda: dict(DOCUMENT), "Reader") as other:
        assert token(other) not in tokens


def test_no_valid_token_is_401(server: MetadataServer) -> None:
    issued = token(server)
    for headers in ({}, {"X-aws-ec2-metadata-token": ""}, {"X-aws-ec2-metadata-token": issued[:-1]},
                    {"X-aws-ec2-metadata-token": issued + "x"}, {"Authorization": issued}):  # fmt: skip
        for path in (LISTING, LISTING + "Reader"):
            status, body, _ = call(server, "GET", path, headers)
            assert status == 401, (headers, path)
            assert "AccessKeyId" not in body and "Reader" not in body


def test_a_token_request_needs_a_ttl_within_ec2s_bounds(server: MetadataServer) -> None:
    for ttl in (None, "", "0", "21601", "-5", "abc", "1.5"):
        headers = {} if ttl is None else {TTL: ttl}
        assert call(server, "PUT", TOKEN_PATH, headers)[0] == 400, ttl
    assert call(server, "PUT", TOKEN_PATH, {TTL: "1"})[0] == 200
    assert call(server, "PUT", TOKEN_PATH, {TTL: "21600"})[0] == 200
    # A request that came through a proxy never gets a token (EC2's rule).
    assert call(server, "PUT", TOKEN_PATH, {TTL: "60", "X-Forwarded-For": "127.0.0.1"})[0] == 403
    assert call(server, "GET", TOKEN_PATH, {TTL: "60"})[0] == 405


def test_other_paths_are_404_and_other_methods_501(server: MetadataServer) -> None:
    issued = {"X-aws-ec2-metadata-token": token(server)}
    placement = "/latest/meta-data/placement/"  # the region lookup: no region is invented
    for path in ("/", "/latest/meta-data/", LISTING + "Other", placement + "availability-zone/",
                 placement + "region", "/latest/dynamic/instance-identity/document"):  # fmt: skip
        status, body, _ = call(server, "GET", path, issued)
        assert status == 404, path
        assert "AccessKeyId" not in body
    assert call(server, "PUT", LISTING, {TTL: "60"})[0] == 404
    assert call(server, "POST", TOKEN_PATH, {TTL: "60"})[0] == 501


def test_a_token_expires_after_its_ttl() -> None:
    clock = Clock()
    with MetadataServer(lambda: dict(DOCUMENT), "Reader", clock=clock) as running:
        short, long = token(running, ttl=60), token(running, ttl=3600)
        clock.now += 59
        for issued in (short, long):
            assert call(running, "GET", LISTING, {"X-aws-ec2-metadata-token": issued})[0] == 200
        clock.now += 1
        assert call(running, "GET", LISTING, {"X-aws-ec2-metadata-token": short})[0] == 401
        assert call(running, "GET", LISTING, {"X-aws-ec2-metadata-token": long})[0] == 200
        clock.now += 3600
        assert call(running, "GET", LISTING + "Reader", {"X-aws-ec2-metadata-token": long})[0] == 401


def test_live_tokens_are_capped_the_oldest_going_first() -> None:
    with MetadataServer(lambda: dict(DOCUMENT), "Reader") as running:
        first = token(running)
        for _ in range(MAX_TOKENS):
            token(running)
        assert call(running, "GET", LISTING, {"X-aws-ec2-metadata-token": first})[0] == 401


def test_botocores_instance_metadata_fetcher_reads_it(server: MetadataServer) -> None:
    fetched = InstanceMetadataFetcher(timeout=5, base_url=server.url, env={}).retrieve_iam_role_credentials()
    assert fetched["role_name"] == "Reader"
    assert fetched["access_key"] == DOCUMENT["AccessKeyId"]
    assert fetched["secret_key"] == DOCUMENT["SecretAccessKey"]
    assert fetched["token"] == DOCUMENT["Token"]
    assert fetched["expiry_time"] == DOCUMENT["Expiration"]


def test_a_failure_is_a_500_without_secrets_and_one_warning_per_episode(
    log_records: pytest.LogCaptureFixture,
) -> None:
    def provide() -> dict[str, str]:
        raise rolesession.CredentialRefreshError("could not get credentials", role_arn=ROLE)

    with MetadataServer(provide, "Reader") as running:
        issued = {"X-aws-ec2-metadata-token": token(running)}
        answers = [call(running, "GET", LISTING + "Reader", issued)[:2] for _ in range(3)]
        # botocore finds no credentials (and goes on down its chain) rather than failing oddly.
        fetcher = InstanceMetadataFetcher(timeout=5, base_url=running.url, env={})
        assert fetcher.retrieve_iam_role_credentials() == {}
    expected = {"code": "CredentialRefreshError", "message": "could not get credentials"}
    assert [(status, json.loads(body)) for status, body in answers] == [(500, expected)] * 3
    # The episode's other failures are at DEBUG (`LoopbackEndpoint`, shared with --server).
    assert [r.levelname for r in log_records.records if r.name == "rolesession"].count("WARNING") == 1


def test_an_unexpected_error_names_only_its_type(log_records: pytest.LogCaptureFixture) -> None:
    def provide() -> dict[str, str]:
        raise KeyError("SECRETSECRET")

    with MetadataServer(provide, "Reader") as running:
        issued = {"X-aws-ec2-metadata-token": token(running)}
        status, body, _ = call(running, "GET", LISTING + "Reader", issued)
    assert status == 500 and json.loads(body) == {"code": "KeyError", "message": "unexpected error"}
    assert "SECRETSECRET" not in log_records.text


def test_listens_on_loopback_and_points_the_sdk_at_itself(server: MetadataServer) -> None:
    host, port = server.address
    assert host == "127.0.0.1"
    assert server.environ() == {
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{port}/",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv4",
    }


def test_connections_are_capped_and_idle_ones_closed() -> None:
    request = f"PUT {TOKEN_PATH} HTTP/1.1\r\nHost: x\r\n{TTL}: 60\r\n\r\n".encode()
    with MetadataServer(lambda: dict(DOCUMENT), "Reader", idle_timeout=5, max_connections=2) as running:
        held = [socket.create_connection(running.address, timeout=30) for _ in range(2)]
        time.sleep(0.3)  # both are being served (each holds a slot)
        extra = socket.create_connection(running.address, timeout=30)
        extra.sendall(request)
        assert extra.recv(1024) == b""  # closed on arrival, unanswered: no slot
        extra.close()
        for sock in held:
            assert sock.recv(1024) == b""  # closed by the idle timeout, having sent nothing
            sock.close()
        # The slots come back once the server's handlers have finished with the closed
        # sockets: moments after the close, longer on a loaded machine.
        deadline = time.monotonic() + 20
        while True:
            try:
                assert call(running, "PUT", TOKEN_PATH, {TTL: "60"})[0] == 200
                break
            except (ConnectionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


# -- fresh credentials from a real session ------------------------------------------------------


def test_serves_the_sessions_role_and_refreshes_in_the_background(
    frozen: Any, sts_mock: None, sts_calls: StsRecorder
) -> None:
    session = build_session(parse_args(["exec", ROLE, "--imds", "--", "true"]))
    env = {name: "x" for name in BEFORE_IMDS} | {"KEEP": "1"}
    with serve_metadata(session, env) as running:
        assert env == {"KEEP": "1"}  # nothing left that comes before IMDS or turns it off
        assert running.role_name == "Reader"
        issued = {"X-aws-ec2-metadata-token": token(running)}

        def document() -> dict[str, str]:
            status, body, _ = call(running, "GET", LISTING + "Reader", issued)
            assert status == 200
            return json.loads(body)  # type: ignore[no-any-return]

        first = document()
        assert set(first) == EC2_FIELDS and sts_calls.count() == 1
        assert first["LastUpdated"] == "2026-03-01T12:00:00Z"

        frozen.tick(1800)  # 30 min left: botocore would not ask again before 15 min
        assert document() == first
        session.get_credentials().wait_for_background()
        assert sts_calls.count() == 1

        frozen.tick(1000)  # 13 min left: botocore asks again
        # Answered at once with what is held; the refresh runs in the background ...
        gate = sts_calls.block()  # a hanging STS: the endpoint must not wait for it
        try:
            assert document() == first
        finally:
            gate.set()
        session.get_credentials().wait_for_background(10)
        assert sts_calls.count() == 2
        # ... and the SDK's next request gets the new set.
        second = document()
        assert second["AccessKeyId"] != first["AccessKeyId"]
        assert to_epoch(second["Expiration"]) - time.time() == pytest.approx(3600, abs=5)
        assert second["LastUpdated"] == "2026-03-01T12:46:40Z"


# -- end to end: exec --imds with a boto3 child -------------------------------------------------

CHILD = r"""
import json, os, sys, urllib.error, urllib.request
import boto3

endpoint = os.environ["AWS_EC2_METADATA_SERVICE_ENDPOINT"]

def status(path, **headers):
    request = urllib.request.Request(endpoint.rstrip("/") + path, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code

session = boto3.Session()
credentials = session.get_credentials()
report = {
    "aws_variables": sorted(k for k in os.environ if k.startswith("AWS_")),
    "endpoint": endpoint,
    "method": credentials.method,
    "access_key": credentials.get_frozen_credentials().access_key,
    "arn": session.client("sts", endpoint_url=sys.argv[1], region_name="us-east-1")
        .get_caller_identity()["Arn"],
    "imds_v1": status("/latest/meta-data/iam/security-credentials/"),
    "shared_files": [open(os.environ[k]).read() for k in ("AWS_SHARED_CREDENTIALS_FILE",)],
}
print(json.dumps(report))
sys.exit(3)
"""


def test_exec_imds_hands_a_boto3_child_its_credentials_and_stops_with_it(
    moto_server: str, tmp_path: Path
) -> None:
    # The user's container endpoint (it comes before IMDS in the chain) and a disabled IMDS (the
    # tests' own environment has it): neither reaches the child.
    done = exec_boto3_child(
        "--imds", CHILD, moto_server, tmp_path,
        AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:9/creds",
        AWS_CONTAINER_AUTHORIZATION_TOKEN="user-container-token",
        AWS_EC2_METADATA_DISABLED="true",
    )  # fmt: skip
    assert done.returncode == 3, done.stderr  # the child's exit code
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert report["method"] == "iam-role"
    assert report["arn"].startswith(f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/Hub/")
    assert report["access_key"].startswith("ASIA")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                 "AWS_EC2_METADATA_DISABLED"):  # fmt: skip
        assert name not in report["aws_variables"], name
    assert {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"} <= set(
        report["aws_variables"]
    )
    assert report["imds_v1"] == 401  # IMDSv2 only
    assert report["shared_files"] == [""]

    endpoint = urllib.parse.urlsplit(report["endpoint"])
    assert endpoint.hostname == "127.0.0.1"
    assert endpoint.port is not None
    with pytest.raises(ConnectionRefusedError):  # gone with the child
        socket.create_connection(("127.0.0.1", endpoint.port), timeout=5).close()


def test_imds_and_server_are_one_or_the_other() -> None:
    from rolesession.cli import main

    assert main(["exec", ROLE, "--imds", "--server", "--", "true"]) == 2
    assert parse_args(["exec", ROLE, "--imds", "--", "true"]).imds is True
    assert parse_args(["exec", ROLE, "--", "true"]).imds is False
